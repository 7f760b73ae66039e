//! `idconn export` over Kerberos with sealed messages against the simulator,
//! with a throwaway MIT realm: full and incremental exports, a capture of
//! every byte on the wire (no SOAP in clear after authentication), and
//! clear failures for a wrong password, no ticket and an unknown SPN.
//!
//! The realm's environment goes only on the processes started here.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use idconn_e2e::{binary, describe, Agent};
use krb5_realm::{Realm, RealmSpec};
use serde_json::{json, Value};

/// The simulator with `--auth kerberos`, killed on drop.
struct KerberosSimulator {
    port: u16,
    child: Child,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl KerberosSimulator {
    fn start(realm: &Realm, extra: &[&str]) -> KerberosSimulator {
        let mut child = Command::new(binary("exchange-sim").unwrap())
            .args(["--listen", "127.0.0.1:0", "--auth", "kerberos", "--keytab"])
            .arg(realm.service_keytab())
            .args(["--mailboxes", "40", "--databases", "3", "--seed", "5"])
            .args(extra)
            .envs(realm.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut url = String::new();
        stdout.read_line(&mut url).unwrap();
        let port = url
            .trim()
            .trim_end_matches("/PowerShell/")
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("no URL from exchange-sim: {url:?}"));
        KerberosSimulator {
            port,
            child,
            _stdout: stdout,
        }
    }
}

impl Drop for KerberosSimulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kerberos_connection(port: u16, extra: Value) -> Value {
    let mut connection = json!({
        "AuthType": "Kerberos",
        "Server": format!("http://localhost:{port}/PowerShell/"),
    });
    if let (Some(target), Value::Object(extra)) = (connection.as_object_mut(), extra) {
        target.extend(extra);
    }
    connection
}

/// `idconn <command>` with the realm's environment only.
fn idconn(agent: &Agent, realm: &Realm, command: &str, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(binary("idconn").unwrap())
        .arg(command)
        .arg("--settings")
        .arg(&agent.settings)
        .args(["--connection", idconn_e2e::CONNECTION])
        .args(args)
        .envs(realm.env())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out, started.elapsed())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn full_and_incremental_exports_over_a_sealed_session_with_a_ticket_cache() {
    let realm = Realm::start().unwrap();
    realm
        .kinit("admin", realm.password("admin").unwrap())
        .unwrap();
    let sim = KerberosSimulator::start(&realm, &[]);
    let proxy = idconn_e2e::CaptureProxy::start(sim.port).unwrap();
    let agent = Agent::new(kerberos_connection(proxy.port, json!({}))).unwrap();

    let (out, _) = idconn(&agent, &realm, "export", &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let mailboxes = agent.mailboxes().unwrap();
    assert_eq!(mailboxes.len(), 40);
    assert!(mailboxes.iter().all(|r| r["Command"] == "Insert"));
    assert_eq!(agent.databases().unwrap().len(), 3);

    // Incremental: the cookie from the first run; nothing changed since.
    let (out, _) = idconn(&agent, &realm, "export", &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let again = agent.mailboxes().unwrap();
    assert!(
        again.iter().all(|r| r["Command"] != "Delete") && again.len() < 40,
        "an unchanged directory gives no deletes and not every row again: {again:?}"
    );

    // Every byte that crossed the wire: authenticated, sealed, and no SOAP
    // in clear in either direction.
    // Header names are case-insensitive (hyper writes them in lower case).
    let wire = proxy.captured().to_ascii_lowercase();
    assert!(
        contains(&wire, "authorization: negotiate "),
        "no Negotiate token on the wire"
    );
    assert!(
        contains(&wire, "www-authenticate: negotiate "),
        "no mutual-authentication token"
    );
    assert!(contains(
        &wire,
        "multipart/encrypted;protocol=\"application/http-spnego-session-encrypted\";boundary=\"encrypted boundary\""
    ));
    for clear in [
        "Envelope",
        "soap-envelope",
        "Get-Mailbox",
        "rsp:Shell",
        "CompanyName",
    ] {
        assert!(
            !contains(&wire, clear),
            "'{clear}' crossed the wire in clear"
        );
    }
    for request in wire
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"post "))
    {
        assert!(request.starts_with(b"post /powershell/"));
    }
}

#[test]
fn login_and_password_get_a_private_ticket_and_export() {
    let realm = Realm::start().unwrap();
    let sim = KerberosSimulator::start(&realm, &[]);
    let agent = Agent::new(kerberos_connection(
        sim.port,
        json!({ "Login": "reader@IDCONN.TEST", "Password": realm.password("reader").unwrap() }),
    ))
    .unwrap();
    let (out, _) = idconn(&agent, &realm, "export", &[]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(agent.mailboxes().unwrap().len(), 40);
    // The ticket went into a private cache, not the user's.
    assert!(!realm.dir().join("ccache").exists());
}

#[test]
fn a_client_keytab_exports() {
    let realm = Realm::start().unwrap();
    let sim = KerberosSimulator::start(&realm, &[]);
    let agent = Agent::new(kerberos_connection(
        sim.port,
        json!({ "Login": "admin", "ClientKeytab": realm.user_keytab("admin") }),
    ))
    .unwrap();
    let (out, _) = idconn(&agent, &realm, "check", &[]);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn failures_are_clear_and_quick() {
    let realm = Realm::start().unwrap();
    let sim = KerberosSimulator::start(&realm, &[]);

    // A wrong password: named as such, never shown.
    let agent = Agent::new(kerberos_connection(
        sim.port,
        json!({ "Login": "admin", "Password": "Not-The-Password-9" }),
    ))
    .unwrap();
    let (out, took) = idconn(&agent, &realm, "export", &[]);
    let text = describe(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("refused the password"), "{text}");
    assert!(!text.contains("Not-The-Password-9"), "{text}");
    assert!(took < Duration::from_secs(60), "{took:?}");

    // No ticket in the cache.
    agent
        .write_connection(kerberos_connection(sim.port, json!({})))
        .unwrap();
    let (out, took) = idconn(&agent, &realm, "export", &[]);
    let text = describe(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("no Kerberos ticket"), "{text}");
    assert!(text.contains("kinit"), "{text}");
    assert!(took < Duration::from_secs(60), "{took:?}");

    // An IP address instead of the FQDN.
    let mut by_ip = kerberos_connection(sim.port, json!({}));
    by_ip["Server"] = json!(format!("http://127.0.0.1:{}/PowerShell/", sim.port));
    agent.write_connection(by_ip).unwrap();
    let (out, _) = idconn(&agent, &realm, "export", &[]);
    let text = describe(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("FQDN"), "{text}");
}

#[test]
fn an_spn_the_kdc_does_not_know_says_to_check_the_fqdn() {
    // The server's key is HTTP/mail.idconn.test; the client asks for
    // HTTP/localhost.
    let realm = Realm::start_with(RealmSpec {
        host: "mail.idconn.test".into(),
        ..RealmSpec::default()
    })
    .unwrap();
    realm
        .kinit("admin", realm.password("admin").unwrap())
        .unwrap();
    let sim = KerberosSimulator::start(&realm, &[]);
    let agent = Agent::new(kerberos_connection(sim.port, json!({}))).unwrap();
    let (out, took) = idconn(&agent, &realm, "export", &[]);
    let text = describe(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("HTTP/localhost"), "{text}");
    assert!(text.contains("FQDN"), "{text}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn the_simulator_refuses_soap_in_clear_on_a_kerberos_session() {
    let realm = Realm::start().unwrap();
    let sim = KerberosSimulator::start(&realm, &[]);
    // No Authorization: a 401 offering both schemes.
    let mut stream = TcpStream::connect(("127.0.0.1", sim.port)).unwrap();
    let body = "<s:Envelope/>";
    write!(
        stream,
        "POST /PowerShell/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("www-authenticate: Negotiate"), "{answer}");
    assert!(answer.contains("www-authenticate: Kerberos"), "{answer}");
}

#[test]
fn an_unreachable_kdc_is_named() {
    let mut realm = Realm::start().unwrap();
    let sim = KerberosSimulator::start(&realm, &[]);
    realm.stop_kdc();
    let agent = Agent::new(kerberos_connection(
        sim.port,
        json!({ "Login": "admin", "Password": "Admin-Kerberos-1" }),
    ))
    .unwrap();
    let (out, took) = idconn(&agent, &realm, "export", &[]);
    let text = describe(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("no KDC of the realm answered"), "{text}");
    assert!(!text.contains("Admin-Kerberos-1"), "{text}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn an_expired_ticket_says_to_kinit_again() {
    // The KDC accepts a ticket until its end time plus the clock skew.
    let realm = Realm::start_with(RealmSpec {
        clockskew_seconds: 1,
        ..RealmSpec::default()
    })
    .unwrap();
    realm
        .kinit_with("admin", realm.password("admin").unwrap(), &["-l", "1s"])
        .unwrap();
    // Wait for the ticket's own end time, as klist sees it (bounded).
    let deadline = Instant::now() + Duration::from_secs(15);
    while realm.command("klist").arg("-s").status().unwrap().success() {
        assert!(
            Instant::now() < deadline,
            "the 1-second ticket never expired"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And past the 1-second skew: nothing observable says when, so wait it.
    std::thread::sleep(Duration::from_millis(1200));
    let sim = KerberosSimulator::start(&realm, &[]);
    let agent = Agent::new(kerberos_connection(sim.port, json!({}))).unwrap();
    let (out, took) = idconn(&agent, &realm, "export", &[]);
    let text = describe(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("has expired") && text.contains("kinit again"),
        "{text}"
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
}
