//! Hot-swap latency: the host's component registry replacing a
//! connection's active version while the host runs (what the agent does
//! when ComponentPath changes).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use idconn_host::registry::Registry;
use idconn_host::runtime::Runtime;
use idconn_host::settings::Settings;

pub struct SwapFigures {
    /// Offer to active with the new version's compiled code cached: read,
    /// hash, deserialize, check the world and manifest, swap.
    pub offer_cached: Vec<Duration>,
    /// Holding the connection's write lock to replace the active version.
    pub swap_lock: Vec<Duration>,
    /// Offer of a version never compiled before.
    pub offer_uncached: Duration,
}

/// A second version of `component`: the same code with one more custom
/// section, so its sha256 (and cache entry) differs.
fn variant(component: &[u8], tag: &str) -> Vec<u8> {
    let name = b"idconn-bench";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section
    let mut size = payload.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(&payload);
    out
}

pub fn measure(component: &Path, swaps: usize, scratch: &Path) -> anyhow::Result<SwapFigures> {
    std::fs::create_dir_all(scratch)?;
    let bytes =
        std::fs::read(component).with_context(|| format!("cannot read {}", component.display()))?;
    let a = scratch.join("version-a.wasm");
    let b = scratch.join("version-b.wasm");
    let c = scratch.join("version-c.wasm");
    std::fs::write(&a, variant(&bytes, "a"))?;
    std::fs::write(&b, variant(&bytes, "b"))?;
    std::fs::write(&c, variant(&bytes, "c"))?;
    let settings_file = scratch.join("appsettings.agent.json");
    std::fs::write(
        &settings_file,
        r#"{"Connections": {"Bench": {"AuthType": "None", "Server": "http://localhost/PowerShell/"}}}"#,
    )?;
    let settings = Settings::load(&settings_file)?;
    let conn = settings.connection("Bench")?;
    let cache = scratch.join("cache");
    let registry = Registry::new(Arc::new(Runtime::new()?), cache);
    // Both versions compiled once, as a deployed pair would be.
    registry.offer(conn, &a)?;
    registry.offer(conn, &b)?;
    let mut offer_cached = Vec::new();
    let mut swap_lock = Vec::new();
    for i in 0..swaps {
        let path = if i % 2 == 0 { &a } else { &b };
        let swap = registry.offer(conn, path)?;
        offer_cached.push(swap.check_time + swap.swap_time);
        swap_lock.push(swap.swap_time);
    }
    let uncached = registry.offer(conn, &c)?;
    Ok(SwapFigures {
        offer_cached,
        swap_lock,
        offer_uncached: uncached.check_time + uncached.swap_time,
    })
}
