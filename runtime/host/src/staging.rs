//! Jobs write into staging directories; only a successful job's files move
//! into ExportOutput and ExportCookies. So a failed, killed or hostile
//! component can never damage the previous CSVs or cookie, whatever it
//! does inside its sandbox.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context};

const STAGING: &str = ".idconn-staging";

static NEXT_JOB: AtomicU64 = AtomicU64::new(0);

/// A pair of staged directories for one job.
pub struct Staging {
    pub output: PathBuf,
    pub cookies: PathBuf,
    real_output: PathBuf,
    real_cookies: PathBuf,
    done: bool,
}

impl Staging {
    /// Creates the real directories if missing and fresh staged ones next to
    /// them (same filesystem, so committing is a rename). The staged cookie
    /// directory starts as a copy of the real one: the guest reads its cookie
    /// there.
    pub fn prepare(
        real_output: &Path,
        real_cookies: &Path,
        connection: &str,
    ) -> anyhow::Result<Staging> {
        for dir in [real_output, real_cookies] {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let job = format!(
            "{connection}-{}-{}",
            std::process::id(),
            NEXT_JOB.fetch_add(1, Ordering::Relaxed)
        );
        let output = staged_dir(real_output, &job)?;
        let cookies = staged_dir(real_cookies, &job)?;
        let staging = Staging {
            output,
            cookies,
            real_output: real_output.to_path_buf(),
            real_cookies: real_cookies.to_path_buf(),
            done: false,
        };
        for file in regular_files(real_cookies)? {
            let name = file.file_name().context("a file without a name")?;
            fs::copy(&file, staging.cookies.join(name))
                .with_context(|| format!("cannot stage {}", file.display()))?;
        }
        Ok(staging)
    }

    /// Moves the staged files into place: the CSVs first, the cookie last,
    /// so a crash in between leaves the old cookie and the next run
    /// repeats the same window. Returns the committed paths.
    pub fn commit(mut self) -> anyhow::Result<Vec<PathBuf>> {
        let mut committed = Vec::new();
        for (staged, real) in [
            (&self.output, &self.real_output),
            (&self.cookies, &self.real_cookies),
        ] {
            for file in regular_files(staged)? {
                let name = file.file_name().context("a file without a name")?;
                let target = real.join(name);
                fs::rename(&file, &target).with_context(|| {
                    format!("cannot move {} to {}", file.display(), target.display())
                })?;
                committed.push(target);
            }
        }
        self.done = true;
        self.remove();
        Ok(committed)
    }

    fn remove(&self) {
        for dir in [&self.output, &self.cookies] {
            if let Err(e) = fs::remove_dir_all(dir) {
                tracing::warn!("cannot remove the staging directory {}: {e}", dir.display());
            }
        }
    }
}

impl Drop for Staging {
    /// A job that did not commit leaves nothing behind.
    fn drop(&mut self) {
        if !self.done {
            self.remove();
        }
    }
}

fn staged_dir(real: &Path, job: &str) -> anyhow::Result<PathBuf> {
    let name = real
        .file_name()
        .context("the export directory has no name")?
        .to_string_lossy()
        .into_owned();
    let parent = real.parent().unwrap_or(Path::new("."));
    let dir = parent.join(STAGING).join(format!("{job}-{name}"));
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Regular files directly in `dir`. Links, directories and anything else a
/// guest may have made are never committed.
fn regular_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_file() {
            files.push(entry.path());
        } else {
            tracing::warn!(
                "not committing {}: not a regular file",
                entry.path().display()
            );
        }
    }
    files.sort();
    if files.len() > 10_000 {
        bail!(
            "{} holds more than 10,000 files; refusing to commit",
            dir.display()
        );
    }
    Ok(files)
}

/// What a job's directories hold.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    /// Files, directories and links, recursively.
    pub entries: usize,
    /// Sizes of regular files (apparent size: a sparse file counts whole).
    pub bytes: u64,
}

/// Measures `dirs` recursively without following links. Stops counting
/// past `max_entries` so a guest that made millions of files cannot make
/// each measurement slow.
pub fn measure(dirs: &[PathBuf], max_entries: usize) -> std::io::Result<Usage> {
    // The guest keeps working while it is measured: an entry renamed or
    // removed between listing and stat is skipped, not an error.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let mut usage = Usage::default();
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(e),
            };
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(e),
            };
            usage.entries += 1;
            if usage.entries > max_entries {
                return Ok(usage);
            }
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                usage.bytes = usage.bytes.saturating_add(meta.len());
            }
        }
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_counts_nested_entries_and_bytes_and_stops_at_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        fs::write(root.join("a"), vec![0u8; 1000]).unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("sub/b"), vec![0u8; 24]).unwrap();
        let usage = measure(std::slice::from_ref(&root), 100).unwrap();
        assert_eq!((usage.entries, usage.bytes), (3, 1024));
        let capped = measure(std::slice::from_ref(&root), 1).unwrap();
        assert_eq!(capped.entries, 2);
        // A directory that vanished is measured as empty.
        assert_eq!(measure(&[root.join("gone")], 10).unwrap().entries, 0);
    }
}
