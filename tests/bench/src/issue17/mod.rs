//! The figures of issue 17: idconn's own CPU time next to its wall time
//! (sealed and unsealed), the whole export with the component against the
//! same export with the logic linked natively, parallel pipelines against a
//! server that pays for every object, and 1,000,000 mailboxes
//! (`just bench-million`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::export::{self, Tools};

mod render;
mod sealed;

pub use render::{render, Issue17};

/// What the simulator charges per object in the parallel figure.
pub const OBJECT_COST_US: u64 = 200;
pub const PARALLEL_MAILBOXES: u64 = 100_000;
pub const PARALLEL_DATABASES: u64 = 20;
pub const PARALLEL: u32 = 4;

/// One pipeline against `PARALLEL`, same simulator and object cost.
pub struct ParallelFigures {
    pub one: Vec<Duration>,
    pub many: Vec<Duration>,
    /// The two mailbox CSVs hold the same lines once sorted.
    pub identical_sorted: bool,
}

/// Where `just bench-million` leaves its figures for the next `just bench`.
pub fn million_file(repo: &Path) -> PathBuf {
    repo.join("target/bench-million.txt")
}

fn settings_with(dir: &Path, url: &str, cache: &Path, extra: &str) -> anyhow::Result<PathBuf> {
    let settings = export::write_settings(dir, url, cache, false)?;
    let text = std::fs::read_to_string(&settings)?;
    // The connection object written by `write_settings` ends with
    // `"AllowUnencrypted": true }`.
    let text = text.replacen(
        "\"AllowUnencrypted\": true }",
        &format!("\"AllowUnencrypted\": true{extra} }}"),
        1,
    );
    std::fs::write(&settings, text)?;
    Ok(settings)
}

fn sorted_lines(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines.sort_unstable();
    Ok(lines)
}

/// 100,000 mailboxes over 20 databases, each object costing the simulator
/// `OBJECT_COST_US`: `MaxParallelPipelines` 1, then `PARALLEL`.
pub fn parallel(
    tools: &Tools,
    cache: &Path,
    scratch: &Path,
    runs: usize,
) -> anyhow::Result<ParallelFigures> {
    let simulator = export::basic_simulator(
        tools,
        PARALLEL_MAILBOXES,
        PARALLEL_DATABASES,
        &["--object-cost-us".to_string(), OBJECT_COST_US.to_string()],
        &scratch.join("exchange-sim-parallel.log"),
    )
    .context("the simulator does not take --object-cost-us yet (issue 17's simulator part)")?;
    let mut figures = ParallelFigures {
        one: Vec::new(),
        many: Vec::new(),
        identical_sorted: false,
    };
    let mut first_csvs = Vec::new();
    for pipelines in [1, PARALLEL] {
        let dir = scratch.join(format!("parallel-{pipelines}"));
        let settings = settings_with(
            &dir,
            &simulator.url,
            cache,
            &format!(", \"MaxParallelPipelines\": {pipelines}"),
        )?;
        // At most 2 runs each: a run at one pipeline waits 20 s on the server.
        for run in 0..runs.min(2) {
            crate::progress(&format!(
                "parallel: {PARALLEL_MAILBOXES} mailboxes at {OBJECT_COST_US} µs each, {pipelines} pipeline(s), run {}/{runs}",
                run + 1
            ));
            let run_dir = dir.join(format!("run-{run}"));
            let exported =
                export::idconn_export(tools, &settings, &run_dir, PARALLEL_MAILBOXES, &[])?;
            if pipelines == 1 {
                figures.one.push(exported.measured.wall);
            } else {
                figures.many.push(exported.measured.wall);
            }
            if run == 0 {
                first_csvs.push(sorted_lines(&exported.mailboxes_csv)?);
            }
            std::fs::remove_dir_all(&run_dir)?;
        }
    }
    figures.identical_sorted = first_csvs.len() == 2 && first_csvs[0] == first_csvs[1];
    Ok(figures)
}

/// `just bench-million`: one export of 1,000,000 mailboxes and one of
/// 100,000 on the same terms; the figures go to [`million_file`].
pub fn million(tools: &Tools, repo: &Path, databases: u64) -> anyhow::Result<String> {
    let scratch = tempfile::Builder::new()
        .prefix("idconn-bench-million-")
        .tempdir()?;
    let cache = scratch.path().join("component-cache");
    let mut lines = Vec::new();
    for mailboxes in [100_000u64, 1_000_000] {
        let simulator = export::simulator(tools, mailboxes, databases, scratch.path(), None)?;
        let dir = scratch.path().join(format!("export-{mailboxes}"));
        let settings = export::write_settings(&dir, &simulator.url, &cache, false)?;
        if mailboxes == 100_000 {
            crate::progress("million: warm-up export (fills the component cache)");
            export::idconn_export(tools, &settings, &dir.join("warm-up"), mailboxes, &[])?;
        }
        crate::progress(&format!("million: {mailboxes} mailboxes"));
        let run = export::idconn_export(tools, &settings, &dir.join("run"), mailboxes, &[])?;
        lines.push(format!(
            "{mailboxes} {} {} {}",
            run.measured.wall.as_nanos(),
            run.measured.max_rss,
            run.measured.cpu.as_nanos()
        ));
    }
    let text = lines.join("\n") + "\n";
    let file = million_file(repo);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&file, &text)?;
    Ok(text)
}

/// `(mailboxes, wall, peak RSS, CPU)` per line of [`million_file`].
fn read_million(text: &str) -> Vec<(u64, Duration, u64, Duration)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<u64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            match f[..] {
                [n, wall, rss, cpu] => Some((
                    n,
                    Duration::from_nanos(wall),
                    rss,
                    Duration::from_nanos(cpu),
                )),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn million_figures_are_read_back() {
        let rows = read_million("100000 3000000000 57671680 2500000000\n1000000 30000000000 60000000 25000000000\nbad line\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].0, 1_000_000);
        assert_eq!(rows[0].1, Duration::from_secs(3));
    }
}
