//! Helpers shared by the end-to-end tests: the real `exchange-sim` and
//! `idconn` binaries, talking HTTP over loopback.
//!
//! The binaries are the ones `just build` leaves in `target/debug`; this
//! crate does not build them (they live in other packages), so a test
//! fails with a message saying to build them when they are missing.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use anyhow::{bail, Context};
use serde_json::{json, Value};

pub mod hostile;

pub use exchange_sim::exchange::model::Directory;
pub use exchange_sim::exchange::seed::SeedSpec;

/// The connection identifier every [`Agent`] uses.
pub const CONNECTION: &str = "Exchange";

/// The repository root (this crate is `tests/e2e`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Exchange component `just build-components` builds: the top-level
/// `ComponentPath` of the agents' settings.
pub fn exchange_component() -> PathBuf {
    workspace_root().join("components/target/wasm32-wasip2/release/exchange.wasm")
}

/// The `Grants` the shipped settings give the Exchange component
/// (examples/exchange-grants.json).
pub fn exchange_grants() -> Value {
    let path = workspace_root().join("examples/exchange-grants.json");
    fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| panic!("cannot read {}", path.display()))
}

/// A binary of the workspace in `target/debug` (or `$CARGO_TARGET_DIR/debug`).
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target.join("debug").join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: run `just build` (or `cargo build -p idconn-host -p exchange-sim` after `just build-components`) before the end-to-end tests",
            path.display()
        );
    }
    Ok(path)
}

/// A running `exchange-sim`, killed when dropped.
pub struct Simulator {
    /// `http://localhost:<port>/PowerShell/`
    pub url: String,
    pub child: Child,
    /// Kept open: the simulator may still write to it.
    _stdout: BufReader<ChildStdout>,
    log: tempfile::NamedTempFile,
}

impl Simulator {
    /// Starts the simulator on a free loopback port with `args` (e.g.
    /// `["--mailboxes", "20", "--seed", "3"]`) and waits for the URL it
    /// prints on its first line.
    pub fn start<I, S>(args: I) -> anyhow::Result<Simulator>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Simulator::start_with_env(args, std::iter::empty::<(&str, &str)>())
    }

    /// [`Simulator::start`] with environment variables on the simulator's
    /// process only (e.g. a Kerberos realm's `KRB5_CONFIG`).
    pub fn start_with_env<I, S, E, K, V>(args: I, env: E) -> anyhow::Result<Simulator>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
        E: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let log = tempfile::NamedTempFile::new()?;
        let mut child = Command::new(binary("exchange-sim")?)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen()?)
            .spawn()
            .context("cannot start exchange-sim")?;
        let stdout = child
            .stdout
            .take()
            .context("exchange-sim has no stdout pipe")?;
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        // Blocks until the simulator listens (it prints after binding) or
        // exits (end of file).
        let read = stdout.read_line(&mut first);
        let url = first.trim().to_string();
        if read.is_err() || !url.starts_with("http://") {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "exchange-sim did not print its URL (got {url:?}); its log: {}",
                fs::read_to_string(log.path()).unwrap_or_default()
            );
        }
        Ok(Simulator {
            url,
            child,
            _stdout: stdout,
            log,
        })
    }

    /// Connection settings for this simulator as `login`/`password`
    /// (default users: admin/admin, reader/reader).
    /// The connection approves the Exchange component's fulfill write
    /// cmdlets as the shipped settings do (examples/exchange-grants.json).
    pub fn connection(&self, login: &str, password: &str) -> Value {
        json!({
            "AuthType": "HttpBasic",
            "Server": self.url,
            "Login": login,
            "Password": password,
            "AllowUnencrypted": true,
            "Grants": exchange_grants(),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> anyhow::Result<u16> {
        self.url
            .trim_end_matches("/PowerShell/")
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("no port in {}", self.url))
    }

    /// What the simulator wrote on stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The directory `exchange-sim` seeds for these arguments: the same
/// generator, so tests can pick users (e.g. without a mailbox) by name.
pub fn seeded_directory(spec: SeedSpec) -> Directory {
    exchange_sim::exchange::seed::seed(spec)
}

/// SamAccountNames of the AD users the seed leaves without a mailbox.
pub fn users_without_mailbox(spec: SeedSpec) -> Vec<String> {
    seeded_directory(spec)
        .users
        .values()
        .filter(|u| u.mailbox.is_none())
        .map(|u| u.sam_account_name.clone())
        .collect()
}

/// An agent folder: `appsettings.agent.json` with one connection
/// ([`CONNECTION`]) and its `Temp`/`Work` folders, in a temporary directory.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub settings: PathBuf,
}

impl Agent {
    /// `connection` is the connection's settings object (see
    /// [`Simulator::connection`]).
    pub fn new(connection: Value) -> anyhow::Result<Agent> {
        let dir = tempfile::tempdir()?;
        let settings = dir.path().join("appsettings.agent.json");
        let agent = Agent { dir, settings };
        agent.write_connection(connection)?;
        Ok(agent)
    }

    /// Rewrites the settings with another connection object.
    pub fn write_connection(&self, connection: Value) -> anyhow::Result<()> {
        // One compiled-component cache for every test: compiling the
        // component once per test would dominate the suite's time.
        let cache = workspace_root().join("target").join("e2e-component-cache");
        let settings = json!({
            "TempFolderPath": "Temp",
            "WorkFolderPath": "Work",
            "ComponentCachePath": cache,
            "ComponentPath": exchange_component(),
            "Connections": { CONNECTION: connection },
        });
        fs::write(&self.settings, serde_json::to_vec_pretty(&settings)?)?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `idconn <command> --settings .. --connection .. <args>`.
    pub fn idconn<I, S>(&self, command: &str, args: I) -> anyhow::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec![
            command.into(),
            "--settings".into(),
            self.settings.clone().into(),
            "--connection".into(),
            CONNECTION.into(),
        ];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        run_idconn(all)
    }

    /// `idconn export`, which must succeed; returns its output.
    pub fn export(&self) -> anyhow::Result<Output> {
        let out = self.idconn("export", std::iter::empty::<&str>())?;
        if !out.status.success() {
            bail!("idconn export failed: {}", describe(&out));
        }
        Ok(out)
    }

    pub fn export_output(&self) -> PathBuf {
        self.path().join("Temp").join("ExportOutput")
    }

    /// The rows of `<CONNECTION>_mailboxes.csv`.
    pub fn mailboxes(&self) -> anyhow::Result<Vec<Row>> {
        read_csv(
            &self
                .export_output()
                .join(format!("{CONNECTION}_mailboxes.csv")),
        )
    }

    /// The rows of `<CONNECTION>_databases.csv`.
    pub fn databases(&self) -> anyhow::Result<Vec<Row>> {
        read_csv(
            &self
                .export_output()
                .join(format!("{CONNECTION}_databases.csv")),
        )
    }
}

/// Runs the `idconn` binary with `args`; never fails on a non-zero exit
/// (the test looks at the status).
pub fn run_idconn<I, S>(args: I) -> anyhow::Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(binary("idconn")?)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .context("cannot run idconn")
}

/// Exit status, stdout and stderr of a run, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A CSV row by column name.
pub type Row = BTreeMap<String, String>;

pub fn read_csv(path: &Path) -> anyhow::Result<Vec<Row>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        rows.push(
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect(),
        );
    }
    Ok(rows)
}

/// Waits until the wall clock is in a later second than when called.
///
/// Incremental exports select `WhenChangedUTC` in `[cookie, started-at)`
/// with whole seconds (Exchange's filter precision), so a change is seen
/// by an export that starts in a later second. This waits for the clock,
/// not for another process.
pub fn next_second() {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    };
    let start = now();
    while now() <= start {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// At most 8 KiB of a child's output in an assertion message (a test that
/// fails on a 7 MiB line should not print it).
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(8192) {
        Some((cut, _)) => format!("{}… [{} more bytes]", &text[..cut], text.len() - cut),
        None => text.to_string(),
    }
}

/// A loopback TCP proxy that records every byte in both directions, to
/// check what crossed the wire.
pub struct CaptureProxy {
    pub port: u16,
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl CaptureProxy {
    /// Forwards every connection to `127.0.0.1:<target_port>`. The threads
    /// end when the test process does.
    pub fn start(target_port: u16) -> anyhow::Result<CaptureProxy> {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let captured = bytes.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    return;
                };
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    return;
                };
                for (mut from, mut to) in [(client2, server2), (server, client)] {
                    let captured = captured.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => {
                                    let _ = to.shutdown(std::net::Shutdown::Write);
                                    return;
                                }
                                Ok(n) => {
                                    if let Ok(mut all) = captured.lock() {
                                        all.extend_from_slice(&buf[..n]);
                                    }
                                    if to.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            }
        });
        Ok(CaptureProxy { port, bytes })
    }

    /// Every byte seen so far, both directions interleaved.
    pub fn captured(&self) -> Vec<u8> {
        self.bytes.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && memchr::memmem::find(haystack, needle).is_some()
}

/// The needles that occur in the file at `path`, read in chunks (a -vv log
/// can be gigabytes), each chunk overlapping the last by the longest needle.
pub fn file_contains(path: &Path, needles: &[&str]) -> anyhow::Result<Vec<usize>> {
    use std::io::Read;
    let overlap = needles.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 8 << 20];
    let mut kept = 0usize;
    loop {
        let n = file.read(&mut buf[kept..])?;
        if n == 0 {
            break;
        }
        let filled = kept + n;
        for (i, needle) in needles.iter().enumerate() {
            if !found.contains(&i) && contains_bytes(&buf[..filled], needle.as_bytes()) {
                found.push(i);
            }
        }
        kept = overlap.min(filled);
        buf.copy_within(filled - kept..filled, 0);
    }
    Ok(found)
}
