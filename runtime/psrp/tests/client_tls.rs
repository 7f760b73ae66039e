//! https: the custom CA file is honoured, an unknown issuer is refused, and
//! Basic needs no AllowUnencrypted over TLS.

// Helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use idconn_psrp::client::{Auth, ClientConfig, Error, RunspacePool, Secret};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

struct Pki {
    ca_pem: String,
    server_cert: rustls::pki_types::CertificateDer<'static>,
    server_key: rustls::pki_types::PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server_cert: server_cert.der().clone(),
        server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
    }
}

/// A TLS endpoint that answers every request with a Basic challenge.
async fn challenging_tls_server(pki: &Pki) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.server_cert.clone()], pki.server_key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = tls.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    let Some(head_end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() < head_end + 4 + length {
                        continue;
                    }
                    request.drain(..head_end + 4 + length);
                    let answer = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"WSMAN\"\r\nContent-Length: 0\r\n\r\n";
                    if tls.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn config(port: u16, ca_file: Option<std::path::PathBuf>) -> ClientConfig {
    let mut config = ClientConfig::new(
        format!("https://localhost:{port}/PowerShell/"),
        Auth::Basic {
            username: "admin".into(),
            password: Secret::new("pw"),
        },
    );
    config.ca_file = ca_file;
    config
}

#[tokio::test]
async fn custom_ca_file_is_trusted_and_unknown_issuers_are_not() {
    let pki = pki();
    let port = challenging_tls_server(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();

    // TLS succeeds with the CA file: the server's 401 is what fails.
    match RunspacePool::open(config(port, Some(ca_file))).await {
        Err(Error::Auth(text)) => assert!(text.contains("admin"), "{text}"),
        other => panic!("expected the server's refusal, got {other:?}"),
    }
    // Without it, the certificate is not trusted.
    match RunspacePool::open(config(port, None)).await {
        Err(Error::Transport(text)) => assert!(text.contains("TLS"), "{text}"),
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    match RunspacePool::open(config(port, Some(garbage))).await {
        Err(Error::Config(text)) => assert!(text.contains("garbage.pem"), "{text}"),
        other => panic!("expected a CA file error, got {other:?}"),
    }
}
