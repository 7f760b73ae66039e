//! Reading typed values out of the settings JSON, with errors that name the
//! file, the key and the fix.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::SettingsError;
use crate::secrets::SecretSetting;

pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) base: &'a Path,
    /// The encrypted overlay's name and the keys whose values came from
    /// it: an error about one of them names the overlay, not the plain file.
    pub(super) overlay: Option<(&'a str, &'a BTreeSet<String>)>,
}

impl Ctx<'_> {
    pub(super) fn err(
        &self,
        key: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> SettingsError {
        SettingsError {
            file: self.file_of(key).to_string(),
            key: key.to_string(),
            problem: problem.into(),
            fix: Some(fix.into()),
        }
    }

    /// The file a key's value came from.
    pub(super) fn file_of(&self, key: &str) -> &str {
        match self.overlay {
            Some((name, keys)) if crate::secrets::overlay::is_overlaid(keys, key) => name,
            _ => self.file,
        }
    }

    /// A secret setting (`Password`, `AgentToken`): a string, or a
    /// reference object.
    pub(super) fn secret(
        &self,
        value: Option<&Value>,
        key: &str,
    ) -> Result<Option<SecretSetting>, SettingsError> {
        SecretSetting::from_json(value, self.file_of(key), key, self.base)
    }

    pub(super) fn opt_str<'v>(
        &self,
        obj: &'v Map<String, Value>,
        name: &str,
        key: &str,
    ) -> Result<Option<&'v str>, SettingsError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(
                key,
                format!("must be a string, found {}", kind(other)),
                format!("write \"{name}\": \"...\""),
            )),
        }
    }

    pub(super) fn opt_bool(
        &self,
        obj: &Map<String, Value>,
        name: &str,
        key: &str,
    ) -> Result<bool, SettingsError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(other) => Err(self.err(
                key,
                format!("must be true or false, found {}", kind(other)),
                format!("write \"{name}\": true or false"),
            )),
        }
    }

    /// A whole number in `0..=max`, or `default` when absent.
    pub(super) fn opt_u64(
        &self,
        obj: &Map<String, Value>,
        name: &str,
        key: &str,
        default: u64,
        max: u64,
    ) -> Result<u64, SettingsError> {
        let fix = || format!("write \"{name}\": a whole number from 0 to {max}");
        match obj.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if v <= max => Ok(v),
                _ => Err(self.err(key, format!("{n} is out of range"), fix())),
            },
            Some(other) => Err(self.err(
                key,
                format!("must be a number, found {}", kind(other)),
                fix(),
            )),
        }
    }

    pub(super) fn path_or(
        &self,
        obj: &Map<String, Value>,
        name: &str,
        default: &str,
    ) -> Result<PathBuf, SettingsError> {
        let rel = self.opt_str(obj, name, name)?.unwrap_or(default);
        Ok(self.base.join(rel))
    }
}

pub(super) fn validate_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("'{url}' is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("'{url}' has no host name"));
    }
    Ok(())
}

/// What a JSON value is, for error messages ("found a number").
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
