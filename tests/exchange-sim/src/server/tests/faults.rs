//! Injected faults reach the client as clear errors.

use idconn_psrp::client::{Error, RunspacePool};
use idconn_psrp::clixml::Value;
use idconn_psrp::Command;

use super::{client_config, start};
use crate::backend::Faults;
use crate::server::ServerConfig;

fn with_faults(faults: Faults) -> ServerConfig {
    ServerConfig {
        faults,
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn dropped_connection_after_n_objects() {
    let server = start(with_faults(Faults {
        drop_after_objects: Some(25),
        ..Faults::default()
    }))
    .await;
    let pool = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    let mut pipeline = pool
        .invoke(vec![
            Command::new("Get-Numbers").param("Count", Value::I32(100))
        ])
        .await
        .unwrap();
    let mut received = 0;
    let error = loop {
        match pipeline.next_batch(10).await {
            Ok(Some(batch)) => received += batch.len(),
            Ok(None) => panic!("the pipeline should not complete"),
            Err(e) => break e,
        }
    };
    assert_eq!(received, 25);
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
}

#[tokio::test]
async fn http_500_and_malformed_responses() {
    let server = start(with_faults(Faults {
        http_500_from: Some(1),
        ..Faults::default()
    }))
    .await;
    match RunspacePool::open(client_config(&server.url)).await {
        Err(Error::Http { status: 500, .. }) => {}
        other => panic!("expected HTTP 500, got {other:?}"),
    }
    let server = start(with_faults(Faults {
        malformed_response_at: Some(2),
        ..Faults::default()
    }))
    .await;
    match RunspacePool::open(client_config(&server.url)).await {
        Err(Error::Protocol(text)) => assert!(text.contains("XML"), "{text}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
    // The failed open still deleted its shell.
    server.open_shells_become(0).await;
}

#[tokio::test]
async fn rejected_auth() {
    let server = start(with_faults(Faults {
        reject_auth: true,
        ..Faults::default()
    }))
    .await;
    assert!(matches!(
        RunspacePool::open(client_config(&server.url)).await,
        Err(Error::Auth(_))
    ));
}
