//! Protected settings: Usercube reads an encrypted
//! `appsettings.encrypted.agent.json` with the same structure as
//! `appsettings.agent.json`, whose values win (see
//! /work/shared/reference/usercube-exchange-connector.md, "Credential
//! protection"). idconn's equivalent is an age file (X25519, the `age`
//! crate; https://age-encryption.org/v1) next to the settings file:
//! `appsettings.encrypted.agent.json.age`. Usercube's own file is RSA in
//! Usercube's format, which idconn cannot read; the `.age` suffix keeps the
//! two apart.
//!
//! The overlay is decrypted in the host only, into memory that is wiped
//! after use; its values are merged into the plain settings before they are
//! read, so every key works in it (Password and AgentToken are what it is
//! for).

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use zeroize::Zeroizing;

use crate::settings::SettingsError;

/// The environment variable naming the age identity file that decrypts the
/// overlay (when `--identity` is not given).
pub const IDENTITY_ENV: &str = "IDCONN_AGE_IDENTITY";

/// An overlay holds settings, not data: anything larger is not one.
const MAX_OVERLAY: u64 = 1024 * 1024;

/// The overlay of a settings file: `encrypted.` after the first part of the
/// file name (Usercube's `appsettings.agent.json` ->
/// `appsettings.encrypted.agent.json`), then `.age`.
pub fn overlay_path(settings_file: &Path) -> PathBuf {
    let name = settings_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "appsettings.agent.json".into());
    let overlay = match name.split_once('.') {
        Some((first, rest)) => format!("{first}.encrypted.{rest}.age"),
        None => format!("{name}.encrypted.age"),
    };
    settings_file.with_file_name(overlay)
}

/// Where the identity file comes from: the setting an error names.
pub const IDENTITY_FLAG: &str = "--identity";

/// The identity file, `--identity`, else `IDCONN_AGE_IDENTITY`, with
/// which of the two named it.
pub fn identity_path(flag: Option<&Path>) -> Option<(PathBuf, &'static str)> {
    flag.map(|p| (p.to_path_buf(), IDENTITY_FLAG)).or_else(|| {
        std::env::var_os(IDENTITY_ENV)
            .filter(|v| !v.is_empty())
            .map(|p| (PathBuf::from(p), IDENTITY_ENV))
    })
}

type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

fn error(file: &Path, problem: impl Into<String>, fix: impl Into<String>) -> SettingsError {
    SettingsError {
        file: file.display().to_string(),
        key: "(file)".into(),
        problem: problem.into(),
        fix: Some(fix.into()),
    }
}

/// The identities of an age identity file (`age-keygen` output: comment
/// lines and `AGE-SECRET-KEY-1...` lines). The age crate's errors name a
/// line number, never the line.
/// `origin` is where the path came from (`--identity` or
/// `IDCONN_AGE_IDENTITY`), the setting the errors name.
pub fn read_identities(path: &Path, origin: &str) -> Result<Identities, SettingsError> {
    let fix = "pass the age identity file (an AGE-SECRET-KEY-1... line, from age-keygen or `idconn protect --new-identity`) with --identity or IDCONN_AGE_IDENTITY";
    let err = |problem: String| SettingsError {
        file: path.display().to_string(),
        key: origin.to_string(),
        problem,
        fix: Some(fix.to_string()),
    };
    let file = age::IdentityFile::from_file(path.display().to_string())
        .map_err(|e| err(format!("cannot read the age identity: {e}")))?;
    let identities = file
        .into_identities()
        .map_err(|e| err(format!("cannot use the age identity: {e}")))?;
    if identities.is_empty() {
        return Err(err("holds no age identity".into()));
    }
    Ok(identities)
}

/// The overlay's JSON, decrypted with `identities` (read from
/// `identity_file`, given by `origin`; both named in the errors).
pub fn decrypt(
    overlay: &Path,
    identities: &Identities,
    identity_file: &Path,
    origin: &str,
) -> Result<Value, SettingsError> {
    let protect_again =
        "restore the file from a backup, or write the values again with `idconn protect`";
    let file = std::fs::File::open(overlay).map_err(|e| {
        error(
            overlay,
            format!("cannot read: {e}"),
            "check the file's permissions",
        )
    })?;
    let mut armored = Vec::new();
    file.take(MAX_OVERLAY + 1)
        .read_to_end(&mut armored)
        .map_err(|e| {
            error(
                overlay,
                format!("cannot read: {e}"),
                "check the file's permissions",
            )
        })?;
    if armored.len() as u64 > MAX_OVERLAY {
        return Err(error(
            overlay,
            format!(
                "is larger than {} KiB, which is no settings overlay",
                MAX_OVERLAY / 1024
            ),
            protect_again,
        ));
    }
    let damaged = |why: &str| {
        error(
            overlay,
            format!("cannot be decrypted: it is damaged or was modified ({why})"),
            protect_again,
        )
    };
    // Armored (what `idconn protect` writes) or binary (`age -e`).
    let reader = age::armor::ArmoredReader::new(armored.as_slice());
    // A modified header reads as another format as often as a broken one.
    let decryptor = age::Decryptor::new(reader).map_err(|e| match e {
        age::DecryptError::UnknownFormat => damaged("not an age v1 file"),
        _ => damaged("not a valid age header"),
    })?;
    let mut stream = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => SettingsError {
                file: overlay.display().to_string(),
                key: format!("{origin} {}", identity_file.display()),
                problem: "a wrong key: the protected settings were not encrypted to this age identity".into(),
                fix: Some("pass the identity the settings were protected for (--identity or IDCONN_AGE_IDENTITY), or write the values again with `idconn protect`".into()),
            },
            age::DecryptError::InvalidMac => damaged("its header's MAC does not match"),
            _ => damaged("its header cannot be decrypted"),
        })?;
    let mut plain = Zeroizing::new(Vec::new());
    // The payload is authenticated chunk by chunk: a modified byte fails here.
    stream
        .read_to_end(&mut plain)
        .map_err(|_| damaged("its content failed authentication"))?;
    // serde_json's syntax errors carry no text of the input; only the
    // position is reported anyway.
    let value: Value = serde_json::from_slice(&plain).map_err(|e| {
        error(
            overlay,
            format!(
                "decrypts to text that is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
            protect_again,
        )
    })?;
    if !value.is_object() {
        let mut value = value;
        super::zeroize_json(&mut value);
        return Err(error(
            overlay,
            "decrypts to JSON that is not an object",
            protect_again,
        ));
    }
    Ok(value)
}

/// Merges `overlay` into `base`: objects key by key, any other value
/// replaces. Returns the keys (`A.B.C`) whose values came from the overlay.
pub fn merge(base: &mut Value, overlay: Value) -> BTreeSet<String> {
    let mut overlaid = BTreeSet::new();
    merge_at(base, overlay, "", &mut overlaid);
    overlaid
}

fn merge_at(base: &mut Value, overlay: Value, prefix: &str, overlaid: &mut BTreeSet<String>) {
    let Value::Object(entries) = overlay else {
        let mut old = std::mem::replace(base, overlay);
        super::zeroize_json(&mut old);
        overlaid.insert(prefix.to_string());
        return;
    };
    if !base.is_object() || is_reference(&entries) {
        // A reference replaces whatever was there: merging two references
        // would make one with two kinds.
        let mut old = std::mem::replace(base, Value::Object(entries));
        super::zeroize_json(&mut old);
        overlaid.insert(prefix.to_string());
        return;
    }
    for (key, value) in entries {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if let Value::Object(map) = base {
            merge_at(
                map.entry(key).or_insert(Value::Null),
                value,
                &path,
                overlaid,
            );
        }
    }
}

fn is_reference(map: &serde_json::Map<String, Value>) -> bool {
    map.len() == 1 && map.keys().all(|k| k.starts_with("From"))
}

/// Whether `key` (or a key it is inside of) came from the overlay.
pub fn is_overlaid(overlaid: &BTreeSet<String>, key: &str) -> bool {
    overlaid.iter().any(|o| {
        key == o
            || key
                .strip_prefix(o.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Usercube's own encrypted settings file (RSA, Usercube's format) next to
/// the settings: idconn cannot read it, and says so once.
pub fn usercube_file(settings_file: &Path) -> Option<PathBuf> {
    let overlay = overlay_path(settings_file);
    let name = overlay.file_name()?.to_string_lossy();
    let usercube = overlay.with_file_name(name.strip_suffix(".age")?);
    usercube.is_file().then_some(usercube)
}
