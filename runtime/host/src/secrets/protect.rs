//! `idconn protect`: writes one value into the encrypted overlay of a
//! settings file, merging it with what the overlay already holds.
//!
//! The secret comes from a prompt or stdin, never from the command line
//! (argv is visible to every user in `ps` and kept in shell history).

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use anyhow::{bail, Context};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::overlay;
use super::{zeroize_json, Secret};

/// A value on stdin larger than this is not a secret.
const MAX_STDIN: u64 = 64 * 1024;

pub struct ProtectOptions {
    /// The plain settings file; the overlay is next to it.
    pub settings: PathBuf,
    /// `Connections.<id>.Password`, or Usercube's Key Vault form
    /// `Connections--<id>--Password`.
    pub key: String,
    /// age recipients (`age1...`) the overlay is encrypted to.
    pub recipients: Vec<String>,
    /// The identity that decrypts the existing overlay; its own recipient
    /// is added to `recipients`.
    pub identity: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Protected {
    pub overlay: PathBuf,
    pub key: String,
    pub recipients: usize,
    /// The plain settings still hold a value at the key (the overlay wins,
    /// but the secret is still in clear there).
    pub still_in_plain_file: bool,
}

/// Creates a new X25519 identity file (mode 0600, never overwritten) and
/// returns its recipient (`age1...`).
pub fn new_identity(path: &Path) -> anyhow::Result<String> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let secret = identity.to_string();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create the identity file {} (an existing file is never overwritten)",
                path.display()
            )
        })?;
    let text = Zeroizing::new(format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        age::secrecy::ExposeSecret::expose_secret(&secret)
    ));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(recipient)
}

/// Reads the secret: a prompt without echo on a terminal, else all of
/// stdin without one trailing line ending.
pub fn read_secret(key: &str) -> anyhow::Result<Secret> {
    let stdin = std::io::stdin();
    let value = if stdin.is_terminal() {
        Zeroizing::new(
            rpassword::prompt_password(format!("Value of {key} (not echoed): "))
                .context("cannot read the value from the terminal")?,
        )
    } else {
        let mut bytes = Zeroizing::new(Vec::new());
        stdin
            .lock()
            .take(MAX_STDIN + 1)
            .read_to_end(&mut bytes)
            .context("cannot read the value from stdin")?;
        if bytes.len() as u64 > MAX_STDIN {
            bail!("the value on stdin is larger than {} KiB", MAX_STDIN / 1024);
        }
        let text = std::str::from_utf8(&bytes).context("the value on stdin is not UTF-8 text")?;
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
        Zeroizing::new(text.to_string())
    };
    if value.is_empty() {
        bail!("the value of {key} is empty: type it at the prompt, or pipe it on stdin (e.g. from a password manager)");
    }
    Ok(Secret::new(value.as_str()))
}

/// Writes `secret` at `options.key` in the overlay (atomically: a
/// temporary file in the same folder, then a rename).
pub fn protect(options: &ProtectOptions, secret: &Secret) -> anyhow::Result<Protected> {
    let settings_text = Zeroizing::new(
        std::fs::read_to_string(&options.settings)
            .with_context(|| format!("cannot read the settings {}", options.settings.display()))?,
    );
    let mut plain: Value = serde_json::from_str(&settings_text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid JSON (line {}, column {})",
            options.settings.display(),
            e.line(),
            e.column()
        )
    })?;
    let path = key_path(&options.key, &plain, &options.settings);
    let still_in_plain_file = path
        .as_ref()
        .is_ok_and(|p| lookup(&plain, p).is_some_and(Value::is_string));
    zeroize_json(&mut plain);
    let path = path?;

    let overlay_file = overlay::overlay_path(&options.settings);
    let identity = overlay::identity_path(options.identity.as_deref())
        .map(|(p, origin)| {
            age::IdentityFile::from_file(p.display().to_string()).map(|f| (p, origin, f))
        })
        .transpose()
        .context("cannot read the age identity file")?;

    let mut recipients: Vec<Box<dyn age::Recipient + Send>> = Vec::new();
    for text in &options.recipients {
        let recipient = age::x25519::Recipient::from_str(text.trim()).map_err(|e| {
            anyhow::anyhow!(
                "--recipient {}: not an age X25519 recipient ({e}); it is the `public key: age1...` line of the identity file",
                idconn_psrp::untrusted::line(text)
            )
        })?;
        recipients.push(Box::new(recipient));
    }
    if let Some((path, _, file)) = &identity {
        recipients.extend(
            file.to_recipients()
                .with_context(|| format!("cannot derive the recipient of {}", path.display()))?,
        );
    }
    if recipients.is_empty() {
        bail!("no recipient to encrypt to: pass --recipient age1... (the public key of the identity that will decrypt it), or --identity FILE (or set {})", overlay::IDENTITY_ENV);
    }

    let mut values = if overlay_file.is_file() {
        let Some((id_path, origin, _)) = &identity else {
            bail!("{} already holds protected settings: pass --identity FILE (or set {}) so that the new value is merged with them", overlay_file.display(), overlay::IDENTITY_ENV);
        };
        let ids = overlay::read_identities(id_path, origin)?;
        overlay::decrypt(&overlay_file, &ids, id_path, origin)?
    } else {
        Value::Object(Map::new())
    };
    let set = set_at(
        &mut values,
        &path,
        Value::String(secret.expose().to_string()),
    );
    if let Err(e) = set {
        zeroize_json(&mut values);
        return Err(e);
    }
    let plain_json = Zeroizing::new(serde_json::to_vec_pretty(&values)?);
    zeroize_json(&mut values);

    let encrypted = encrypt(&plain_json, &recipients)?;
    write_atomically(&overlay_file, &encrypted)?;
    Ok(Protected {
        overlay: overlay_file,
        key: path.join("."),
        recipients: recipients.len(),
        still_in_plain_file,
    })
}

fn encrypt(plain: &[u8], recipients: &[Box<dyn age::Recipient + Send>]) -> anyhow::Result<Vec<u8>> {
    let encryptor = age::Encryptor::with_recipients(
        recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
    )
    .map_err(|e| anyhow::anyhow!("cannot encrypt to these recipients: {e}"))?;
    let mut out = Vec::new();
    let armored = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)?;
    let mut writer = encryptor.wrap_output(armored)?;
    writer.write_all(plain)?;
    writer.finish()?.finish()?;
    Ok(out)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    // NamedTempFile is created with mode 0600.
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write a temporary file in {}", dir.display()))?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

/// The key's parts. `--` separates them when present (Usercube's Key Vault
/// names, `Connections--MicrosoftExchangeExport--Password`); else `.`,
/// where a connection identifier may itself hold dots: the connection of
/// the settings file the key names is matched whole.
fn key_path(key: &str, plain: &Value, settings: &Path) -> anyhow::Result<Vec<String>> {
    let bad = || {
        anyhow::anyhow!(
            "--key {}: write it as Connections.<id>.Password, AgentToken, or Connections--<id>--Password",
            idconn_psrp::untrusted::line(key)
        )
    };
    let parts: Vec<String> = if key.contains("--") {
        key.split("--").map(str::to_string).collect()
    } else if let Some(rest) = key.strip_prefix("Connections.") {
        let ids = plain
            .get("Connections")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        let found = ids
            .iter()
            .filter(|id| {
                rest.strip_prefix(id.as_str())
                    .is_some_and(|r| r.starts_with('.'))
            })
            .max_by_key(|id| id.len());
        let Some(id) = found else {
            bail!(
                "--key {}: {} has no such connection (it has: {})",
                idconn_psrp::untrusted::line(key),
                settings.display(),
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    ids.join(", ")
                }
            );
        };
        let mut parts = vec!["Connections".to_string(), id.clone()];
        parts.extend(rest[id.len() + 1..].split('.').map(str::to_string));
        parts
    } else {
        key.split('.').map(str::to_string).collect()
    };
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(bad());
    }
    if parts.first().is_some_and(|p| p == "Connections") {
        let known = plain
            .get("Connections")
            .and_then(|c| c.get(parts.get(1).map(String::as_str).unwrap_or_default()))
            .is_some();
        if parts.len() < 3 || !known {
            bail!(
                "--key {}: {} has no connection {}",
                idconn_psrp::untrusted::line(key),
                settings.display(),
                idconn_psrp::untrusted::line(parts.get(1).map(String::as_str).unwrap_or(""))
            );
        }
    }
    Ok(parts)
}

fn lookup<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |v, k| v.get(k))
}

fn set_at(root: &mut Value, path: &[String], value: Value) -> anyhow::Result<()> {
    let Some((last, parents)) = path.split_last() else {
        bail!("an empty key");
    };
    let mut at = root;
    for (depth, part) in parents.iter().enumerate() {
        let Value::Object(map) = at else {
            bail!(
                "the overlay holds a value at {} that is not an object",
                path[..depth].join(".")
            );
        };
        at = map
            .entry(part.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let Value::Object(map) = at else {
        bail!(
            "the overlay holds a value at {} that is not an object",
            parents.join(".")
        );
    };
    if let Some(mut old) = map.insert(last.clone(), value) {
        zeroize_json(&mut old);
    }
    Ok(())
}
