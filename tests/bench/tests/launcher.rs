//! The launcher (`idconn-bench __launch`) gives a command its own peak RSS,
//! where a direct child of a large process reports at least its parent's.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::process::Command;

/// Peak RSS (bytes) and exit code of `sh -c 'exit 3'` spawned directly.
fn direct_child() -> (u64, i32) {
    // Reaped by wait4 below, not by Child::wait, to read its rusage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain old data; the pointers live through the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    (
        u64::try_from(usage.ru_maxrss).unwrap() * 1024,
        libc::WEXITSTATUS(status),
    )
}

fn launched(result: &Path) -> Vec<u64> {
    let status = Command::new(env!("CARGO_BIN_EXE_idconn-bench"))
        .arg("__launch")
        .arg(result)
        .args(["sh", "-c", "exit 3"])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(result)
        .unwrap()
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect()
}

#[test]
fn a_launched_command_reports_its_own_peak_rss_not_its_parents() {
    // This process first grows to 256 MiB, as the benchmark does.
    let mut big = vec![0u8; 256 << 20];
    for i in (0..big.len()).step_by(4096) {
        big[i] = 1;
    }
    std::hint::black_box(&big);

    let (direct_rss, direct_code) = direct_child();
    assert_eq!(direct_code, 3);
    assert!(direct_rss >= 256 << 20, "the premise: {direct_rss}");

    let dir = tempfile::tempdir().unwrap();
    let fields = launched(&dir.path().join("result"));
    assert_eq!(fields.len(), 4, "{fields:?}");
    let (wall_ns, rss, cpu_ns, success) = (fields[0], fields[1], fields[2], fields[3]);
    // The shell's own CPU time, not this process's (which touched 256 MiB).
    assert!(
        cpu_ns < wall_ns.max(1) * 4,
        "cpu {cpu_ns} ns, wall {wall_ns} ns"
    );
    assert!(rss < 64 << 20, "a small shell reported {rss} bytes");
    assert_eq!(success, 0, "sh exited 3");
    assert!(wall_ns > 0);
}

#[test]
fn a_launcher_without_a_program_says_how_to_call_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_idconn-bench"))
        .arg("__launch")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage"));
}
