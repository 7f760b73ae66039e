//! Issue 17: a long export that keeps moving is not ended by
//! `Limits.MaxStallSeconds`, while a wall-clock limit of the same size
//! (`MaxJobSeconds`, off by default now) would end it. The simulator answers
//! every request after a second, so the job lasts several seconds and never
//! goes more than about two without an object or a pipeline started.

use idconn_e2e::{describe, Agent, Simulator};

#[test]
fn a_slow_but_moving_export_outlives_the_stall_limit() {
    let sim = Simulator::start([
        "--mailboxes",
        "200",
        "--databases",
        "2",
        "--seed",
        "3",
        "--latency-ms",
        "1000",
    ])
    .unwrap();
    let mut connection = sim.connection("admin", "admin");
    // One pipeline: opening each parallel pipeline's shell takes several
    // one-second round trips, longer than this test's 3 s stall limit.
    connection["MaxParallelPipelines"] = 1.into();
    // The same export under a 3 s wall-clock limit fails: it does run
    // longer than the stall limit below.
    connection["Limits"] = serde_json::json!({"MaxJobSeconds": 3});
    let agent = Agent::new(connection.clone()).unwrap();
    let out = agent.idconn("export", ["--ignore-cookies"]).unwrap();
    let text = describe(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("Limits.MaxJobSeconds"), "{text}");

    // With only the stall limit (3 s), it completes.
    connection["Limits"] = serde_json::json!({"MaxStallSeconds": 3});
    agent.write_connection(connection).unwrap();
    let out = agent.idconn("export", ["--ignore-cookies"]).unwrap();
    let text = describe(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("MaxStallSeconds"), "{text}");
}
