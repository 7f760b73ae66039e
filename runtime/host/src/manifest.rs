//! A component's manifest: its name, version and the cmdlets it declares per
//! operation, in the custom section `idconn-manifest`. Read from the bytes
//! without running anything, so a component is judged before it is given
//! a single call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The custom section's name. A Rust component declares it with a
/// `#[link_section = "idconn-manifest"]` static holding the JSON.
pub const SECTION: &str = "idconn-manifest";

/// A manifest larger than this is not a declaration but an attack on the
/// host's parser.
const MAX_MANIFEST_BYTES: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    /// Cmdlets per operation (`export`, `fulfill`, `check`).
    #[serde(default)]
    pub grants: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the component is not valid WebAssembly: {0}")]
    Wasm(String),
    #[error("the component has {0} `idconn-manifest` sections; it must have at most one")]
    Duplicate(usize),
    #[error(
        "the `idconn-manifest` section is {0} bytes, more than the {MAX_MANIFEST_BYTES} allowed"
    )]
    TooLarge(usize),
    #[error("the `idconn-manifest` section is not the expected JSON ({{\"name\",\"version\",\"grants\":{{\"export\":[...],\"fulfill\":[...]}}}}): {0}")]
    Json(String),
    #[error("the `idconn-manifest` section is invalid: {0}")]
    Invalid(String),
}

impl Manifest {
    /// The cmdlets declared for an operation; `None` when the manifest does
    /// not mention the operation (nothing declared).
    pub fn declared(&self, operation: &str) -> Option<&[String]> {
        self.grants.get(operation).map(Vec::as_slice)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let printable =
            |s: &str| !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control);
        if !printable(&self.name) {
            return Err(ManifestError::Invalid(
                "name must be 1 to 128 printable characters".into(),
            ));
        }
        if !printable(&self.version) {
            return Err(ManifestError::Invalid(
                "version must be 1 to 128 printable characters".into(),
            ));
        }
        for (operation, cmdlets) in &self.grants {
            if !["export", "fulfill", "check"].contains(&operation.as_str()) {
                return Err(ManifestError::Invalid(format!(
                    "grants.{operation}: unknown operation (known: export, fulfill, check)"
                )));
            }
            if let Some(bad) = cmdlets.iter().find(|c| !crate::grants::is_cmdlet_name(c)) {
                return Err(ManifestError::Invalid(format!(
                    "grants.{operation}: '{}' is not a cmdlet name",
                    bad.chars().take(64).collect::<String>()
                )));
            }
        }
        Ok(())
    }
}

/// Reads the manifest of a component (or a core module): `Ok(None)` when it
/// has none. The section may sit in any nested module, which is where a
/// toolchain leaves a core module's custom sections.
pub fn read(bytes: &[u8]) -> Result<Option<Manifest>, ManifestError> {
    let mut found = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| ManifestError::Wasm(e.to_string()))?;
        if let wasmparser::Payload::CustomSection(reader) = payload {
            if reader.name() == SECTION {
                found.push(reader.data());
            }
        }
    }
    let data = match found.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        many => return Err(ManifestError::Duplicate(many.len())),
    };
    if data.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge(data.len()));
    }
    let manifest: Manifest =
        serde_json::from_slice(data).map_err(|e| ManifestError::Json(e.to_string()))?;
    manifest.validate()?;
    Ok(Some(manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module holding one custom section, nested in a component the
    /// way wasm-component-ld leaves it.
    fn component_with(section: &[u8]) -> Vec<u8> {
        let mut module = wasm_encoder::Module::new();
        module.section(&wasm_encoder::CustomSection {
            name: SECTION.into(),
            data: section.into(),
        });
        let mut component = wasm_encoder::Component::new();
        component.section(&wasm_encoder::ModuleSection(&module));
        component.finish()
    }

    #[test]
    fn reads_a_manifest_nested_in_a_component() {
        let json = br#"{"name":"x","version":"1.2.3","grants":{"export":["Get-Mailbox"]}}"#;
        let m = read(&component_with(json)).unwrap().unwrap();
        assert_eq!(m.name, "x");
        assert_eq!(m.version, "1.2.3");
        assert_eq!(m.declared("export").unwrap(), ["Get-Mailbox".to_string()]);
        assert!(m.declared("fulfill").is_none());
    }

    #[test]
    fn no_section_is_no_manifest() {
        let component = wasm_encoder::Component::new().finish();
        assert!(read(&component).unwrap().is_none());
    }

    #[test]
    fn malformed_manifests_are_refused_with_the_reason() {
        for (json, expected) in [
            (&b"not json"[..], "not the expected JSON"),
            (
                br#"{"name":"x","version":"1","grants":{"delete":[]}}"#,
                "unknown operation",
            ),
            (
                br#"{"name":"x","version":"1","grants":{"export":["Get-X; rm"]}}"#,
                "not a cmdlet name",
            ),
            (br#"{"name":"","version":"1"}"#, "name must be"),
            (br#"{"name":"x","version":"1","extra":1}"#, "unknown field"),
        ] {
            let e = read(&component_with(json)).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
        }
    }
}
