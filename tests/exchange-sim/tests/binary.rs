//! The `exchange-sim` binary: URL on the first line, state file, clean stop
//! on SIGTERM, clear refusal of `--auth kerberos` without a keytab.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_exchange-sim");

#[test]
fn prints_its_url_first_and_stops_on_sigterm() {
    let temp = tempfile::tempdir().unwrap();
    let state = temp.path().join("directory.json");
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--mailboxes",
            "12",
            "--databases",
            "2",
        ])
        .args(["--auth", "basic", "--state"])
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first.trim();
    let port: u16 = url
        .strip_prefix("http://localhost:")
        .and_then(|rest| rest.strip_suffix("/PowerShell/"))
        .unwrap_or_else(|| panic!("unexpected first line {url:?}"))
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    // Listening: a TCP connection succeeds.
    std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // The seeded directory was saved before the URL was printed.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["format"], 1);
    assert!(saved["users"].as_array().unwrap().len() >= 12);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "stops cleanly on SIGTERM: {status:?}");
}

/// The simulator's stderr when it refuses `args` before printing a URL.
#[allow(clippy::unwrap_used)] // a test helper: a failure is the test's
fn refused<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(BIN)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no URL printed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn kerberos_without_a_keytab_is_refused_clearly() {
    let err = refused(["--auth", "kerberos"]);
    assert!(err.contains("--auth kerberos needs --keytab"), "{err}");
}

#[test]
fn sealing_work_is_refused_on_a_sealing_server() {
    let err = refused([
        "--auth",
        "kerberos",
        "--keytab",
        "/nonexistent",
        "--sealing-work",
    ]);
    assert!(
        err.contains("--sealing-work is for an unsealed server"),
        "{err}"
    );
}

#[test]
fn a_bad_users_file_is_refused_before_listening() {
    let temp = tempfile::tempdir().unwrap();
    let users = temp.path().join("users.json");
    std::fs::write(
        &users,
        r#"[{"name": "ops", "password": "s3cret", "roles": ["Wizards"]}]"#,
    )
    .unwrap();
    let err = refused([
        std::ffi::OsStr::new("--auth"),
        "basic".as_ref(),
        "--users".as_ref(),
        users.as_os_str(),
    ]);
    assert!(err.contains("unknown role 'Wizards'"), "{err}");
    assert!(!err.contains("s3cret"), "no secret in errors");
}
