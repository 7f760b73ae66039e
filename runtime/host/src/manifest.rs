//! A component's manifest: its contract version, name, version, entity
//! kinds and the capabilities it declares (cmdlets per operation), in the
//! custom section `idconn-manifest`. Read from the bytes without running
//! anything, so a component is judged before it is given
//! a single call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The custom section's name. A Rust component declares it with a
/// `#[link_section = "idconn-manifest"]` static holding the JSON.
pub const SECTION: &str = "idconn-manifest";

/// A manifest larger than this is not a declaration but an attack on the
/// host's parser.
const MAX_MANIFEST_BYTES: usize = 64 << 10;

/// What the host knows of a component from its manifest, whatever the
/// manifest's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// The contract version the manifest says the component targets
    /// (`0.2.0` for the 0.2.0 format, which does not say).
    pub contract: String,
    pub name: String,
    pub version: String,
    /// The entity kinds it exports (empty in the 0.2.0 format: the
    /// contract's bindings imply them).
    pub entities: Vec<String>,
    /// Cmdlets per operation (`export`, `fulfill`, `check`).
    pub grants: BTreeMap<String, Vec<String>>,
    /// The default of `Connections.<id>.ConfigurationName`.
    pub configuration_name: Option<String>,
    /// Fully-qualified error id prefixes the host retries after a wait or
    /// a reconnection.
    pub retryable_errors: Vec<String>,
}

/// The 0.2.0 format: `{"name","version","grants":{...}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestV2 {
    name: String,
    version: String,
    #[serde(default)]
    grants: BTreeMap<String, Vec<String>>,
}

/// The 0.3.0 format (README.md, "Component manifest").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestV3 {
    contract: String,
    name: String,
    version: String,
    #[serde(default)]
    entities: Vec<EntityV3>,
    #[serde(default)]
    capabilities: CapabilitiesV3,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityV3 {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CapabilitiesV3 {
    #[serde(default)]
    powershell: Option<PowerShellV3>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PowerShellV3 {
    #[serde(default)]
    configuration_name: Option<String>,
    #[serde(default)]
    retryable_errors: Vec<String>,
    #[serde(default)]
    export: Vec<String>,
    #[serde(default)]
    check: Vec<String>,
    #[serde(default)]
    fulfill: Vec<String>,
}

/// Bounds of a manifest's lists: far above any real connector's.
const MAX_ENTITIES: usize = 64;
const MAX_CMDLETS: usize = 512;
const MAX_RETRYABLE_ERRORS: usize = 256;

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
    #[error("the `idconn-manifest` section is not the expected JSON ({{\"contract\",\"name\",\"version\",\"entities\":[...],\"capabilities\":{{\"powershell\":{{...}}}}}}, or for 0.2.0 {{\"name\",\"version\",\"grants\":{{\"export\":[...],\"fulfill\":[...]}}}}): {0}")]
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

    fn from_v2(m: ManifestV2) -> Manifest {
        Manifest {
            contract: crate::bindings::ContractVersion::V0_2_0.as_str().into(),
            name: m.name,
            version: m.version,
            entities: Vec::new(),
            grants: m.grants,
            configuration_name: None,
            retryable_errors: Vec::new(),
        }
    }

    fn from_v3(m: ManifestV3) -> Result<Manifest, ManifestError> {
        if m.contract == crate::bindings::ContractVersion::V0_2_0.as_str()
            || crate::bindings::ContractVersion::parse(&m.contract).is_none()
        {
            return Err(ManifestError::Invalid(format!(
                "contract '{}' is not a contract of this manifest format (0.3.0 and later; this idconn supports {})",
                printable_prefix(&m.contract),
                crate::bindings::ContractVersion::supported_list()
            )));
        }
        if m.entities.len() > MAX_ENTITIES {
            return Err(ManifestError::Invalid(format!(
                "{} entities; at most {MAX_ENTITIES} are accepted",
                m.entities.len()
            )));
        }
        let mut entities = Vec::with_capacity(m.entities.len());
        for e in m.entities {
            if !is_entity_kind(&e.name) {
                return Err(ManifestError::Invalid(format!(
                    "entities: '{}' is not an entity kind (1 to 64 lower-case letters, digits, '-' or '_', starting with a letter)",
                    printable_prefix(&e.name)
                )));
            }
            if entities.contains(&e.name) {
                return Err(ManifestError::Invalid(format!(
                    "entities: '{}' is declared twice",
                    e.name
                )));
            }
            entities.push(e.name);
        }
        let ps = m.capabilities.powershell.unwrap_or_default();
        if let Some(c) = &ps.configuration_name {
            let ok = !c.is_empty()
                && c.len() <= 256
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_'));
            if !ok {
                return Err(ManifestError::Invalid(format!(
                    "capabilities.powershell.configuration-name: '{}' is not a session configuration name",
                    printable_prefix(c)
                )));
            }
        }
        if ps.retryable_errors.len() > MAX_RETRYABLE_ERRORS {
            return Err(ManifestError::Invalid(format!(
                "capabilities.powershell.retryable-errors: more than {MAX_RETRYABLE_ERRORS}"
            )));
        }
        if let Some(bad) = ps.retryable_errors.iter().find(|id| {
            id.is_empty()
                || id.len() > 256
                || id.starts_with('*')
                || id.chars().any(|c| c.is_control() || c == ' ')
        }) {
            return Err(ManifestError::Invalid(format!(
                "capabilities.powershell.retryable-errors: '{}' is not an error id prefix",
                printable_prefix(bad)
            )));
        }
        let mut grants = BTreeMap::new();
        for (operation, cmdlets) in [
            ("export", ps.export),
            ("check", ps.check),
            ("fulfill", ps.fulfill),
        ] {
            if !cmdlets.is_empty() {
                grants.insert(operation.to_string(), cmdlets);
            }
        }
        Ok(Manifest {
            contract: m.contract,
            name: m.name,
            version: m.version,
            entities,
            grants,
            configuration_name: ps.configuration_name,
            retryable_errors: ps.retryable_errors,
        })
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
            if cmdlets.len() > MAX_CMDLETS {
                return Err(ManifestError::Invalid(format!(
                    "{operation}: more than {MAX_CMDLETS} cmdlets"
                )));
            }
            if let Some(bad) = cmdlets.iter().find(|c| !crate::grants::is_cmdlet_name(c)) {
                return Err(ManifestError::Invalid(format!(
                    "grants.{operation}: '{}' is not a cmdlet name",
                    printable_prefix(bad)
                )));
            }
        }
        Ok(())
    }
}

/// An entity kind as a connector names it: `mailbox`, `user`, `group-member`.
pub fn is_entity_kind(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A component's text in an error: escaped and cut.
fn printable_prefix(text: &str) -> String {
    idconn_psrp::untrusted::for_log(text, 64)
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
    // The 0.3.0 format says its contract; the 0.2.0 format has no such key.
    let value: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| ManifestError::Json(e.to_string()))?;
    let manifest = if value.get("contract").is_some() {
        let v3: ManifestV3 =
            serde_json::from_value(value).map_err(|e| ManifestError::Json(e.to_string()))?;
        Manifest::from_v3(v3)?
    } else {
        let v2: ManifestV2 =
            serde_json::from_value(value).map_err(|e| ManifestError::Json(e.to_string()))?;
        Manifest::from_v2(v2)
    };
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

    const V3: &[u8] = br#"{"contract":"0.3.0","name":"sample","version":"1.0.0",
        "entities":[{"name":"widget"},{"name":"gadget"}],
        "capabilities":{"powershell":{"configuration-name":"Sample.Endpoint",
        "retryable-errors":["Sample.OverBudgetException"],
        "export":["Get-Widget"],"check":["Get-Widget"],"fulfill":["Get-Widget","Set-Widget"]}}}"#;

    #[test]
    fn reads_a_0_3_0_manifest_into_typed_capabilities() {
        let m = read(&component_with(V3)).unwrap().unwrap();
        assert_eq!(m.contract, "0.3.0");
        assert_eq!(m.entities, ["widget", "gadget"]);
        assert_eq!(m.configuration_name.as_deref(), Some("Sample.Endpoint"));
        assert_eq!(m.retryable_errors, ["Sample.OverBudgetException"]);
        assert_eq!(m.declared("fulfill").unwrap(), ["Get-Widget", "Set-Widget"]);
        assert_eq!(m.declared("check").unwrap(), ["Get-Widget"]);
        // A 0.2.0 manifest says its contract by its shape.
        let old = read(&component_with(br#"{"name":"x","version":"1"}"#))
            .unwrap()
            .unwrap();
        assert_eq!(old.contract, "0.2.0");
        assert!(old.entities.is_empty());
    }

    #[test]
    fn malformed_0_3_0_manifests_are_refused_with_the_reason() {
        let text = std::str::from_utf8(V3).unwrap();
        for (from, to, expected) in [
            (
                r#""contract":"0.3.0""#,
                r#""contract":"0.1.0""#,
                "this idconn supports 0.2.0, 0.3.0 and 0.4.0",
            ),
            (
                r#""contract":"0.3.0""#,
                r#""contract":"0.2.0""#,
                "not a contract of this manifest format",
            ),
            (
                r#"{"name":"widget"}"#,
                r#"{"name":"Widget!"}"#,
                "not an entity kind",
            ),
            (
                r#"{"name":"gadget"}"#,
                r#"{"name":"widget"}"#,
                "declared twice",
            ),
            (r#""export":"#, r#""delete":[],"export":"#, "unknown field"),
            (
                r#""Sample.OverBudgetException""#,
                r#""*Sample""#,
                "not an error id prefix",
            ),
            (
                r#""Sample.Endpoint""#,
                r#""a b""#,
                "not a session configuration name",
            ),
            (
                r#""Set-Widget""#,
                r#""Set-Widget; rm""#,
                "not a cmdlet name",
            ),
            (
                r#"{"name":"gadget"}"#,
                r#"{"name":"gadget","extra":1}"#,
                "unknown field",
            ),
        ] {
            assert!(text.contains(from), "{from}");
            let json = text.replacen(from, to, 1);
            let e = read(&component_with(json.as_bytes()))
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{to}: {e}");
        }
    }
}
