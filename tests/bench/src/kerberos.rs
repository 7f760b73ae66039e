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

/// What unsealing `bytes` of responses costs idconn's own code, measured
/// in this process on one thread's CPU clock: the sealing code of the
/// export (RFC 4121 wrap tokens, AES256-CTS-HMAC-SHA1-96), on tokens of an
/// envelope's size. A cross-check of the export's sealed / unsealed ratio
/// that the machine's other work does not move: that ratio should be about
/// `1 + this / unsealed CPU`.
pub fn unseal_cpu(bytes: u64) -> anyhow::Result<Duration> {
    use idconn_psrp::krb5::cfx::{CfxContext, CfxParams};
    use idconn_psrp::krb5::crypto::Enctype;

    // WinRM's default MaxEnvelopeSize (512,000 bytes): what one Receive
    // response, so one token, holds at most.
    const TOKEN: usize = 512_000;
    let enctype = Enctype::Aes256CtsHmacSha196;
    let key: Vec<u8> = (0..32u8).map(|b| b.wrapping_mul(37)).collect();
    let side = |acceptor: bool| {
        CfxContext::new(CfxParams {
            enctype,
            key: &key,
            acceptor,
            acceptor_subkey: true,
            send_seq: 0,
            receive_seq: 0,
        })
    };
    let (mut server, mut client) = (side(true)?, side(false)?);
    let plaintext: Vec<u8> = (0..TOKEN).map(|i| b"<S N=\"x\">abc</S>"[i % 16]).collect();
    let mut token = Vec::with_capacity(TOKEN + 64);
    let mut spent = Duration::ZERO;
    let tokens = bytes.div_ceil(TOKEN as u64).max(1);
    for _ in 0..tokens {
        token.clear();
        server.wrap_into(&plaintext, &mut token)?;
        let start = thread_cpu()?;
        let range = client.unwrap_in_place(&mut token)?;
        spent += thread_cpu()?.saturating_sub(start);
        if token.get(range) != Some(&plaintext[..]) {
            bail!("a token unsealed to other bytes than were sealed");
        }
    }
    Ok(spent)
}

/// This thread's CPU time (user + system).
fn thread_cpu() -> anyhow::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        bail!(
            "clock_gettime(CLOCK_THREAD_CPUTIME_ID): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsealing_costs_time_and_gives_back_the_bytes() {
        // Three tokens (the last one counted whole); a token that unsealed
        // to other bytes would be an error.
        let spent = unseal_cpu(1_200_000).unwrap();
        assert!(spent > Duration::ZERO);
    }
}
