//! The HTTP surface seen by any client.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::start;
use crate::server::{AuthMode, ServerConfig};

pub(super) async fn exchange(url: &str, request: &str) -> String {
    let address = url.trim_start_matches("http://").split('/').next().unwrap();
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn challenges_routes_and_faults() {
    let server = start(ServerConfig {
        auth: AuthMode::Basic,
        ..ServerConfig::default()
    })
    .await;
    let unauthenticated = exchange(
        &server.url,
        "POST /PowerShell/?serializationLevel=Full HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        unauthenticated.starts_with("HTTP/1.1 401"),
        "{unauthenticated}"
    );
    assert!(
        unauthenticated.contains("www-authenticate: Basic realm=\"WSMAN\""),
        "{unauthenticated}"
    );

    let wrong_path = exchange(
        &server.url,
        "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(wrong_path.starts_with("HTTP/1.1 404"), "{wrong_path}");

    // admin:s3cret
    let garbage = "not a soap envelope";
    let bad_body = exchange(
        &server.url,
        &format!(
            "POST /PowerShell HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46czNjcmV0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{garbage}",
            garbage.len()
        ),
    )
    .await;
    assert!(bad_body.starts_with("HTTP/1.1 500"), "{bad_body}");
    assert!(bad_body.contains("SchemaValidationError"), "{bad_body}");
}
