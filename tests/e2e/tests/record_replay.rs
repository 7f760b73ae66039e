//! `idconn record` against the simulator, then `idconn test` replaying the
//! fixture under wasmtime: the same files byte for byte, a changed golden
//! file named by row and column, a fixture that holds no secret, and the
//! real Exchange 2016 capture replayed to its golden row.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

mod fulfill_support;

use fulfill_support::*;
use idconn_e2e::{run_idconn, workspace_root, CONNECTION};

const LOGIN: &str = "recorder-e2e";
const PASSWORD: &str = "Pa55-recording-Secret";

fn exchange_wasm() -> PathBuf {
    workspace_root().join("components/target/wasm32-wasip2/release/exchange.wasm")
}

fn cache() -> PathBuf {
    workspace_root().join("target").join("e2e-component-cache")
}

/// A simulator seeded with [`spec`] whose only account is [`LOGIN`], and
/// an agent on it.
fn start_recorder_account() -> (Simulator, Agent, tempfile::TempDir) {
    start_recorder_account_with(&[])
}

fn start_recorder_account_with(faults: &[&str]) -> (Simulator, Agent, tempfile::TempDir) {
    let users = tempfile::tempdir().unwrap();
    let file = users.path().join("users.json");
    fs::write(
        &file,
        json!([{"name": LOGIN, "password": PASSWORD, "roles": ["Organization Management"]}])
            .to_string(),
    )
    .unwrap();
    let s = spec();
    let sim = Simulator::start(
        [
            "--mailboxes".to_string(),
            s.mailboxes.to_string(),
            "--databases".to_string(),
            s.databases.to_string(),
            "--seed".to_string(),
            s.seed.to_string(),
            "--users".to_string(),
            file.display().to_string(),
        ]
        .into_iter()
        .chain(faults.iter().map(|f| f.to_string())),
    )
    .unwrap();
    let agent = Agent::new(sim.connection(LOGIN, PASSWORD)).unwrap();
    (sim, agent, users)
}

fn record(agent: &Agent, args: &[&str]) -> Output {
    let out = agent.idconn("record", args).unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    out
}

/// `idconn test` of the Exchange component.
fn idconn_test(fixture: &Path, args: &[&str]) -> Output {
    let mut all = vec![
        "test".to_string(),
        exchange_wasm().display().to_string(),
        "--fixture".to_string(),
        fixture.display().to_string(),
        "--component-cache".to_string(),
        cache().display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    run_idconn(all).unwrap()
}

/// The files an export committed: the CSVs and the cookie, in one directory.
fn snapshot_export(agent: &Agent, into: &Path) {
    fs::create_dir_all(into).unwrap();
    for dir in [
        agent.export_output(),
        agent.path().join("Work").join("ExportCookies"),
    ] {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                fs::copy(entry.path(), into.join(entry.file_name())).unwrap();
            }
        }
    }
}

#[test]
fn recorded_exports_replay_to_byte_identical_files_and_a_change_is_named() {
    let (_sim, agent, _users) = start_recorder_account();
    let work = tempfile::tempdir().unwrap();

    // A complete export, then an incremental one (the cookie is part of
    // the fixture; its window ends at the recorded start time).
    let complete = work.path().join("complete.json");
    record(
        &agent,
        &["--operation", "export", "--out", complete.to_str().unwrap()],
    );
    let complete_files = work.path().join("complete-recorded");
    snapshot_export(&agent, &complete_files);
    next_second();
    let incremental = work.path().join("incremental.json");
    let out = record(
        &agent,
        &[
            "--operation",
            "export",
            "--out",
            incremental.to_str().unwrap(),
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("incremental"),
        "{}",
        describe(&out)
    );
    let incremental_files = work.path().join("incremental-recorded");
    snapshot_export(&agent, &incremental_files);

    for (fixture, files) in [
        (&complete, &complete_files),
        (&incremental, &incremental_files),
    ] {
        let out = idconn_test(fixture, &["--expect", files.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "the replay wrote what the recorded job wrote: {}",
            describe(&out)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
    }

    // A golden file changed in one cell: the replay fails, naming the file,
    // the row and the column.
    let mailboxes = complete_files.join(format!("{CONNECTION}_mailboxes.csv"));
    let text = fs::read_to_string(&mailboxes).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let command = lines[3].split(',').next().unwrap().to_string();
    assert_eq!(command, "Insert", "{}", lines[3]);
    lines[3] = format!("Update{}", &lines[3][command.len()..]);
    fs::write(&mailboxes, lines.join("\n") + "\n").unwrap();
    let out = idconn_test(&complete, &["--expect", complete_files.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("row 3, column Command: expected \"Update\", actual \"Insert\""),
        "{}",
        describe(&out)
    );
    assert!(stdout.contains(&format!("{CONNECTION}_mailboxes.csv: differs")));

    // --update accepts the run; the next comparison passes.
    let out = idconn_test(
        &complete,
        &["--expect", complete_files.to_str().unwrap(), "--update"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        fs::read(&mailboxes).unwrap(),
        text.into_bytes(),
        "the golden file is the recorded one again"
    );
}

#[test]
fn a_recorded_fulfill_replays_to_the_same_results() {
    let (_sim, agent, _users) = start_recorder_account();
    let work = tempfile::tempdir().unwrap();
    let new_user = users_without_mailbox(spec())[0].clone();
    let existing = seeded_user_mailboxes();
    let (sam, _, _) = existing[0].clone();
    let orders = orders_dir(&agent);
    write_orders(
        &orders,
        "01-orders.json",
        &[
            order(
                "1",
                "Added",
                MAILBOX,
                json!({"SamAccountName": new_user, "Database": {"Name": "DB02"}}),
                json!({}),
            ),
            order(
                "2",
                "Modified",
                MAILBOX,
                json!({"EmailAddresses_add": ["smtp:replayed.e2e@contoso.com"]}),
                json!({"SamAccountName": sam}),
            ),
            // Fails on the server: the replay must fail it the same way.
            order(
                "3",
                "Deleted",
                MAILBOX,
                json!({}),
                json!({"SamAccountName": "nobody-e2e"}),
            ),
        ],
    );
    let fixture = work.path().join("fulfill.json");
    let results = work.path().join("recorded").join("results.csv");
    record(
        &agent,
        &[
            "--operation",
            "fulfill",
            "--orders",
            orders.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
            "--out",
            fixture.to_str().unwrap(),
        ],
    );
    assert!(orders.join("Completed").join("01-orders.json").is_file());
    let rows = read_csv(&results).unwrap();
    assert_eq!(rows[0]["ProvisioningState"], "Executed", "{rows:?}");
    assert_eq!(rows[1]["ProvisioningState"], "Executed", "{rows:?}");

    // The state-changing pipelines are in the fixture, in order, each
    // answering once.
    let text = fs::read_to_string(&fixture).unwrap();
    let root: Value = serde_json::from_str(&text).unwrap();
    let commands: Vec<&str> = root["Calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Pipeline"][0]["Command"].as_str().unwrap())
        .collect();
    let enable = commands.iter().position(|c| *c == "Enable-Mailbox");
    let set = commands.iter().position(|c| *c == "Set-Mailbox");
    assert!(enable.is_some() && set > enable, "{commands:?}");
    assert!(root["Calls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["Once"] == true));

    // The replay answers from the fixture alone (the simulator's state has
    // changed since) and writes the same results file, byte for byte.
    let out = idconn_test(
        &fixture,
        &["--expect", results.parent().unwrap().to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", describe(&out));
    // Twice: a replay is reproducible.
    let out = idconn_test(
        &fixture,
        &["--expect", results.parent().unwrap().to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn a_recorded_fixture_holds_no_password_server_or_host_path() {
    let (sim, agent, _users) = start_recorder_account();
    let work = tempfile::tempdir().unwrap();
    let fixture = work.path().join("redacted.json");
    record(
        &agent,
        &[
            "--operation",
            "export",
            "--out",
            fixture.to_str().unwrap(),
            "--redact",
            "DisplayName",
        ],
    );
    let text = fs::read_to_string(&fixture).unwrap();
    let lower = text.to_lowercase();
    let port = sim
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/PowerShell/");
    let mut forbidden: Vec<String> = vec![
        PASSWORD.into(),
        LOGIN.into(),
        "localhost".into(),
        "127.0.0.1".into(),
        format!(":{port}"),
        sim.url.clone(),
        agent.path().display().to_string(),
        work.path().display().to_string(),
        workspace_root()
            .canonicalize()
            .unwrap()
            .display()
            .to_string(),
    ];
    if let Some(home) = std::env::var_os("HOME") {
        if home.len() > 1 {
            forbidden.push(home.to_string_lossy().into_owned());
        }
    }
    for needle in &forbidden {
        assert!(
            !lower.contains(&needle.to_lowercase()),
            "the fixture contains {needle:?}"
        );
    }
    // The display names the simulator holds are masked, consistently.
    let dir = seeded_directory(spec());
    let names: Vec<String> = dir
        .users
        .values()
        .filter(|u| u.mailbox.is_some())
        .map(|u| u.display_name.clone())
        .collect();
    assert!(!names.is_empty());
    for name in &names {
        assert!(
            !text.contains(&format!("\"{name}\"")),
            "{name} is in the fixture"
        );
    }
    assert!(text.contains("redacted-1"));

    // The redacted fixture still replays, the same way every time.
    let golden = work.path().join("golden");
    let out = idconn_test(
        &fixture,
        &["--expect", golden.to_str().unwrap(), "--update"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = idconn_test(&fixture, &["--expect", golden.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let rows = read_csv(&golden.join(format!("{CONNECTION}_mailboxes.csv"))).unwrap();
    assert_eq!(rows.len(), names.len());
    assert!(
        rows.iter()
            .all(|r| r["DisplayName"].starts_with("redacted-")),
        "{rows:?}"
    );
}

#[test]
fn a_failed_session_is_recorded_and_replays_to_the_same_failure() {
    let (sim, agent, _users) = start_recorder_account_with(&["--drop-after-objects", "5"]);
    // Without retries the dropped connection fails the job (with the default
    // MaxRetries the export reconnects and completes, see export_changes.rs).
    let mut connection = sim.connection(LOGIN, PASSWORD);
    connection["MaxRetries"] = json!(0);
    agent.write_connection(connection).unwrap();
    let work = tempfile::tempdir().unwrap();
    let fixture = work.path().join("broken.json");
    let out = agent
        .idconn(
            "record",
            ["--operation", "export", "--out", fixture.to_str().unwrap()],
        )
        .unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("are in the fixture") && stderr.contains("broken.json"),
        "{}",
        describe(&out)
    );
    // Nothing was committed: the export failed.
    assert!(!agent
        .export_output()
        .join(format!("{CONNECTION}_mailboxes.csv"))
        .exists());
    let root: Value = serde_json::from_str(&fs::read_to_string(&fixture).unwrap()).unwrap();
    assert!(root["Job"]["Failed"].is_string(), "{root:#}");
    let calls = root["Calls"].as_array().unwrap();
    let broken = calls
        .iter()
        .find(|c| c.get("TransportError").is_some())
        .expect("the broken pipeline's failure is recorded");
    assert!(broken["Output"].as_array().unwrap().len() <= 5);

    // The replay fails the same way, offline.
    let out = idconn_test(&fixture, &["--expect", work.path().to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("export of connection"),
        "{}",
        describe(&out)
    );
}

#[test]
fn the_real_exchange_2016_mailbox_replays_to_its_golden_row() {
    let fixture = workspace_root().join("examples/replay/exchange2016/fixture.json");
    let out = idconn_test(&fixture, &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let golden = workspace_root().join("examples/replay/exchange2016/fixture.expected");
    let rows = read_csv(&golden.join("Exchange2016_mailboxes.csv")).unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["Command"], "Insert");
    assert_eq!(row["Name"], "Administrator");
    assert_eq!(row["Database"], "Ex2016-DB2");
    assert_eq!(row["ExchangeGuid"], "9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2");
}
