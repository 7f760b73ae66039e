//! Issue 17's end to end figure with the server and the client on CPUs of
//! their own. On this 2-core machine the simulator and the client share
//! both cores, so the export's time depends on the sum of their CPU times
//! (the floor's client needs almost none): that measures how much CPU
//! idconn takes away from the server, not how an export runs against a
//! real Exchange server on another machine. Here the simulator runs on
//! CPU 0 alone and the client (`idconn export`, or the drain-only floor)
//! on CPU 1 alone, runs alternating.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::export::{self, Tools};
use crate::procs::{self, PIN_CPU_ENV};

#[derive(Default)]
pub struct PinnedFigures {
    pub mailboxes: u64,
    pub export: Vec<Duration>,
    /// idconn's CPU time per export run.
    pub cpu: Vec<Duration>,
    pub floor: Vec<Duration>,
}

pub fn measure(
    tools: &Tools,
    mailboxes: u64,
    databases: u64,
    cache: &Path,
    scratch: &Path,
    runs: usize,
) -> anyhow::Result<PinnedFigures> {
    if std::thread::available_parallelism()?.get() < 2 {
        bail!("needs two CPUs");
    }
    let dir = scratch.join("pinned");
    std::fs::create_dir_all(&dir)?;
    let on = |cpu: &str| vec![(PIN_CPU_ENV.to_string(), cpu.to_string())];
    let simulator = export::simulator_on(tools, mailboxes, databases, &dir, None, Some(0))?;
    let settings = export::write_settings(&dir, &simulator.url, cache, false)?;
    let launcher = std::env::current_exe().context("cannot find this binary's path")?;
    let mut figures = PinnedFigures {
        mailboxes,
        ..PinnedFigures::default()
    };
    for run in 0..runs {
        crate::progress(&format!(
            "{mailboxes} mailboxes, simulator on CPU 0, client on CPU 1: idconn export and the floor, run {}/{runs}",
            run + 1
        ));
        let run_dir = dir.join(format!("run-{run}"));
        let exported = export::idconn_export(tools, &settings, &run_dir, mailboxes, &on("1"))?;
        figures.export.push(exported.measured.wall);
        figures.cpu.push(exported.measured.cpu);
        std::fs::remove_dir_all(&run_dir)?;

        let mut floor = procs::command(&launcher);
        floor
            .args(["--floor-only", &simulator.url, "--runs", "1"])
            .env(PIN_CPU_ENV, "1");
        let log = dir.join(format!("floor-{run}.log"));
        let measured = procs::measure(floor, &log)?;
        let text = std::fs::read_to_string(&log)?;
        if !measured.success {
            bail!("the pinned drain-only floor failed: {text}");
        }
        figures.floor.push(
            floor_time(&text)
                .with_context(|| format!("the drain-only floor printed no time: {text}"))?,
        );
    }
    Ok(figures)
}

/// The time in `--floor-only`'s `floor 1.234 s, ...` line.
fn floor_time(text: &str) -> Option<Duration> {
    let line = text.lines().find_map(|l| l.strip_prefix("floor "))?;
    let seconds: f64 = line.split_whitespace().next()?.parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_line_is_read() {
        assert_eq!(
            floor_time("[idconn-bench] x\nfloor 1.500 s, 1193 Receives, 609671060 bytes\n"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(floor_time("floor s\n"), None);
        assert_eq!(floor_time(""), None);
    }
}
