//! Which failures of the remote backend are transient, and what to do
//! before the next call: reconnect, wait, or both.
//!
//! Which error records mean "throttled, wait and retry" is the component's
//! to say: its manifest's `retryable-errors`, fully-qualified error id
//! prefixes (the host knows no product's ids). Such a record's message may
//! ask to "Please wait for N seconds" (an unparsed wait falls back to
//! `DEFAULT_WAIT`). Generic to WS-Management: a user over
//! `PowerShellMaxConcurrency` gets a WS-Management fault naming the
//! allowed number of "concurrent" shells (MS-WSMV 3.1.4.1.38.1, the quota
//! faults); a dropped TCP connection or a timed-out call leaves the shell in
//! an unknown state, so the pool is replaced.

use std::time::Duration;

use idconn_psrp::client;
use idconn_psrp::message::ErrorRecord;

/// The longest wait the host honours: a longer request is shortened to
/// this (the job's wall-clock limit still applies).
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// The wait when the server says it throttles without saying how long.
const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// What the next call must do first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Close the session (deleting its shell) and open a new one.
    pub reconnect: bool,
    pub wait: Duration,
    /// The failure, for the log and the final error (already escaped).
    pub cause: String,
}

/// The recovery a failed call needs, or `None` when the failure is not
/// transient (a refused cmdlet, bad credentials, a protocol error).
/// `retryable_errors`: the component's retryable error id prefixes.
pub fn recovery(error: &client::Error, retryable_errors: &[String]) -> Option<Recovery> {
    let cause = idconn_psrp::untrusted::line(&error.to_string());
    match error {
        client::Error::Transport(_) | client::Error::Timeout(_) => Some(Recovery {
            reconnect: true,
            wait: Duration::ZERO,
            cause,
        }),
        client::Error::Http {
            status: 503,
            detail,
        } => Some(Recovery {
            reconnect: true,
            wait: asked_wait(detail).unwrap_or(DEFAULT_WAIT),
            cause,
        }),
        client::Error::Fault { message, .. }
            if message.to_ascii_lowercase().contains("concurrent") =>
        {
            Some(Recovery {
                reconnect: true,
                wait: asked_wait(message).unwrap_or(DEFAULT_WAIT),
                cause,
            })
        }
        client::Error::Remote(record) if is_throttling(record, retryable_errors) => {
            Some(Recovery {
                reconnect: false,
                wait: asked_wait(&record.message).unwrap_or(DEFAULT_WAIT),
                cause,
            })
        }
        _ => None,
    }
}

/// A call that did not finish within `HostCallTimeoutSeconds`.
pub fn timed_out() -> Recovery {
    Recovery {
        reconnect: true,
        wait: Duration::ZERO,
        cause: "the call timed out".to_owned(),
    }
}

/// An error record whose fully-qualified error id starts with one of the
/// component's retryable prefixes (ASCII case-insensitive). A pattern
/// starting with `*` matches anywhere in the id: only contract tables use
/// that form (`bindings::since_v0_2_0::RETRYABLE_ERRORS`); a manifest cannot.
pub fn is_throttling(record: &ErrorRecord, retryable_errors: &[String]) -> bool {
    let id = record.fully_qualified_error_id.to_ascii_lowercase();
    retryable_errors.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix('*') {
            Some(fragment) => !fragment.is_empty() && id.contains(fragment),
            None => !pattern.is_empty() && id.starts_with(&pattern),
        }
    })
}

/// "... Please wait for 5 seconds ..." -> 5 s, capped at [`MAX_WAIT`].
pub fn asked_wait(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let after = &lower[lower.find("wait for ")? + "wait for ".len()..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    let seconds: u64 = digits.parse().ok()?;
    let unit = after[digits.len()..].trim_start();
    let wait = if unit.starts_with("millisecond") || unit.starts_with("msec") {
        Duration::from_millis(seconds)
    } else if unit.starts_with("minute") {
        Duration::from_secs(seconds.saturating_mul(60))
    } else {
        Duration::from_secs(seconds)
    };
    Some(wait.min(MAX_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, message: &str) -> ErrorRecord {
        ErrorRecord {
            message: message.into(),
            fully_qualified_error_id: id.into(),
            category: "ResourceUnavailable".into(),
            activity: String::new(),
            reason: String::new(),
            target_name: None,
            exception_type: String::new(),
        }
    }

    /// Sample data: an error id prefix as a component would declare it.
    const SAMPLE_PREFIX: &str = "Sample.Directory.OverBudgetException";

    #[test]
    fn a_declared_retryable_error_asks_for_a_wait_without_reconnecting() {
        let error = client::Error::Remote(Box::new(record(
            "Sample.Directory.OverBudgetException,Sample.Cmdlets.GetThing",
            "You have exceeded your budget. Please wait for 5 seconds.",
        )));
        let r = recovery(&error, &[SAMPLE_PREFIX.to_string()]).unwrap();
        assert_eq!((r.reconnect, r.wait), (false, Duration::from_secs(5)));
        // Undeclared, the same record is an ordinary error.
        assert_eq!(recovery(&error, &[]), None);
        assert_eq!(recovery(&error, &["Other.Prefix".to_string()]), None);
        // A contract table's fragment matches anywhere.
        assert!(recovery(&error, &["*overbudget".to_string()]).is_some());
    }

    #[test]
    fn dropped_connections_reconnect_and_ordinary_errors_do_not_recover() {
        let r = recovery(&client::Error::Transport("connection closed".into()), &[]).unwrap();
        assert!(r.reconnect && r.wait.is_zero());
        let not_found = client::Error::Remote(Box::new(record(
            "ManagementObjectNotFoundException",
            "couldn't be found",
        )));
        assert_eq!(recovery(&not_found, &[]), None);
        assert_eq!(recovery(&client::Error::Auth("no".into()), &[]), None);
        assert_eq!(
            recovery(
                &client::Error::Http {
                    status: 500,
                    detail: String::new()
                },
                &[]
            ),
            None
        );
    }

    #[test]
    fn waits_are_read_and_capped() {
        assert_eq!(
            asked_wait("Please wait for 12 seconds."),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            asked_wait("wait for 500 msecs"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(asked_wait("Please wait for 90 minutes"), Some(MAX_WAIT));
        assert_eq!(asked_wait("wait for it"), None);
        assert_eq!(asked_wait("no number"), None);
    }
}
