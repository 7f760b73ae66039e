//! Issue 14: a Usercube settings file works unchanged (`AuthType: Basic` is
//! Kerberos with Login and Password, sealed), passwords come by reference
//! (environment, file, systemd credential) or from the encrypted overlay
//! that `idconn protect` writes, and no secret reaches a log line at -vv,
//! the agent's API, or the component.
//!
//! Every test runs a throwaway MIT realm and the simulator with
//! `--auth kerberos`; the realm's environment goes only on the processes
//! started here.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use idconn_e2e::{binary, contains_bytes, describe, CaptureProxy, Simulator};
use krb5_realm::Realm;
use serde_json::{json, Value};

const CONNECTION: &str = "MicrosoftExchangeExport";

/// The realm and the simulator accepting only Kerberos.
struct Setup {
    realm: Realm,
    sim: Simulator,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let realm = Realm::start().unwrap();
        let mut args: Vec<std::ffi::OsString> = vec!["--auth".into(), "kerberos".into()];
        args.push("--keytab".into());
        args.push(realm.service_keytab().into());
        for a in ["--mailboxes", "40", "--databases", "3", "--seed", "5"] {
            args.push(a.into());
        }
        let sim = Simulator::start_with_env(args, realm.env()).unwrap();
        Setup {
            realm,
            sim,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn password(&self) -> String {
        self.realm.password("reader").unwrap().to_string()
    }

    fn settings_file(&self) -> PathBuf {
        self.dir.path().join("appsettings.agent.json")
    }

    /// Usercube's form: Basic, a DOMAIN\user login, a password, http://.
    fn usercube_connection(&self, port: u16, password: Option<Value>) -> Value {
        let mut connection = json!({
            "AuthType": "Basic",
            "Server": format!("http://localhost:{port}/PowerShell/"),
            "Login": "IDCONN\\reader",
        });
        if let Some(password) = password {
            connection["Password"] = password;
        }
        connection
    }

    fn write_settings(&self, top: Value, connections: Value) {
        let mut settings = json!({
            "TempFolderPath": "Temp",
            "WorkFolderPath": "Work",
            "ComponentCachePath": idconn_e2e::workspace_root().join("target").join("e2e-component-cache"),
            "ComponentPath": idconn_e2e::exchange_component(),
            "Connections": connections,
        });
        if let (Some(s), Value::Object(top)) = (settings.as_object_mut(), top) {
            s.extend(top);
        }
        std::fs::write(
            self.settings_file(),
            serde_json::to_vec_pretty(&settings).unwrap(),
        )
        .unwrap();
    }

    /// `idconn <args>` with the realm's environment and `env`.
    fn idconn(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut child = Command::new(binary("idconn").unwrap())
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("IDCONN_AGE_IDENTITY")
            .envs(self.realm.env())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn export(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let settings = self.settings_file();
        let mut args = vec![
            "export",
            "--settings",
            settings.to_str().unwrap(),
            "--connection-identifier",
            CONNECTION,
        ];
        args.extend_from_slice(extra);
        self.idconn(&args, env, None)
    }

    fn mailboxes(&self) -> Vec<idconn_e2e::Row> {
        idconn_e2e::read_csv(
            &self
                .dir
                .path()
                .join("Temp/ExportOutput")
                .join(format!("{CONNECTION}_mailboxes.csv")),
        )
        .unwrap()
    }

    /// `idconn protect` of `key` with `value` on stdin.
    fn protect(&self, key: &str, value: &str, identity_args: &[&str]) -> Output {
        let settings = self.settings_file();
        let mut args = vec![
            "protect",
            "--settings",
            settings.to_str().unwrap(),
            "--key",
            key,
        ];
        args.extend_from_slice(identity_args);
        self.idconn(&args, &[], Some(&format!("{value}\n")))
    }
}

/// The line of stderr that starts with `error:`, which must be the only
/// line the error takes.
fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{}", describe(out));
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error:"),
        "the error continues on more lines: {}",
        describe(out)
    );
    lines[0].to_string()
}

/// Every file under `dir`, read whole.
fn all_files(dir: &Path, into: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            all_files(&path, into);
        } else if let Ok(bytes) = std::fs::read(&path) {
            into.push((path, bytes));
        }
    }
}

fn assert_absent(what: &str, haystack: &[u8], secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !contains_bytes(haystack, secret.as_bytes()),
            "a secret ({} characters) appears in {what}",
            secret.len()
        );
    }
}

#[test]
fn usercube_basic_settings_export_over_a_sealed_kerberos_session() {
    let setup = Setup::new();
    let proxy = CaptureProxy::start(setup.sim.port().unwrap()).unwrap();
    let password = setup.password();
    setup.write_settings(
        json!({}),
        json!({ CONNECTION: setup.usercube_connection(proxy.port, Some(json!(password))) }),
    );
    let out = setup.export(&["-vv"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let mailboxes = setup.mailboxes();
    assert_eq!(mailboxes.len(), 40);
    assert!(mailboxes.iter().all(|r| r["Command"] == "Insert"));

    // Kerberos on the wire, every message sealed, the password nowhere.
    let wire = proxy.captured();
    let lower = wire.to_ascii_lowercase();
    assert!(contains_bytes(&lower, b"authorization: negotiate "));
    assert!(!contains_bytes(&lower, b"authorization: basic"));
    assert!(contains_bytes(
        &lower,
        b"multipart/encrypted;protocol=\"application/http-spnego-session-encrypted\""
    ));
    for clear in ["Envelope", "Get-Mailbox", "rsp:Shell"] {
        assert!(
            !contains_bytes(&wire, clear.as_bytes()),
            "'{clear}' in clear"
        );
    }
    assert_absent("the wire", &wire, &[&password]);
    // And not in any log line at -vv.
    assert_absent("the -vv logs", &out.stderr, &[&password]);
    assert_absent("stdout", &out.stdout, &[&password]);
}

#[test]
fn a_password_by_reference_from_environment_file_and_systemd_credential() {
    let setup = Setup::new();
    let port = setup.sim.port().unwrap();
    let password = setup.password();

    // An environment variable.
    setup.write_settings(
        json!({}),
        json!({ CONNECTION: setup.usercube_connection(port, Some(json!({"FromEnvironment": "EXCHANGE_PASSWORD"}))) }),
    );
    let out = setup.export(&[], &[("EXCHANGE_PASSWORD", &password)]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(setup.mailboxes().len(), 40);

    // A missing variable: one line naming the setting and the reference.
    let out = setup.export(&[], &[]);
    assert!(!out.status.success(), "{}", describe(&out));
    let line = error_line(&out);
    assert!(
        line.contains(&format!("Connections.{CONNECTION}.Password")),
        "{line}"
    );
    assert!(
        line.contains(r#"{"FromEnvironment": "EXCHANGE_PASSWORD"}"#),
        "{line}"
    );
    assert!(line.contains("is not set"), "{line}");
    // An empty one.
    let out = setup.export(&[], &[("EXCHANGE_PASSWORD", "")]);
    let line = error_line(&out);
    assert!(
        line.contains("EXCHANGE_PASSWORD") && line.contains("is empty"),
        "{line}"
    );

    // A file (a Kubernetes secret mount), relative to the settings, with
    // the trailing newline such files usually have.
    std::fs::create_dir(setup.dir.path().join("secrets")).unwrap();
    std::fs::write(
        setup.dir.path().join("secrets/exchange"),
        format!("{password}\n"),
    )
    .unwrap();
    setup.write_settings(
        json!({}),
        json!({ CONNECTION: setup.usercube_connection(port, Some(json!({"FromFile": "secrets/exchange"}))) }),
    );
    let out = setup.export(&["--ignore-cookies"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(setup.mailboxes().len(), 40);

    // A systemd credential.
    let credentials = setup.dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("exchange-password"), &password).unwrap();
    setup.write_settings(
        json!({}),
        json!({ CONNECTION: setup.usercube_connection(port, Some(json!({"FromCredential": "exchange-password"}))) }),
    );
    let out = setup.export(
        &["--ignore-cookies"],
        &[("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(setup.mailboxes().len(), 40);
    let out = setup.export(&[], &[]);
    let line = error_line(&out);
    assert!(
        line.contains("CREDENTIALS_DIRECTORY") && line.contains("FromCredential"),
        "{line}"
    );
}

#[test]
fn a_password_from_the_encrypted_overlay() {
    let setup = Setup::new();
    let port = setup.sim.port().unwrap();
    let password = setup.password();
    // The plain file has no password at all.
    setup.write_settings(
        json!({}),
        json!({ CONNECTION: setup.usercube_connection(port, None) }),
    );
    let identity = setup.dir.path().join("idconn.agekey");
    let key = format!("Connections.{CONNECTION}.Password");
    let out = setup.protect(
        &key,
        &password,
        &["--new-identity", identity.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_absent(
        "protect's output",
        &[out.stdout, out.stderr].concat(),
        &[&password],
    );
    let overlay = setup
        .dir
        .path()
        .join("appsettings.encrypted.agent.json.age");
    let armored = std::fs::read_to_string(&overlay).unwrap();
    assert!(
        armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{armored}"
    );
    assert_absent("the overlay", armored.as_bytes(), &[&password]);

    // Without an identity: what to pass.
    let out = setup.export(&[], &[]);
    let line = error_line(&out);
    assert!(
        line.contains("--identity") && line.contains("IDCONN_AGE_IDENTITY"),
        "{line}"
    );

    // --identity, and IDCONN_AGE_IDENTITY.
    let out = setup.export(&["--identity", identity.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(setup.mailboxes().len(), 40);
    let out = setup.export(
        &["--ignore-cookies", "-vv"],
        &[("IDCONN_AGE_IDENTITY", identity.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let identity_text = std::fs::read_to_string(&identity).unwrap();
    let secret_key = identity_text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    assert_absent("the -vv logs", &out.stderr, &[&password, &secret_key]);

    // A second value merges into the overlay: both are there.
    let out = setup.protect(
        "AgentToken",
        "0123456789abcdef0123456789abcdef",
        &["--identity", identity.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = setup.export(&["--identity", identity.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", describe(&out));

    // A wrong key: one line naming the identity setting.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join("appsettings.agent.json"),
        r#"{"Connections": {}}"#,
    )
    .unwrap();
    let wrong = other.path().join("wrong.agekey");
    let out = Command::new(binary("idconn").unwrap())
        .args(["protect", "--settings"])
        .arg(other.path().join("appsettings.agent.json"))
        .args(["--key", "AgentToken", "--new-identity"])
        .arg(&wrong)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an empty stdin is no secret: {}",
        describe(&out)
    );
    assert!(wrong.is_file(), "{}", describe(&out));
    let out = setup.export(&["--identity", wrong.to_str().unwrap()], &[]);
    assert!(!out.status.success(), "{}", describe(&out));
    let line = error_line(&out);
    assert!(
        line.contains("--identity") && line.contains("wrong key"),
        "{line}"
    );
    assert!(
        line.contains("appsettings.encrypted.agent.json.age"),
        "{line}"
    );
    let out = setup.export(&[], &[("IDCONN_AGE_IDENTITY", wrong.to_str().unwrap())]);
    let line = error_line(&out);
    assert!(
        line.contains("IDCONN_AGE_IDENTITY") && line.contains("wrong key"),
        "{line}"
    );

    // A tampered file: one base64 character changed, in the header (the
    // first line of the body) and in the payload (the last).
    let lines: Vec<String> = armored.lines().map(str::to_string).collect();
    for at in [1, lines.len() - 2] {
        let mut tampered = lines.clone();
        // The middle character: a short last line has no 11th, and the last
        // character of a line may carry only padding bits.
        let middle = tampered[at].len() / 2;
        tampered[at] = tampered[at]
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i == middle {
                    if c == 'A' {
                        'B'
                    } else {
                        'A'
                    }
                } else {
                    c
                }
            })
            .collect();
        std::fs::write(&overlay, tampered.join("\n") + "\n").unwrap();
        let out = setup.export(&["--identity", identity.to_str().unwrap()], &[]);
        assert!(!out.status.success(), "{}", describe(&out));
        let line = error_line(&out);
        assert!(
            line.contains("damaged or was modified"),
            "line {at}: {line}"
        );
        assert_absent("the error", line.as_bytes(), &[&password, &secret_key]);
    }
}

/// A minimal HTTP/1.1 request to the agent; returns status and body.
fn http(addr: &str, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn no_secret_reaches_a_log_the_agent_api_or_the_component() {
    let hostile =
        idconn_e2e::workspace_root().join("components/target/wasm32-wasip2/release/hostile.wasm");
    assert!(hostile.is_file(), "build the components first (just build)");
    let setup = Setup::new();
    let port = setup.sim.port().unwrap();
    let password = setup.password();
    let token = "agent-token-7f3a9c1e5b2d4f6a8c0e";
    // The Exchange connection's password is in the overlay, the hostile
    // component's connection reads it from the environment, the token
    // from a file.
    std::fs::write(setup.dir.path().join("token"), token).unwrap();
    let mut dump =
        setup.usercube_connection(port, Some(json!({"FromEnvironment": "EXCHANGE_PASSWORD"})));
    dump["ComponentPath"] = json!(hostile);
    setup.write_settings(
        json!({"AgentToken": {"FromFile": "token"}}),
        json!({ CONNECTION: setup.usercube_connection(port, None), "dump": dump }),
    );
    let identity = setup.dir.path().join("idconn.agekey");
    let out = setup.protect(
        &format!("Connections.{CONNECTION}.Password"),
        &password,
        &["--new-identity", identity.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let secret_key = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();

    let stderr_log = setup.dir.path().join("agent.log");
    let mut agent = Command::new(binary("idconn").unwrap())
        .args(["-vv", "agent", "--settings"])
        .arg(setup.settings_file())
        .args(["--listen", "127.0.0.1:0", "--identity"])
        .arg(&identity)
        .envs(setup.realm.env())
        .env("EXCHANGE_PASSWORD", &password)
        .env_remove("RUST_LOG")
        .env_remove("IDCONN_AGENT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_log).unwrap())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(agent.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first.trim().rsplit("http://").next().unwrap().to_string();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "{first:?}: {}",
        std::fs::read_to_string(&stderr_log).unwrap_or_default()
    );

    let mut seen = Vec::new();
    for connection in [CONNECTION, "dump"] {
        let (status, body) = http(
            &addr,
            "POST",
            "/jobs",
            token,
            Some(&json!({"connection": connection, "kind": "export"})),
        );
        assert_eq!(status, 202, "{body}");
        let id = serde_json::from_str::<Value>(&body).unwrap()["id"].clone();
        let id = id
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| id.to_string());
        let deadline = Instant::now() + Duration::from_secs(120);
        let job = loop {
            let (status, body) = http(&addr, "GET", &format!("/jobs/{id}"), token, None);
            assert_eq!(status, 200, "{body}");
            let job: Value = serde_json::from_str(&body).unwrap();
            if job["status"] != "running" {
                seen.extend_from_slice(body.as_bytes());
                break job;
            }
            assert!(Instant::now() < deadline, "the job never ended: {body}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    for path in ["/jobs", "/components", "/metrics"] {
        let (status, body) = http(&addr, "GET", path, token, None);
        assert_eq!(status, 200, "{path}: {body}");
        seen.extend_from_slice(body.as_bytes());
    }
    assert_absent("the agent's API", &seen, &[&password, &secret_key, token]);

    // What the component saw: it ran and dumped it.
    let dumped =
        std::fs::read_to_string(setup.dir.path().join("Temp/ExportOutput/dump_dump.txt")).unwrap();
    assert!(
        dumped.contains("batch:"),
        "the dump has no pipeline output: {dumped}"
    );
    let mut files = Vec::new();
    all_files(&setup.dir.path().join("Temp"), &mut files);
    all_files(&setup.dir.path().join("Work"), &mut files);
    assert!(!files.is_empty());
    for (path, bytes) in &files {
        assert_absent(
            &path.display().to_string(),
            bytes,
            &[&password, &secret_key, token],
        );
    }
    assert_absent(
        "what the component saw",
        dumped.as_bytes(),
        &[
            &format!("localhost:{port}"),
            &setup.dir.path().display().to_string(),
        ],
    );

    // SIGTERM: the agent drains and exits; then its whole -vv log.
    let pid = agent.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = agent.wait().unwrap();
    assert!(status.success(), "{status}");
    let found =
        idconn_e2e::file_contains(&stderr_log, &["DEBUG", &password, &secret_key, token]).unwrap();
    assert!(found.contains(&0), "not a -vv log");
    assert!(
        found.iter().all(|&i| i == 0),
        "a secret appears in the agent's -vv log"
    );
}
