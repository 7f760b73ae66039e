//! `idconn manifest set` and `idconn manifest show`: stamp a manifest into
//! any component, whatever language built it, and read it back.
//!
//! A Rust component embeds its manifest with `#[link_section]`, but
//! toolchains such as componentize-py cannot emit a custom section of the
//! author's choosing. Stamping it afterwards works for every language: the
//! section is appended to the outer component, and every other
//! `idconn-manifest` section (e.g. one a Rust build left in its core
//! module) is removed, so the component holds exactly the one stamped.
//! Every other section is copied byte for byte. Stamping changes the
//! component's sha256, so it is the stamped file that is pinned
//! (`ComponentSha256`) and shipped; a tool that strips custom sections
//! (`wasm-tools strip`) would remove the manifest, so stamp last.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use wasmparser::{Parser, Payload};

use crate::manifest::SECTION;

/// Nesting deeper than this is not a toolchain's output.
const MAX_DEPTH: usize = 16;

#[derive(clap::Subcommand)]
pub enum ManifestCmd {
    /// Stamp MANIFEST.json into COMPONENT as its `idconn-manifest` section
    /// (replacing any it has), write the result to OUT and print its sha256
    /// (the value to pin as ComponentSha256).
    Set {
        /// The component (.wasm), built by any toolchain.
        component: PathBuf,
        /// The manifest (JSON), checked as the host reads it.
        manifest: PathBuf,
        /// The stamped component to write (may be COMPONENT itself).
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Print a component's manifest and sha256.
    Show {
        /// The component (.wasm).
        component: PathBuf,
    },
}

impl ManifestCmd {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            ManifestCmd::Set {
                component,
                manifest,
                out,
            } => {
                let sha256 = set_file(&component, &manifest, &out)?;
                println!("{}: manifest stamped", out.display());
                println!("sha256 {sha256}");
                Ok(())
            }
            ManifestCmd::Show { component } => {
                let bytes = read(&component)?;
                let sha256 = hex::encode(Sha256::digest(&bytes));
                // Judged as the host judges it, printed as it was written.
                crate::manifest::read(&bytes)
                    .with_context(|| format!("{} has an unusable manifest", component.display()))?;
                match raw_section(&bytes)? {
                    Some(data) => {
                        let value: serde_json::Value = serde_json::from_slice(&data)?;
                        println!("{}", serde_json::to_string_pretty(&value)?);
                    }
                    None => println!("(no {SECTION} section)"),
                }
                println!("sha256 {sha256}");
                Ok(())
            }
        }
    }
}

/// The first `idconn-manifest` section's bytes, at any depth.
fn raw_section(bytes: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::CustomSection(reader) = payload.context("not valid WebAssembly")? {
            if reader.name() == SECTION {
                return Ok(Some(reader.data().to_vec()));
            }
        }
    }
    Ok(None)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Stamps the manifest file into the component file, writes `out`
/// atomically, and returns the new sha256.
pub fn set_file(component: &Path, manifest: &Path, out: &Path) -> anyhow::Result<String> {
    let bytes = read(component)?;
    let json = read(manifest)?;
    let stamped = set(&bytes, &json).with_context(|| {
        format!(
            "cannot stamp {} into {}",
            manifest.display(),
            component.display()
        )
    })?;
    let tmp = out.with_extension("wasm.stamping");
    std::fs::write(&tmp, &stamped).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(hex::encode(Sha256::digest(&stamped)))
}

/// The component with `manifest` as its only `idconn-manifest` section.
/// The manifest is judged by the host's own reader on the result, so what
/// passes here is what a host accepts; the result is validated as
/// WebAssembly before it is returned.
pub fn set(component: &[u8], manifest: &[u8]) -> anyhow::Result<Vec<u8>> {
    if !Parser::is_component(component) {
        bail!("not a WebAssembly component (a core module is not loadable: componentize it first)");
    }
    // Compact JSON: the section is read by machines, and whitespace would
    // only count against the host's size bound.
    let value: serde_json::Value =
        serde_json::from_slice(manifest).context("the manifest is not JSON")?;
    let compact = serde_json::to_vec(&value)?;
    let mut stamped = rewrite(component, 0)?;
    {
        let mut tail = wasm_encoder::Component::new();
        tail.section(&wasm_encoder::CustomSection {
            name: SECTION.into(),
            data: compact.as_slice().into(),
        });
        // Drop the header Component::new wrote: only the section is appended.
        let tail = tail.finish();
        stamped.extend_from_slice(&tail[8..]);
    }
    crate::manifest::read(&stamped)
        .context("the manifest is not one the host accepts")?
        .context("the stamped manifest cannot be read back")?;
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    validator
        .validate_all(&stamped)
        .context("the stamped component does not validate")?;
    Ok(stamped)
}

/// A copy of one module or component without its `idconn-manifest`
/// sections, nested modules and components included.
fn rewrite(bytes: &[u8], depth: usize) -> anyhow::Result<Vec<u8>> {
    if depth > MAX_DEPTH {
        bail!("components nested more than {MAX_DEPTH} deep");
    }
    let header = bytes.get(..8).context("truncated WebAssembly header")?;
    let mut out = header.to_vec();
    // parse_all walks nested modules too; only this level's sections are
    // copied here, nested ones through their own `rewrite`.
    let mut nested = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.context("not valid WebAssembly")?;
        if nested > 0 {
            match payload {
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => nested += 1,
                Payload::End(_) => nested -= 1,
                _ => {}
            }
            continue;
        }
        match payload {
            Payload::CustomSection(reader) if reader.name() == SECTION => {}
            Payload::ModuleSection {
                unchecked_range, ..
            } => {
                push_nested(&mut out, 1, bytes, unchecked_range, depth)?;
                nested = 1;
            }
            Payload::ComponentSection {
                unchecked_range, ..
            } => {
                push_nested(&mut out, 4, bytes, unchecked_range, depth)?;
                nested = 1;
            }
            Payload::End(_) => return Ok(out),
            other => {
                if let Some((id, range)) = other.as_section() {
                    let data = bytes.get(range).context("a section runs past the end")?;
                    push_section(&mut out, id, data);
                }
            }
        }
    }
    bail!("truncated WebAssembly")
}

fn push_nested(
    out: &mut Vec<u8>,
    id: u8,
    bytes: &[u8],
    range: std::ops::Range<usize>,
    depth: usize,
) -> anyhow::Result<()> {
    let inner = bytes
        .get(range)
        .context("a nested module runs past the end")?;
    push_section(out, id, &rewrite(inner, depth + 1)?);
    Ok(())
}

fn push_section(out: &mut Vec<u8>, id: u8, data: &[u8]) {
    let mut section = wasm_encoder::Component::new();
    section.section(&wasm_encoder::RawSection { id, data });
    out.extend_from_slice(&section.finish()[8..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{"contract":"0.3.0","name":"x","version":"1.0.0","entities":[{"name":"mailbox"}],
        "capabilities":{"powershell":{"export":["Get-Mailbox"]}}}"#;

    /// A component whose core module carries `section` (as a Rust build
    /// leaves it), plus another custom section that must survive.
    fn component_with(section: Option<&[u8]>) -> Vec<u8> {
        let mut module = wasm_encoder::Module::new();
        if let Some(data) = section {
            module.section(&wasm_encoder::CustomSection {
                name: SECTION.into(),
                data: data.into(),
            });
        }
        module.section(&wasm_encoder::CustomSection {
            name: "producers".into(),
            data: b"kept"[..].into(),
        });
        let mut component = wasm_encoder::Component::new();
        component.section(&wasm_encoder::ModuleSection(&module));
        component.finish()
    }

    fn custom_sections(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        Parser::new(0)
            .parse_all(bytes)
            .filter_map(|p| match p.unwrap() {
                Payload::CustomSection(r) => Some((r.name().to_string(), r.data().to_vec())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn stamps_a_component_without_a_manifest() {
        let stamped = set(&component_with(None), MANIFEST.as_bytes()).unwrap();
        let m = crate::manifest::read(&stamped).unwrap().unwrap();
        assert_eq!(m.name, "x");
        assert!(custom_sections(&stamped).contains(&("producers".into(), b"kept".to_vec())));
    }

    #[test]
    fn replaces_a_nested_manifest_and_round_trips() {
        let old = br#"{"name":"old","version":"0.1.0"}"#;
        let original = component_with(Some(old));
        let stamped = set(&original, MANIFEST.as_bytes()).unwrap();
        let sections = custom_sections(&stamped);
        let manifests: Vec<_> = sections.iter().filter(|(n, _)| n == SECTION).collect();
        assert_eq!(manifests.len(), 1, "{sections:?}");
        assert_eq!(crate::manifest::read(&stamped).unwrap().unwrap().name, "x");
        // Stamping again replaces, it does not accumulate; stamping the
        // same manifest gives the same bytes.
        let again = set(&stamped, MANIFEST.as_bytes()).unwrap();
        assert_eq!(again, stamped);
        // Stamping the old manifest back gives the old manifest.
        let back = set(&stamped, old).unwrap();
        assert_eq!(crate::manifest::read(&back).unwrap().unwrap().name, "old");
    }

    #[test]
    fn refuses_what_the_host_would_refuse() {
        let component = component_with(None);
        for (json, expected) in [
            (&b"not json"[..], "not JSON"),
            (
                br#"{"contract":"0.3.0","name":"x","version":"1","capabilities":{"powershell":{"export":["Get-X; rm"]}}}"#,
                "host accepts",
            ),
            (br#"{"name":"x","version":"1","extra":1}"#, "host accepts"),
        ] {
            let e = format!("{:#}", set(&component, json).unwrap_err());
            assert!(e.contains(expected), "{e}");
        }
        let module = wasm_encoder::Module::new().finish();
        let e = set(&module, MANIFEST.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("not a WebAssembly component"), "{e}");
    }
}
