//! The compiled-component cache's size bound: `ComponentCacheMaxMiB`.
//!
//! Every component version compiles to its own file (a Python component's
//! is about a hundred MiB), and a host that swaps versions would otherwise
//! fill its disk. After each new entry, the oldest-used entries are deleted
//! until the cache fits; the entry just loaded is never deleted, even when
//! it alone exceeds the bound. "Used" is the file's modification time,
//! which a cache hit refreshes: access times are not kept on most mounts
//! (relatime, noatime). Deleting an entry another process has mapped is
//! safe on Unix: its mapping stays valid until unmapped.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The default of `ComponentCacheMaxMiB`.
pub const DEFAULT_MAX_MIB: u64 = 1024;

/// Compiled components end with this (runtime.rs names them).
const ENTRY_SUFFIX: &str = ".cwasm";

/// What a prune did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub removed: Vec<PathBuf>,
    /// Bytes of the entries kept.
    pub kept_bytes: u64,
}

/// Marks an entry as used now (best effort: a cache only saves time).
pub fn touch(entry: &Path) {
    let result = std::fs::File::options()
        .write(true)
        .open(entry)
        .and_then(|f| f.set_modified(SystemTime::now()));
    if let Err(e) = result {
        tracing::debug!(cache = %entry.display(), "cannot mark the cache entry as used: {e}");
    }
}

/// Deletes the least recently used entries of `dir` until they total at
/// most `max_bytes`, never `in_use`.
pub fn prune(dir: &Path, max_bytes: u64, in_use: &Path) -> std::io::Result<Pruned> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if !path.to_string_lossy().ends_with(ENTRY_SUFFIX) {
            continue;
        }
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        entries.push((used, path, meta.len()));
    }
    // Oldest first; the name breaks ties so the order is deterministic.
    entries.sort();
    let mut total: u64 = entries.iter().map(|(_, _, len)| len).sum();
    let mut pruned = Pruned::default();
    for (_, path, len) in entries {
        if total <= max_bytes {
            break;
        }
        if path == in_use {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                total -= len;
                pruned.removed.push(path);
            }
            // Another process pruned it first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= len,
            Err(e) => return Err(e),
        }
    }
    pruned.kept_bytes = total;
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(dir: &Path, name: &str, len: usize, age_s: u64) -> PathBuf {
        let path = dir.join(format!("{name}{ENTRY_SUFFIX}"));
        std::fs::write(&path, vec![0u8; len]).unwrap();
        let when = SystemTime::now() - Duration::from_secs(age_s);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
        path
    }

    #[test]
    fn deletes_least_recently_used_first_down_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let old = entry(dir.path(), "old", 400, 300);
        let mid = entry(dir.path(), "mid", 400, 200);
        let new = entry(dir.path(), "new", 400, 100);
        let other = dir.path().join("notes.txt");
        std::fs::write(&other, vec![0u8; 4000]).unwrap();
        let pruned = prune(dir.path(), 800, &new).unwrap();
        assert_eq!(pruned.removed, vec![old.clone()]);
        assert_eq!(pruned.kept_bytes, 800);
        assert!(!old.exists() && mid.exists() && new.exists() && other.exists());
    }

    #[test]
    fn a_hit_makes_an_entry_recent() {
        let dir = tempfile::tempdir().unwrap();
        let a = entry(dir.path(), "a", 400, 300);
        let b = entry(dir.path(), "b", 400, 200);
        let c = entry(dir.path(), "c", 400, 100);
        touch(&a);
        prune(dir.path(), 800, &c).unwrap();
        assert!(a.exists() && !b.exists() && c.exists());
    }

    #[test]
    fn never_deletes_the_entry_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let big = entry(dir.path(), "big", 4000, 300);
        let small = entry(dir.path(), "small", 10, 100);
        let pruned = prune(dir.path(), 1000, &big).unwrap();
        assert_eq!(pruned.removed, vec![small]);
        assert!(big.exists());
        assert_eq!(pruned.kept_bytes, 4000);
    }
}
