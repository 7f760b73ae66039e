//! Session options from the endpoint URL reach the model: with
//! `serializationLevel=Full` (what the Exchange Management Shell sends)
//! ADObjectId and quota values arrive as objects, otherwise as strings.

use std::sync::Arc;

use idconn_psrp::client::RunspacePool;
use idconn_psrp::clixml::Value;
use idconn_psrp::Command;

use super::client_config;
use crate::exchange::rbac::UserStore;
use crate::exchange::seed::SeedSpec;
use crate::exchange::{ModelFaults, OrgOptions, Organization};
use crate::server::ServerConfig;

async fn administrator(query: &str) -> idconn_psrp::clixml::PsObject {
    let org = Organization::open(
        SeedSpec {
            mailboxes: 5,
            databases: 1,
            seed: 1,
        },
        OrgOptions {
            users: UserStore::open(),
            state_path: None,
            faults: ModelFaults::default(),
            server_name: "EXCH01".into(),
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/PowerShell/{query}",
        listener.local_addr().unwrap()
    );
    let server = tokio::spawn(crate::server::serve(
        listener,
        Arc::new(org),
        ServerConfig::default(),
    ));
    let pool = RunspacePool::open(client_config(&url)).await.unwrap();
    let mut pipeline = pool
        .invoke(vec![
            Command::new("Get-Mailbox").param("Identity", "Administrator".into())
        ])
        .await
        .unwrap();
    let mut objects = Vec::new();
    while let Some(batch) = pipeline.next_batch(10).await.unwrap() {
        objects.extend(batch);
    }
    pool.close().await.unwrap();
    server.abort();
    assert_eq!(objects.len(), 1);
    match objects.remove(0) {
        Value::Object(o) => *o,
        other => panic!("not an object: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_serialization_is_chosen_by_the_url() {
    let plain = administrator("").await;
    assert!(matches!(plain.property("Database"), Some(Value::String(_))));
    assert!(matches!(
        plain.property("ProhibitSendQuota"),
        Some(Value::String(_))
    ));

    let full = administrator("?serializationLevel=Full;ExchClientVer=15.1.2044.4").await;
    let database = full
        .property("Database")
        .and_then(Value::as_object)
        .expect("Database is an object");
    assert_eq!(
        database.to_string.as_deref(),
        plain.property("Database").and_then(Value::as_str)
    );
    let quota = full
        .property("ProhibitSendQuota")
        .and_then(Value::as_object)
        .expect("ProhibitSendQuota is an object");
    assert_eq!(
        quota.to_string.as_deref(),
        plain.property("ProhibitSendQuota").and_then(Value::as_str)
    );
}
