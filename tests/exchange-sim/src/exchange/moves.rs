//! Move requests as Exchange keeps them.
//!
//! `New-MoveRequest` only queues a move ("begin the process of an
//! asynchronous mailbox ... move", New-MoveRequest.md); the Mailbox
//! Replication Service performs it later, and the mailbox's database
//! (homeMDB) changes only when the move completes. The request stays after
//! it completed or failed until someone runs `Remove-MoveRequest`
//! (completed ones are cleaned up after CompletedRequestAgeLimit, 30 days by
//! default: Set-MoveRequest.md), and while it exists a new request for the
//! same mailbox is refused.
//!
//! The simulator has no service running in the background: a request
//! completes `--move-seconds` after it was made, and requests are brought up
//! to date at the start of every pipeline ([`advance`]), so whatever a
//! client reads is the state at that moment.

use super::model::{now_seconds, Directory};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The statuses the simulator goes through (RequestStatus values listed in
/// Get-MoveRequest.md `-MoveStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MoveStatus {
    Queued,
    InProgress,
    Completed,
    Failed,
}

impl MoveStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveStatus::Queued => "Queued",
            MoveStatus::InProgress => "InProgress",
            MoveStatus::Completed => "Completed",
            MoveStatus::Failed => "Failed",
        }
    }

    pub fn is_pending(self) -> bool {
        matches!(self, MoveStatus::Queued | MoveStatus::InProgress)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveRequest {
    /// The AD user id of the mailbox.
    pub user: u64,
    pub source: u64,
    pub target: u64,
    /// Names as they were when the request was made (a database removed
    /// since is still named).
    pub source_name: String,
    pub target_name: String,
    pub batch_name: String,
    pub created: DateTime<Utc>,
    /// When the move completes (or fails).
    pub due: DateTime<Utc>,
    /// `Queued` until half the move time passed, then `InProgress`, then
    /// `Completed` or `Failed` (see [`MoveRequest::status_at`]).
    pub status: MoveStatus,
    pub finished: Option<DateTime<Utc>>,
    /// Exchange's failure message and FailureType for a failed move.
    pub failure: Option<(String, String)>,
}

impl MoveRequest {
    pub fn new(
        user: u64,
        (source, source_name): (u64, String),
        (target, target_name): (u64, String),
        batch_name: String,
        seconds: u64,
    ) -> Self {
        let created = now_seconds();
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX / 4_000);
        MoveRequest {
            user,
            source,
            target,
            source_name,
            target_name,
            batch_name,
            created,
            due: created + Duration::seconds(seconds.min(10 * 365 * 86_400)),
            status: MoveStatus::Queued,
            finished: None,
            failure: None,
        }
    }

    /// The status a client sees at `now`.
    pub fn status_at(&self, now: DateTime<Utc>) -> MoveStatus {
        if self.status.is_pending() {
            let half = self.created + (self.due - self.created) / 2;
            if now >= half && self.due > self.created {
                return MoveStatus::InProgress;
            }
        }
        self.status
    }

    pub fn percent_complete(&self, now: DateTime<Utc>) -> i32 {
        match self.status_at(now) {
            MoveStatus::Completed => 100,
            MoveStatus::Queued => 0,
            _ => {
                let total = (self.due - self.created).num_seconds().max(1);
                let done = (now - self.created).num_seconds().clamp(0, total);
                i32::try_from(done * 95 / total).unwrap_or(95)
            }
        }
    }
}

/// Whether some request is due at `now` (checked under the read lock, so
/// most pipelines never take the write lock for this).
pub fn any_due(dir: &Directory, now: DateTime<Utc>) -> bool {
    dir.move_requests
        .values()
        .any(|r| r.status.is_pending() && r.due <= now)
}

/// The message a move gets when its target database is not mounted when
/// the data should be copied: guessed from MAPI's "database offline" error
/// (docs/simulator.md says so).
fn offline_failure(target: &str) -> (String, String) {
    (
        format!(
            "Error: MapiExceptionMdbOffline: Unable to open the target mailbox database '{target}' because it is offline. (hr=0x80004005, ec=1142)"
        ),
        "MapiExceptionMdbOffline".to_string(),
    )
}

/// Completes (or fails), as of its due time, every request due at `now`;
/// returns whether the
/// directory changed. A move fails when its target database is gone or
/// dismounted at that moment: that is how a test makes a move fail.
pub fn advance(dir: &mut Directory, now: DateTime<Utc>) -> bool {
    let due: Vec<u64> = dir
        .move_requests
        .values()
        .filter(|r| r.status.is_pending() && r.due <= now)
        .map(|r| r.user)
        .collect();
    for user_id in &due {
        let Some(mut request) = dir.move_requests.get(user_id).cloned() else {
            continue;
        };
        let target_ok = dir
            .databases
            .get(&request.target)
            .is_some_and(|d| d.mounted);
        let user = dir.users.get(user_id).cloned();
        match user {
            Some(user) if target_ok && user.mailbox.is_some() => {
                let mut updated = (*user).clone();
                if let Some(mailbox) = updated.mailbox.as_mut() {
                    mailbox.database = request.target;
                }
                // Stamped when the move completed, not when a client
                // happened to look: an export that starts after that moment
                // must see it.
                updated.when_changed = request.due;
                dir.users.insert(*user_id, Arc::new(updated));
                request.status = MoveStatus::Completed;
            }
            _ => {
                request.status = MoveStatus::Failed;
                request.failure = Some(offline_failure(&request.target_name));
            }
        }
        request.finished = Some(request.due);
        dir.move_requests.insert(*user_id, request);
    }
    !due.is_empty()
}
