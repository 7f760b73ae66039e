//! Process-wide counts of security events, for the agent's metrics: cmdlets
//! denied, and jobs stopped by each limit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

static DENIED: AtomicU64 = AtomicU64::new(0);
static LIMIT_HITS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

pub(crate) fn record_denial() {
    DENIED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn record_limit_hit(setting: &'static str) {
    if let Ok(mut hits) = LIMIT_HITS.lock() {
        *hits.entry(setting).or_default() += 1;
    }
}

/// Pipelines refused by a grant check since the process started.
pub fn denials() -> u64 {
    DENIED.load(Ordering::Relaxed)
}

/// Jobs stopped per limit setting (e.g. `MaxGuestCpuSeconds`).
pub fn limit_hits() -> Vec<(&'static str, u64)> {
    LIMIT_HITS
        .lock()
        .map(|hits| hits.iter().map(|(k, v)| (*k, *v)).collect())
        .unwrap_or_default()
}
