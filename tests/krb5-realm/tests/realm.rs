use krb5_realm::Realm;

#[test]
fn a_user_gets_a_ticket_and_a_service_ticket_for_http() {
    let realm = Realm::start().unwrap();
    let password = realm.password("admin").unwrap().to_string();
    realm.kinit("admin", &password).unwrap();
    let out = realm
        .command("kvno")
        .arg(format!("HTTP/localhost@{}", realm.realm()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = realm.command("klist").arg("-e").output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("admin@IDCONN.TEST"), "{list}");
    assert!(list.contains("HTTP/localhost@IDCONN.TEST"), "{list}");
    assert!(list.contains("aes256-cts-hmac-sha1-96"), "{list}");
    assert!(!list.contains("rc4"), "{list}");
}

#[test]
fn a_wrong_password_is_refused() {
    let realm = Realm::start().unwrap();
    let err = realm.kinit("admin", "not-the-password").unwrap_err();
    assert!(err.to_string().contains("kinit"), "{err}");
}

#[test]
fn the_service_keytab_holds_aes_keys_for_http_and_host() {
    let realm = Realm::start().unwrap();
    let out = realm
        .command("klist")
        .arg("-k")
        .arg("-e")
        .arg(realm.service_keytab())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HTTP/localhost@IDCONN.TEST"), "{text}");
    assert!(text.contains("host/localhost@IDCONN.TEST"), "{text}");
    assert!(!text.contains("rc4") && !text.contains("des"), "{text}");
}

#[test]
fn drop_stops_the_kdc_and_removes_the_directory() {
    let realm = Realm::start().unwrap();
    let dir = realm.dir().to_path_buf();
    let port = realm.port();
    drop(realm);
    assert!(!dir.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn the_binary_prints_the_environment_and_stops_when_stdin_closes() {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_krb5-realm"))
        .arg("--kinit")
        .arg("reader")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut vars = std::collections::HashMap::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if line == "READY" {
            break;
        }
        let (k, v) = line.split_once('=').unwrap();
        vars.insert(k.to_string(), v.to_string());
    }
    let klist = std::process::Command::new("klist")
        .env("KRB5_CONFIG", &vars["KRB5_CONFIG"])
        .env("KRB5CCNAME", &vars["KRB5CCNAME"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&klist.stdout).contains("reader@IDCONN.TEST"));
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let config = std::path::PathBuf::from(&vars["KRB5_CONFIG"]);
    assert!(!config.exists());
}

#[test]
fn stop_kdc_keeps_the_files_and_kinit_then_fails() {
    let mut realm = Realm::start().unwrap();
    realm.stop_kdc();
    assert!(realm.krb5_config().exists());
    let err = realm
        .kinit("admin", realm.password("admin").unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("KDC"), "{err}");
}
