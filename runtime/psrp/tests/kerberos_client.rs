//! The client over Kerberos against the simulator binary (`exchange-sim
//! --auth kerberos`), with a throwaway MIT realm: both schemes, sealed
//! messages, and a scheme switch when the server offers only one.
//!
//! GSSAPI reads the realm's configuration from the process environment, so
//! each test re-runs itself in a child process that has it. The simulator
//! binary comes from target/debug (`cargo build -p exchange-sim`).

#![allow(clippy::unwrap_used)]

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use idconn_psrp::client::{
    Auth, ClientConfig, Error, KerberosCredentials, KerberosScheme, RunspacePool, Secret,
};
use krb5_realm::Realm;

const CHILD: &str = "IDCONN_KRB5_CLIENT_CHILD";

fn simulator_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("debug").join("exchange-sim");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p exchange-sim` (just build does)",
        path.display()
    );
    path
}

/// Starts a realm and the simulator, then runs `name` in a child with the
/// realm's environment and the simulator's URL; true in the child.
fn with_simulator(name: &str) -> bool {
    with_simulator_behind(name, &[], |port| port)
}

/// Like [`with_simulator`], with the URL's port chosen by `front` (e.g. a
/// proxy in front of the simulator's port).
fn with_simulator_behind(name: &str, extra: &[&str], front: impl FnOnce(u16) -> u16) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let realm = Realm::start().unwrap();
    let mut sim = Command::new(simulator_binary())
        .args(["--listen", "127.0.0.1:0", "--auth", "kerberos", "--keytab"])
        .arg(realm.service_keytab())
        .args(["--mailboxes", "12", "--databases", "2"])
        .args(extra)
        .envs(realm.env())
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(sim.stdout.take().unwrap());
    let mut url = String::new();
    stdout.read_line(&mut url).unwrap();
    let port: u16 = url
        .trim()
        .trim_end_matches("/PowerShell/")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let url = format!("http://localhost:{}/PowerShell/", front(port));
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .envs(realm.env())
        .env(CHILD, "1")
        .env("TEST_URL", url.trim())
        .env("TEST_READER_PASSWORD", realm.password("reader").unwrap())
        .output()
        .unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(
        output.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
    false
}

fn config(scheme: KerberosScheme, password: &str) -> ClientConfig {
    ClientConfig::new(
        std::env::var("TEST_URL").unwrap(),
        Auth::Kerberos {
            credentials: KerberosCredentials::Password {
                principal: "reader".into(),
                password: Secret::new(password),
            },
            scheme,
        },
    )
}

async fn count(pool: &RunspacePool, cmdlet: &str) -> usize {
    let mut pipeline = pool
        .invoke(vec![idconn_psrp::Command::new(cmdlet)])
        .await
        .unwrap();
    let mut n = 0;
    while let Some(batch) = pipeline.next_batch(100).await.unwrap() {
        n += batch.len();
    }
    assert!(pipeline.errors().is_empty(), "{:?}", pipeline.errors());
    n
}

#[tokio::test]
async fn both_schemes_run_pipelines_over_sealed_sessions() {
    if !with_simulator("both_schemes_run_pipelines_over_sealed_sessions") {
        return;
    }
    let password = std::env::var("TEST_READER_PASSWORD").unwrap();
    for scheme in [KerberosScheme::Negotiate, KerberosScheme::Kerberos] {
        let pool = RunspacePool::open(config(scheme, &password)).await.unwrap();
        assert_eq!(count(&pool, "Get-Mailbox").await, 12);
        assert_eq!(count(&pool, "Get-MailboxDatabase").await, 2);
        pool.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_without_the_password() {
    if !with_simulator("a_wrong_password_is_an_auth_error_without_the_password") {
        return;
    }
    let error = RunspacePool::open(config(KerberosScheme::Negotiate, "Bad-Secret-77"))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, Error::Auth(_)), "{text}");
    assert!(text.contains("refused the password for 'reader'"), "{text}");
    assert!(!text.contains("Bad-Secret-77"), "{text}");
}

/// A proxy that lets one sealed answer through per connection, then
/// closes it (announced with `Connection: close`, as a server going away
/// between requests would): every request needs a new Kerberos handshake.
fn closing_proxy(upstream: u16, connections: Arc<AtomicUsize>) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn read_message(from: &mut TcpStream) -> Option<(String, Vec<u8>)> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if from.read(&mut byte).ok()? == 0 {
                return None;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).ok()?;
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        from.read_exact(&mut body).ok()?;
        Some((head, body))
    }

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            connections.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                while let Some((head, body)) = read_message(&mut client) {
                    server.write_all(head.as_bytes()).unwrap();
                    server.write_all(&body).unwrap();
                    let Some((head, body)) = read_message(&mut server) else {
                        return;
                    };
                    let sealed_answer = head.starts_with("HTTP/1.1 200") && !body.is_empty();
                    let head = if sealed_answer {
                        head.replacen("\r\n", "\r\nconnection: close\r\n", 1)
                    } else {
                        head
                    };
                    client.write_all(head.as_bytes()).unwrap();
                    client.write_all(&body).unwrap();
                    if sealed_answer {
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn every_new_connection_authenticates_again() {
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    if !with_simulator_behind("every_new_connection_authenticates_again", &[], |port| {
        closing_proxy(port, seen)
    }) {
        // Create, the pipelines, Receives, Delete: each on its own
        // connection, so the session survived many re-authentications.
        let connections = connections.load(Ordering::SeqCst);
        assert!(connections >= 5, "only {connections} connections");
        return;
    }
    let password = std::env::var("TEST_READER_PASSWORD").unwrap();
    let pool = RunspacePool::open(config(KerberosScheme::Negotiate, &password))
        .await
        .unwrap();
    assert_eq!(count(&pool, "Get-Mailbox").await, 12);
    assert_eq!(count(&pool, "Get-MailboxDatabase").await, 2);
    pool.close().await.unwrap();
}

#[tokio::test]
async fn negotiate_switches_to_kerberos_when_the_server_offers_only_that() {
    if !with_simulator_behind(
        "negotiate_switches_to_kerberos_when_the_server_offers_only_that",
        &["--no-negotiate"],
        |port| port,
    ) {
        return;
    }
    let password = std::env::var("TEST_READER_PASSWORD").unwrap();
    let pool = RunspacePool::open(config(KerberosScheme::Negotiate, &password))
        .await
        .unwrap();
    assert_eq!(count(&pool, "Get-MailboxDatabase").await, 2);
    pool.close().await.unwrap();
}
