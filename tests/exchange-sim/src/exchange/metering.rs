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

use super::pipeline::{Ev, Stage};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest sleep taken: below this, timer granularity would dominate.
const MIN_SLEEP: Duration = Duration::from_millis(2);

/// Server-wide object counters and the cost model.
#[derive(Debug, Default)]
pub struct Meter {
    /// Simulated server time per object a pipeline's first command produces.
    pub object_cost: Duration,
    /// Where the counters are written (JSON) each time a pipeline ends.
    pub stats_file: Option<PathBuf>,
    counts: Mutex<BTreeMap<String, u64>>,
}

impl Meter {
    pub fn new(object_cost: Duration, stats_file: Option<PathBuf>) -> Self {
        Meter {
            object_cost,
            stats_file,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// Objects materialized so far, by cmdlet name.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn add(&self, cmdlet: &str, objects: u64) {
        let snapshot = {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            *counts.entry(cmdlet.to_string()).or_default() += objects;
            counts.clone()
        };
        let Some(path) = &self.stats_file else {
            return;
        };
        // Written whole then renamed, so a reader never sees half a file.
        let text = match serde_json::to_string_pretty(&serde_json::json!({
            "objects_materialized": snapshot,
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
        drop(stage);
        assert_eq!(meter.counts().get("Get-User"), Some(&3), "counted once");
    }
}
