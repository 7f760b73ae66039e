//! Progress as a person reads it: counts with thousands separators, a rate
//! rounded to what matters (`1,732/s`, not `1,731.9302/s`), the time spent
//! and the time left when a total is known, marked `~` when that total is
//! only an estimate (e.g. the previous export's count from the cookie).
//!
//! Written against a plain struct with the fields of the 0.3.0 contract's
//! `report.progress-update` record, so wiring it to the bindings is one
//! conversion.

use std::time::Duration;

use serde::Serialize;

/// `progress-update {entity, done, total, total-is-estimate}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgressUpdate {
    /// What is counted ("mailbox"); empty when the component did not say.
    pub entity: String,
    pub done: u64,
    pub total: Option<u64>,
    pub total_is_estimate: bool,
}

/// Elapsed time, rate and time left of a job, for the agent's job status.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressFigures {
    pub done: u64,
    pub total: Option<u64>,
    pub total_is_estimate: bool,
    pub elapsed_ms: u64,
    /// Objects per second since the job started.
    pub rate_per_second: Option<f64>,
    /// Seconds left at that rate, when a total is known and not yet passed.
    pub eta_seconds: Option<u64>,
}

impl ProgressFigures {
    pub fn new(update: &ProgressUpdate, elapsed: Duration) -> ProgressFigures {
        let secs = elapsed.as_secs_f64();
        // Under a tenth of a second the rate is noise.
        let rate = (secs >= 0.1 && update.done > 0).then(|| update.done as f64 / secs);
        let eta_seconds = match (rate, update.total) {
            (Some(rate), Some(total)) if total > update.done => {
                Some(((total - update.done) as f64 / rate).ceil() as u64)
            }
            _ => None,
        };
        ProgressFigures {
            done: update.done,
            total: update.total,
            total_is_estimate: update.total_is_estimate,
            elapsed_ms: elapsed.as_millis().min(u128::from(u64::MAX)) as u64,
            rate_per_second: rate.map(|r| (r * 10.0).round() / 10.0),
            eta_seconds,
        }
    }
}

/// `1234567` -> `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate as a person reads it: whole numbers from 10 up (`1,732/s`), one
/// decimal below (`2.5/s`), per minute under one a second (`12/min`).
pub fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second <= 0.0 {
        return "0/s".into();
    }
    if per_second >= 9.95 {
        format!("{}/s", count(per_second.round() as u64))
    } else if per_second >= 1.0 {
        format!("{:.1}/s", per_second)
    } else {
        format!("{}/min", count((per_second * 60.0).round() as u64))
    }
}

/// A duration as `45s`, `3m 05s`, `2h 07m`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// One line: `41,200 of ~100,000 mailbox (41%), 1,732/s, 24s elapsed, ~34s
/// left`. `~` marks what rests on an estimated total.
pub fn line(update: &ProgressUpdate, elapsed: Duration) -> String {
    let figures = ProgressFigures::new(update, elapsed);
    let about = if update.total_is_estimate { "~" } else { "" };
    let mut out = count(update.done);
    if let Some(total) = update.total {
        out.push_str(&format!(" of {about}{}", count(total)));
    }
    if !update.entity.is_empty() {
        out.push(' ');
        out.push_str(&update.entity);
    }
    if let Some(total) = update.total.filter(|t| *t > 0) {
        let percent = (update.done.min(total) * 100) / total;
        out.push_str(&format!(" ({about}{percent}%)"));
    }
    if let Some(r) = figures.rate_per_second {
        out.push_str(&format!(", {}", rate(r)));
    }
    out.push_str(&format!(", {} elapsed", duration(elapsed)));
    if let Some(eta) = figures.eta_seconds {
        out.push_str(&format!(
            ", {about}{} left",
            duration(Duration::from_secs(eta))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
    }

    #[test]
    fn rates_read_as_a_person_reads_them() {
        assert_eq!(rate(1731.9302), "1,732/s");
        assert_eq!(rate(31306.4), "31,306/s");
        assert_eq!(rate(12.4), "12/s");
        assert_eq!(rate(2.46), "2.5/s");
        assert_eq!(rate(0.2), "12/min");
        assert_eq!(rate(0.0), "0/s");
        assert_eq!(rate(f64::NAN), "0/s");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(Duration::from_secs(45)), "45s");
        assert_eq!(duration(Duration::from_secs(185)), "3m 05s");
        assert_eq!(duration(Duration::from_secs(7620)), "2h 07m");
    }

    #[test]
    fn a_line_says_when_the_total_is_an_estimate() {
        let mut update = ProgressUpdate {
            entity: "mailbox".into(),
            done: 4_000,
            total: Some(100_000),
            total_is_estimate: true,
        };
        // 4,000 in 2 s: 2,000/s, 96,000 left: 48 s.
        assert_eq!(
            line(&update, Duration::from_secs(2)),
            "4,000 of ~100,000 mailbox (~4%), 2,000/s, 2s elapsed, ~48s left"
        );
        update.total_is_estimate = false;
        assert_eq!(
            line(&update, Duration::from_secs(2)),
            "4,000 of 100,000 mailbox (4%), 2,000/s, 2s elapsed, 48s left"
        );
        // No total: no percentage, no time left.
        update.total = None;
        assert_eq!(
            line(&update, Duration::from_secs(2)),
            "4,000 mailbox, 2,000/s, 2s elapsed"
        );
        // An estimate passed: the count goes on, nothing is left to show.
        update.total = Some(3_000);
        update.total_is_estimate = true;
        assert_eq!(
            line(&update, Duration::from_secs(2)),
            "4,000 of ~3,000 mailbox (~100%), 2,000/s, 2s elapsed"
        );
    }

    #[test]
    fn figures_for_the_job_status() {
        let update = ProgressUpdate {
            entity: String::new(),
            done: 1_500,
            total: Some(3_000),
            total_is_estimate: false,
        };
        let figures = ProgressFigures::new(&update, Duration::from_millis(1_500));
        assert_eq!(figures.rate_per_second, Some(1000.0));
        assert_eq!(figures.eta_seconds, Some(2));
        assert_eq!(figures.elapsed_ms, 1_500);
        let json = serde_json::to_value(&figures).unwrap();
        assert_eq!(json["etaSeconds"], 2);
        assert_eq!(json["ratePerSecond"], 1000.0);
        assert_eq!(json["totalIsEstimate"], false);
        // Too early for a rate.
        let early = ProgressFigures::new(&update, Duration::from_millis(50));
        assert_eq!((early.rate_per_second, early.eta_seconds), (None, None));
    }
}
