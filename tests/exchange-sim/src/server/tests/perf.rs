//! Throughput of the whole stack (issue 8): 100,000 objects of ~180
//! properties, server -> client. Run in release:
//! `cargo test --release -p exchange-sim --lib perf -- --ignored --nocapture`.

use std::time::Instant;

use idconn_psrp::client::RunspacePool;
use idconn_psrp::clixml::Value;
use idconn_psrp::Command;

use super::{client_config, start};
use crate::server::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a release-mode benchmark"]
async fn hundred_thousand_wide_objects() {
    const COUNT: usize = 100_000;
    let server = start(ServerConfig::default()).await;
    let pool = RunspacePool::open(client_config(&server.url))
        .await
        .unwrap();
    let started = Instant::now();
    let mut pipeline = pool
        .invoke(vec![
            Command::new("Get-Wide").param("Count", Value::I32(COUNT as i32))
        ])
        .await
        .unwrap();
    let mut received = 0;
    while let Some(batch) = pipeline.next_batch(1000).await.unwrap() {
        received += batch.len();
    }
    let elapsed = started.elapsed();
    assert_eq!(received, COUNT);
    println!(
        "{COUNT} objects of 180 properties in {:.2} s ({:.0} objects/s)",
        elapsed.as_secs_f64(),
        COUNT as f64 / elapsed.as_secs_f64()
    );
    pool.close().await.unwrap();
}

/// The real model behind the protocol: `Get-Mailbox -ResultSize Unlimited`
/// over 100,000 seeded mailboxes, as an export pulls them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a release-mode benchmark"]
async fn hundred_thousand_seeded_mailboxes() {
    use crate::exchange::rbac::UserStore;
    use crate::exchange::seed::SeedSpec;
    use crate::exchange::{ModelFaults, OrgOptions, Organization};
    use std::sync::Arc;

    const COUNT: usize = 100_000;
    let org = Organization::open(
        SeedSpec {
            mailboxes: COUNT as u64,
            databases: 10,
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
    let url = format!("http://{}/PowerShell/", listener.local_addr().unwrap());
    let server = tokio::spawn(crate::server::serve(
        listener,
        Arc::new(org),
        ServerConfig::default(),
    ));
    let pool = RunspacePool::open(client_config(&url)).await.unwrap();
    let started = Instant::now();
    let mut pipeline = pool
        .invoke(vec![
            Command::new("Get-Mailbox").param("ResultSize", "Unlimited".into())
        ])
        .await
        .unwrap();
    let (mut received, mut properties) = (0, 0);
    while let Some(batch) = pipeline.next_batch(1000).await.unwrap() {
        received += batch.len();
        properties += batch
            .iter()
            .filter_map(|v| v.as_object())
            .map(|o| o.adapted.len() + o.extended.len())
            .sum::<usize>();
    }
    let elapsed = started.elapsed();
    assert_eq!(received, COUNT);
    println!(
        "{COUNT} seeded mailboxes ({} properties each) in {:.2} s ({:.0} objects/s)",
        properties / COUNT,
        elapsed.as_secs_f64(),
        COUNT as f64 / elapsed.as_secs_f64()
    );
    pool.close().await.unwrap();
    server.abort();
}

/// Attribution for the benchmark above: the model plus serialization
/// (server side) and CLIXML decoding (client side), without the network.
#[test]
#[ignore = "a release-mode measurement"]
fn seeded_mailbox_costs_by_stage() {
    use crate::backend::ExchangeBackend as _;
    use crate::backend::PipelineEvent;
    use crate::exchange::rbac::UserStore;
    use crate::exchange::seed::SeedSpec;
    use crate::exchange::{ModelFaults, OrgOptions, Organization};

    const COUNT: u64 = 20_000;
    let org = Organization::open(
        SeedSpec {
            mailboxes: COUNT,
            databases: 10,
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
    let started = Instant::now();
    let mut run = org.invoke(
        "admin",
        vec![Command::new("Get-Mailbox").param("ResultSize", "Unlimited".into())],
    );
    let mut bodies = Vec::new();
    while let Some(event) = run.next_event() {
        if let PipelineEvent::Output(value) = event {
            bodies.push(idconn_psrp::clixml::to_string(&value));
        }
    }
    let produced = started.elapsed();
    let bytes: usize = bodies.iter().map(String::len).sum();
    let started = Instant::now();
    for body in &bodies {
        std::hint::black_box(idconn_psrp::clixml::from_str(body).unwrap());
    }
    let decoded = started.elapsed();
    println!(
        "{COUNT} mailboxes, {} bytes of CLIXML each: model+serialize {:.2} s, decode {:.2} s",
        bytes / COUNT as usize,
        produced.as_secs_f64(),
        decoded.as_secs_f64()
    );
}
