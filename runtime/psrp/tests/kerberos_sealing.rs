//! Sealing with real Kerberos contexts from a throwaway MIT realm.
//!
//! GSSAPI reads `KRB5_CONFIG` from the process environment, and tests run
//! as threads of one process: so each test starts its realm, then re-runs
//! itself in a child process that has the realm's environment.

#![allow(clippy::unwrap_used)]

use idconn_psrp::gss::{self, ClientCredentials, Failure};
use idconn_psrp::krb5::{Context, Mechanism, Sealer};
use idconn_psrp::sealing::{self, Protocol};
use krb5_realm::Realm;

const CHILD: &str = "IDCONN_KRB5_TEST_CHILD";

/// Runs `name` in a child process with the realm's environment; returns
/// true when the caller is that child (and should run the checks).
fn in_realm(name: &str, realm_setup: impl FnOnce(&Realm)) -> bool {
    in_realm_limited_to(name, realm_setup, None)
}

/// Like [`in_realm`]; with `enctype`, the child's krb5.conf requests only
/// that enctype, so session keys, subkeys and sealing all use it (the
/// service ticket itself stays encrypted in the service's strongest key).
fn in_realm_limited_to(
    name: &str,
    realm_setup: impl FnOnce(&Realm),
    enctype: Option<&str>,
) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let realm = Realm::start().unwrap();
    realm_setup(&realm);
    let mut config = realm.krb5_config();
    if let Some(enctype) = enctype {
        let text = std::fs::read_to_string(&config).unwrap();
        let limited: Vec<String> = text
            .lines()
            .map(|line| match line.split_once('=') {
                Some((key, _))
                    if ["default_tkt_enctypes", "default_tgs_enctypes"].contains(&key.trim()) =>
                {
                    format!("{key}= {enctype}")
                }
                _ => line.to_string(),
            })
            .collect();
        assert!(limited.iter().any(|l| l.contains(enctype)));
        config = realm.dir().join("krb5-limited.conf");
        std::fs::write(&config, limited.join("\n")).unwrap();
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .envs(realm.env())
        .env("KRB5_CONFIG", &config)
        .env(CHILD, "1")
        .env("TEST_REALM_DIR", realm.dir())
        .env("TEST_ADMIN_PASSWORD", realm.password("admin").unwrap())
        .env("TEST_ADMIN_KEYTAB", realm.user_keytab("admin"))
        .env("TEST_SERVICE_KEYTAB", realm.service_keytab())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
    false
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap()
}

fn mechanism(protocol: Protocol) -> Mechanism {
    match protocol {
        Protocol::Spnego => Mechanism::Spnego,
        Protocol::Kerberos => Mechanism::Kerberos,
    }
}

fn establish(protocol: Protocol, credentials: &ClientCredentials) -> (Context, Context) {
    let client_cred = gss::acquire_initiator(credentials).unwrap();
    let server_cred =
        gss::acquire_acceptor(std::path::Path::new(&var("TEST_SERVICE_KEYTAB"))).unwrap();
    let mut client = Context::initiator(
        Some(client_cred),
        gss::http_service_name("localhost").unwrap(),
        mechanism(protocol),
    );
    let mut server = Context::acceptor(Some(server_cred));
    let mut token = client.step(None).unwrap();
    while let Some(t) = token {
        let answer = server.step(Some(&t)).unwrap();
        token = match answer {
            Some(a) => client.step(Some(&a)).unwrap(),
            None => None,
        };
    }
    assert!(client.is_complete() && server.is_complete());
    assert!(client.is_mutual());
    assert_eq!(server.source_name().unwrap(), "admin@IDCONN.TEST");
    (client, server)
}

/// MIT seals both ends (the fallback for enctypes we do not seal), or
/// our own code does.
#[derive(Clone, Copy, Debug)]
enum Sealing {
    Mit,
    Native,
}

fn sealers(protocol: Protocol, credentials: &ClientCredentials, how: Sealing) -> (Sealer, Sealer) {
    let (client, server) = establish(protocol, credentials);
    let (client, server) = match how {
        Sealing::Mit => (client.into_mit_sealer(), server.into_mit_sealer()),
        Sealing::Native => (client.into_sealer(), server.into_sealer()),
    };
    let (client, server) = (client.unwrap(), server.unwrap());
    let native = matches!(how, Sealing::Native);
    assert_eq!(client.is_native(), native);
    assert_eq!(server.is_native(), native);
    (client, server)
}

fn password() -> ClientCredentials {
    ClientCredentials::Password {
        principal: "admin".into(),
        password: var("TEST_ADMIN_PASSWORD"),
    }
}

fn round_trip(protocol: Protocol, credentials: ClientCredentials) {
    for how in [Sealing::Mit, Sealing::Native] {
        round_trip_with(protocol, &credentials, how);
    }
}

fn round_trip_with(protocol: Protocol, credentials: &ClientCredentials, how: Sealing) {
    let (mut client, mut server) = sealers(protocol, credentials, how);
    let soap = b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>Get-Mailbox</s:Body></s:Envelope>";
    for round in 0..3 {
        let request = sealing::seal(&mut client, protocol, soap).unwrap();
        assert!(!request.windows(10).any(|w| w == b"s:Envelope"));
        let parts = sealing::parse(&request).unwrap();
        assert_eq!(parts.protocol, protocol);
        assert_eq!(parts.original_length, soap.len());
        // AES with SHA-1: 16-byte token header, 16-byte confounder and the
        // 28-byte rotated trailer (RRC = 28).
        assert_eq!(parts.header.len(), 60, "round {round}");
        assert_eq!(&parts.header[..2], &[0x05, 0x04]);
        assert_eq!(u16::from_be_bytes([parts.header[6], parts.header[7]]), 28);
        assert_eq!(
            sealing::unseal(&mut server, protocol, request).unwrap(),
            soap
        );

        // The spaced boundary some Exchange builds send.
        let answer = sealing::seal(&mut server, protocol, b"<answer/>").unwrap();
        let spaced = String::from_utf8_lossy(&answer).contains("--Encrypted Boundary");
        assert!(spaced);
        let mut variant = Vec::new();
        let mut rest = &answer[..];
        while let Some(at) = rest.windows(20).position(|w| w == b"--Encrypted Boundary") {
            variant.extend_from_slice(&rest[..at]);
            variant.extend_from_slice(b"-- Encrypted Boundary");
            rest = &rest[at + 20..];
        }
        variant.extend_from_slice(rest);
        let reply = sealing::unseal(&mut client, protocol, variant).unwrap();
        assert_eq!(reply, b"<answer/>");
        // The acceptor's token says SentByAcceptor (1) | Sealed (2).
        let parts = sealing::parse(&answer).unwrap();
        assert_eq!(parts.header[2] & 0x03, 0x03);
    }
    // A sealed body of the other protocol is refused.
    let other = match protocol {
        Protocol::Spnego => Protocol::Kerberos,
        Protocol::Kerberos => Protocol::Spnego,
    };
    let request = sealing::seal(&mut client, other, soap).unwrap();
    assert!(sealing::unseal(&mut server, protocol, request).is_err());
    // A flipped bit is refused.
    let mut request = sealing::seal(&mut client, protocol, soap).unwrap();
    let last = request.len() - 30;
    request[last] ^= 1;
    assert!(
        sealing::unseal(&mut server, protocol, request).is_err(),
        "{how:?}"
    );
}

#[test]
fn spnego_sealing_round_trips_with_a_password_ticket() {
    if in_realm("spnego_sealing_round_trips_with_a_password_ticket", |_| {}) {
        round_trip(Protocol::Spnego, password());
        // The password went into a private cache, not the realm's.
        let ccache = std::path::Path::new(&var("TEST_REALM_DIR")).join("ccache");
        assert!(!ccache.exists());
    }
}

#[test]
fn kerberos_sealing_round_trips_with_a_client_keytab() {
    if in_realm("kerberos_sealing_round_trips_with_a_client_keytab", |_| {}) {
        round_trip(
            Protocol::Kerberos,
            ClientCredentials::Keytab {
                keytab: var("TEST_ADMIN_KEYTAB").into(),
                principal: Some("admin".into()),
            },
        );
    }
}

#[test]
fn ambient_tickets_from_kinit_seal_both_protocols() {
    let setup = |realm: &Realm| {
        realm
            .kinit("admin", realm.password("admin").unwrap())
            .unwrap();
    };
    if in_realm("ambient_tickets_from_kinit_seal_both_protocols", setup) {
        round_trip(Protocol::Spnego, ClientCredentials::Ambient);
        round_trip(Protocol::Kerberos, ClientCredentials::Ambient);
    }
}

#[test]
fn failures_are_classified_for_operators() {
    if in_realm("failures_are_classified_for_operators", |_| {}) {
        // No ticket in the (empty) cache.
        let error = gss::acquire_initiator(&ClientCredentials::Ambient)
            .and_then(|cred| {
                let mut ctx = Context::initiator(
                    Some(cred),
                    gss::http_service_name("localhost")?,
                    Mechanism::Kerberos,
                );
                ctx.step(None).map(|_| ())
            })
            .unwrap_err();
        assert_eq!(gss::classify(&error), Failure::NoTicket, "{error}");

        // A wrong password: the message names the user, never the password.
        let wrong = ClientCredentials::Password {
            principal: "admin".into(),
            password: "Wrong-Secret-42".into(),
        };
        let error = gss::acquire_initiator(&wrong)
            .and_then(|cred| {
                let mut ctx = Context::initiator(
                    Some(cred),
                    gss::http_service_name("localhost")?,
                    Mechanism::Kerberos,
                );
                ctx.step(None).map(|_| ())
            })
            .unwrap_err();
        assert_eq!(gss::classify(&error), Failure::WrongPassword, "{error}");
        let message = gss::explain(&error, &wrong.describe(), "HTTP/localhost");
        assert!(message.contains("'admin'"), "{message}");
        assert!(!message.contains("Wrong-Secret-42"), "{message}");
        assert!(!format!("{wrong:?}").contains("Wrong-Secret-42"));

        // An SPN the KDC does not know.
        let cred = gss::acquire_initiator(&password()).unwrap();
        let mut ctx = Context::initiator(
            Some(cred),
            gss::http_service_name("mail.nowhere.test").unwrap(),
            Mechanism::Spnego,
        );
        let error = ctx.step(None).unwrap_err();
        assert_eq!(
            gss::classify(&error),
            Failure::UnknownService,
            "{error} {}",
            error.minor as i32
        );
        let message = gss::explain(&error, "admin", "HTTP/mail.nowhere.test");
        assert!(message.contains("FQDN"), "{message}");
    }
}

// --- Our sealing against MIT's: one side exported, the other kept in MIT.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ours {
    Initiator,
    Acceptor,
}

/// A context pair where only `ours` is sealed by our code.
fn mixed(protocol: Protocol, ours: Ours) -> (Sealer, Sealer) {
    let (client, server) = establish(protocol, &password());
    let (client, server) = match ours {
        Ours::Initiator => (client.into_sealer(), server.into_mit_sealer()),
        Ours::Acceptor => (client.into_mit_sealer(), server.into_sealer()),
    };
    let (client, server) = (client.unwrap(), server.unwrap());
    assert_eq!(client.is_native(), ours == Ours::Initiator);
    assert_eq!(server.is_native(), ours == Ours::Acceptor);
    (client, server)
}

fn enctype_of(sealer: &Sealer) -> i32 {
    match sealer {
        Sealer::Native(cfx) => cfx.enctype().number(),
        Sealer::Mit(_) => panic!("not our sealing"),
    }
}

/// Several messages each way (sequence numbers advance), of several
/// sizes, between our sealing and MIT's.
fn interoperate(enctype: i32) {
    for protocol in [Protocol::Spnego, Protocol::Kerberos] {
        for ours in [Ours::Initiator, Ours::Acceptor] {
            let (mut client, mut server) = mixed(protocol, ours);
            let native = if ours == Ours::Initiator {
                &client
            } else {
                &server
            };
            assert_eq!(enctype_of(native), enctype, "{protocol:?} {ours:?}");
            for (round, len) in [1usize, 16, 17, 100, 5000, 300_000].into_iter().enumerate() {
                let request: Vec<u8> = (0..len).map(|i| (i % 250) as u8 ^ round as u8).collect();
                let sealed = sealing::seal(&mut client, protocol, &request).unwrap();
                let parts = sealing::parse(&sealed).unwrap();
                assert_eq!(parts.header.len(), 60, "{protocol:?} {ours:?}");
                assert_eq!(parts.data.len(), len);
                assert_eq!(
                    sealing::unseal(&mut server, protocol, sealed).unwrap(),
                    request,
                    "{protocol:?} {ours:?} {len}"
                );
                let answer: Vec<u8> = request.iter().rev().copied().collect();
                let sealed = sealing::seal(&mut server, protocol, &answer).unwrap();
                let parts = sealing::parse(&sealed).unwrap();
                assert_eq!(&parts.header[..2], &[0x05, 0x04]);
                assert_eq!(u16::from_be_bytes([parts.header[6], parts.header[7]]), 28);
                assert_eq!(
                    sealing::unseal(&mut client, protocol, sealed).unwrap(),
                    answer,
                    "{protocol:?} {ours:?} {len}"
                );
            }
        }
    }
}

#[test]
fn our_aes256_sealing_interoperates_with_mit_both_ways() {
    if in_realm(
        "our_aes256_sealing_interoperates_with_mit_both_ways",
        |_| {},
    ) {
        interoperate(18);
    }
}

#[test]
fn our_aes128_sealing_interoperates_with_mit_both_ways() {
    if in_realm_limited_to(
        "our_aes128_sealing_interoperates_with_mit_both_ways",
        |_| {},
        Some("aes128-cts-hmac-sha1-96"),
    ) {
        interoperate(17);
    }
}

/// Replaces the body's wrap token by `edit(token)`, keeping the framing.
fn edit_token(body: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let parts = sealing::parse(body).unwrap();
    let mut token = [parts.header, parts.data].concat();
    let header_length = parts.header.len();
    edit(&mut token);
    let header_length = header_length.min(token.len());
    sealing::frame(
        parts.protocol,
        parts.original_length,
        &token[..header_length],
        &token[header_length..],
    )
}

#[test]
fn our_receiver_refuses_tampered_replayed_skipped_and_truncated_messages() {
    if !in_realm(
        "our_receiver_refuses_tampered_replayed_skipped_and_truncated_messages",
        |_| {},
    ) {
        return;
    }
    let protocol = Protocol::Spnego;
    for ours in [Ours::Initiator, Ours::Acceptor] {
        let (mut client, mut server) = mixed(protocol, ours);
        // MIT seals, ours receives.
        let (mit, native) = match ours {
            Ours::Initiator => (&mut server, &mut client),
            Ours::Acceptor => (&mut client, &mut server),
        };
        let message = b"<s:Envelope>a message MIT sealed</s:Envelope>".to_vec();
        let first = sealing::seal(mit, protocol, &message).unwrap();

        let flipped = edit_token(&first, |t| {
            let at = t.len() - 3;
            t[at] ^= 1;
        });
        let error = sealing::unseal(native, protocol, flipped).unwrap_err();
        assert!(error.to_string().contains("integrity"), "{error}");
        for cut in [0, 1, 15, 16, 40, 59, 60, 61] {
            let truncated = edit_token(&first, |t| t.truncate(cut));
            assert!(
                sealing::unseal(native, protocol, truncated).is_err(),
                "{cut}"
            );
        }
        let mut wrong_direction = sealing::seal(native, protocol, &message).unwrap();
        let error = sealing::unseal(native, protocol, wrong_direction.clone()).unwrap_err();
        assert!(error.to_string().contains("wrong direction"), "{error}");
        // MIT refuses a tampered token of ours too.
        let at = wrong_direction.len() - 30;
        wrong_direction[at] ^= 1;
        assert!(sealing::unseal(mit, protocol, wrong_direction).is_err());

        // Nothing above used up the first message's number.
        assert_eq!(
            sealing::unseal(native, protocol, first.clone()).unwrap(),
            message
        );
        let error = sealing::unseal(native, protocol, first).unwrap_err();
        assert!(
            error.to_string().contains("expected sequence number"),
            "{error}"
        );
        let second = sealing::seal(mit, protocol, b"second").unwrap();
        let third = sealing::seal(mit, protocol, b"third").unwrap();
        let error = sealing::unseal(native, protocol, third.clone()).unwrap_err();
        assert!(error.to_string().contains("out-of-sequence"), "{error}");
        assert_eq!(
            sealing::unseal(native, protocol, second).unwrap(),
            b"second"
        );
        assert_eq!(sealing::unseal(native, protocol, third).unwrap(), b"third");
    }
}
