//! Jobs write into staging directories; only a successful job's files move
//! into ExportOutput and ExportCookies. So a failed, killed or hostile
//! component can never damage the previous CSVs or cookie, whatever it
//! does inside its sandbox.
//!
//! ExportOutput and ExportCookies are shared by every connection of an
//! agent (Usercube's layout: each connection writes `<id>_*` files there).
//! A job sees, and may replace, only its own connection's files: its staged
//! cookie directory holds copies of the `<id>_*` cookies alone, its staged
//! output directory starts empty, and commit moves only regular files named
//! `<id>_...`. Anything else the component leaves there fails the job,
//! before anything is moved.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context};
use idconn_psrp::untrusted;

const STAGING: &str = ".idconn-staging";

/// Longest file name a job may commit, in bytes: the Exchange component's
/// names are some 40 bytes; 255-byte names break tools and some filesystems.
pub const MAX_COMMITTED_NAME: usize = 128;

static NEXT_JOB: AtomicU64 = AtomicU64::new(0);

/// A pair of staged directories for one job.
pub struct Staging {
    pub output: PathBuf,
    pub cookies: PathBuf,
    real_output: PathBuf,
    real_cookies: PathBuf,
    connection: String,
    /// Held (with an exclusive lock) while the job lives: a later run that
    /// can take a lock knows the job that made the directory is gone.
    _locks: Vec<fs::File>,
    done: bool,
}

impl Staging {
    /// Creates the real directories if missing and fresh staged ones next to
    /// them (same filesystem, so committing is a rename). The staged cookie
    /// directory starts with copies of this connection's cookies (`<id>_*`)
    /// and nothing else: the guest reads its cookie there. Staging left by
    /// killed jobs is swept first.
    pub fn prepare(
        real_output: &Path,
        real_cookies: &Path,
        connection: &str,
    ) -> anyhow::Result<Staging> {
        for dir in [real_output, real_cookies] {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            sweep_stale(&staging_root(dir));
        }
        // The PID comes first: the sweep reads it without parsing the
        // connection (which may hold '-').
        let job = format!(
            "{}-{}-{connection}",
            std::process::id(),
            NEXT_JOB.fetch_add(1, Ordering::Relaxed)
        );
        let (output, output_lock) = staged_dir(real_output, &job)?;
        let (cookies, cookies_lock) = staged_dir(real_cookies, &job)?;
        let staging = Staging {
            output,
            cookies,
            real_output: real_output.to_path_buf(),
            real_cookies: real_cookies.to_path_buf(),
            connection: connection.to_string(),
            _locks: vec![output_lock, cookies_lock],
            done: false,
        };
        for file in own_files(real_cookies, connection)? {
            let name = file.file_name().context("a file without a name")?;
            fs::copy(&file, staging.cookies.join(name))
                .with_context(|| format!("cannot stage {}", file.display()))?;
        }
        Ok(staging)
    }

    /// Moves the staged files into place: the CSVs first, the cookie last,
    /// so a crash in between leaves the old cookie and the next run
    /// repeats the same window. Returns the committed paths.
    ///
    /// Every entry is checked before anything moves: one that is not a
    /// regular file named for this connection fails the job (audit line,
    /// nothing committed), so a component can never write another
    /// connection's files nor a name a reader would trip on.
    pub fn commit(mut self) -> anyhow::Result<Vec<PathBuf>> {
        let mut moves = Vec::new();
        let mut refused = Vec::new();
        for (staged, real) in [
            (&self.output, &self.real_output),
            (&self.cookies, &self.real_cookies),
        ] {
            let mut files = Vec::new();
            for entry in
                fs::read_dir(staged).with_context(|| format!("cannot list {}", staged.display()))?
            {
                let entry = entry?;
                match committable(&entry, &self.connection) {
                    Ok(name) => files.push((entry.path(), real.join(name))),
                    Err(why) => refused.push(format!(
                        "{}/{}: {why}",
                        dir_name(real),
                        untrusted::for_log(&entry.file_name().to_string_lossy(), 160)
                    )),
                }
                if files.len() + refused.len() > 10_000 {
                    bail!(
                        "{} holds more than 10,000 entries; refusing to commit",
                        staged.display()
                    );
                }
            }
            files.sort();
            moves.extend(files);
        }
        if !refused.is_empty() {
            for what in refused.iter().take(20) {
                tracing::warn!(
                    target: "audit",
                    connection = %self.connection,
                    "not committing {what}"
                );
            }
            bail!(
                "the component left {} entr{} that the host does not commit (only regular files named {}_..., without control characters, at most {MAX_COMMITTED_NAME} bytes, are): {}{}; nothing was committed",
                refused.len(),
                if refused.len() == 1 { "y" } else { "ies" },
                self.connection,
                refused.iter().take(5).cloned().collect::<Vec<_>>().join("; "),
                if refused.len() > 5 { "; ..." } else { "" }
            );
        }
        let mut committed = Vec::new();
        for (file, target) in moves {
            fs::rename(&file, &target).with_context(|| {
                format!("cannot move {} to {}", file.display(), target.display())
            })?;
            committed.push(target);
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
            let _ = fs::remove_file(lock_path(dir));
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

fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn staging_root(real: &Path) -> PathBuf {
    real.parent().unwrap_or(Path::new(".")).join(STAGING)
}

fn lock_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    dir.with_file_name(name)
}

/// A staged directory and its lock, held for the job's life.
fn staged_dir(real: &Path, job: &str) -> anyhow::Result<(PathBuf, fs::File)> {
    let name = real
        .file_name()
        .context("the export directory has no name")?
        .to_string_lossy()
        .into_owned();
    let root = staging_root(real);
    fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let dir = root.join(format!("{job}-{name}"));
    // Locked before the directory exists, so a sweep never sees a live
    // job's directory unlocked.
    let lock_file = lock_path(&dir);
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_file)
        .with_context(|| format!("cannot create {}", lock_file.display()))?;
    lock.try_lock()
        .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", lock_file.display()))?;
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok((dir, lock))
}

/// Removes what killed jobs left under `root` (a `.idconn-staging`): a
/// directory whose lock file no live process holds, or, for a directory
/// without a lock file (made before locks, or by a job killed between its
/// two steps), one whose PID is no live process. A live job's directory,
/// of this process or another, is never touched. Best effort: a failure
/// is a warning, never a failed job.
pub fn sweep_stale(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            sweep_orphan_lock(&path);
            continue;
        }
        let lock_file = lock_path(&path);
        let stale = match fs::OpenOptions::new().write(true).open(&lock_file) {
            // Holding the lock proves its job is gone; it is held until the
            // directory is removed, so no new job can take the name meanwhile.
            Ok(lock) => match lock.try_lock() {
                Ok(()) => Some(lock),
                Err(_) => continue,
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match leading_pid(&entry.file_name().to_string_lossy()) {
                    Some(pid) if !process_alive(pid) => None,
                    _ => continue,
                }
            }
            Err(_) => continue,
        };
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(
                    "removed the staging {} of a job that was killed",
                    path.display()
                )
            }
            Err(e) => tracing::warn!("cannot remove the stale staging {}: {e}", path.display()),
        }
        if stale.is_some() {
            let _ = fs::remove_file(&lock_file);
        }
    }
}

/// A lock file without its directory (a job killed between the two) that
/// no live job holds.
fn sweep_orphan_lock(path: &Path) {
    let Some(dir) = path.to_str().and_then(|p| p.strip_suffix(".lock")) else {
        return;
    };
    if Path::new(dir).exists() {
        return;
    }
    if let Ok(lock) = fs::OpenOptions::new().write(true).open(path) {
        if lock.try_lock().is_ok() {
            let _ = fs::remove_file(path);
        }
    }
}

/// The PID in a staged directory's name: leading digits (this version), or
/// the first all-digit field after the connection (earlier versions named
/// them `<connection>-<pid>-<n>-<dir>`; a connection never starts with a
/// digit).
fn leading_pid(name: &str) -> Option<u32> {
    let fields: Vec<&str> = name.split('-').collect();
    let digits = |f: &str| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit());
    let pid = if fields.first().is_some_and(|f| digits(f)) {
        fields[0]
    } else {
        // `<connection>-<pid>-<n>-<dir>`: the pid is followed by the counter.
        fields
            .windows(2)
            .find(|w| digits(w[0]) && digits(w[1]))
            .map(|w| w[0])?
    };
    pid.parse().ok()
}

/// Whether a process with this PID exists (Linux: `/proc/<pid>`). Where
/// `/proc` is missing every process counts as alive: nothing is swept.
fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Regular files of `connection` (`<id>_...`) directly in `dir`: the only
/// files of a shared directory a job may see.
fn own_files(dir: &Path, connection: &str) -> anyhow::Result<Vec<PathBuf>> {
    let prefix = format!("{connection}_");
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let is_own = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix));
        if is_own && entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.len() > 10_000 {
        bail!(
            "{} holds more than 10,000 files of connection {connection}; refusing to stage them",
            dir.display()
        );
    }
    Ok(files)
}

/// The name to commit `entry` under, or why it is refused.
fn committable(entry: &fs::DirEntry, connection: &str) -> Result<String, &'static str> {
    // Not following links: a link is refused whatever it points to.
    let meta = fs::symlink_metadata(entry.path()).map_err(|_| "cannot be read")?;
    if meta.file_type().is_symlink() {
        return Err("a link");
    }
    if meta.is_dir() {
        return Err("a directory");
    }
    if !meta.is_file() {
        return Err("not a regular file");
    }
    #[cfg(unix)]
    if std::os::unix::fs::MetadataExt::nlink(&meta) != 1 {
        return Err("a file with several names (hard link)");
    }
    let name = entry
        .file_name()
        .into_string()
        .map_err(|_| "a name that is not UTF-8")?;
    check_name(&name, connection)?;
    Ok(name)
}

/// Whether a job of `connection` may commit a file of this name.
pub fn check_name(name: &str, connection: &str) -> Result<(), &'static str> {
    if name.len() > MAX_COMMITTED_NAME {
        return Err("a name longer than the host commits");
    }
    if name.starts_with('-') || name.starts_with('.') {
        return Err("a name starting with '-' or '.'");
    }
    let Some(rest) = name
        .strip_prefix(connection)
        .and_then(|r| r.strip_prefix('_'))
    else {
        return Err("not named for this connection");
    };
    if rest.is_empty() {
        return Err("not named for this connection");
    }
    // What the log would have to escape (control characters, bidi and
    // zero-width characters, backslashes) has no place in a file name.
    if untrusted::line(name) != name {
        return Err("a name with control or invisible characters");
    }
    Ok(())
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
    fn only_plain_names_of_the_connection_are_committed() {
        for ok in ["X_mailboxes.csv", "X_cookie.bin", "X_é.csv"] {
            assert_eq!(check_name(ok, "X"), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("Y_mailboxes.csv", "not named"),
            ("XY_mailboxes.csv", "not named"),
            ("x_mailboxes.csv", "not named"),
            ("X_", "not named"),
            ("X", "not named"),
            ("-rf", "'-' or '.'"),
            (".X_hidden", "'-' or '.'"),
            ("X_a\nb", "control"),
            ("X_a\u{1b}b", "control"),
            ("X_a\u{202e}b", "control"),
            ("X_a\\b", "control"),
        ] {
            let e = check_name(bad, "X").unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let long = format!("X_{}", "x".repeat(MAX_COMMITTED_NAME));
        assert!(check_name(&long, "X").unwrap_err().contains("longer"));
    }

    #[test]
    fn the_pid_is_read_from_both_naming_schemes() {
        assert_eq!(leading_pid("1234-0-Mail-ExportOutput"), Some(1234));
        assert_eq!(leading_pid("my-conn-1234-7-ExportCookies"), Some(1234));
        assert_eq!(leading_pid("Mail-ExportOutput"), None);
    }

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
