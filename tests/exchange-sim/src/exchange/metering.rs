//! What a pipeline costs the server: `--object-cost-us` (simulated server
//! time per directory object) and `--stats-file` (objects materialized, by
//! cmdlet).
//!
//! Both apply to the first command of a pipeline, the one that reads the
//! directory (`Get-Mailbox`, `Get-User`, `Get-MailboxDatabase`...): later
//! commands (`Select-Object`) work on objects already materialized. What
//! counts as materialized is what the cmdlet returns: Exchange turns an OPATH
//! `-Filter` (and `-Database`) into an LDAP filter the directory evaluates,
//! so objects that do not match are never read into the Exchange process
//! (docs/simulator.md, "Server cost", gives the source and the limits of
//! the model).
//!
//! The cost is a wait, not CPU: the pipeline runs on a blocking thread of
//! its own (server/command.rs), so pipelines of several shells, and several
//! pipelines of one shell, wait in parallel as on a multi-core server.
//! Waits are batched: the debt of objects produced accumulates until it
//! reaches [`MIN_SLEEP`], then one sleep pays it, and what the OS overslept
//! is credited to the next objects, so timer granularity does not change
//! the total.
//!
//! `--rendezvous CMDLET=N` is a test hook, not a model of Exchange: each
//! of the first N pipelines starting with CMDLET waits, before its first
//! object, until N such pipelines have started. A client that runs them one at
//! a time never gets past the first: after `--rendezvous-timeout-ms`
//! (default 60 s, far longer than a concurrent client needs to start its
//! next pipeline) it fails with an error saying so. A test of concurrency can then pass or fail on
//! what happened, not on how fast it happened.

use super::pipeline::{Ev, Stage};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::errors::{exchange_error, CmdletId};

/// The shortest sleep taken: below this, timer granularity would dominate.
const MIN_SLEEP: Duration = Duration::from_millis(2);

/// `--rendezvous CMDLET=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendezvous {
    pub cmdlet: String,
    pub pipelines: usize,
}

impl Rendezvous {
    /// Parses `CMDLET=N` (N at least 2: one pipeline meets no one).
    pub fn parse(text: &str) -> Result<Rendezvous, String> {
        let (cmdlet, n) = text
            .split_once('=')
            .ok_or_else(|| format!("expected CMDLET=N, for example Get-Mailbox=4, not {text:?}"))?;
        let pipelines = n
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 2)
            .ok_or_else(|| format!("N must be a number of pipelines of at least 2, not {n:?}"))?;
        Ok(Rendezvous {
            cmdlet: cmdlet.trim().to_string(),
            pipelines,
        })
    }
}

/// Server-wide object counters and the cost model.
#[derive(Debug, Default)]
pub struct Meter {
    /// Simulated server time per object a pipeline's first command produces.
    pub object_cost: Duration,
    /// Where the counters are written (JSON) each time a pipeline ends.
    pub stats_file: Option<PathBuf>,
    counts: Mutex<Counts>,
    /// `--rendezvous`: pipelines starting with this cmdlet, and how many
    /// must have started before any of them produces its first object.
    rendezvous: Option<Rendezvous>,
    rendezvous_timeout: Duration,
    arrived: Mutex<usize>,
    all_arrived: Condvar,
}

#[derive(Debug, Default, Clone)]
struct Counts {
    objects: BTreeMap<String, u64>,
    pipelines: BTreeMap<String, u64>,
}

impl Meter {
    pub fn new(object_cost: Duration, stats_file: Option<PathBuf>) -> Self {
        Meter {
            object_cost,
            stats_file,
            ..Meter::default()
        }
    }

    /// With `--rendezvous CMDLET=N`: a pipeline waits at most `timeout`
    /// (`--rendezvous-timeout-ms`).
    pub fn with_rendezvous(mut self, rendezvous: Option<Rendezvous>, timeout: Duration) -> Self {
        self.rendezvous = rendezvous;
        self.rendezvous_timeout = timeout;
        self
    }

    /// A pipeline has started: waits until `rendezvous` pipelines have.
    /// Returns how many had when it gave up, or `None` if all came.
    fn arrive(&self, cmdlet: &str) -> Option<usize> {
        let needed = match &self.rendezvous {
            Some(r) if r.cmdlet.eq_ignore_ascii_case(cmdlet) => r.pipelines,
            _ => return None,
        };
        let mut arrived = self.arrived.lock().unwrap_or_else(|e| e.into_inner());
        *arrived += 1;
        if *arrived >= needed {
            self.all_arrived.notify_all();
            return None;
        }
        let (arrived, _) = self
            .all_arrived
            .wait_timeout_while(arrived, self.rendezvous_timeout, |n| *n < needed)
            .unwrap_or_else(|e| e.into_inner());
        (*arrived < needed).then_some(*arrived)
    }

    /// Objects materialized so far, by cmdlet name.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .objects
            .clone()
    }

    /// Pipelines run so far, by the cmdlet that starts them.
    pub fn pipelines(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pipelines
            .clone()
    }

    fn add(&self, cmdlet: &str, objects: u64) {
        let snapshot = {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            *counts.objects.entry(cmdlet.to_string()).or_default() += objects;
            *counts.pipelines.entry(cmdlet.to_string()).or_default() += 1;
            counts.clone()
        };
        let Some(path) = &self.stats_file else {
            return;
        };
        // Written whole then renamed, so a reader never sees half a file.
        let text = match serde_json::to_string_pretty(&serde_json::json!({
            "objects_materialized": snapshot.objects,
            "pipelines": snapshot.pipelines,
        })) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!("serializing the stats: {e}");
                return;
            }
        };
        let temp = path.with_extension("tmp");
        if let Err(e) = std::fs::write(&temp, text).and_then(|()| std::fs::rename(&temp, path)) {
            tracing::error!("writing the stats file {}: {e}", path.display());
        }
    }
}

/// Wraps the first stage of a pipeline: counts its objects and charges
/// their cost.
pub struct Metered {
    pub inner: Box<dyn Stage>,
    pub cmdlet: &'static str,
    pub meter: std::sync::Arc<Meter>,
    objects: u64,
    /// Simulated time owed (positive) or overslept (negative), in ns.
    debt_ns: i128,
    flushed: bool,
    started: bool,
}

impl Metered {
    pub fn new(inner: Box<dyn Stage>, cmdlet: &'static str, meter: std::sync::Arc<Meter>) -> Self {
        Metered {
            inner,
            cmdlet,
            meter,
            objects: 0,
            debt_ns: 0,
            flushed: false,
            started: false,
        }
    }

    fn pay(&mut self, force: bool) {
        let min = MIN_SLEEP.as_nanos() as i128;
        if self.debt_ns <= 0 || (!force && self.debt_ns < min) {
            return;
        }
        let owed = Duration::from_nanos(u64::try_from(self.debt_ns).unwrap_or(u64::MAX));
        let start = Instant::now();
        std::thread::sleep(owed);
        self.debt_ns -= start.elapsed().as_nanos() as i128;
    }

    /// Adds this pipeline's count to the server's (once), before the
    /// client can see the pipeline end.
    fn flush(&mut self) {
        if !self.flushed {
            self.flushed = true;
            self.meter.add(self.cmdlet, self.objects);
        }
    }
}

impl Stage for Metered {
    fn next(&mut self) -> Option<Ev> {
        if !self.started {
            self.started = true;
            if let Some(arrived) = self.meter.arrive(self.cmdlet) {
                let needed = self.meter.rendezvous.as_ref().map_or(0, |r| r.pipelines);
                self.flush();
                return Some(Ev::Failed(exchange_error(
                    "exchange-sim",
                    CmdletId {
                        name: self.cmdlet,
                        type_name: "ExchangeSim.Rendezvous",
                    },
                    "System.TimeoutException",
                    "OperationTimeout",
                    format!(
                        "--rendezvous {}={needed}: only {arrived} {} pipelines started within {:.1} s; the client does not run them at the same time",
                        self.cmdlet,
                        self.cmdlet,
                        self.meter.rendezvous_timeout.as_secs_f64()
                    ),
                    None,
                )));
            }
        }
        let ev = self.inner.next();
        match &ev {
            Some(Ev::Item(_)) => {
                self.objects += 1;
                self.debt_ns += self.meter.object_cost.as_nanos() as i128;
                self.pay(false);
            }
            Some(Ev::Failed(_)) | None => {
                self.pay(true);
                self.flush();
            }
            Some(Ev::Error(_)) | Some(Ev::Warning(_)) => {}
        }
        ev
    }
}

impl Drop for Metered {
    /// A pipeline stopped early still counts what it materialized.
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::pipeline::{Fixed, Item};
    use idconn_psrp::clixml::Value;
    use std::sync::Arc;

    #[test]
    fn objects_are_counted_by_cmdlet_and_written_when_the_pipeline_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        let meter = Arc::new(Meter::new(Duration::ZERO, Some(path.clone())));
        let items = (0..3).map(|_| Ev::Item(Item::Object(Value::Nil))).collect();
        let mut stage = Metered::new(Box::new(Fixed(items)), "Get-User", meter.clone());
        while stage.next().is_some() {}
        assert_eq!(meter.counts().get("Get-User"), Some(&3));
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["objects_materialized"]["Get-User"], 3);
        assert_eq!(json["pipelines"]["Get-User"], 1);
        drop(stage);
        assert_eq!(meter.counts().get("Get-User"), Some(&3), "counted once");
    }

    #[test]
    fn a_rendezvous_passes_when_enough_pipelines_start() {
        let meter = Arc::new(Meter::new(Duration::ZERO, None).with_rendezvous(
            Rendezvous::parse("Get-Mailbox=2").ok(),
            Duration::from_secs(60),
        ));
        let other = {
            let meter = meter.clone();
            std::thread::spawn(move || meter.arrive("Get-Mailbox"))
        };
        // Other cmdlets' pipelines are not part of it.
        assert_eq!(meter.arrive("Get-MailboxDatabase"), None);
        assert_eq!(meter.arrive("get-mailbox"), None);
        assert_eq!(other.join().unwrap(), None);
        // Once met, later pipelines pass at once.
        assert_eq!(meter.arrive("Get-Mailbox"), None);
        assert!(Rendezvous::parse("Get-Mailbox=1").is_err());
        assert!(Rendezvous::parse("Get-Mailbox").is_err());
    }

    #[test]
    fn a_lone_pipeline_at_a_rendezvous_fails_saying_why() {
        let meter = Arc::new(Meter::new(Duration::ZERO, None).with_rendezvous(
            Rendezvous::parse("Get-Mailbox=2").ok(),
            Duration::from_millis(1),
        ));
        let items = (0..3).map(|_| Ev::Item(Item::Object(Value::Nil))).collect();
        let mut stage = Metered::new(Box::new(Fixed(items)), "Get-Mailbox", meter.clone());
        match stage.next() {
            Some(Ev::Failed(e)) => {
                assert!(
                    e.message.contains("only 1 Get-Mailbox pipelines started"),
                    "{}",
                    e.message
                );
                assert!(
                    e.message.contains("--rendezvous Get-Mailbox=2"),
                    "{}",
                    e.message
                );
            }
            _ => panic!("a lone pipeline passed the rendezvous"),
        }
        // Its objects were never produced.
        assert_eq!(meter.counts().get("Get-Mailbox"), Some(&0));
    }
}
