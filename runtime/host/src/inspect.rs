//! `idconn inspect`: what a component is, without running it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use wit_parser::{Resolve, WorldItem, WorldKey};

/// The world this host provides, as `package/world@version`.
pub const HOST_WORLD: &str = "idconn:connector/connector@0.2.0";
const HOST_PACKAGE: &str = "idconn:connector@0.2.0";

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
    /// `Some(world)` when the component targets this host's world.
    pub world: Option<String>,
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

    let package = imports.iter().chain(&exports).find_map(|name| {
        let (pkg, rest) = name.split_once('/')?;
        let (_, version) = rest.split_once('@')?;
        pkg.starts_with("idconn:")
            .then(|| format!("{pkg}@{version}"))
    });
    let ours = |name: &str| name.starts_with("idconn:connector/") && name.ends_with("@0.2.0");
    let fits = package.as_deref() == Some(HOST_PACKAGE)
        && exports
            .iter()
            .any(|e| e == "idconn:connector/exporter@0.2.0")
        && exports
            .iter()
            .any(|e| e == "idconn:connector/fulfiller@0.2.0")
        && imports.iter().all(|i| ours(i) || i.starts_with("wasi:"));
    Ok(Inspection {
        path: path.display().to_string(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        imports,
        exports,
        package,
        world: fits.then(|| HOST_WORLD.to_string()),
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
        let _ = writeln!(
            out,
            "world:     {}",
            self.world.as_deref().unwrap_or(
                "(does not implement this host's world idconn:connector/connector@0.2.0)"
            )
        );
        let _ = writeln!(
            out,
            "package:   {}",
            self.package.as_deref().unwrap_or("(none)")
        );
        match &self.manifest {
            Ok(Some(m)) => {
                let _ = writeln!(out, "name:      {}", m.name);
                let _ = writeln!(out, "version:   {}", m.version);
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
