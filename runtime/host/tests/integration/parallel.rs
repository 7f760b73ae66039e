//! Issue 17: several pipelines of one job run at once, each on a shell of
//! its own, up to `Connections.<id>.MaxParallelPipelines`; one more is a
//! limit error naming the setting; every shell is deleted at the end.

use idconn_host::backend::remote::Remote;
use idconn_host::backend::{PipelineOutput, PowerShell};
use idconn_host::bindings::{Argument, CallError, Command, Parameter, Scalar, Value};
use idconn_host::settings::Settings;

use crate::common::Simulator;

fn connection(sim: &Simulator, extra: &str) -> (tempfile::TempDir, Settings) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appsettings.agent.json");
    std::fs::write(
        &file,
        format!(
            r#"{{ "Connections": {{ "Par": {{ "AuthType": "HttpBasic", "Server": "{}", "Login": "admin", "Password": "admin", "AllowUnencrypted": true{extra} }} }} }}"#,
            sim.url
        ),
    )
    .unwrap();
    let settings = Settings::load(&file).unwrap();
    (dir, settings)
}

fn get_mailbox() -> Vec<Command> {
    vec![Command {
        name: "Get-Mailbox".into(),
        parameters: vec![Parameter {
            name: "ResultSize".into(),
            argument: Argument::Value(Value::Scalar(Scalar::Text("Unlimited".into()))),
        }],
    }]
}

/// Objects in one batch.
fn pull(output: &mut dyn PipelineOutput) -> Option<usize> {
    output.next_batch(7).unwrap().map(|b| b.objects.len())
}

#[test]
fn pipelines_run_on_shells_of_their_own_up_to_max_parallel_pipelines() {
    // The user may hold 2 shells: a third would fail on the server, so the
    // host must stop at its own limit first.
    let sim = Simulator::start(&[
        "--mailboxes",
        "60",
        "--databases",
        "2",
        "--auth",
        "basic",
        "--max-shells-per-user",
        "2",
    ]);
    let (_dir, settings) = connection(&sim, r#", "MaxParallelPipelines": 2"#);
    let conn = settings.connection("Par").unwrap();
    assert_eq!(conn.max_parallel_pipelines, 2);
    let mut remote = Remote::open(conn).unwrap();
    assert_eq!(remote.open_shells(), 1);

    let mut a = remote.invoke(&get_mailbox()).unwrap();
    let mut b = remote.invoke(&get_mailbox()).unwrap();
    // Both run at once, each on its own shell.
    assert_eq!(remote.open_shells(), 2);

    // A third while both run: the host's limit, naming the setting.
    match remote.invoke(&get_mailbox()) {
        Err(CallError::Limit(m)) => {
            assert!(m.contains("Connections.Par.MaxParallelPipelines"), "{m}");
            assert!(m.contains("2 pipelines are already running"), "{m}");
        }
        Err(other) => panic!("not a limit error: {other:?}"),
        Ok(_) => panic!("a third pipeline ran with MaxParallelPipelines 2"),
    }

    // Pulled in turn, each pipeline delivers every mailbox once.
    let (mut from_a, mut from_b) = (0, 0);
    let (mut a_done, mut b_done) = (false, false);
    while !(a_done && b_done) {
        if !a_done {
            match pull(a.as_mut()) {
                Some(n) => from_a += n,
                None => a_done = true,
            }
        }
        if !b_done {
            match pull(b.as_mut()) {
                Some(n) => from_b += n,
                None => b_done = true,
            }
        }
    }
    assert_eq!((from_a, from_b), (60, 60));

    // A pipeline that ended gives its shell back, even before its output is
    // dropped: the next pipeline runs without a third shell.
    let mut c = remote.invoke(&get_mailbox()).unwrap();
    assert_eq!(remote.open_shells(), 2);
    let mut from_c = 0;
    while let Some(n) = pull(c.as_mut()) {
        from_c += n;
    }
    assert_eq!(from_c, 60);
    drop((a, b, c));

    // Every shell was deleted: a new job gets both of the user's shells.
    drop(remote);
    let mut again = Remote::open(conn).unwrap();
    let _x = again.invoke(&get_mailbox()).unwrap();
    let _y = again.invoke(&get_mailbox()).unwrap();
    assert_eq!(again.open_shells(), 2);
}

#[test]
fn one_pipeline_at_a_time_keeps_one_shell() {
    let sim = Simulator::start(&["--mailboxes", "5", "--databases", "1", "--auth", "basic"]);
    let (_dir, settings) = connection(&sim, r#", "MaxParallelPipelines": 1"#);
    let mut remote = Remote::open(settings.connection("Par").unwrap()).unwrap();
    let _held = remote.invoke(&get_mailbox()).unwrap();
    match remote.invoke(&get_mailbox()) {
        Err(CallError::Limit(m)) => assert!(m.contains("MaxParallelPipelines"), "{m}"),
        Err(other) => panic!("not a limit error: {other:?}"),
        Ok(_) => panic!("a second pipeline ran with MaxParallelPipelines 1"),
    }
    assert_eq!(remote.open_shells(), 1);
}

#[test]
fn max_parallel_pipelines_defaults_to_four() {
    let sim = Simulator::start(&["--mailboxes", "1", "--databases", "1", "--auth", "basic"]);
    let (_dir, settings) = connection(&sim, "");
    assert_eq!(
        settings.connection("Par").unwrap().max_parallel_pipelines,
        4
    );
    // Above 16 is refused, naming the key.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appsettings.agent.json");
    std::fs::write(
        &file,
        r#"{ "Connections": { "Par": { "AuthType": "Replay", "Server": "f.json", "MaxParallelPipelines": 17 } } }"#,
    )
    .unwrap();
    let error = Settings::load(&file).unwrap_err().to_string();
    assert!(
        error.contains("Connections.Par.MaxParallelPipelines"),
        "{error}"
    );
}

/// The server really works on two pipelines at once. The simulator's
/// `--rendezvous Get-Mailbox=2` holds each of the first two `Get-Mailbox`
/// pipelines before its first object until both have started: a host that
/// ran them one after the other (the one-shell host before issue 17 queued
/// the second behind the first) gets no mailbox from the first, only the
/// simulator's error that they did not run at the same time. No timing is
/// involved: the test passes or fails on what the server saw.
#[test]
fn two_pipelines_are_worked_on_by_the_server_at_once() {
    let sim = Simulator::start(&[
        "--mailboxes",
        "60",
        "--databases",
        "1",
        "--auth",
        "basic",
        "--rendezvous",
        "Get-Mailbox=2",
    ]);
    let (_dir, settings) = connection(&sim, r#", "MaxParallelPipelines": 2"#);
    let mut remote = Remote::open(settings.connection("Par").unwrap()).unwrap();
    let mut a = remote.invoke(&get_mailbox()).unwrap();
    let mut b = remote.invoke(&get_mailbox()).unwrap();
    // The first is drained whole before the second is read at all.
    let mut from_a = 0;
    loop {
        match a.next_batch(7) {
            Ok(Some(batch)) => from_a += batch.objects.len(),
            Ok(None) => break,
            Err(e) => panic!("the first pipeline failed: the second did not run alongside: {e:?}"),
        }
    }
    assert_eq!(from_a, 60);
    let mut from_b = 0;
    while let Some(n) = pull(b.as_mut()) {
        from_b += n;
    }
    assert_eq!(from_b, 60);
}

/// The control: one pipeline alone never meets the rendezvous, and the
/// simulator's error reaches the caller, so the test above fails when the
/// pipelines do not run together. (The wait is cut to 0.2 s: alone, no
/// wait would be long enough.)
#[test]
fn one_pipeline_alone_never_meets_the_rendezvous() {
    let sim = Simulator::start(&[
        "--mailboxes",
        "3",
        "--databases",
        "1",
        "--auth",
        "basic",
        "--rendezvous",
        "Get-Mailbox=2",
        "--rendezvous-timeout-ms",
        "200",
    ]);
    let (_dir, settings) = connection(&sim, r#", "MaxParallelPipelines": 1"#);
    let mut remote = Remote::open(settings.connection("Par").unwrap()).unwrap();
    let mut a = remote.invoke(&get_mailbox()).unwrap();
    let outcome = loop {
        match a.next_batch(7) {
            Ok(Some(batch)) => assert!(
                batch.objects.is_empty(),
                "a lone pipeline produced mailboxes"
            ),
            Ok(None) => break format!("{:?}", a.errors()),
            Err(e) => break format!("{e:?}"),
        }
    };
    assert!(
        outcome.contains("the client does not run them at the same time"),
        "{outcome}"
    );
}
