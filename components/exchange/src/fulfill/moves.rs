//! Moving a mailbox to another database, convergently.
//!
//! `New-MoveRequest` only queues an asynchronous move (New-MoveRequest.md:
//! "begin the process of an asynchronous mailbox ... move"); the mailbox's
//! Database changes when the Mailbox Replication Service completes it.
//! Exchange keeps the request afterwards, completed or failed, until it is
//! removed (Remove-MoveRequest.md; completed ones for
//! CompletedRequestAgeLimit, 30 days by default: Set-MoveRequest.md), and
//! refuses a new request for a mailbox that has one. So an order reads the
//! request first (Get-MoveRequest, whose Identity is the mailbox's:
//! Get-MoveRequest.md) and:
//! - already in the target database: nothing to do;
//! - no request: queue one;
//! - a request to the target still running (Queued, InProgress, ...): done,
//!   Exchange finishes it;
//! - a request to another database still running: `Errored`, nothing is
//!   cancelled behind the operator's back;
//! - a completed request (to anywhere): removed, then a new one queued;
//! - a failed request to the target: its failure is the order's result,
//!   with Exchange's message (Get-MoveRequestStatistics' Message), and the
//!   request is removed so that running the order again retries the move;
//! - a failed request to another database: removed, then a new one queued.

use super::fields::{object_fields, Fields};
use super::Calls;
use idconn_sdk::Command;
use idconn_sdk::{command, Shell};

/// What a move step did: the cmdlets it ran and what the operator must know.
pub struct Moved {
    pub done: Vec<String>,
    /// `None` when the mailbox already is where the order wants it.
    pub note: Option<String>,
}

/// Longest text of Exchange's failure message kept in a result.
const MAX_MESSAGE_CHARS: usize = 1024;

fn request_pipeline(identity: &str) -> Vec<Command> {
    vec![
        command("Get-MoveRequest")
            .text("Identity", identity)
            .build(),
        command("Select-Object")
            .texts("Property", ["Status", "TargetDatabase", "SourceDatabase"])
            .build(),
    ]
}

fn statistics_pipeline(identity: &str) -> Vec<Command> {
    vec![
        command("Get-MoveRequestStatistics")
            .text("Identity", identity)
            .build(),
        command("Select-Object")
            .texts("Property", ["Status", "Message", "FailureType"])
            .build(),
    ]
}

fn remove(identity: &str) -> Command {
    command("Remove-MoveRequest")
        .text("Identity", identity)
        .boolean("Confirm", false)
        .build()
}

fn create(identity: &str, target: &str) -> Command {
    command("New-MoveRequest")
        .text("Identity", identity)
        .text("TargetDatabase", target)
        .build()
}

fn queued(target: &str) -> String {
    format!(
        "the move to `{target}` is queued: Exchange moves the mailbox asynchronously, and its Database changes when the move completes"
    )
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Brings the mailbox `identity`, now in `current` (if known), toward
/// `target`.
pub fn converge<S: Shell>(
    calls: &Calls<'_, S>,
    identity: &str,
    target: &str,
    current: Option<&str>,
) -> Result<Moved, String> {
    if current.is_some_and(|c| same(c, target)) {
        return Ok(Moved {
            done: Vec::new(),
            note: None,
        });
    }
    let Some(request) = calls.find(&request_pipeline(identity))? else {
        calls.call(&[create(identity, target)])?;
        return Ok(Moved {
            done: vec!["New-MoveRequest".to_owned()],
            note: Some(queued(target)),
        });
    };
    let fields = object_fields(&request);
    let request = Fields(&fields);
    let status = request.text("Status").unwrap_or_default();
    let to = request.text("TargetDatabase").unwrap_or_default();
    let completed = ["Completed", "CompletedWithWarning"]
        .iter()
        .any(|s| same(s, &status));
    let failed = same(&status, "Failed");
    if !completed && !failed {
        if same(&to, target) {
            return Ok(Moved {
                done: Vec::new(),
                note: Some(format!(
                    "a move to `{target}` is already {status}: Exchange completes it asynchronously"
                )),
            });
        }
        return Err(format!(
            "a move of the mailbox to `{to}` is {status}: it must complete, or be removed with Remove-MoveRequest, before the mailbox can be moved to `{target}`"
        ));
    }
    let mut done = Vec::new();
    if failed && same(&to, target) {
        let why = failure(calls, identity)?;
        calls.call(&[remove(identity)])?;
        return Err(format!(
            "the move to `{target}` failed: {why}; its request was removed (Remove-MoveRequest), so running the order again requests a new move"
        ));
    }
    calls.call(&[remove(identity)])?;
    done.push("Remove-MoveRequest".to_owned());
    calls.call(&[create(identity, target)])?;
    done.push("New-MoveRequest".to_owned());
    let earlier = if failed { "failed" } else { "completed" };
    Ok(Moved {
        done,
        note: Some(format!(
            "removed the {earlier} earlier move request to `{to}`; {}",
            queued(target)
        )),
    })
}

/// Exchange's message for a failed move, bounded.
fn failure<S: Shell>(calls: &Calls<'_, S>, identity: &str) -> Result<String, String> {
    let Some(statistics) = calls.find(&statistics_pipeline(identity))? else {
        return Ok("Exchange gives no detail (Get-MoveRequestStatistics found nothing)".to_owned());
    };
    let fields = object_fields(&statistics);
    let statistics = Fields(&fields);
    let message = statistics
        .text("Message")
        .unwrap_or_else(|| "no message".to_owned());
    let mut message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    if let Some(kind) = statistics.text("FailureType") {
        message = format!("{message} (FailureType {kind})");
    }
    Ok(message)
}
