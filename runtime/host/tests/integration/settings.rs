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
    assert_eq!(c.configuration_name, "Microsoft.Exchange");
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
    assert!(e.contains("Kerberos, Basic, Replay or None"), "{e}");
}

#[test]
fn malformed_json_gives_the_position() {
    let e = parse(r#"{ "Connections": { "Exchange": { "Server": "x", } }"#).unwrap_err();
    assert!(e.contains("appsettings.agent.json"), "{e}");
    assert!(e.contains("not valid JSON at line 1"), "{e}");
}

#[test]
fn basic_over_http_needs_allow_unencrypted() {
    let body = r#"{ "Server": "http://x.contoso.com/PowerShell/", "AuthType": "Basic", "Login": "svc", "Password": "p4ss" }"#;
    let e = parse(&with_connection("Exchange", body)).unwrap_err();
    assert!(e.contains("AllowUnencrypted"), "{e}");
    assert!(!e.contains("p4ss"), "the password leaked: {e}");
    let allowed = body.replace("\"Basic\",", "\"Basic\", \"AllowUnencrypted\": true,");
    let s = parse(&with_connection("Exchange", &allowed)).unwrap();
    let debug = format!("{:?}", s.connection("Exchange").unwrap());
    assert!(!debug.contains("p4ss"), "the password leaked: {debug}");
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
