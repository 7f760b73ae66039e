//! Settings errors name the file, the key and the fix.

use std::path::Path;

use idconn_host::settings::{AuthType, Settings};

fn parse(text: &str) -> Result<Settings, String> {
    Settings::parse(text, "appsettings.agent.json", Path::new("/agent")).map_err(|e| e.to_string())
}

fn with_connection(id: &str, body: &str) -> String {
    format!(r#"{{ "Connections": {{ "{id}": {body} }} }}"#)
}

const GOOD: &str =
    r#"{ "Server": "http://mailbox01.contoso.com/PowerShell/", "AuthType": "Kerberos" }"#;

#[test]
fn a_valid_connection_parses_with_defaults() {
    let s = parse(&with_connection("MicrosoftExchangeExport", GOOD)).unwrap();
    let c = s.connection("MicrosoftExchangeExport").unwrap();
    assert_eq!(c.auth, AuthType::Kerberos);
    // Unset: the component's manifest says, else PowerShell's default.
    assert_eq!(c.configuration_name, None);
    assert_eq!(s.export_output(), Path::new("/agent/Temp/ExportOutput"));
    assert_eq!(s.export_cookies(), Path::new("/agent/Work/ExportCookies"));
}

#[test]
fn every_forbidden_identifier_character_is_named() {
    for c in ['<', '>', ':', '"', '/', '\\', '|', '?', '*', '_'] {
        let id = format!("Exchange{c}Export");
        let json_id = id.replace('\\', "\\\\").replace('"', "\\\"");
        let e = parse(&with_connection(&json_id, GOOD)).unwrap_err();
        assert!(e.contains("appsettings.agent.json"), "{e}");
        assert!(e.contains(&format!("'{}'", c.escape_default())), "{c}: {e}");
        assert!(e.contains("not allowed"), "{c}: {e}");
    }
}

#[test]
fn a_leading_digit_is_refused() {
    let e = parse(&with_connection("1Exchange", GOOD)).unwrap_err();
    assert!(e.contains("Connections.1Exchange"), "{e}");
    assert!(e.contains("begins with a digit"), "{e}");
}

#[test]
fn a_missing_server_is_named_with_its_fix() {
    let e = parse(&with_connection(
        "Exchange",
        r#"{ "AuthType": "Kerberos" }"#,
    ))
    .unwrap_err();
    assert!(e.contains("Connections.Exchange.Server: missing"), "{e}");
    assert!(e.contains("http://<server FQDN>/PowerShell/"), "{e}");
}

#[test]
fn an_unknown_auth_type_lists_the_known_ones() {
    let e = parse(&with_connection(
        "Exchange",
        r#"{ "Server": "http://x.contoso.com/PowerShell/", "AuthType": "NTLM" }"#,
    ))
    .unwrap_err();
    assert!(
        e.contains("Connections.Exchange.AuthType: unknown value 'NTLM'"),
        "{e}"
    );
    assert!(
        e.contains("Kerberos, Basic, HttpBasic, Replay or None"),
        "{e}"
    );
}

#[test]
fn malformed_json_gives_the_position() {
    let e = parse(r#"{ "Connections": { "Exchange": { "Server": "x", } }"#).unwrap_err();
    assert!(e.contains("appsettings.agent.json"), "{e}");
    assert!(e.contains("not valid JSON at line 1"), "{e}");
}

#[test]
fn http_basic_over_http_needs_allow_unencrypted() {
    let body = r#"{ "Server": "http://x.contoso.com/PowerShell/", "AuthType": "HttpBasic", "Login": "svc", "Password": "p4ss" }"#;
    let e = parse(&with_connection("Exchange", body)).unwrap_err();
    assert!(e.contains("AllowUnencrypted"), "{e}");
    assert!(!e.contains("p4ss"), "the password leaked: {e}");
    let allowed = body.replace(
        "\"HttpBasic\",",
        "\"HttpBasic\", \"AllowUnencrypted\": true,",
    );
    let s = parse(&with_connection("Exchange", &allowed)).unwrap();
    let c = s.connection("Exchange").unwrap();
    assert_eq!(c.auth, AuthType::HttpBasic);
    let debug = format!("{c:?}");
    assert!(!debug.contains("p4ss"), "the password leaked: {debug}");
}

/// Usercube's form: Basic, Login, Password, http:// - Kerberos with those
/// credentials, accepted without AllowUnencrypted.
#[test]
fn usercube_basic_over_http_is_kerberos_with_explicit_credentials() {
    let body = r#"{ "Server": "http://mailbox01.contoso.com/PowerShell/", "AuthType": "Basic", "Login": "CONTOSO\\svc", "Password": "p4ss" }"#;
    let s = parse(&with_connection("Exchange", body)).unwrap();
    let c = s.connection("Exchange").unwrap();
    assert_eq!(c.auth, AuthType::Basic);
    let config = idconn_host::backend::remote::client_config(c).unwrap();
    let auth = format!("{:?}", config.auth);
    assert!(
        auth.contains("Kerberos") && auth.contains("Password"),
        "{auth}"
    );
    assert!(!auth.contains("p4ss"), "{auth}");
    assert!(!config.allow_unencrypted);
}

/// An idconn file written when Basic meant HTTP Basic says to write HttpBasic.
#[test]
fn basic_with_allow_unencrypted_says_to_write_http_basic() {
    for allow in ["true", "false"] {
        let body = format!(
            r#"{{ "Server": "http://x.contoso.com/PowerShell/", "AuthType": "Basic", "Login": "svc", "Password": "p4ss", "AllowUnencrypted": {allow} }}"#
        );
        let e = parse(&with_connection("Exchange", &body)).unwrap_err();
        assert!(e.contains("Connections.Exchange.AuthType"), "{e}");
        assert!(e.contains("\"AuthType\": \"HttpBasic\""), "{e}");
        assert!(!e.contains("p4ss"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn basic_needs_login_and_password() {
    let e = parse(&with_connection(
        "Exchange",
        r#"{ "Server": "https://x.contoso.com/PowerShell/", "AuthType": "Basic" }"#,
    ))
    .unwrap_err();
    assert!(e.contains("Connections.Exchange.Login: missing"), "{e}");
}

#[test]
fn an_unknown_limit_is_an_error_not_a_silent_default() {
    let e = parse(&with_connection(
        "Exchange",
        r#"{ "Server": "http://x.contoso.com/PowerShell/", "AuthType": "Kerberos", "Limits": { "MaxMemoryMB": 10 } }"#,
    ))
    .unwrap_err();
    assert!(e.contains("Connections.Exchange.Limits.MaxMemoryMB"), "{e}");
}

#[test]
fn an_unknown_connection_lists_the_known_ones() {
    let s = parse(&with_connection("Exchange", GOOD)).unwrap();
    let e = s.connection("Other").unwrap_err().to_string();
    assert!(e.contains("use one of: Exchange"), "{e}");
}

#[test]
fn options_pass_through_as_json_text_and_max_parallel_pipelines_is_bounded() {
    let body = r#"{ "Server": "http://mailbox01.contoso.com/PowerShell/", "AuthType": "Kerberos",
        "Options": { "Flag": true, "Names": ["a", "b"], "Nested": { "n": 1 } },
        "MaxParallelPipelines": 4 }"#;
    let s = parse(&with_connection("X", body)).unwrap();
    let c = s.connection("X").unwrap();
    assert_eq!(
        c.options,
        [
            ("Flag".to_string(), "true".to_string()),
            ("Names".to_string(), r#"["a","b"]"#.to_string()),
            ("Nested".to_string(), r#"{"n":1}"#.to_string()),
        ]
    );
    assert_eq!(c.max_parallel_pipelines, 4);
    let c = parse(&with_connection("X", GOOD)).unwrap();
    let c = c.connection("X").unwrap();
    assert!(c.options.is_empty());
    assert_eq!(c.max_parallel_pipelines, 4, "the default");
    for (extra, key) in [
        (r#""Options": []"#, "Connections.X.Options"),
        (
            r#""MaxParallelPipelines": 0"#,
            "Connections.X.MaxParallelPipelines",
        ),
        (
            r#""MaxParallelPipelines": 17"#,
            "Connections.X.MaxParallelPipelines",
        ),
    ] {
        let body = GOOD.replace("\"Kerberos\"", &format!("\"Kerberos\", {extra}"));
        let e = parse(&with_connection("X", &body)).unwrap_err();
        assert!(e.contains(key), "{extra}: {e}");
    }
}

#[test]
fn the_component_is_the_connections_else_the_top_level_one_else_an_error() {
    let text = r#"{ "ComponentPath": "all.wasm", "Connections": {
        "Own": { "Server": "http://a.contoso.com/PowerShell/", "AuthType": "Kerberos", "ComponentPath": "own.wasm" },
        "Shared": { "Server": "http://a.contoso.com/PowerShell/", "AuthType": "Kerberos" } } }"#;
    let s = parse(text).unwrap();
    let path = |id: &str| idconn_host::jobs::component_path(s.connection(id).unwrap()).unwrap();
    assert_eq!(path("Own"), Path::new("/agent/own.wasm"));
    assert_eq!(path("Shared"), Path::new("/agent/all.wasm"));
    let s = parse(&with_connection("X", GOOD)).unwrap();
    let e = idconn_host::jobs::component_path(s.connection("X").unwrap())
        .unwrap_err()
        .to_string();
    for named in [
        "Connections.X.ComponentPath",
        "ComponentPath at the top",
        "--component",
    ] {
        assert!(e.contains(named), "{e}");
    }
}
