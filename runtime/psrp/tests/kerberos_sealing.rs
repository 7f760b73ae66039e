//! Sealing with real Kerberos contexts from a throwaway MIT realm.
//!
//! GSSAPI reads `KRB5_CONFIG` from the process environment, and tests run
//! as threads of one process: so each test starts its realm, then re-runs
//! itself in a child process that has the realm's environment.

#![allow(clippy::unwrap_used)]

use idconn_psrp::gss::{self, ClientCredentials, Failure};
use idconn_psrp::sealing::{self, Protocol};
use krb5_realm::Realm;
use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext, ServerCtx};
use libgssapi::oid::{GSS_MECH_KRB5, GSS_MECH_SPNEGO};

const CHILD: &str = "IDCONN_KRB5_TEST_CHILD";

/// Runs `name` in a child process with the realm's environment; returns
/// true when the caller is that child (and should run the checks).
fn in_realm(name: &str, realm_setup: impl FnOnce(&Realm)) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let realm = Realm::start().unwrap();
    realm_setup(&realm);
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .envs(realm.env())
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

fn flags() -> CtxFlags {
    CtxFlags::GSS_C_MUTUAL_FLAG
        | CtxFlags::GSS_C_CONF_FLAG
        | CtxFlags::GSS_C_INTEG_FLAG
        | CtxFlags::GSS_C_SEQUENCE_FLAG
}

fn establish(protocol: Protocol, credentials: &ClientCredentials) -> (ClientCtx, ServerCtx) {
    let client_cred = gss::acquire_initiator(credentials).unwrap();
    let server_cred =
        gss::acquire_acceptor(std::path::Path::new(&var("TEST_SERVICE_KEYTAB"))).unwrap();
    let mech = match protocol {
        Protocol::Spnego => GSS_MECH_SPNEGO,
        Protocol::Kerberos => GSS_MECH_KRB5,
    };
    let mut client = ClientCtx::new(
        Some(client_cred),
        gss::http_service_name("localhost").unwrap(),
        flags(),
        Some(mech),
    );
    let mut server = ServerCtx::new(Some(server_cred));
    let mut token = client.step(None, None).unwrap();
    while let Some(t) = token {
        let answer = server.step(&t, None).unwrap();
        token = match answer {
            Some(a) => client.step(Some(&a), None).unwrap(),
            None => None,
        };
    }
    assert!(client.is_complete() && server.is_complete());
    assert_eq!(
        server.source_name().unwrap().to_string(),
        "admin@IDCONN.TEST"
    );
    (client, server)
}

fn password() -> ClientCredentials {
    ClientCredentials::Password {
        principal: "admin".into(),
        password: var("TEST_ADMIN_PASSWORD"),
    }
}

fn round_trip(protocol: Protocol, credentials: ClientCredentials) {
    let (mut client, mut server) = establish(protocol, &credentials);
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
            sealing::unseal(&mut server, protocol, &request).unwrap(),
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
        let reply = sealing::unseal(&mut client, protocol, &variant).unwrap();
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
    assert!(sealing::unseal(&mut server, protocol, &request).is_err());
    // A flipped bit is refused.
    let mut request = sealing::seal(&mut client, protocol, soap).unwrap();
    let last = request.len() - 30;
    request[last] ^= 1;
    assert!(sealing::unseal(&mut server, protocol, &request).is_err());
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
                let mut ctx = ClientCtx::new(
                    Some(cred),
                    gss::http_service_name("localhost")?,
                    flags(),
                    Some(GSS_MECH_KRB5),
                );
                ctx.step(None, None).map(|_| ())
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
                let mut ctx = ClientCtx::new(
                    Some(cred),
                    gss::http_service_name("localhost")?,
                    flags(),
                    Some(GSS_MECH_KRB5),
                );
                ctx.step(None, None).map(|_| ())
            })
            .unwrap_err();
        assert_eq!(gss::classify(&error), Failure::WrongPassword, "{error}");
        let message = gss::explain(&error, &wrong.describe(), "HTTP/localhost");
        assert!(message.contains("'admin'"), "{message}");
        assert!(!message.contains("Wrong-Secret-42"), "{message}");
        assert!(!format!("{wrong:?}").contains("Wrong-Secret-42"));

        // An SPN the KDC does not know.
        let cred = gss::acquire_initiator(&password()).unwrap();
        let mut ctx = ClientCtx::new(
            Some(cred),
            gss::http_service_name("mail.nowhere.test").unwrap(),
            flags(),
            Some(GSS_MECH_SPNEGO),
        );
        let error = ctx.step(None, None).unwrap_err();
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
