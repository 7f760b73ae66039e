//! Issue 18, item 6: a session open cut by HostCallTimeoutSeconds after the
//! server created the shell still deletes that shell, so failed exports do
//! not lock the account out (Exchange caps shells per user).

use idconn_e2e::{describe, Agent, SeedSpec, Simulator};

#[test]
fn timed_out_opens_leave_no_shell_behind() {
    let spec = SeedSpec {
        mailboxes: 3,
        databases: 1,
        seed: 5,
    };
    // Every request takes 2 s: the Create is answered (the shell exists)
    // at 2 s, the opening Receive would be at 4 s, past the 3 s timeout.
    let sim = Simulator::start([
        "--mailboxes".to_string(),
        spec.mailboxes.to_string(),
        "--databases".to_string(),
        spec.databases.to_string(),
        "--seed".to_string(),
        spec.seed.to_string(),
        "--latency-ms".to_string(),
        "2000".to_string(),
        "--max-shells-per-user".to_string(),
        "3".to_string(),
    ])
    .unwrap();
    let mut connection = sim.connection("admin", "admin");
    connection["Limits"] = serde_json::json!({"HostCallTimeoutSeconds": 3});
    let agent = Agent::new(connection.clone()).unwrap();
    // One more failed export than the account may hold shells.
    for attempt in 1..=4 {
        let out = agent.idconn("export", ["--ignore-cookies"]).unwrap();
        let text = describe(&out);
        assert!(!out.status.success(), "attempt {attempt}: {text}");
        assert!(
            text.contains("Limits.HostCallTimeoutSeconds"),
            "attempt {attempt}: {text}"
        );
        assert!(
            !text.contains("maximum number of connections"),
            "attempt {attempt}: {text}"
        );
    }
    // Every shell was deleted: a patient export still gets one.
    connection["Limits"] = serde_json::json!({"HostCallTimeoutSeconds": 120});
    agent.write_connection(connection).unwrap();
    let out = agent.idconn("export", ["--ignore-cookies"]).unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}

/// A shell Delete lost on the way (the connection closed before any answer)
/// is sent once more on a fresh connection, so the shell does not hold one
/// of the account's shells until the server's idle timeout.
#[test]
fn a_lost_delete_is_sent_again() {
    // One shell per user: the second export gets one only if the first
    // export's shell was deleted after all.
    let sim = Simulator::start([
        "--mailboxes",
        "3",
        "--databases",
        "1",
        "--max-shells-per-user",
        "1",
        "--drop-deletes",
        "1",
    ])
    .unwrap();
    let mut connection = sim.connection("admin", "admin");
    connection["MaxParallelPipelines"] = serde_json::json!(1);
    let agent = Agent::new(connection).unwrap();
    for export in 1..=2 {
        let out = agent.idconn("export", ["--ignore-cookies"]).unwrap();
        let text = describe(&out);
        assert!(out.status.success(), "export {export}: {text}");
        assert!(
            !text.contains("closing the session"),
            "export {export}: {text}"
        );
    }
}
