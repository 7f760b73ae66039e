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
    assert!(elapsed.as_secs() < 10, "took {elapsed:?}");
}
