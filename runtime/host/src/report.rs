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
    /// A progress report with what is counted and whether the total is an
    /// estimate (contract 0.3.0's `progress-update`; 0.2.0's `progress`
    /// comes here as an update with an exact total). By default, the count.
    fn update(&self, update: &crate::progress::ProgressUpdate) {
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
    unit: String,
    started: Instant,
    bar: Option<ProgressBar>,
    /// Whether the bar's style shows a bar (a total is known).
    bar_has_total: Mutex<Option<bool>>,
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
            set_bar_style(&bar, false);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        CliReporter {
            connection: connection.to_string(),
            unit: unit.to_string(),
            started: Instant::now(),
            bar,
            bar_has_total: Mutex::new(None),
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
        self.update(&crate::progress::ProgressUpdate {
            entity: String::new(),
            done,
            total,
            total_is_estimate: false,
        });
    }

    fn update(&self, update: &crate::progress::ProgressUpdate) {
        let (done, total) = (update.done, update.total);
        if let Some(bar) = &self.bar {
            // Without a total there is no bar to fill (it used to show
            // full at once): a spinner and the figures only.
            let has_total = total.is_some_and(|t| t > 0);
            if let Ok(mut shown) = self.bar_has_total.lock() {
                if *shown != Some(has_total) {
                    set_bar_style(bar, has_total);
                    *shown = Some(has_total);
                }
            }
            if let Some(total) = total.filter(|_| has_total) {
                // An estimate passed: the bar stays full while the count goes on.
                bar.set_length(total.max(done));
            }
            bar.set_position(done);
            let mut shown = update.clone();
            if shown.entity.is_empty() {
                shown.entity = self.unit.clone();
            }
            bar.set_message(crate::progress::line(&shown, self.started.elapsed()));
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

/// A spinner and the progress line, with a bar when a total is known.
fn set_bar_style(bar: &ProgressBar, with_total: bool) {
    let template = if with_total {
        "{spinner} {bar:30} {msg}"
    } else {
        "{spinner} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
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
