//! The stall limit (`Limits.MaxStallSeconds`): a job that went that long
//! without moving (no object from the server, no pipeline started, no
//! progress reported) is ended, however long it has run in all. A large
//! export against a real Exchange server runs for hours, but never minutes
//! without a single object: the time since the job last moved tells a hung
//! job from a long one, where a wall-clock limit cannot.
//!
//! Checked where the other measured limits are (the epoch callback while
//! guest code runs, and around every host call), and it bounds the WASI
//! waits (wasi_guard.rs), which would otherwise block past it. A host call
//! itself is bounded by `HostCallTimeoutSeconds`.

use std::time::{Duration, Instant};

use crate::limits::Limits;

/// When the job last moved.
#[derive(Debug, Clone)]
pub struct Activity {
    last: Instant,
    /// The last `done` reported: reporting the same count again is not
    /// progress.
    reported: Option<u64>,
}

impl Activity {
    pub fn new(now: Instant) -> Activity {
        Activity {
            last: now,
            reported: None,
        }
    }

    /// Objects arrived from the server, or a pipeline started.
    pub fn moved(&mut self) {
        self.last = Instant::now();
    }

    /// `report.progress(done, ..)`: counts only when `done` changed.
    pub fn progress(&mut self, done: u64) {
        if self.reported != Some(done) {
            self.reported = Some(done);
            self.moved();
        }
    }

    /// When the stall limit runs out unless the job moves first.
    pub fn stall_deadline(&self, limits: &Limits) -> Instant {
        self.last + limits.max_stall
    }

    pub fn stalled_for(&self) -> Duration {
        self.last.elapsed()
    }
}

/// Which limit a wait cut at [`deadline`] ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Stall,
    WallClock,
}

/// The earlier of the job's wall-clock deadline (if `MaxJobSeconds` is set)
/// and its stall deadline, and which one it is.
pub fn deadline(started: Instant, activity: &Activity, limits: &Limits) -> (Instant, Hit) {
    let stall = activity.stall_deadline(limits);
    match limits.max_job_time.map(|max| started + max) {
        Some(wall) if wall <= stall => (wall, Hit::WallClock),
        _ => (stall, Hit::Stall),
    }
}

/// The limit passed at `now`, if any.
pub fn check(started: Instant, activity: &Activity, limits: &Limits) -> Option<Hit> {
    if limits
        .max_job_time
        .is_some_and(|max| started.elapsed() > max)
    {
        return Some(Hit::WallClock);
    }
    (activity.stalled_for() > limits.max_stall).then_some(Hit::Stall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_deadline_wins_and_progress_moves_the_stall_deadline() {
        let now = Instant::now();
        let mut limits = Limits {
            max_stall: Duration::from_secs(10),
            ..Limits::default()
        };
        let mut activity = Activity::new(now);
        assert_eq!(
            deadline(now, &activity, &limits),
            (now + limits.max_stall, Hit::Stall)
        );
        limits.max_job_time = Some(Duration::from_secs(5));
        assert_eq!(
            deadline(now, &activity, &limits),
            (now + Duration::from_secs(5), Hit::WallClock)
        );
        limits.max_job_time = None;
        activity.progress(3);
        let after = activity.stall_deadline(&limits);
        assert!(after >= now + limits.max_stall);
        // The same count again is not progress.
        let last = activity.last;
        activity.progress(3);
        assert_eq!(activity.last, last);
        assert_eq!(check(now, &activity, &limits), None);
        // Last moved 11 s ago, with a 10 s stall limit.
        if let Some(then) = now.checked_sub(Duration::from_secs(11)) {
            assert_eq!(check(now, &Activity::new(then), &limits), Some(Hit::Stall));
        }
    }
}
