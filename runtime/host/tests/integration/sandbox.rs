//! The sandbox holds against a hostile component: each attack is refused or
//! stopped with a clear error, the previous files stay byte-identical, and
//! the host goes on serving.

#![allow(clippy::unwrap_used)]

use crate::common::{component, snapshot, Agent};
use idconn_host::jobs::ExportOptions;
use idconn_host::runtime::Runtime;

const ATTACKS: &[&str] = &[
    "read-etc-passwd",
    "dotdot",
    "write-outside",
    "env",
    "stdin",
    "socket",
    "dns",
    "symlink-out",
    "hardlink-out",
    "infinite-loop",
    "memory-growth",
    "huge-allocation",
    "deep-recursion",
    "trap-mid-write",
    "write-cmdlet",
    "script",
    "undeclared-cmdlet",
    "huge-invoke",
    "many-parameters",
    "huge-result",
    "long-error",
];

/// Attacks on a limit or a grant, each with the settings that set it.
const LIMITED: &[(&str, &str)] = &[
    (
        "ungranted-by-setting",
        r#""Limits": { "MaxGuestCpuSeconds": 1, "MaxMemoryMiB": 64 }, "Grants": { "export": ["Get-MailboxDatabase"] }"#,
    ),
    (
        "disk-quota",
        r#""Limits": { "MaxGuestCpuSeconds": 20, "MaxWrittenMiB": 8 }"#,
    ),
    (
        "many-files",
        r#""Limits": { "MaxGuestCpuSeconds": 20, "MaxFiles": 50 }"#,
    ),
    (
        "open-handles",
        r#""Limits": { "MaxGuestCpuSeconds": 20, "MaxOpenHandles": 64 }"#,
    ),
    (
        "wall-clock",
        r#""Limits": { "MaxGuestCpuSeconds": 100, "MaxJobSeconds": 1 }"#,
    ),
];

fn agent() -> Agent {
    let limits = r#""Limits": { "MaxGuestCpuSeconds": 1, "MaxMemoryMiB": 64 }"#;
    let mut conns: Vec<(&str, &str)> = ATTACKS.iter().map(|a| (*a, limits)).collect();
    conns.extend_from_slice(LIMITED);
    conns.push(("behave", ""));
    conns.push(("stdout-flood", r#""Limits": { "MaxLogKiB": 64 }"#));
    let agent = Agent::new(&conns, r#"{ "Calls": [] }"#);
    agent.with_victim_files()
}

/// Runs one attack and checks the three promises.
fn attack(name: &str) -> String {
    let agent = agent();
    let runtime = Runtime::new().unwrap();
    let hostile = runtime
        .load(&component("hostile"), &agent.settings.component_cache)
        .unwrap();
    let before = snapshot(agent.dir.path());

    let result = agent.export(&runtime, &hostile, name, &ExportOptions::default());
    let error = match result {
        Ok(outcome) => panic!("attack {name} was not stopped: {outcome:?}"),
        Err(e) => format!("{e:#}"),
    };
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

#[test]
fn reading_etc_passwd_is_refused() {
    let e = attack("read-etc-passwd");
    assert!(e.contains("contained: read /etc/passwd"), "{e}");
}

#[test]
fn dotdot_cannot_leave_the_preopen() {
    let e = attack("dotdot");
    assert!(e.contains("contained: read through .."), "{e}");
}

#[test]
fn writing_outside_the_two_directories_is_refused() {
    let e = attack("write-outside");
    assert!(e.contains("contained: every write outside"), "{e}");
    assert!(!std::path::Path::new("/tmp/idconn-escape.txt").exists());
}

#[test]
fn environment_and_arguments_are_empty() {
    let e = attack("env");
    assert!(e.contains("contained: no environment variables"), "{e}");
}

#[test]
fn stdin_is_empty() {
    let e = attack("stdin");
    assert!(e.contains("contained: stdin is empty"), "{e}");
}

#[test]
fn sockets_are_refused() {
    let e = attack("socket");
    assert!(e.contains("contained: connect"), "{e}");
}

#[test]
fn name_lookups_are_refused() {
    let e = attack("dns");
    assert!(e.contains("contained: resolve"), "{e}");
}

#[test]
fn symlinks_out_of_a_preopen_cannot_be_followed() {
    let e = attack("symlink-out");
    assert!(e.contains("contained:"), "{e}");
}

#[test]
fn hard_links_out_of_a_preopen_are_refused() {
    let e = attack("hardlink-out");
    assert!(e.contains("contained: hard link refused"), "{e}");
}

#[test]
fn an_infinite_loop_is_stopped_by_the_cpu_limit() {
    let e = attack("infinite-loop");
    assert!(e.contains("guest CPU time limit"), "{e}");
    assert!(e.contains("Limits.MaxGuestCpuSeconds"), "{e}");
}

#[test]
fn unbounded_memory_growth_is_stopped() {
    let e = attack("memory-growth");
    assert!(e.contains("Limits.MaxMemoryMiB"), "{e}");
}

#[test]
fn a_huge_allocation_is_stopped() {
    let e = attack("huge-allocation");
    assert!(e.contains("Limits.MaxMemoryMiB"), "{e}");
}

#[test]
fn deep_recursion_traps_cleanly() {
    let e = attack("deep-recursion");
    assert!(e.contains("the component crashed"), "{e}");
}

#[test]
fn a_crash_mid_write_leaves_previous_files_intact() {
    let e = attack("trap-mid-write");
    assert!(e.contains("crashing in the middle of writing"), "{e}");
}

#[test]
fn an_export_job_cannot_run_a_write_cmdlet() {
    let e = attack("write-cmdlet");
    assert!(e.contains("contained: denied"), "{e}");
    assert!(
        e.contains("not granted to a export job") || e.contains("not granted"),
        "{e}"
    );
}

#[test]
fn scripts_are_refused_before_reaching_a_server() {
    let e = attack("script");
    assert!(e.contains("contained: denied"), "{e}");
}

#[test]
fn a_cmdlet_the_manifest_does_not_declare_is_denied() {
    let e = attack("undeclared-cmdlet");
    assert!(e.contains("contained: denied"), "{e}");
    assert!(e.contains("manifest does not declare it for export"), "{e}");
}

/// The approval rule: a read verb the component declares needs no
/// approval, so `Grants` (which approves) does not narrow it; what the
/// operator approves matters for writes (`grants.rs`, and the e2e test
/// contract_versions.rs for an unapproved write). The old rule narrowed it.
#[test]
fn a_declared_read_verb_runs_whatever_the_connection_approves() {
    let e = attack("ungranted-by-setting");
    assert!(!e.contains("denied"), "{e}");
}

#[test]
fn writing_until_the_disk_quota_is_stopped() {
    let e = attack("disk-quota");
    assert!(e.contains("wrote more than 8 MiB"), "{e}");
    assert!(e.contains("Limits.MaxWrittenMiB"), "{e}");
}

#[test]
fn creating_files_without_end_is_stopped() {
    let e = attack("many-files");
    assert!(e.contains("more than 50 files"), "{e}");
    assert!(e.contains("Limits.MaxFiles"), "{e}");
}

#[test]
fn holding_files_open_without_end_is_stopped() {
    let e = attack("open-handles");
    assert!(e.contains("more than 64 open files"), "{e}");
    assert!(e.contains("Limits.MaxOpenHandles"), "{e}");
}

#[test]
fn a_job_past_its_wall_clock_is_stopped() {
    let e = attack("wall-clock");
    assert!(e.contains("wall-clock limit of 1s"), "{e}");
    assert!(e.contains("Limits.MaxJobSeconds"), "{e}");
}

#[test]
fn a_huge_argument_list_to_invoke_is_stopped_before_the_host_copies_it() {
    let e = attack("huge-invoke");
    assert!(
        e.contains("more than 16 MiB to the host in one call"),
        "{e}"
    );
    assert!(e.contains("Limits.MaxHostCallDataMiB"), "{e}");
}

#[test]
fn too_many_parameters_are_denied() {
    let e = attack("many-parameters");
    assert!(e.contains("contained: denied"), "{e}");
    assert!(e.contains("has 1000 parameters"), "{e}");
}

#[test]
fn a_huge_result_is_stopped_before_the_host_copies_it() {
    let e = attack("huge-result");
    assert!(e.contains("Limits.MaxHostCallDataMiB"), "{e}");
}

#[test]
fn a_long_error_message_is_cut() {
    let e = attack("long-error");
    assert!(e.contains("the component's message was cut at 4096"), "{e}");
    assert!(e.len() < 8192, "{} bytes", e.len());
}

#[test]
fn guest_output_is_captured_and_capped() {
    let agent = agent();
    let runtime = Runtime::new().unwrap();
    let hostile = runtime
        .load(&component("hostile"), &agent.settings.component_cache)
        .unwrap();
    let e = agent
        .export(
            &runtime,
            &hostile,
            "stdout-flood",
            &ExportOptions::default(),
        )
        .unwrap_err();
    // The flood did not fail the job through the pipe; the guest finished
    // and reported, and the host kept at most the cap.
    assert!(
        format!("{e:#}").contains("contained: wrote 20 MiB"),
        "{e:#}"
    );
}

#[test]
fn a_compiled_component_is_cached_outside_the_guest_directories() {
    let agent = agent();
    let runtime = Runtime::new().unwrap();
    let first = runtime
        .load(&component("hostile"), &agent.settings.component_cache)
        .unwrap();
    let cached: Vec<_> = std::fs::read_dir(&agent.settings.component_cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].starts_with(&first.sha256), "{cached:?}");
    let again = runtime
        .load(&component("hostile"), &agent.settings.component_cache)
        .unwrap();
    assert_eq!(first.sha256, again.sha256);
    assert!(!agent.settings.component_cache.starts_with(agent.output()));
    assert!(!agent.settings.component_cache.starts_with(agent.cookies()));
}
