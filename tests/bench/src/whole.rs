//! Issue 17's "whole export with the component against the whole export
//! with the same logic linked natively", measured: `idconn export` and the
//! native runner (`idconn-bench __native-export`, native.rs) against the
//! same simulator with the same settings, runs alternating, each process's
//! own wall and CPU time (`wait4`, through the launcher). Their files must
//! be the same, or the benchmark fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::export::{self, Tools, CONNECTION};
use crate::procs::{self, Measured};
use crate::stats::{all_secs, median, paired_median, secs};

/// Both sides' runs, in the order they ran (component first in each pair).
#[derive(Default)]
pub struct WholeFigures {
    pub mailboxes: u64,
    pub component: Vec<Measured>,
    pub native: Vec<Measured>,
}

impl WholeFigures {
    fn walls(runs: &[Measured]) -> Vec<Duration> {
        runs.iter().map(|m| m.wall).collect()
    }

    fn cpus(runs: &[Measured]) -> Vec<Duration> {
        runs.iter().map(|m| m.cpu).collect()
    }

    /// Component wall time over native wall time: the median of each
    /// run's ratio to the native run next to it (the machine's speed drifts
    /// between runs more than the margin this figure is judged by).
    pub fn wall_ratio(&self) -> f64 {
        paired_median(&Self::walls(&self.component), &Self::walls(&self.native))
    }

    pub fn cpu_ratio(&self) -> f64 {
        paired_median(&Self::cpus(&self.component), &Self::cpus(&self.native))
    }
}

/// One native export into `dir/out` (cookies in `dir/cookies`), as
/// [`export::idconn_export`] runs `idconn export --ignore-cookies`.
pub fn native_export(settings: &Path, dir: &Path, mailboxes: u64) -> anyhow::Result<Measured> {
    let exe = std::env::current_exe().context("cannot find this binary's path")?;
    let mut command = procs::command(&exe);
    command.arg(crate::native::NATIVE_EXPORT);
    let run = export::run_export(
        command,
        "the native export",
        settings,
        dir,
        true,
        "native.log",
    )?;
    export::check_rows(&run.mailboxes_csv, mailboxes)?;
    Ok(run.measured)
}

/// The two exports' files are the same: the databases CSV byte for byte,
/// the mailbox CSV's lines byte for byte once sorted (pipelines running at
/// once may finish in either order).
pub fn check_same(component_out: &Path, native_out: &Path) -> anyhow::Result<()> {
    let file = |dir: &Path, what: &str| -> PathBuf { dir.join(format!("{CONNECTION}_{what}.csv")) };
    let read = |path: PathBuf| {
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    if read(file(component_out, "databases"))? != read(file(native_out, "databases"))? {
        bail!(
            "the native runner's databases CSV differs from idconn export's ({} and {})",
            file(native_out, "databases").display(),
            file(component_out, "databases").display()
        );
    }
    let sorted = |bytes: Vec<u8>| {
        let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        lines.sort_unstable();
        lines
    };
    let a = sorted(read(file(component_out, "mailboxes"))?);
    let b = sorted(read(file(native_out, "mailboxes"))?);
    if a != b {
        let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        bail!(
            "the native runner's mailbox CSV differs from idconn export's: {} and {} lines, {differing} differing once sorted ({} and {})",
            a.len(),
            b.len(),
            file(native_out, "mailboxes").display(),
            file(component_out, "mailboxes").display()
        );
    }
    Ok(())
}

/// `--whole-only`: the main simulator, one untimed export on each side,
/// then `runs` alternating pairs; prints the figures.
pub fn only(tools: &Tools, mailboxes: u64, databases: u64, runs: usize) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("idconn-bench-whole-")
        .tempdir()?;
    let cache = scratch.path().join("component-cache");
    let simulator = export::simulator(tools, mailboxes, databases, scratch.path(), None)?;
    let dir = scratch.path().join(format!("export-{mailboxes}"));
    let settings = export::write_settings(&dir, &simulator.url, &cache, false)?;
    crate::progress("warm-up: one export on each side (fills the component cache)");
    export::idconn_export(tools, &settings, &dir.join("warm-up"), mailboxes, &[])?;
    native_export(&settings, &dir.join("warm-up-native"), mailboxes)?;
    let mut figures = WholeFigures {
        mailboxes,
        ..WholeFigures::default()
    };
    for run in 0..runs {
        crate::progress(&format!(
            "{mailboxes} mailboxes: idconn export then the native runner, run {}/{runs}",
            run + 1
        ));
        let run_dir = dir.join(format!("run-{run}"));
        let exported = export::idconn_export(tools, &settings, &run_dir, mailboxes, &[])?;
        figures.component.push(exported.measured);
        figures.native.push(native_export(
            &settings,
            &run_dir.join("native"),
            mailboxes,
        )?);
        if run == 0 {
            check_same(&run_dir.join("out"), &run_dir.join("native/out"))?;
        }
        std::fs::remove_dir_all(&run_dir)?;
    }
    let mut s = String::new();
    render_rows(&mut s, &figures);
    println!("{s}");
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    Ok(())
}

/// The rows of the "End to end" table: wall and CPU time of each side,
/// their runs, and the ratios.
pub fn render_rows(s: &mut String, f: &WholeFigures) {
    use std::fmt::Write as _;
    for (name, runs) in [
        ("`idconn export` (the component)", &f.component),
        ("native runner (the same logic linked natively)", &f.native),
    ] {
        let (walls, cpus) = (WholeFigures::walls(runs), WholeFigures::cpus(runs));
        let _ = writeln!(
            s,
            "| whole export, {} mailboxes: {name} | wall {} (runs {}), CPU {} (runs {}) |",
            f.mailboxes,
            secs(median(&walls)),
            all_secs(&walls),
            secs(median(&cpus)),
            all_secs(&cpus)
        );
    }
    let _ = writeln!(
        s,
        "| **whole export, component / native** (the median of the runs' ratios, each component run against the native run next to it) | wall {:.2}x, CPU {:.2}x |",
        f.wall_ratio(),
        f.cpu_ratio()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(wall_ms: u64, cpu_ms: u64) -> Measured {
        Measured {
            wall: Duration::from_millis(wall_ms),
            max_rss: 0,
            cpu: Duration::from_millis(cpu_ms),
            success: true,
        }
    }

    #[test]
    fn ratios_are_the_medians_of_the_pairs() {
        // Pairs 1.05, 1.03, 1.13 (wall) and 1.50, 1.00, 1.13 (CPU); the
        // medians' ratios would be 1.13 and 1.07.
        let f = WholeFigures {
            mailboxes: 10,
            component: vec![run(2000, 1500), run(3000, 1600), run(2600, 1700)],
            native: vec![run(1900, 1000), run(2900, 1600), run(2300, 1500)],
        };
        assert!((f.wall_ratio() - 2.0 / 1.9).abs() < 1e-9);
        assert!((f.cpu_ratio() - 1.7 / 1.5).abs() < 1e-9);
        let mut s = String::new();
        render_rows(&mut s, &f);
        assert!(s.contains("wall 1.05x, CPU 1.13x"), "{s}");
        let none = WholeFigures {
            mailboxes: 10,
            component: Vec::new(),
            native: Vec::new(),
        };
        assert!(none.wall_ratio().is_nan());
    }

    #[test]
    fn files_differing_in_one_property_fail_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for (side, mailboxes) in [(&a, "h\n1,x\n2,y\n"), (&b, "h\n2,y\n1,x\n")] {
            std::fs::create_dir_all(side).unwrap();
            std::fs::write(side.join("Bench_databases.csv"), "h\nDB01\n").unwrap();
            std::fs::write(side.join("Bench_mailboxes.csv"), mailboxes).unwrap();
        }
        // The same lines in another order: the same export.
        check_same(&a, &b).unwrap();
        std::fs::write(b.join("Bench_mailboxes.csv"), "h\n2,y\n1,X\n").unwrap();
        assert!(check_same(&a, &b).is_err());
        std::fs::write(b.join("Bench_mailboxes.csv"), "h\n2,y\n1,x\n").unwrap();
        std::fs::write(b.join("Bench_databases.csv"), "h\nDB02\n").unwrap();
        assert!(check_same(&a, &b).is_err());
    }
}
