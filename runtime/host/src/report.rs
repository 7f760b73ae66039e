//! Progress and log lines from a job, for the operator: a progress bar on a
//! terminal, `Progress: <n>` lines otherwise (what Usercube's agent reads).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::bindings::Level;

pub trait Reporter: Send + Sync {
    fn log(&self, level: Level, message: &str);
    fn progress(&self, done: u64, total: Option<u64>);

    /// A component's `report.progress` (0.2.0 components' `(done, total)`
    /// arrive converted, counting their first entity kind). Reporters that
    /// do not render the entity kind or the estimate take the counts.
    fn progress_update(&self, update: &crate::bindings::ProgressUpdate) {
        self.progress(update.done, update.total);
    }
    /// The job ended; clear any bar.
    fn finish(&self) {}
}

/// Forwards a component's log line to the host's log.
pub fn log_to_tracing(connection: &str, level: Level, message: &str) {
    match level {
        Level::Trace => tracing::trace!(target: "component", connection, "{message}"),
        Level::Debug => tracing::debug!(target: "component", connection, "{message}"),
        Level::Info => tracing::info!(target: "component", connection, "{message}"),
        Level::Warn => tracing::warn!(target: "component", connection, "{message}"),
        Level::Error => tracing::error!(target: "component", connection, "{message}"),
    }
}

pub struct CliReporter {
    connection: String,
    bar: Option<ProgressBar>,
    lines: Mutex<LineState>,
}

struct LineState {
    /// The last count reported, and whether a line showed it.
    latest: Option<u64>,
    printed: Option<u64>,
    last_at: Option<Instant>,
}

impl LineState {
    fn print(&mut self, done: u64) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Progress: {done}");
        let _ = out.flush();
        self.printed = Some(done);
        self.last_at = Some(Instant::now());
    }
}

impl CliReporter {
    /// `unit`: what is counted, e.g. "objects" or "orders".
    pub fn new(connection: &str, unit: &str) -> CliReporter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let template =
                format!("{{spinner}} {{pos}} {unit} {{wide_bar}} {{per_sec}} {{elapsed}}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        CliReporter {
            connection: connection.to_string(),
            bar,
            lines: Mutex::new(LineState {
                latest: None,
                printed: None,
                last_at: None,
            }),
        }
    }
}

impl Reporter for CliReporter {
    fn log(&self, level: Level, message: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| log_to_tracing(&self.connection, level, message)),
            None => log_to_tracing(&self.connection, level, message),
        }
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        if let Some(bar) = &self.bar {
            bar.set_length(total.unwrap_or(0).max(done));
            bar.set_position(done);
            return;
        }
        let Ok(mut state) = self.lines.lock() else {
            return;
        };
        // Lines at most every 200 ms, plus the final count, keep a 100k
        // export's log readable.
        let due = state
            .last_at
            .is_none_or(|at| at.elapsed() >= Duration::from_millis(200))
            || total == Some(done);
        state.latest = Some(done);
        if state.printed != Some(done) && due {
            state.print(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        // The final count always shows, even when it came within the
        // throttle interval.
        if let Ok(mut state) = self.lines.lock() {
            if let Some(done) = state.latest.filter(|d| state.printed != Some(*d)) {
                state.print(done);
            }
        }
    }
}

/// Keeps what a job reported; for tests and for the agent's job log.
#[derive(Default)]
pub struct RecordingReporter {
    pub lines: Mutex<Vec<(Level, String)>>,
    pub progress: Mutex<Vec<(u64, Option<u64>)>>,
}

impl Reporter for RecordingReporter {
    fn log(&self, level: Level, message: &str) {
        if let Ok(mut l) = self.lines.lock() {
            l.push((level, message.to_string()));
        }
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        if let Ok(mut p) = self.progress.lock() {
            p.push((done, total));
        }
    }
}
