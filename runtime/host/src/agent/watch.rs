//! Watches each connection's ComponentPath and offers a changed file to the
//! registry. Polling (once a second) rather than inotify: it works on every
//! filesystem, and a deploy by rename or in place looks the same.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::{lock, Agent};
use crate::registry::Registry;
use crate::settings::Settings;

const POLL_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Watcher {
    seen: Mutex<HashMap<String, Seen>>,
}

#[derive(Clone, PartialEq)]
struct Seen {
    modified: Option<SystemTime>,
    len: u64,
    sha256: String,
}

impl Watcher {
    /// One poll over every connection. A file whose mtime and size are
    /// unchanged is not read; a changed one is hashed, and offered when its
    /// digest is new. A version that fails its check is remembered too, so
    /// it is not retried every second; the next change is.
    pub fn poll(
        &self,
        settings: &Settings,
        registry: &Registry,
    ) -> Vec<(String, Result<String, String>)> {
        let mut changes = Vec::new();
        for conn in settings.connections.values() {
            let path = match crate::jobs::component_path(conn) {
                Ok(p) => p,
                Err(e) => {
                    if !lock(&self.seen).contains_key(&conn.id) {
                        tracing::error!(connection = %conn.id, "{e:#}");
                    }
                    continue;
                }
            };
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let previous = lock(&self.seen).get(&conn.id).cloned();
            if let Some(p) = &previous {
                if p.modified == meta.modified().ok() && p.len == meta.len() {
                    continue;
                }
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let seen = Seen {
                modified: meta.modified().ok(),
                len: meta.len(),
                sha256: hex::encode(Sha256::digest(&bytes)),
            };
            let unchanged = previous.as_ref().is_some_and(|p| p.sha256 == seen.sha256);
            lock(&self.seen).insert(conn.id.clone(), seen);
            if unchanged {
                continue;
            }
            let result = registry
                .offer(conn, &path)
                .map(|swap| {
                    format!(
                        "{} {} ({})",
                        swap.active.name(),
                        swap.active.version(),
                        swap.active.sha256
                    )
                })
                .map_err(|e| format!("{e:#}"));
            changes.push((conn.id.clone(), result));
        }
        changes
    }
}

/// Polls every second on a thread of its own until the flag is set.
pub fn spawn(agent: Arc<Agent>) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("idconn-watch".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(POLL_EVERY);
                agent.poll_components();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(
            "cannot start the component watcher; versions change only through the API: {e}"
        );
    }
    stop
}
