//! Files written under temporary names and renamed only when the whole
//! export succeeded, so a failed run leaves the previous files untouched.

use std::path::{Path, PathBuf};

/// The temporary name of a file being written: same directory (so the
/// rename is atomic), a suffix no `*.csv` reader picks up.
pub fn temp_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    target.with_file_name(name)
}

/// The files of one run. Dropped without [`Staging::commit`], it removes
/// every temporary file it handed out.
#[derive(Default)]
pub struct Staging {
    /// (temporary, target), in commit order.
    files: Vec<(PathBuf, PathBuf)>,
    committed: bool,
}

impl Staging {
    /// Registers `target` and returns the temporary path to write instead.
    /// A leftover from a run that was killed is removed first.
    pub fn stage(&mut self, target: &Path) -> Result<PathBuf, String> {
        let temp = temp_path(target);
        match std::fs::remove_file(&temp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(format!(
                    "cannot remove the leftover temporary file {}: {e}",
                    temp.display()
                ))
            }
        }
        self.files.push((temp.clone(), target.to_path_buf()));
        Ok(temp)
    }

    /// Renames every temporary file over its target, in staging order.
    pub fn commit(mut self) -> Result<(), String> {
        for (temp, target) in &self.files {
            std::fs::rename(temp, target).map_err(|e| {
                format!(
                    "cannot rename {} to {}: {e}",
                    temp.display(),
                    target.display()
                )
            })?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            for (temp, _) in &self.files {
                // Best effort: a file that was never created is not an error.
                let _ = std::fs::remove_file(temp);
            }
        }
    }
}
