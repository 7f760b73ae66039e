//! The wasmtime engine, the linker of the connector world, the epoch ticker,
//! and loading components through a compiled-code cache.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use crate::bindings::{since_v0_2_0, since_v0_3_0, since_v0_4_0, ContractVersion};
use crate::sandbox::JobState;

/// How often the epoch advances: the granularity of guest CPU accounting.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// One engine and linker for the process; components and jobs share them.
pub struct Runtime {
    engine: Engine,
    linker: Linker<JobState>,
    ticker_stop: Arc<AtomicBool>,
    /// A profiler names code only in memory the compiler wrote; code mapped
    /// from a cache file is attributed to that file, nameless.
    profiling: bool,
    /// `ComponentCacheMaxMiB`, in bytes (src/cache.rs).
    cache_max_bytes: AtomicU64,
}

impl Runtime {
    pub fn new() -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Guest stacks are bounded so deep recursion traps instead of
        // exhausting the host.
        config.max_wasm_stack(1 << 20);
        // For profiling guests with `perf`: compiled code gets names in
        // /tmp/perf-<pid>.map (perfmap) or jit-<pid>.dump files (jitdump).
        let profiler = std::env::var("IDCONN_WASM_PROFILER");
        let profiling = profiler.is_ok();
        match profiler.as_deref() {
            Ok("perfmap") => {
                config.profiler(wasmtime::ProfilingStrategy::PerfMap);
            }
            Ok("jitdump") => {
                config.profiler(wasmtime::ProfilingStrategy::JitDump);
            }
            Ok(other) => anyhow::bail!(
                "IDCONN_WASM_PROFILER={other} is not a profiler: use perfmap or jitdump"
            ),
            Err(_) => {}
        }
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        let mut linker = Linker::new(&engine);
        crate::sandbox::add_to_linker(&mut linker)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let stop = ticker_stop.clone();
        let ticking = engine.clone();
        std::thread::Builder::new()
            .name("idconn-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .context("cannot start the epoch thread")?;
        Ok(Runtime {
            engine,
            linker,
            ticker_stop,
            profiling,
            cache_max_bytes: AtomicU64::new(crate::cache::DEFAULT_MAX_MIB << 20),
        })
    }

    /// Bounds the compiled-component cache (`ComponentCacheMaxMiB`).
    pub fn set_cache_max_mib(&self, mib: u64) {
        self.cache_max_bytes
            .store(mib.saturating_mul(1 << 20), Ordering::Relaxed);
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a component: from the cache when this engine compiled the same
    /// bytes before, else compiled and cached. Checks that it implements the
    /// connector world.
    pub fn load(&self, path: &Path, cache_dir: &Path) -> anyhow::Result<LoadedComponent> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the component {} (build it with `just build`, or fix ComponentPath)",
                path.display()
            )
        })?;
        self.load_bytes(&bytes, path, cache_dir)
    }

    pub fn load_bytes(
        &self,
        bytes: &[u8],
        path: &Path,
        cache_dir: &Path,
    ) -> anyhow::Result<LoadedComponent> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        if wasmparser::Parser::is_core_wasm(bytes) {
            bail!(
                "{} is a core WebAssembly module, not a component: build it with --target wasm32-wasip2",
                path.display()
            );
        }
        // The manifest is judged before any compilation: a component that
        // declares what it can never be given is refused outright.
        let manifest = crate::manifest::read(bytes)
            .with_context(|| format!("{} has an unusable manifest", path.display()))?;
        if let Some(m) = &manifest {
            crate::grants::check_declaration(m)
                .map_err(|why| anyhow::anyhow!("{} is refused: {why}", path.display()))?;
        }
        let started = Instant::now();
        let cached = cache_dir.join(format!("{sha256}-{}.cwasm", self.engine_key()));
        let reused = if self.profiling {
            None
        } else {
            self.read_cached(&cached)
        };
        let (component, from_cache) = match reused {
            Some(c) => {
                crate::cache::touch(&cached);
                (c, true)
            }
            None => {
                let component = Component::new(&self.engine, bytes)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("{} is not a valid component", path.display()))?;
                self.write_cached(&component, cache_dir, &cached);
                (component, false)
            }
        };
        let exports: Vec<String> = component
            .component_type()
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let contract = crate::bindings::contract_of(&exports)
            .map_err(|why| anyhow::anyhow!("{} is refused: {why}", path.display()))?;
        if let Some(m) = &manifest {
            if m.contract != contract.as_str() {
                bail!(
                    "{} is refused: its manifest says contract {}, but it exports the idconn:connector@{contract} world",
                    path.display(),
                    idconn_psrp::untrusted::for_log(&m.contract, 32)
                );
            }
        }
        let linked = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from);
        let pre = linked
            .and_then(|p| {
                Ok(match contract {
                    ContractVersion::V0_2_0 => {
                        ConnectorPre::V0_2_0(since_v0_2_0::ConnectorPre::new(p)?)
                    }
                    ContractVersion::V0_3_0 => {
                        ConnectorPre::V0_3_0(since_v0_3_0::ConnectorPre::new(p)?)
                    }
                    ContractVersion::V0_4_0 => {
                        ConnectorPre::V0_4_0(since_v0_4_0::ConnectorPre::new(p)?)
                    }
                })
            })
            .with_context(|| {
                format!(
                    "{} does not fit the idconn:connector@{contract} world this host provides (this idconn supports {})",
                    path.display(),
                    ContractVersion::supported_list()
                )
            })?;
        tracing::debug!(
            component = %path.display(),
            %sha256,
            from_cache,
            elapsed_ms = started.elapsed().as_millis() as u64,
            %contract,
            "component loaded"
        );
        Ok(LoadedComponent {
            pre,
            contract,
            sha256,
            path: path.to_path_buf(),
            manifest,
            loaded_in: started.elapsed(),
            from_cache,
            cache_entry: cached,
        })
    }

    /// Compiled code is only valid for the engine configuration and wasmtime
    /// build that produced it.
    fn engine_key(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    fn read_cached(&self, cached: &Path) -> Option<Component> {
        if !cached.is_file() {
            return None;
        }
        // SAFETY: the cache holds only files this process wrote with
        // `Component::serialize` under a name derived from the source's
        // sha256 and this engine's compatibility hash, in a directory that
        // is never preopened for a guest. wasmtime still checks the header
        // and the engine compatibility before using it.
        match unsafe { Component::deserialize_file(&self.engine, cached) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(cache = %cached.display(), "ignoring an unusable cached component: {e}");
                None
            }
        }
    }

    fn write_cached(&self, component: &Component, dir: &Path, cached: &Path) {
        let result = (|| -> anyhow::Result<()> {
            let bytes = component.serialize().map_err(anyhow::Error::from)?;
            std::fs::create_dir_all(dir)?;
            let tmp = tmp_name(cached);
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, cached)?;
            Ok(())
        })();
        if let Err(e) = result {
            // The cache only saves time; a job still runs without it.
            tracing::warn!(cache = %dir.display(), "cannot cache the compiled component: {e:#}");
            return;
        }
        let max = self.cache_max_bytes.load(Ordering::Relaxed);
        match crate::cache::prune(dir, max, cached) {
            Ok(p) if !p.removed.is_empty() => tracing::info!(
                cache = %dir.display(),
                removed = p.removed.len(),
                kept_mib = p.kept_bytes >> 20,
                "pruned the component cache to ComponentCacheMaxMiB"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(cache = %dir.display(), "cannot prune the component cache: {e}")
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// A component linked against the world of its contract version.
#[derive(Clone)]
pub enum ConnectorPre {
    V0_2_0(since_v0_2_0::ConnectorPre<JobState>),
    V0_3_0(since_v0_3_0::ConnectorPre<JobState>),
    V0_4_0(since_v0_4_0::ConnectorPre<JobState>),
}

/// A component compiled, linked and checked against the connector world.
pub struct LoadedComponent {
    pub pre: ConnectorPre,
    /// The contract version of the world it exports.
    pub contract: ContractVersion,
    pub sha256: String,
    pub path: PathBuf,
    /// Its `idconn-manifest` section, if it has one.
    pub manifest: Option<crate::manifest::Manifest>,
    /// Compiling (or reading the cache) and linking took this long.
    pub loaded_in: Duration,
    /// Read from the compiled-component cache rather than compiled.
    pub from_cache: bool,
    /// Its file in the compiled-component cache.
    pub cache_entry: PathBuf,
}

impl LoadedComponent {
    /// The manifest's name, else the file's stem.
    pub fn name(&self) -> String {
        match &self.manifest {
            Some(m) => m.name.clone(),
            None => self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "component".into()),
        }
    }

    /// The entity kinds it exports: its manifest's, else what its contract
    /// version implies.
    pub fn entities(&self) -> Vec<String> {
        match &self.manifest {
            Some(m) if !m.entities.is_empty() => m.entities.clone(),
            _ => self
                .contract
                .implied_entities()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// The manifest's version, else `unversioned`.
    pub fn version(&self) -> String {
        self.manifest
            .as_ref()
            .map(|m| m.version.clone())
            .unwrap_or_else(|| "unversioned".into())
    }
}
