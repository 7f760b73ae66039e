//! `idconn inspect`: what a component is, without running it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use wit_parser::{Resolve, WorldItem, WorldKey};

use crate::bindings::ContractVersion;

/// The world of a contract version, as `package/world@version`.
pub fn host_world(version: ContractVersion) -> String {
    format!("idconn:connector/connector@{version}")
}

#[derive(Debug)]
pub struct Inspection {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// The connector package the component was built against, e.g.
    /// `idconn:connector@0.2.0`.
    pub package: Option<String>,
    /// `Some(world)` when the component targets a world this host provides.
    pub world: Option<String>,
    /// The contract version it targets, or why this host cannot load it.
    pub contract: Result<ContractVersion, String>,
    /// Its `idconn-manifest` section: `Ok(None)` when it has none, `Err`
    /// when it has an unusable one (the host refuses to load it).
    pub manifest: Result<Option<crate::manifest::Manifest>, String>,
}

pub fn inspect(path: &Path) -> anyhow::Result<Inspection> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !bytes.starts_with(b"\0asm") {
        bail!(
            "{} is not a WebAssembly file (it lacks the \\0asm header)",
            path.display()
        );
    }
    if wasmparser::Parser::is_core_wasm(&bytes) {
        bail!(
            "{} is a core WebAssembly module, not a component (build with --target wasm32-wasip2)",
            path.display()
        );
    }
    let decoded = wit_component::decode(&bytes)
        .with_context(|| format!("{} is not a WebAssembly component", path.display()))?;
    let (resolve, world_id) = match decoded {
        wit_component::DecodedWasm::Component(resolve, world) => (resolve, world),
        wit_component::DecodedWasm::WitPackage(..) => {
            bail!("{} is a WIT package, not a component", path.display())
        }
    };
    let world = &resolve.worlds[world_id];
    let imports = world
        .imports
        .iter()
        .map(|(k, v)| item_name(&resolve, k, v))
        .collect::<Vec<_>>();
    let exports = world
        .exports
        .iter()
        .map(|(k, v)| item_name(&resolve, k, v))
        .collect::<Vec<_>>();

    // The connector package: what the component exports, not the
    // capabilities it imports.
    let package = exports.iter().chain(&imports).find_map(|name| {
        let (pkg, rest) = name.split_once('/')?;
        let (_, version) = rest.split_once('@')?;
        (pkg == "idconn:connector").then(|| format!("{pkg}@{version}"))
    });
    let contract = crate::bindings::contract_of(&exports);
    let fits = match &contract {
        Ok(v) => {
            let suffix = format!("@{v}");
            let ours = |name: &str| {
                (name.starts_with("idconn:connector/") || name.starts_with("idconn:powershell/"))
                    && name.ends_with(&suffix)
            };
            let needed: &[&str] = match v {
                ContractVersion::V0_2_0 => &[
                    "idconn:connector/exporter@0.2.0",
                    "idconn:connector/fulfiller@0.2.0",
                ],
                ContractVersion::V0_3_0 => &["idconn:connector/operations@0.3.0"],
                ContractVersion::V0_4_0 => &["idconn:connector/operations@0.4.0"],
            };
            needed.iter().all(|n| exports.iter().any(|e| e == n))
                && imports.iter().all(|i| ours(i) || i.starts_with("wasi:"))
        }
        Err(_) => false,
    };
    Ok(Inspection {
        path: path.display().to_string(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        imports,
        exports,
        package,
        world: match &contract {
            Ok(v) if fits => Some(host_world(*v)),
            _ => None,
        },
        contract,
        manifest: crate::manifest::read(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|m| match &m {
                Some(declared) => crate::grants::check_declaration(declared).map(|()| m),
                None => Ok(None),
            }),
    })
}

fn item_name(resolve: &Resolve, key: &WorldKey, item: &WorldItem) -> String {
    match (key, item) {
        (WorldKey::Interface(id), _) => resolve
            .id_of(*id)
            .unwrap_or_else(|| resolve.name_world_key(key)),
        (WorldKey::Name(name), WorldItem::Function(_)) => format!("{name} (function)"),
        (WorldKey::Name(name), _) => name.clone(),
    }
}

impl Inspection {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "component: {}", self.path);
        let _ = match (&self.world, &self.contract) {
            (Some(world), _) => writeln!(out, "world:     {world}"),
            (None, Err(why)) => writeln!(out, "world:     (none this host loads: {why})"),
            (None, Ok(v)) => writeln!(
                out,
                "world:     (does not implement the world {} completely)",
                host_world(*v)
            ),
        };
        if let Ok(v) = &self.contract {
            let _ = writeln!(out, "contract:  {v}");
        }
        let _ = writeln!(
            out,
            "package:   {}",
            self.package.as_deref().unwrap_or("(none)")
        );
        match &self.manifest {
            Ok(Some(m)) => {
                let _ = writeln!(out, "name:      {}", m.name);
                let _ = writeln!(out, "version:   {}", m.version);
                if !m.entities.is_empty() {
                    let _ = writeln!(out, "entities:  {}", m.entities.join(", "));
                }
                if let Some(c) = &m.configuration_name {
                    let _ = writeln!(out, "configuration-name: {c}");
                }
                if !m.retryable_errors.is_empty() {
                    let _ = writeln!(out, "retryable-errors: {}", m.retryable_errors.join(", "));
                }
                let _ = writeln!(out, "grants:    (declared in its idconn-manifest section)");
                for (operation, cmdlets) in &m.grants {
                    let _ = writeln!(out, "  {operation}: {}", cmdlets.join(", "));
                }
            }
            Ok(None) => {
                let _ = writeln!(
                    out,
                    "grants:    none declared (no idconn-manifest section): its jobs get only what the connection's Grants setting lists"
                );
            }
            Err(e) => {
                let _ = writeln!(out, "manifest:  unusable, the host refuses to load it: {e}");
            }
        }
        let _ = writeln!(out, "size:      {} bytes", self.size);
        let _ = writeln!(out, "sha256:    {}", self.sha256);
        let _ = writeln!(out, "imports:");
        for i in &self.imports {
            let _ = writeln!(out, "  {i}");
        }
        let _ = writeln!(out, "exports:");
        for e in &self.exports {
            let _ = writeln!(out, "  {e}");
        }
        out
    }
}
