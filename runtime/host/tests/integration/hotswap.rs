//! Hot swap under load: jobs run without pause while the active component
//! version changes 20 times, one of them to a component that must be
//! refused. No job fails, every job's two files carry one version (the one
//! it started with), and a refused version never becomes active.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::common::{component, Simulator};
use idconn_host::backend::replay::{Fixture, Replay};
use idconn_host::backend::{PipelineOutput, PowerShell};
use idconn_host::bindings::{CallError, Command as PsCommand};
use idconn_host::jobs::{self, ExportOptions};
use idconn_host::registry::Registry;
use idconn_host::report::RecordingReporter;
use idconn_host::runtime::{LoadedComponent, Runtime};
use idconn_host::settings::Settings;

const ID: &str = "Swap";
const DATABASES: &str = r#"{ "Calls": [ { "Pipeline": [ { "Command": "Get-MailboxDatabase" } ],
  "Output": [ { "Properties": { "Name": "DB01" } }, { "Properties": { "Name": "DB02" } },
              { "Properties": { "Name": "DB03" } } ] } ] }"#;

struct Setup {
    dir: tempfile::TempDir,
    settings: Settings,
    registry: Registry,
}

impl Setup {
    /// `connection` is the JSON body of the connection, without ComponentPath.
    fn new(connection: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fixture.json"), DATABASES).unwrap();
        let text = format!(
            r#"{{ "Connections": {{ "{ID}": {{ {connection}, "ComponentPath": "component.wasm" }} }} }}"#
        );
        let file = dir.path().join("appsettings.agent.json");
        std::fs::write(&file, text).unwrap();
        let settings = Settings::load(&file).unwrap();
        let runtime = Arc::new(Runtime::new().unwrap());
        let registry = Registry::new(runtime, settings.component_cache.clone());
        Setup {
            dir,
            settings,
            registry,
        }
    }

    fn component_path(&self) -> PathBuf {
        self.dir.path().join("component.wasm")
    }

    /// Deploys a built fixture at the connection's ComponentPath and offers
    /// it to the registry, as the agent's watcher does on a change.
    fn deploy(&self, fixture: &str) -> anyhow::Result<idconn_host::registry::Swap> {
        std::fs::copy(component(fixture), self.component_path()).unwrap();
        let conn = self.settings.connection(ID).unwrap();
        self.registry.offer(conn, &self.component_path())
    }

    fn export_with(
        &self,
        component: &LoadedComponent,
        shell: Box<dyn PowerShell>,
        out: &Path,
    ) -> anyhow::Result<u64> {
        let conn = self.settings.connection(ID).unwrap();
        let options = ExportOptions {
            ignore_cookies: true,
            output_path: Some(out.join("out")),
            cookie_path: Some(out.join("cookies")),
        };
        let outcome = jobs::export(
            self.registry.runtime(),
            &self.settings,
            conn,
            component,
            shell,
            Arc::new(RecordingReporter::default()),
            &options,
        )?;
        Ok(outcome.summary.count("database"))
    }

    fn export(&self, component: &LoadedComponent, out: &Path) -> anyhow::Result<u64> {
        let conn = self.settings.connection(ID).unwrap();
        self.export_with(component, jobs::open_backend(conn, component)?, out)
    }
}

/// The version written in both files of a job, which must agree.
fn written_version(out: &Path) -> String {
    let read = |name: &str| {
        std::fs::read_to_string(out.join("out").join(format!("{ID}_{name}.csv"))).unwrap()
    };
    let first = read("first");
    let second = read("second");
    let v1 = first.lines().nth(1).unwrap().to_string();
    let v2 = second
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(v1, v2, "one job's files come from two versions");
    v1
}

#[derive(Default)]
struct Progress {
    done: Mutex<u64>,
    changed: Condvar,
}

impl Progress {
    fn bump(&self) {
        *self.done.lock().unwrap() += 1;
        self.changed.notify_all();
    }

    /// Waits until more than `seen` jobs finished; returns the new count.
    fn wait_past(&self, seen: u64) -> u64 {
        let mut done = self.done.lock().unwrap();
        while *done <= seen {
            done = self.changed.wait(done).unwrap();
        }
        *done
    }
}

/// Jobs run on two threads while the main thread swaps 20 times, waiting
/// for at least one finished job between swaps so every version serves.
fn swap_under_load(setup: &Setup, expected_databases: u64) {
    setup.deploy("versioned_v1").unwrap();
    let v1_sha = setup.registry.active(ID).unwrap().sha256.clone();
    let stop = AtomicBool::new(false);
    let progress = Progress::default();
    let failures = Mutex::new(Vec::new());
    let jobs_by_version = Mutex::new(std::collections::BTreeMap::<String, u64>::new());
    let next_job = AtomicU64::new(0);
    let mut swap_times = Vec::new();
    let mut check_times = Vec::new();
    let started = std::time::Instant::now();

    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let component = setup.registry.active(ID).unwrap();
                    let n = next_job.fetch_add(1, Ordering::Relaxed);
                    let out = setup.dir.path().join(format!("job{n}"));
                    match setup.export(&component, &out) {
                        Ok(databases) => {
                            assert_eq!(databases, expected_databases);
                            let written = written_version(&out);
                            assert_eq!(
                                written,
                                component.version(),
                                "job {n} ran another version than it started with"
                            );
                            *jobs_by_version.lock().unwrap().entry(written).or_default() += 1;
                        }
                        Err(e) => failures.lock().unwrap().push(format!("job {n}: {e:#}")),
                    }
                    let _ = std::fs::remove_dir_all(&out);
                    progress.bump();
                }
            });
        }

        let mut seen = 0;
        for swap in 1..=20 {
            seen = progress.wait_past(seen);
            let before = setup.registry.active(ID).unwrap().sha256.clone();
            match swap {
                // Not the connector world: refused, the running version stays.
                7 => {
                    let e = setup
                        .deploy("wrong_world")
                        .err()
                        .expect("the wrong world was refused");
                    assert!(
                        format!("{e:#}").contains("this idconn supports 0.2.0, 0.3.0 and 0.4.0"),
                        "{e:#}"
                    );
                    assert_eq!(setup.registry.active(ID).unwrap().sha256, before);
                }
                // A pin that the new bytes do not match: refused too.
                13 => {
                    std::fs::copy(component("versioned_v2"), setup.component_path()).unwrap();
                    let mut pinned = setup.settings.connection(ID).unwrap().clone();
                    pinned.component_sha256 = Some(v1_sha.clone());
                    let e = setup
                        .registry
                        .offer(&pinned, &setup.component_path())
                        .err()
                        .expect("pin mismatch refused");
                    assert!(format!("{e:#}").contains("ComponentSha256 pins"), "{e:#}");
                    assert_eq!(setup.registry.active(ID).unwrap().sha256, before);
                }
                _ => {
                    let running = setup.registry.active(ID).unwrap().version();
                    let fixture = if running == "1.0.0" {
                        "versioned_v2"
                    } else {
                        "versioned_v1"
                    };
                    let swapped = setup.deploy(fixture).unwrap();
                    assert_eq!(
                        swapped.active.sha256,
                        setup.registry.active(ID).unwrap().sha256
                    );
                    swap_times.push(swapped.swap_time);
                    check_times.push(swapped.check_time);
                }
            }
        }
        seen = progress.wait_past(seen);
        stop.store(true, Ordering::Relaxed);
        assert!(seen >= 20);
    });

    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} jobs failed: {failures:#?}",
        failures.len()
    );
    let by_version = jobs_by_version.into_inner().unwrap();
    assert_eq!(
        by_version.keys().collect::<Vec<_>>(),
        ["1.0.0", "2.0.0"],
        "{by_version:?}"
    );
    let (swaps, rejected) = setup.registry.counts();
    assert_eq!(rejected, 2);
    // The first deploy, then 18 changes of version.
    assert_eq!(swaps, 19);
    // Listed versions: both, one of them active; never the refused ones.
    let versions = setup.registry.versions(ID);
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions.iter().filter(|v| v.active).count(), 1);
    let max = |d: &[Duration]| d.iter().max().copied().unwrap_or_default();
    let min = |d: &[Duration]| d.iter().min().copied().unwrap_or_default();
    let jobs = by_version.values().sum::<u64>();
    eprintln!(
        "{jobs} jobs {by_version:?} in {:?} on 2 threads; swap lock held at most {:?}; check (read, pin, compile or cache, link) {:?} to {:?}",
        started.elapsed(),
        max(&swap_times),
        min(&check_times),
        max(&check_times)
    );
}

#[test]
fn twenty_swaps_under_load_with_the_replay_backend() {
    let setup = Setup::new(r#""AuthType": "Replay", "Server": "fixture.json""#);
    swap_under_load(&setup, 3);
}

/// A backend that holds the first `invoke` until the test lets it go, so a
/// job can be caught in the middle while versions change under it.
struct Gated {
    inner: Replay,
    entered: mpsc::Sender<()>,
    release: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl PowerShell for Gated {
    fn invoke(&mut self, pipeline: &[PsCommand]) -> Result<Box<dyn PipelineOutput>, CallError> {
        let _ = self.entered.send(());
        let _ = self.release.lock().unwrap().recv();
        self.inner.invoke(pipeline)
    }
}

#[test]
fn a_running_job_finishes_on_the_version_it_started_with() {
    let setup = Setup::new(r#""AuthType": "Replay", "Server": "fixture.json""#);
    setup.deploy("versioned_v1").unwrap();
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gated = Gated {
        inner: Replay::new(Fixture::parse(DATABASES).unwrap()),
        entered: entered_tx,
        release: Arc::new(Mutex::new(release_rx)),
    };
    let started_on = setup.registry.active(ID).unwrap();
    std::thread::scope(|scope| {
        let held = scope.spawn(|| {
            let out = setup.dir.path().join("held");
            setup
                .export_with(&started_on, Box::new(gated), &out)
                .unwrap();
            written_version(&out)
        });
        // The held job wrote its first file and waits in its server call.
        entered.recv().unwrap();
        let swap = setup.deploy("versioned_v2").unwrap();
        assert_eq!(swap.active.version(), "2.0.0");
        let out = setup.dir.path().join("after");
        setup
            .export(&setup.registry.active(ID).unwrap(), &out)
            .unwrap();
        assert_eq!(written_version(&out), "2.0.0");
        release.send(()).unwrap();
        assert_eq!(held.join().unwrap(), "1.0.0");
    });
    // Rolling back is activating a loaded version by digest.
    let v1 = setup
        .registry
        .versions(ID)
        .into_iter()
        .find(|v| v.version == "1.0.0")
        .unwrap();
    setup.registry.activate(ID, &v1.sha256).unwrap();
    assert_eq!(setup.registry.active(ID).unwrap().version(), "1.0.0");
    assert!(setup.registry.activate(ID, &"f".repeat(64)).is_err());
}

#[test]
fn twenty_swaps_under_load_against_the_simulator() {
    let sim = Simulator::start(&["--mailboxes", "200", "--databases", "3", "--auth", "basic"]);
    let setup = Setup::new(&format!(
        r#""AuthType": "HttpBasic", "Server": "{}", "Login": "admin", "Password": "admin", "AllowUnencrypted": true"#,
        sim.url
    ));
    swap_under_load(&setup, 3);
}

/// A component-level custom section appended to a built component.
fn with_appended_section(bytes: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    let mut out = bytes.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

#[test]
fn a_second_manifest_or_the_same_bytes_never_change_the_active_version() {
    let setup = Setup::new(r#""AuthType": "Replay", "Server": "fixture.json""#);
    setup.deploy("versioned_v1").unwrap();
    let active = setup.registry.active(ID).unwrap().sha256.clone();
    let conn = setup.settings.connection(ID).unwrap();

    // The same file again: accepted, but no swap is counted.
    setup.registry.offer(conn, &setup.component_path()).unwrap();
    assert_eq!(setup.registry.counts(), (1, 0));

    // A second manifest smuggled in beside the first: refused.
    let bytes = std::fs::read(component("versioned_v2")).unwrap();
    let smuggled = with_appended_section(
        &bytes,
        "idconn-manifest",
        br#"{"name":"versioned","version":"9","grants":{"export":["Set-Mailbox"]}}"#,
    );
    std::fs::write(setup.component_path(), smuggled).unwrap();
    let e = setup
        .registry
        .offer(conn, &setup.component_path())
        .err()
        .expect("refused");
    assert!(
        format!("{e:#}").contains("2 `idconn-manifest` sections"),
        "{e:#}"
    );
    assert_eq!(setup.registry.active(ID).unwrap().sha256, active);
    assert_eq!(setup.registry.counts(), (1, 1));
    let out = setup.dir.path().join("job");
    setup
        .export(&setup.registry.active(ID).unwrap(), &out)
        .unwrap();
    assert_eq!(written_version(&out), "1.0.0");
}
