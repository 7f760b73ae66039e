//! The native runner (`idconn-bench __native-export`, src/native.rs) and
//! `idconn export` write the same files against the same simulator: the
//! adapter between the host's backend and the natively linked logic drops
//! and changes nothing, so the benchmark's whole-export ratio compares the
//! same work.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

const CONNECTION: &str = "Bench";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A binary `just build` leaves in target/debug (another package's).
fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `just build` (or `cargo build --workspace --all-targets` after `just build-components`)",
        path.display()
    );
    path
}

/// `exchange-sim` on a free loopback port, killed when dropped.
struct Simulator {
    url: String,
    child: Child,
    _stdout: BufReader<ChildStdout>,
}

impl Simulator {
    fn start(args: &[&str], log: &Path) -> Simulator {
        let mut child = Command::new(binary("exchange-sim"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut url = String::new();
        // The simulator prints its URL once it listens.
        stdout.read_line(&mut url).unwrap();
        let url = url.trim().to_string();
        assert!(
            url.starts_with("http://"),
            "exchange-sim printed {url:?}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        Simulator {
            url,
            child,
            _stdout: stdout,
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings(dir: &Path, url: &str) -> PathBuf {
    let component = repo().join("components/target/wasm32-wasip2/release/exchange.wasm");
    assert!(
        component.is_file(),
        "{} is missing: run `just build-components`",
        component.display()
    );
    let text = serde_json::json!({
        "TempFolderPath": "Temp",
        "WorkFolderPath": "Work",
        "ComponentCachePath": dir.join("cache"),
        "ComponentPath": component,
        "Connections": { CONNECTION: {
            "AuthType": "HttpBasic", "Server": url, "Login": "admin", "Password": "admin",
            "AllowUnencrypted": true,
        } }
    });
    let path = dir.join("appsettings.agent.json");
    std::fs::write(&path, text.to_string()).unwrap();
    path
}

/// Runs `program <first> export-args` writing into `dir/out` and `dir/cookies`.
fn export(program: &Path, first: &str, settings: &Path, dir: &Path) {
    let output = Command::new(program)
        .arg(first)
        .arg("--settings")
        .arg(settings)
        .args(["--connection", CONNECTION, "--ignore-cookies"])
        .arg("--output-path")
        .arg(dir.join("out"))
        .arg("--cookie-path")
        .arg(dir.join("cookies"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} {first} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    let path = dir.join("out").join(format!("{CONNECTION}_{file}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sorted_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    lines.sort_unstable();
    lines
}

#[test]
fn the_native_runner_writes_the_same_files_as_idconn_export() {
    let dir = tempfile::tempdir().unwrap();
    let simulator = Simulator::start(
        &[
            "--mailboxes",
            "300",
            "--databases",
            "3",
            "--seed",
            "1",
            "--auth",
            "basic",
        ],
        &dir.path().join("exchange-sim.log"),
    );
    let settings = settings(dir.path(), &simulator.url);
    let (component, native) = (dir.path().join("component"), dir.path().join("native"));
    export(&binary("idconn"), "export", &settings, &component);
    export(
        Path::new(env!("CARGO_BIN_EXE_idconn-bench")),
        "__native-export",
        &settings,
        &native,
    );

    let databases = read(&component, "databases.csv");
    assert_eq!(databases.iter().filter(|&&b| b == b'\n').count(), 1 + 3);
    assert!(
        databases == read(&native, "databases.csv"),
        "the databases CSVs differ:\n{}\n---\n{}",
        String::from_utf8_lossy(&databases),
        String::from_utf8_lossy(&read(&native, "databases.csv"))
    );
    // Several pipelines (MaxParallelPipelines' default) may finish in
    // either order: the same lines, each byte for byte.
    let (a, b) = (
        read(&component, "mailboxes.csv"),
        read(&native, "mailboxes.csv"),
    );
    assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 1 + 300);
    let (a, b) = (sorted_lines(&a), sorted_lines(&b));
    let differing: Vec<_> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .take(3)
        .map(|(x, y)| {
            format!(
                "{}\n{}",
                String::from_utf8_lossy(x),
                String::from_utf8_lossy(y)
            )
        })
        .collect();
    assert!(
        a.len() == b.len() && differing.is_empty(),
        "{} and {} lines; first differing (component, then native):\n{}",
        a.len(),
        b.len(),
        differing.join("\n\n")
    );
    for side in [&component, &native] {
        assert!(side
            .join("cookies")
            .join(format!("{CONNECTION}_cookie.bin"))
            .is_file());
    }
}
