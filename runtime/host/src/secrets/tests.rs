#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::json;

use super::overlay::{merge, overlay_path};
use super::*;

fn setting(value: Value, base: &Path) -> Result<Option<SecretSetting>, SettingsError> {
    SecretSetting::from_json(
        Some(&value),
        "appsettings.agent.json",
        "Connections.X.Password",
        base,
    )
}

#[test]
fn a_string_is_the_value_and_an_object_is_a_reference() {
    let base = Path::new("/agent");
    // A literal that looks like a reference string stays a literal.
    let s = setting(json!("env:HOME"), base).unwrap().unwrap();
    assert_eq!(s.resolve().unwrap().expose(), "env:HOME");
    assert!(!format!("{s:?}").contains("env:HOME"), "{s:?}");

    let s = setting(json!({"FromFile": "secrets/pw"}), base)
        .unwrap()
        .unwrap();
    assert_eq!(s.source, Source::File("/agent/secrets/pw".into()));
    let s = setting(json!({"FromCredential": "mail-password"}), base)
        .unwrap()
        .unwrap();
    assert_eq!(s.source, Source::Credential("mail-password".into()));
    assert!(setting(json!(""), base).unwrap().is_none());
    assert!(setting(Value::Null, base).unwrap().is_none());
}

#[test]
fn a_malformed_reference_names_the_key_and_the_forms() {
    let base = Path::new("/agent");
    for bad in [
        json!({"FromEnv": "X"}),
        json!({"FromEnvironment": "X", "FromFile": "y"}),
        json!({"FromEnvironment": ""}),
        json!({"FromCredential": "../etc/shadow"}),
        json!(42),
    ] {
        let e = setting(bad.clone(), base).unwrap_err().to_string();
        assert!(
            e.starts_with("appsettings.agent.json: Connections.X.Password: "),
            "{bad}: {e}"
        );
        assert!(e.contains("FromEnvironment"), "{bad}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn a_missing_or_empty_reference_is_one_line_naming_setting_and_reference() {
    let dir = tempfile::tempdir().unwrap();
    let s = setting(
        json!({"FromEnvironment": "IDCONN_TEST_SURELY_UNSET_VARIABLE"}),
        dir.path(),
    )
    .unwrap()
    .unwrap();
    let e = s.resolve().unwrap_err().to_string();
    assert!(
        e.contains("Connections.X.Password")
            && e.contains("{\"FromEnvironment\": \"IDCONN_TEST_SURELY_UNSET_VARIABLE\"}")
            && e.contains("is not set"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");

    std::fs::write(dir.path().join("empty"), "\n").unwrap();
    let s = setting(json!({"FromFile": "empty"}), dir.path())
        .unwrap()
        .unwrap();
    let e = s.resolve().unwrap_err().to_string();
    assert!(e.contains("FromFile") && e.contains("is empty"), "{e}");

    let s = setting(json!({"FromFile": "absent"}), dir.path())
        .unwrap()
        .unwrap();
    let e = s.resolve().unwrap_err().to_string();
    assert!(e.contains("no such file"), "{e}");
}

#[test]
fn a_file_reference_loses_one_trailing_line_ending_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "p4ss word \r\n").unwrap();
    let s = setting(json!({"FromFile": "pw"}), dir.path())
        .unwrap()
        .unwrap();
    assert_eq!(s.resolve().unwrap().expose(), "p4ss word ");
    std::fs::write(dir.path().join("big"), vec![b'x'; 70 * 1024]).unwrap();
    let s = setting(json!({"FromFile": "big"}), dir.path())
        .unwrap()
        .unwrap();
    let e = s.resolve().unwrap_err().to_string();
    assert!(e.contains("larger than 64 KiB"), "{e}");
}

#[test]
fn the_overlay_is_named_after_usercubes_file() {
    assert_eq!(
        overlay_path(Path::new("/a/appsettings.agent.json")),
        Path::new("/a/appsettings.encrypted.agent.json.age")
    );
    assert_eq!(
        overlay_path(Path::new("settings")),
        Path::new("settings.encrypted.age")
    );
}

#[test]
fn overlay_values_win_and_are_recorded() {
    let mut base = json!({
        "AgentToken": {"FromEnvironment": "T"},
        "Connections": {"X": {"Server": "http://a/PowerShell/", "Password": {"FromFile": "p"}}}
    });
    let keys = merge(
        &mut base,
        json!({
            "AgentToken": "0123456789abcdef0123",
            "Connections": {"X": {"Password": {"FromEnvironment": "P"}, "Login": "svc"}}
        }),
    );
    assert_eq!(base["AgentToken"], "0123456789abcdef0123");
    assert_eq!(
        base["Connections"]["X"]["Password"],
        json!({"FromEnvironment": "P"})
    );
    assert_eq!(base["Connections"]["X"]["Server"], "http://a/PowerShell/");
    assert_eq!(base["Connections"]["X"]["Login"], "svc");
    assert!(overlay::is_overlaid(&keys, "Connections.X.Password"));
    assert!(overlay::is_overlaid(&keys, "AgentToken"));
    assert!(!overlay::is_overlaid(&keys, "Connections.X.Server"));
    assert!(!overlay::is_overlaid(&keys, "Connections.X"));
}

#[test]
fn zeroize_json_wipes_every_string() {
    let mut v = json!({"a": ["secret", {"b": "other"}], "n": 1});
    zeroize_json(&mut v);
    assert!(!v.to_string().contains("secret"));
}

#[test]
fn protect_merges_into_the_overlay_and_load_decrypts_it() {
    use super::protect::{new_identity, protect, ProtectOptions};
    use crate::settings::Settings;

    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("appsettings.agent.json");
    std::fs::write(
        &settings,
        r#"{"Connections": {"Mail.Contoso": {"AuthType": "Basic", "Server": "http://mbx.contoso.com/PowerShell/", "Login": "CONTOSO\\svc", "Password": "plain-old"}}}"#,
    )
    .unwrap();
    let identity = dir.path().join("id.agekey");
    let recipient = new_identity(&identity).unwrap();
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert!(
        new_identity(&identity).is_err(),
        "an identity is never overwritten"
    );
    // A recipient only: a new overlay needs no identity.
    let options = |key: &str, identity: Option<&Path>| ProtectOptions {
        settings: settings.clone(),
        key: key.into(),
        recipients: vec![recipient.clone()],
        identity: identity.map(Path::to_path_buf),
    };
    let done = protect(
        &options("Connections.Mail.Contoso.Password", None),
        &Secret::new("from-overlay"),
    )
    .unwrap();
    assert_eq!(done.key, "Connections.Mail.Contoso.Password");
    assert!(done.still_in_plain_file);
    // Adding to an existing overlay needs the identity that decrypts it.
    let e = protect(&options("AgentToken", None), &Secret::new("t")).unwrap_err();
    assert!(format!("{e:#}").contains("--identity"), "{e:#}");
    // A top-level key, merged with the first.
    protect(
        &options("AgentToken", Some(&identity)),
        &Secret::new("0123456789abcdef-token"),
    )
    .unwrap();
    let e = protect(
        &options("Connections.Nope.Password", Some(&identity)),
        &Secret::new("x"),
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("no such connection"), "{e:#}");

    let loaded = Settings::load_with(&settings, Some(&identity)).unwrap();
    let password = loaded.connections["Mail.Contoso"].password.clone().unwrap();
    assert_eq!(password.resolve().unwrap().expose(), "from-overlay");
    assert!(password
        .file
        .ends_with("appsettings.encrypted.agent.json.age"));
    let token = loaded.agent_token.clone().unwrap();
    assert_eq!(token.resolve().unwrap().expose(), "0123456789abcdef-token");
    let debug = format!("{loaded:?}");
    assert!(
        !debug.contains("from-overlay") && !debug.contains("-token"),
        "{debug}"
    );

    // The same with the Key Vault spelling, replacing the value.
    protect(
        &options("Connections--Mail.Contoso--Password", Some(&identity)),
        &Secret::new("replaced"),
    )
    .unwrap();
    let loaded = Settings::load_with(&settings, Some(&identity)).unwrap();
    let password = loaded.connections["Mail.Contoso"].password.clone().unwrap();
    assert_eq!(password.resolve().unwrap().expose(), "replaced");
}
