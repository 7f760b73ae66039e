//! Component versions per connection, and the atomic swap between them.
//!
//! A new version is read, pinned, compiled and checked (its manifest, the
//! connector world through `instantiate_pre`) without any lock held; only
//! the final pointer swap takes the connection's write lock, for as long as
//! it takes to replace an `Arc`. A job takes the `Arc` of the active
//! version when it starts and keeps it to the end, so a swap never changes
//! the code under a running job, and a version that fails its check never
//! becomes active.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use crate::runtime::{LoadedComponent, Runtime};
use crate::settings::Connection;

/// Versions kept per connection (the active one is never dropped): enough
/// to roll back a few steps without holding compiled code forever.
const KEPT_VERSIONS: usize = 8;

/// Reads, pins and loads a connection's component: what `idconn export`
/// and `fulfill` run, and what the registry checks before a swap.
pub fn load_for_connection(
    runtime: &Runtime,
    conn: &Connection,
    path: &Path,
    cache_dir: &Path,
) -> anyhow::Result<LoadedComponent> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read the component {} (build it with `just build`, or fix Connections.{}.ComponentPath)",
            path.display(),
            conn.id
        )
    })?;
    check_pin(conn, &bytes, path)?;
    let component = runtime.load_bytes(&bytes, path, cache_dir)?;
    if component.manifest.is_none() {
        tracing::warn!(
            connection = %conn.id,
            component = %path.display(),
            "the component has no idconn-manifest section: its jobs may run only the cmdlets the connection's Grants setting lists for their operation (Connections.{}.Grants), none if it is not set",
            conn.id
        );
    }
    Ok(component)
}

fn check_pin(conn: &Connection, bytes: &[u8], path: &Path) -> anyhow::Result<()> {
    let Some(expected) = &conn.component_sha256 else {
        return Ok(());
    };
    let actual = hex::encode(Sha256::digest(bytes));
    if &actual != expected {
        bail!(
            "connection {}: refusing to load {}: its sha256 is {actual}, but Connections.{}.ComponentSha256 pins {expected}. Fix: deploy the pinned component, or update ComponentSha256 after reviewing the new one",
            conn.id,
            path.display(),
            conn.id
        );
    }
    Ok(())
}

/// A version as the agent lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VersionInfo {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub path: String,
    pub active: bool,
    pub loaded_ms: u64,
}

/// What a successful swap did.
#[derive(Clone)]
pub struct Swap {
    pub previous: Option<String>,
    pub active: Arc<LoadedComponent>,
    /// Reading, pinning, compiling and checking the new version.
    pub check_time: Duration,
    /// Holding the write lock to replace the active version.
    pub swap_time: Duration,
}

#[derive(Default)]
struct Slot {
    active: RwLock<Option<Arc<LoadedComponent>>>,
    versions: Mutex<Vec<Arc<LoadedComponent>>>,
}

pub struct Registry {
    runtime: Arc<Runtime>,
    cache_dir: PathBuf,
    slots: RwLock<BTreeMap<String, Arc<Slot>>>,
    swaps: AtomicU64,
    rejected: AtomicU64,
}

impl Registry {
    pub fn new(runtime: Arc<Runtime>, cache_dir: PathBuf) -> Registry {
        Registry {
            runtime,
            cache_dir,
            slots: RwLock::new(BTreeMap::new()),
            swaps: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    fn slot(&self, connection: &str) -> Arc<Slot> {
        if let Some(slot) = self
            .slots
            .read()
            .ok()
            .and_then(|s| s.get(connection).cloned())
        {
            return slot;
        }
        match self.slots.write() {
            Ok(mut slots) => slots.entry(connection.to_string()).or_default().clone(),
            // A poisoned map still holds valid Arcs; a fresh slot is safe.
            Err(poisoned) => poisoned
                .into_inner()
                .entry(connection.to_string())
                .or_default()
                .clone(),
        }
    }

    /// The version a new job of this connection runs.
    pub fn active(&self, connection: &str) -> Option<Arc<LoadedComponent>> {
        let slot = self.slot(connection);
        let active = slot.active.read().ok()?.clone();
        active
    }

    /// Loads and checks the component at `path` for `conn`, then makes it
    /// the active version. On any failure the active version stays.
    pub fn offer(&self, conn: &Connection, path: &Path) -> anyhow::Result<Swap> {
        let started = Instant::now();
        let loaded = match load_for_connection(&self.runtime, conn, path, &self.cache_dir) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(connection = %conn.id, "new component version rejected, the running one stays: {e:#}");
                return Err(e);
            }
        };
        let check_time = started.elapsed();
        let slot = self.slot(&conn.id);
        let existing = {
            let mut versions = lock(&slot.versions);
            match versions.iter().find(|v| v.sha256 == loaded.sha256) {
                Some(v) => v.clone(),
                None => {
                    versions.push(loaded.clone());
                    loaded
                }
            }
        };
        let swap = self.swap_to(&slot, existing, check_time);
        self.trim(&slot);
        tracing::info!(
            connection = %conn.id,
            name = %swap.active.name(),
            version = %swap.active.version(),
            sha256 = %swap.active.sha256,
            check_ms = check_time.as_millis() as u64,
            "component version active"
        );
        Ok(swap)
    }

    /// Makes an already loaded version active again (a rollback).
    pub fn activate(&self, connection: &str, sha256: &str) -> anyhow::Result<Swap> {
        let slot = self.slot(connection);
        let found = lock(&slot.versions)
            .iter()
            .find(|v| v.sha256.eq_ignore_ascii_case(sha256))
            .cloned();
        let Some(version) = found else {
            bail!("connection {connection} has no loaded version with sha256 {sha256} (GET /components lists them)");
        };
        Ok(self.swap_to(&slot, version, Duration::ZERO))
    }

    fn swap_to(&self, slot: &Slot, version: Arc<LoadedComponent>, check_time: Duration) -> Swap {
        let locked = Instant::now();
        let previous = {
            let mut active = match slot.active.write() {
                Ok(a) => a,
                Err(poisoned) => poisoned.into_inner(),
            };
            active.replace(version.clone())
        };
        let swap_time = locked.elapsed();
        let previous = previous.map(|p| p.sha256.clone());
        if previous.as_deref() != Some(version.sha256.as_str()) {
            self.swaps.fetch_add(1, Ordering::Relaxed);
        }
        Swap {
            previous,
            active: version,
            check_time,
            swap_time,
        }
    }

    fn trim(&self, slot: &Slot) {
        let active = slot
            .active
            .read()
            .ok()
            .and_then(|a| a.as_ref().map(|a| a.sha256.clone()));
        let mut versions = lock(&slot.versions);
        while versions.len() > KEPT_VERSIONS {
            match versions
                .iter()
                .position(|v| Some(&v.sha256) != active.as_ref())
            {
                Some(oldest) => {
                    versions.remove(oldest);
                }
                None => break,
            }
        }
    }

    pub fn versions(&self, connection: &str) -> Vec<VersionInfo> {
        let slot = self.slot(connection);
        let active = self.active(connection).map(|a| a.sha256.clone());
        let versions = lock(&slot.versions);
        versions
            .iter()
            .map(|v| VersionInfo {
                name: v.name(),
                version: v.version(),
                sha256: v.sha256.clone(),
                path: v.path.display().to_string(),
                active: Some(&v.sha256) == active.as_ref(),
                loaded_ms: v.loaded_in.as_millis() as u64,
            })
            .collect()
    }

    /// Swaps that changed the active version, and versions rejected.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.swaps.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
