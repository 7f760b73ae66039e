//! `idconn compile`: compiles components into the compiled-component cache
//! ahead of a job, so the job's first run does not pay for it (a Python
//! component takes seconds and hundreds of MiB to compile; reading the
//! cache takes milliseconds).

use std::path::PathBuf;

use anyhow::Context;

use crate::runtime::Runtime;
use crate::settings::Settings;

#[derive(clap::Args)]
pub struct CompileArgs {
    /// The components (.wasm) to compile.
    #[arg(required = true)]
    pub components: Vec<PathBuf>,
    /// The cache directory [default: the settings' ComponentCachePath].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// The agent settings file: its ComponentCachePath and ComponentCacheMaxMiB.
    #[arg(long)]
    pub settings: Option<PathBuf>,
}

impl CompileArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let settings = self.settings.as_deref().map(Settings::load).transpose()?;
        let cache = match (&self.cache, &settings) {
            (Some(dir), _) => dir.clone(),
            (None, Some(s)) => s.component_cache.clone(),
            (None, None) => anyhow::bail!(
                "where is the cache? give --cache DIR or --settings appsettings.agent.json"
            ),
        };
        let runtime = Runtime::new()?;
        if let Some(s) = &settings {
            runtime.set_cache_max_mib(s.component_cache_max_mib);
        }
        for path in &self.components {
            let loaded = runtime.load(path, &cache)?;
            let size = std::fs::metadata(&loaded.cache_entry)
                .with_context(|| format!("{} was not cached", path.display()))?
                .len();
            println!(
                "{}: {} in {:.2} s, {:.1} MiB compiled ({}), sha256 {}",
                path.display(),
                if loaded.from_cache {
                    "already compiled, read"
                } else {
                    "compiled"
                },
                loaded.loaded_in.as_secs_f64(),
                size as f64 / f64::from(1 << 20),
                loaded.cache_entry.display(),
                loaded.sha256,
            );
        }
        Ok(())
    }
}
