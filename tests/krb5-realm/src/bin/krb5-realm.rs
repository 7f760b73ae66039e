//! `krb5-realm`: starts a throwaway realm for a demo or a non-Rust test,
//! prints the environment to use it as `NAME=VALUE` lines, then `READY`,
//! and keeps the KDC running until stdin closes, SIGTERM or Ctrl-C.
//!
//! Principals: `admin` (password `Admin-Kerberos-1`), `reader`
//! (`Reader-Kerberos-1`), `HTTP/localhost` and `host/localhost`.

use anyhow::Context as _;
use krb5_realm::Realm;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut kinit = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kinit" => kinit = Some(args.next().context("--kinit needs a user name")?),
            "-h" | "--help" => {
                println!("usage: krb5-realm [--kinit USER]\n\nStarts a KDC for realm {} on loopback, prints NAME=VALUE lines (KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME, ...), then READY, and runs until stdin closes or SIGTERM.\nUsers: admin (Admin-Kerberos-1), reader (Reader-Kerberos-1); service keys HTTP/localhost and host/localhost.\n--kinit USER gets USER a ticket in the printed KRB5CCNAME.", krb5_realm::DEFAULT_REALM);
                return Ok(());
            }
            other => anyhow::bail!("unknown argument '{other}' (see --help)"),
        }
    }
    let realm = Realm::start().context("starting the test realm")?;
    if let Some(user) = kinit {
        let password = realm
            .password(&user)
            .with_context(|| format!("the realm has no user '{user}'"))?
            .to_string();
        realm.kinit(&user, &password)?;
    }
    for (name, value) in realm.env() {
        println!("{name}={}", value.to_string_lossy());
    }
    println!("KRB5_REALM={}", realm.realm());
    println!("KRB5_SERVICE_KEYTAB={}", realm.service_keytab().display());
    for user in ["admin", "reader"] {
        println!(
            "KRB5_CLIENT_KEYTAB_{}={}",
            user.to_uppercase(),
            realm.user_keytab(user).display()
        );
    }
    println!("READY");
    // A plain thread: stdin has no async reader without another tokio
    // feature, and this thread is never joined (the process exits).
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        let _ = closed_tx.send(());
    });
    let stdin_closed = closed_rx;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = stdin_closed => {},
        _ = terminate.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    drop(realm);
    std::process::exit(0)
}
