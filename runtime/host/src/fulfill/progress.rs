//! Fulfill's progress on the CLI.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::bindings::Level;
use crate::report::{CliReporter, Reporter};

/// The CLI's fulfill reporting: a progress bar on a terminal, otherwise
/// `Progress:<n>` lines, the form Usercube's agent reads after
/// `OrdersCount:<n>`: a line when the count changed, at most every 200 ms
/// (a component reporting in a loop cannot flood the output), and always
/// the final count.
pub struct FulfillCliReporter {
    cli: CliReporter,
    /// `None` on a terminal (the bar shows progress).
    lines: Option<std::sync::Mutex<ProgressLines>>,
}

impl FulfillCliReporter {
    pub fn new(connection: &str) -> FulfillCliReporter {
        FulfillCliReporter {
            cli: CliReporter::new(connection, "orders"),
            lines: (!std::io::stderr().is_terminal())
                .then(|| std::sync::Mutex::new(ProgressLines::default())),
        }
    }
}

/// The throttle of `Progress:<n>` lines.
#[derive(Default)]
struct ProgressLines {
    latest: Option<u64>,
    printed: Option<u64>,
    last_at: Option<Instant>,
}

impl ProgressLines {
    const INTERVAL: Duration = Duration::from_millis(200);

    /// Whether `done`, reported at `now`, is printed now (then it is
    /// counted as printed).
    fn report(&mut self, done: u64, total: Option<u64>, now: Instant) -> bool {
        self.latest = Some(done);
        let due = self
            .last_at
            .is_none_or(|at| now.saturating_duration_since(at) >= Self::INTERVAL)
            || total == Some(done);
        if self.printed == Some(done) || !due {
            return false;
        }
        self.printed = Some(done);
        self.last_at = Some(now);
        true
    }

    /// The last count when no line showed it yet.
    fn final_count(&mut self) -> Option<u64> {
        let done = self.latest.filter(|d| self.printed != Some(*d))?;
        self.printed = Some(done);
        Some(done)
    }
}

fn print_progress(done: u64) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Progress:{done}");
    let _ = out.flush();
}

impl Reporter for FulfillCliReporter {
    fn log(&self, level: Level, message: &str) {
        self.cli.log(level, message);
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        match &self.lines {
            Some(lines) => {
                let print = lines
                    .lock()
                    .is_ok_and(|mut lines| lines.report(done, total, Instant::now()));
                if print {
                    print_progress(done);
                }
            }
            None => self.cli.progress(done, total),
        }
    }

    fn finish(&self) {
        if let Some(lines) = &self.lines {
            if let Some(done) = lines.lock().ok().and_then(|mut l| l.final_count()) {
                print_progress(done);
            }
        }
        self.cli.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_throttled_and_end_with_the_final_count() {
        let mut lines = ProgressLines::default();
        let t0 = Instant::now();
        assert!(lines.report(1, None, t0));
        // The same count again: no line; a new one 200 ms later: a line.
        assert!(!lines.report(1, None, t0 + Duration::from_millis(300)));
        assert!(lines.report(2, None, t0 + Duration::from_millis(350)));
        // New counts within 200 ms of the last line: none.
        let shown = (3..10_000u64)
            .filter(|&n| lines.report(n, None, t0 + Duration::from_millis(400)))
            .count();
        assert_eq!(shown, 0);
        assert!(lines.report(10_000, None, t0 + Duration::from_millis(600)));
        assert!(lines.report(10_001, Some(10_001), t0 + Duration::from_millis(601)));
        assert_eq!(lines.final_count(), None);
        assert!(!lines.report(10_002, None, t0 + Duration::from_millis(602)));
        assert_eq!(lines.final_count(), Some(10_002));
        assert_eq!(lines.final_count(), None);
    }
}
