//! The holes an independent hostile suite found (issue 12), each attacked
//! again by `components/fixtures/hostile` (`src/holes.rs`): other
//! connections' files, names the host must not commit, blocking waits,
//! unlinked files, log floods, forged log lines, a component without a
//! manifest; and the sweep of staging left by killed jobs (issue 18).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::common::{component, snapshot, Agent};
use idconn_host::jobs::{self, ExportOptions};
use idconn_host::report::RecordingReporter;
use idconn_host::runtime::{LoadedComponent, Runtime};

/// An agent folder with the attack's connection, `behave`, and files of
/// other connections in the shared directories.
fn hostile_agent(connections: &[(&str, &str)]) -> Agent {
    let mut conns = connections.to_vec();
    conns.push(("behave", ""));
    let agent = Agent::new(&conns, r#"{ "Calls": [] }"#);
    agent.with_victim_files()
}

fn hostile(runtime: &Runtime, agent: &Agent) -> LoadedComponent {
    runtime
        .load(&component("hostile"), &agent.settings.component_cache)
        .unwrap()
}

/// Runs the attack, which must fail with no file changed, and checks the
/// host still serves. Returns the error.
fn contained(agent: &Agent, name: &str) -> String {
    let runtime = Runtime::new().unwrap();
    let hostile = hostile(&runtime, agent);
    let before = snapshot(agent.dir.path());
    let started = Instant::now();
    let error = match agent.export(&runtime, &hostile, name, &ExportOptions::default()) {
        Ok(outcome) => panic!("attack {name} was not stopped: {outcome:?}"),
        Err(e) => format!("{e:#}"),
    };
    // Reported, not asserted: the figures in the README's limits section.
    eprintln!("{name}: the job ended after {:?}", started.elapsed());
    assert!(!error.contains("ESCAPED"), "{name}: {error}");
    assert_eq!(
        before,
        snapshot(agent.dir.path()),
        "{name} changed files: {error}"
    );
    let behaved = agent
        .export(&runtime, &hostile, "behave", &ExportOptions::default())
        .expect("the host still serves after an attack");
    assert_eq!(behaved.summary.inserts, 1);
    error
}

fn attack(name: &str, extra: &str) -> String {
    contained(&hostile_agent(&[(name, extra)]), name)
}

/// The host's log lines while `f` runs on this thread.
fn capture<R>(f: impl FnOnce() -> R) -> (R, String) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    (r, text)
}

#[test]
fn a_job_sees_only_its_own_connections_cookies() {
    let agent = hostile_agent(&[("read-foreign-cookie", "")]);
    std::fs::write(
        agent.cookies().join("read-foreign-cookie_cookie.bin"),
        "own",
    )
    .unwrap();
    for n in 0..20 {
        std::fs::write(agent.cookies().join(format!("Other{n}_cookie.bin")), "x").unwrap();
    }
    let e = contained(&agent, "read-foreign-cookie");
    assert!(
        e.contains(r#"contained: sees only its own cookies: ["read-foreign-cookie_cookie.bin"]"#),
        "{e}"
    );
}

#[test]
fn a_jobs_output_directory_starts_empty() {
    let agent = hostile_agent(&[("output-not-empty", "")]);
    std::fs::write(agent.output().join("output-not-empty_mailboxes.csv"), "own").unwrap();
    let e = contained(&agent, "output-not-empty");
    assert!(
        e.contains("contained: the output directory starts empty"),
        "{e}"
    );
}

#[test]
fn files_not_named_for_the_connection_fail_the_job_and_nothing_is_committed() {
    for (name, why) in [
        (
            "overwrite-foreign-cookie",
            "ExportCookies/Victim_cookie.bin: not named for this connection",
        ),
        (
            "forge-output",
            "ExportOutput/Victim_mailboxes.csv: not named for this connection",
        ),
        (
            "dash-name",
            "ExportOutput/-rf: a name starting with '-' or '.'",
        ),
        (
            "dot-name",
            "ExportOutput/.hidden: a name starting with '-' or '.'",
        ),
        (
            "newline-name",
            "ExportOutput/newline-name_a\\nb.csv: a name with control or invisible characters",
        ),
        ("long-name", "a name longer than the host commits"),
        ("subdir", "ExportOutput/subdir_dir: a directory"),
        ("own-symlink", "ExportOutput/own-symlink_link.csv: a link"),
    ] {
        let agent = hostile_agent(&[(name, "")]);
        let (e, log) = capture(|| contained(&agent, name));
        assert!(e.contains(why), "{name}: {e}");
        assert!(e.contains("nothing was committed"), "{name}: {e}");
        assert!(
            log.lines()
                .any(|l| l.contains("audit") && l.contains("not committing")),
            "{name}: no audit line in\n{log}"
        );
        assert!(!log.lines().any(|l| l.starts_with("b.csv")), "{log}");
    }
}

#[test]
fn foreign_files_count_against_no_limit_and_are_never_touched() {
    // `behave` within MaxFiles 5 and MaxWrittenMiB 1, next to 120 foreign
    // cookies of 16 KiB (1.9 MiB) and a foreign CSV.
    let agent = Agent::new(
        &[(
            "behave",
            r#""Limits": { "MaxFiles": 5, "MaxWrittenMiB": 1 }"#,
        )],
        r#"{ "Calls": [] }"#,
    );
    std::fs::create_dir_all(agent.output()).unwrap();
    std::fs::create_dir_all(agent.cookies()).unwrap();
    std::fs::write(
        agent.output().join("Victim_mailboxes.csv"),
        "previous csv\n",
    )
    .unwrap();
    for n in 0..120 {
        std::fs::write(
            agent.cookies().join(format!("Other{n}_cookie.bin")),
            vec![b'c'; 16 << 10],
        )
        .unwrap();
    }
    let foreign = |a: &Agent| {
        snapshot(a.dir.path())
            .into_iter()
            .filter(|(p, _)| !p.to_string_lossy().contains("behave_"))
            .filter(|(p, _)| !p.starts_with(&a.settings.component_cache))
            .collect::<Vec<_>>()
    };
    let before = foreign(&agent);
    let modified = std::fs::metadata(agent.cookies().join("Other7_cookie.bin"))
        .unwrap()
        .modified()
        .unwrap();
    let runtime = Runtime::new().unwrap();
    let hostile = hostile(&runtime, &agent);
    for _ in 0..2 {
        let outcome = agent
            .export(&runtime, &hostile, "behave", &ExportOptions::default())
            .unwrap();
        assert_eq!(outcome.files.len(), 2, "{:?}", outcome.files);
    }
    assert_eq!(before, foreign(&agent));
    assert_eq!(
        std::fs::metadata(agent.cookies().join("Other7_cookie.bin"))
            .unwrap()
            .modified()
            .unwrap(),
        modified,
        "a foreign cookie was rewritten"
    );
    assert_eq!(
        std::fs::read(agent.cookies().join("behave_cookie.bin")).unwrap(),
        b"behaved"
    );
}

#[test]
fn blocking_waits_end_at_max_job_seconds_and_are_not_guest_cpu() {
    for name in ["sleep", "poll-clock", "block-clock"] {
        let started = Instant::now();
        let e = attack(
            name,
            r#""Limits": { "MaxJobSeconds": 2, "MaxGuestCpuSeconds": 1 }"#,
        );
        let took = started.elapsed();
        eprintln!("{name}: stopped after {took:?} (MaxJobSeconds 2)");
        assert!(e.contains("wall-clock limit of 2s"), "{name}: {e}");
        assert!(e.contains("Limits.MaxJobSeconds"), "{name}: {e}");
        assert!(!e.contains("MaxGuestCpuSeconds"), "{name}: {e}");
        // Not a timing assertion: the guest asked for an hour.
        assert!(took.as_secs() < 60, "{name}: {took:?}");
    }
}

#[test]
fn writes_to_an_unlinked_file_count_against_max_written_mib() {
    for name in ["unlinked-stream", "unlinked-pwrite"] {
        let e = attack(
            name,
            r#""Limits": { "MaxWrittenMiB": 4, "MaxGuestCpuSeconds": 20 }"#,
        );
        assert!(e.contains("wrote more than 4 MiB"), "{name}: {e}");
        assert!(e.contains("Limits.MaxWrittenMiB"), "{name}: {e}");
    }
}

#[test]
fn one_stream_write_cannot_carry_more_than_check_write_grants() {
    let e = attack(
        "big-stream-write",
        r#""Limits": { "MaxWrittenMiB": 1, "MaxGuestCpuSeconds": 20 }"#,
    );
    assert!(
        e.contains("more than the 65536 bytes check-write grants"),
        "{e}"
    );
    assert!(!e.contains("wrote 8 MiB"), "{e}");
}

fn export_recorded(agent: &Agent, name: &str) -> (String, Vec<String>) {
    let runtime = Runtime::new().unwrap();
    let hostile = hostile(&runtime, agent);
    let conn = agent.settings.connection(name).unwrap();
    let reporter = Arc::new(RecordingReporter::default());
    let e = jobs::export(
        &runtime,
        &agent.settings,
        conn,
        &hostile,
        jobs::open_backend(conn, &hostile).unwrap(),
        reporter.clone(),
        &ExportOptions::default(),
    )
    .unwrap_err();
    let lines = reporter
        .lines
        .lock()
        .unwrap()
        .iter()
        .map(|(_, l)| l.clone())
        .collect();
    (format!("{e:#}"), lines)
}

#[test]
fn a_log_flood_is_cut_at_max_log_kib_with_a_summary() {
    let agent = hostile_agent(&[("log-flood", r#""Limits": { "MaxLogKiB": 64 }"#)]);
    let (e, lines) = export_recorded(&agent, "log-flood");
    assert!(e.contains("contained: logged 80 MiB"), "{e}");
    let (summary, kept) = lines.split_last().unwrap();
    let bytes: usize = kept.iter().map(String::len).sum();
    assert!(bytes <= 64 << 10, "{bytes} bytes kept");
    // Each record costs its text plus 64 bytes: 15 of 4 KiB fit in 64 KiB.
    assert_eq!(kept.len(), 15, "4 KiB lines within 64 KiB");
    assert!(summary.contains("19985 more log lines"), "{summary}");
    assert!(summary.contains("Limits.MaxLogKiB"), "{summary}");
}

#[test]
fn repeated_denials_log_a_bounded_number_of_audit_lines_and_a_count() {
    let agent = hostile_agent(&[("denied-flood", "")]);
    let (e, log) = capture(|| contained(&agent, "denied-flood"));
    assert!(e.contains("contained: 5000 denied calls"), "{e}");
    let audit: Vec<&str> = log.lines().filter(|l| l.contains(" audit:")).collect();
    assert_eq!(audit.len(), 101, "{}", audit.len());
    assert!(
        audit[100].contains("denied 5000 calls in all; 4900 more"),
        "{}",
        audit[100]
    );
}

#[test]
fn a_component_cannot_forge_log_lines() {
    let agent = hostile_agent(&[("forge-log", ""), ("forge-cmdlet", "")]);
    let (e, lines) = export_recorded(&agent, "forge-log");
    assert!(e.contains("contained: logged a forged line"), "{e}");
    assert_eq!(
        lines,
        ["honest\\n2026-12-02T00:00:00Z  WARN audit: forged line\\r\\u{1b}[2J"]
    );
    let (e, log) = capture(|| contained(&agent, "forge-cmdlet"));
    assert!(e.contains("contained: denied"), "{e}");
    assert!(
        log.lines().all(|l| !l.starts_with("2026-12-02T00:00:00Z")),
        "a forged line:\n{log}"
    );
    assert!(log.contains("Get-Mailbox\\n2026-12-02T00:00:00Z"), "{log}");
}

#[test]
fn without_a_manifest_only_what_the_connection_grants_runs() {
    let agent = hostile_agent(&[("undeclared-cmdlet", "")]);
    let runtime = Runtime::new().unwrap();
    let mut bare = hostile(&runtime, &agent);
    bare.manifest = None;
    let e = format!(
        "{:#}",
        agent
            .export(
                &runtime,
                &bare,
                "undeclared-cmdlet",
                &ExportOptions::default()
            )
            .unwrap_err()
    );
    assert!(e.contains("contained: denied"), "{e}");
    assert!(e.contains("without an idconn-manifest"), "{e}");
    assert!(
        e.contains("Connections.undeclared-cmdlet.Grants.export"),
        "{e}"
    );

    let granted = hostile_agent(&[(
        "undeclared-cmdlet",
        r#""Grants": { "export": ["Get-User"] }"#,
    )]);
    let e = format!(
        "{:#}",
        granted
            .export(
                &runtime,
                &bare,
                "undeclared-cmdlet",
                &ExportOptions::default()
            )
            .unwrap_err()
    );
    // Granted: it reached the (empty) replay backend.
    assert!(e.contains("contained: other error"), "{e}");
}

#[test]
fn staging_left_by_killed_jobs_is_swept_and_live_jobs_are_kept() {
    let agent = hostile_agent(&[]);
    let root = agent.output().parent().unwrap().join(".idconn-staging");
    std::fs::create_dir_all(&root).unwrap();
    // PIDs above the kernel's maximum (4194304) are never alive.
    let dead = root.join("999999999-0-behave-ExportOutput");
    let legacy = root.join("behave-999999998-3-ExportCookies");
    // A job of a live process (this one) without its lock yet, and one
    // holding its lock.
    let live = root.join(format!("{}-4242-behave-ExportOutput", std::process::id()));
    let locked = root.join("999999997-0-behave-ExportOutput");
    for dir in [&dead, &legacy, &live, &locked] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("behave_mailboxes.csv"), vec![0u8; 1000]).unwrap();
    }
    let dead_lock = root.join("999999999-0-behave-ExportOutput.lock");
    std::fs::write(&dead_lock, "").unwrap();
    let held = std::fs::File::create(root.join("999999997-0-behave-ExportOutput.lock")).unwrap();
    held.lock().unwrap();

    let runtime = Runtime::new().unwrap();
    let hostile = hostile(&runtime, &agent);
    agent
        .export(&runtime, &hostile, "behave", &ExportOptions::default())
        .unwrap();
    assert!(
        !dead.exists() && !dead_lock.exists(),
        "a dead job's staging was swept"
    );
    assert!(
        !legacy.exists(),
        "a dead job's staging of an earlier version was swept"
    );
    assert!(
        live.join("behave_mailboxes.csv").is_file(),
        "a live PID's staging stays"
    );
    assert!(
        locked.join("behave_mailboxes.csv").is_file(),
        "a locked staging stays"
    );
    drop(held);
}

/// A real `idconn export` killed mid-job (SIGKILL: no cleanup runs) leaves
/// its staging; the next export removes it.
#[test]
fn the_staging_of_a_killed_idconn_is_swept_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.json"), r#"{ "Calls": [] }"#).unwrap();
    let settings = dir.path().join("appsettings.agent.json");
    let hostile = component("hostile");
    std::fs::write(
        &settings,
        format!(
            r#"{{ "Connections": {{
                "sleep": {{ "AuthType": "Replay", "Server": "empty.json", "ComponentPath": "{0}" }},
                "behave": {{ "AuthType": "Replay", "Server": "empty.json", "ComponentPath": "{0}" }}
            }} }}"#,
            hostile.display()
        ),
    )
    .unwrap();
    let idconn = env!("CARGO_BIN_EXE_idconn");
    let staging = [
        dir.path().join("Temp/.idconn-staging"),
        dir.path().join("Work/.idconn-staging"),
    ];
    let staged = || -> Vec<std::path::PathBuf> {
        staging
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect()
    };
    for kill in 0..3 {
        let mut child = std::process::Command::new(idconn)
            .args(["export", "--settings"])
            .arg(&settings)
            .args(["--connection", "sleep"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id().to_string();
        // Its two staged directories exist once the job has started.
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while staged()
            .iter()
            .filter(|p| p.is_dir())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{pid}-"))
            })
            .count()
            < 2
        {
            assert!(
                Instant::now() < deadline,
                "kill {kill}: no staging appeared"
            );
            assert!(child.try_wait().unwrap().is_none(), "idconn ended early");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Swept by the next run, not by the killed one.
        assert!(
            staged()
                .iter()
                .any(|p| p.to_string_lossy().contains(&format!("{pid}-"))),
            "kill {kill}: the killed run left nothing to sweep"
        );
    }
    let status = std::process::Command::new(idconn)
        .args(["export", "--settings"])
        .arg(&settings)
        .args(["--connection", "behave"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        staged(),
        Vec::<std::path::PathBuf>::new(),
        "stale staging left"
    );
    assert!(dir
        .path()
        .join("Temp/ExportOutput/behave_out.csv")
        .is_file());
}
