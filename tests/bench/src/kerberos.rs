//! The sealed export: a throwaway MIT realm (tests/krb5-realm), the
//! simulator accepting Kerberos only, and idconn with a ticket from kinit.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::procs;

/// A running realm; dropping it closes its stdin, which stops the KDC and
/// removes its directory.
pub struct Realm {
    child: Child,
    stdin: Option<ChildStdin>,
    /// KRB5_CONFIG, KRB5CCNAME, KRB5_SERVICE_KEYTAB, ... for the children.
    pub env: Vec<(String, String)>,
}

impl Realm {
    pub fn start(binary: &Path, log: &Path) -> anyhow::Result<Realm> {
        let file = std::fs::File::create(log)?;
        let mut child = procs::command(binary)
            .args(["--kinit", "admin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .context("krb5-realm has no stdout pipe")?;
        let mut realm = Realm {
            child,
            stdin,
            env: Vec::new(),
        };
        // The realm prints NAME=VALUE lines, then READY (or exits).
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if line == "READY" {
                return Ok(realm);
            }
            if let Some((name, value)) = line.split_once('=') {
                realm.env.push((name.to_string(), value.to_string()));
            }
        }
        bail!(
            "krb5-realm stopped before it was ready (are the MIT Kerberos packages installed? `just setup`); its log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    }

    pub fn var(&self, name: &str) -> anyhow::Result<&str> {
        self.env
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .with_context(|| format!("krb5-realm did not print {name}"))
    }
}

impl Drop for Realm {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
