//! Secrets in the settings: literal values, references to where the secret
//! lives (an environment variable, a file, a systemd credential), and the
//! encrypted overlay (`overlay.rs`, written by `idconn protect`:
//! `protect.rs`).
//!
//! A reference is a JSON object, never a string: a literal password can be
//! any string at all (`env:X` included), but it is never an object, so the
//! two can never be confused.
//!
//! References are read when the secret is needed (a session is opened, the
//! agent starts), not when the settings are loaded: one settings file can
//! hold connections run by different services, each with only its own
//! credentials, and a rotated secret file is read again by the next job.
//!
//! Nothing here puts a secret's value into an error or a log line: errors
//! name the setting and the reference.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

use crate::settings::SettingsError;

pub mod overlay;
pub mod protect;

/// A secret value: never printed, never logged, wiped from memory when
/// dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The environment variable systemd sets for a unit with `LoadCredential=`
/// or `SetCredential=` (systemd.exec(5), "Credentials").
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// A secret file larger than this is not a password or a token; reading it
/// whole would let a wrong path (a log, a device) exhaust memory.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Where a secret lives. (Debug shows a literal as `Secret(***)`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The value itself, from the plain settings or the encrypted overlay.
    Literal(Secret),
    /// `{"FromEnvironment": "NAME"}`
    Environment(String),
    /// `{"FromFile": "/path"}`, relative paths against the settings file's
    /// folder (a Kubernetes secret mounted as a file).
    File(PathBuf),
    /// `{"FromCredential": "name"}`: `$CREDENTIALS_DIRECTORY/name`.
    Credential(String),
}

/// One secret setting: where it is, and which key of which file named it,
/// for the errors.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretSetting {
    pub file: String,
    pub key: String,
    pub source: Source,
}

impl fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} = {}", self.file, self.key, self.describe())
    }
}

/// The forms a reference may take, for error messages.
pub const REFERENCE_FORMS: &str = "a string (the value itself), or one of {\"FromEnvironment\": \"NAME\"}, {\"FromFile\": \"/path\"}, {\"FromCredential\": \"name\"}";

impl SecretSetting {
    /// Reads `value` (the JSON at `key`): a non-empty string is the secret;
    /// an object is a reference. `None` for an absent, null or blank value.
    pub fn from_json(
        value: Option<&Value>,
        file: &str,
        key: &str,
        base: &Path,
    ) -> Result<Option<SecretSetting>, SettingsError> {
        let err = |problem: String, fix: &str| SettingsError {
            file: file.to_string(),
            key: key.to_string(),
            problem,
            fix: Some(fix.to_string()),
        };
        let source = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => Source::Literal(Secret::new(s.as_str())),
            Some(Value::Object(map)) => reference(map, base)
                .map_err(|problem| err(problem, &format!("write {REFERENCE_FORMS}")))?,
            Some(other) => {
                return Err(err(
                    format!(
                        "must be a string or a reference, found {}",
                        crate::settings::json_kind(other)
                    ),
                    &format!("write {REFERENCE_FORMS}"),
                ))
            }
        };
        Ok(Some(SecretSetting {
            file: file.to_string(),
            key: key.to_string(),
            source,
        }))
    }

    /// The reference as the operator wrote it (never the value of a
    /// literal).
    pub fn describe(&self) -> String {
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
        match &self.source {
            Source::Literal(_) => "(a value in the settings)".into(),
            Source::Environment(name) => format!("{{\"FromEnvironment\": {}}}", quoted(name)),
            Source::File(path) => {
                format!("{{\"FromFile\": {}}}", quoted(&path.display().to_string()))
            }
            Source::Credential(name) => format!("{{\"FromCredential\": {}}}", quoted(name)),
        }
    }

    /// The secret itself. A missing or empty reference is an error naming
    /// the setting and the reference.
    pub fn resolve(&self) -> Result<Secret, SettingsError> {
        let err = |problem: String, fix: String| SettingsError {
            file: self.file.clone(),
            key: self.key.clone(),
            problem: idconn_psrp::untrusted::line(&format!("{}: {problem}", self.describe())),
            fix: Some(idconn_psrp::untrusted::line(&fix)),
        };
        let value = match &self.source {
            Source::Literal(secret) => return Ok(secret.clone()),
            Source::Environment(name) => match std::env::var(name) {
                Ok(v) => Zeroizing::new(v),
                Err(std::env::VarError::NotPresent) => {
                    return Err(err(
                        format!("the environment variable {name} is not set"),
                        format!("set {name} in idconn's environment, or change the reference"),
                    ))
                }
                Err(std::env::VarError::NotUnicode(v)) => {
                    // The value is a secret even when it is not text.
                    v.into_encoded_bytes().zeroize();
                    return Err(err(
                        format!("the environment variable {name} is not valid UTF-8"),
                        format!("set {name} to the secret as UTF-8 text"),
                    ));
                }
            },
            Source::File(path) => read_secret_file(path).map_err(|problem| {
                err(
                    problem,
                    format!(
                        "put the secret in {} (readable by idconn), or change the reference",
                        path.display()
                    ),
                )
            })?,
            Source::Credential(name) => {
                let Some(dir) = std::env::var_os(CREDENTIALS_DIRECTORY) else {
                    return Err(err(
                        format!("{CREDENTIALS_DIRECTORY} is not set (systemd sets it for a service with LoadCredential= or SetCredential=)"),
                        format!("add LoadCredential={name}:<file> to idconn's systemd unit, or use FromFile"),
                    ));
                };
                let path = Path::new(&dir).join(name);
                read_secret_file(&path).map_err(|problem| {
                    err(
                        problem,
                        format!("add LoadCredential={name}:<file> (or SetCredentialEncrypted=) to idconn's systemd unit"),
                    )
                })?
            }
        };
        if value.is_empty() {
            return Err(err(
                "is empty".into(),
                "put the secret there, or change the reference".into(),
            ));
        }
        Ok(Secret::new(value.as_str()))
    }
}

/// A reference object: exactly one of the known keys, with a string.
fn reference(map: &Map<String, Value>, base: &Path) -> Result<Source, String> {
    let mut entries = map.iter();
    let (Some((kind, value)), None) = (entries.next(), entries.next()) else {
        return Err(format!(
            "a reference has exactly one key, found {}",
            map.len()
        ));
    };
    let Some(name) = value.as_str().filter(|s| !s.trim().is_empty()) else {
        return Err(format!("{kind}: must be a non-empty string"));
    };
    match kind.as_str() {
        "FromEnvironment" => {
            if name.contains(['=', '\0']) {
                return Err(format!(
                    "FromEnvironment: {} is not an environment variable name",
                    idconn_psrp::untrusted::line(name)
                ));
            }
            Ok(Source::Environment(name.to_string()))
        }
        "FromFile" => Ok(Source::File(base.join(name))),
        "FromCredential" => {
            // A credential is a file directly in the credentials directory.
            if name.contains(['/', '\0']) || name == "." || name == ".." {
                return Err(format!(
                    "FromCredential: {} is not a credential name (no '/')",
                    idconn_psrp::untrusted::line(name)
                ));
            }
            Ok(Source::Credential(name.to_string()))
        }
        other => Err(format!(
            "unknown reference kind {}",
            idconn_psrp::untrusted::line(other)
        )),
    }
}

/// A secret file's text, without one trailing line ending (`echo` and
/// `kubectl create secret --from-file` of an edited file leave one).
fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open {}: {}", path.display(), io_reason(&e)))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {}", path.display(), io_reason(&e)))?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(format!(
            "{} is larger than {} KiB, which is no password or token",
            path.display(),
            MAX_SECRET_FILE / 1024
        ));
    }
    let text =
        std::str::from_utf8(&bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    Ok(Zeroizing::new(text.to_string()))
}

/// An I/O error's reason without the OS's `(os error N)` noise.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Wipes every string of a JSON value (keys and values) before it is
/// dropped: the settings' JSON held the secrets before they became
/// [`Secret`]s.
pub fn zeroize_json(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(zeroize_json),
        Value::Object(map) => {
            let owned = std::mem::take(map);
            for (mut key, mut v) in owned {
                zeroize_json(&mut v);
                key.zeroize();
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests;
