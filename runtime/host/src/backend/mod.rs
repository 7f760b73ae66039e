//! Where the `powershell` capability's pipelines run: a remote PowerShell
//! endpoint (`remote`) or a scripted fixture (`replay`).

pub mod batch;
pub(crate) mod fixture_value;
pub mod mapping;
pub mod record;
pub mod remote;
pub mod replay;
pub mod transient;

use crate::bindings::{Batch, CallError, Command, ErrorRecord};

/// Runs pipelines for one job. Grants are checked before a backend sees a
/// pipeline.
pub trait PowerShell: Send {
    fn invoke(&mut self, pipeline: &[Command]) -> Result<Box<dyn PipelineOutput>, CallError>;
}

/// A running pipeline's output, pulled in batches.
pub trait PipelineOutput: Send {
    /// The next batch of at most `max` objects; `None` once complete.
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, CallError>;
    fn errors(&self) -> Vec<ErrorRecord>;
    fn warnings(&self) -> Vec<String>;
}

/// The pipeline as an operator reads it in a log line:
/// `Get-Mailbox -ResultSize Unlimited | Select-Object -Property ...`.
pub fn describe(pipeline: &[Command]) -> String {
    use crate::bindings::Argument;
    pipeline
        .iter()
        .map(|c| {
            let mut s = c.name.clone();
            for p in &c.parameters {
                s.push_str(" -");
                s.push_str(&p.name);
                if let Argument::Value(v) = &p.argument {
                    s.push(' ');
                    s.push_str(&mapping::value_to_display(v));
                }
            }
            s
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A call error as one line for an operator.
pub fn call_error_text(error: &CallError) -> String {
    // The texts may come from the server: escaped and capped here, once.
    use idconn_psrp::untrusted::line;
    match error {
        CallError::Denied(m) => format!("denied: {}", line(m)),
        CallError::Transport(m) => format!("connection failed: {}", line(m)),
        CallError::Remote(e) if e.fully_qualified_error_id.is_empty() => line(&e.message),
        CallError::Remote(e) => format!(
            "{} ({})",
            line(&e.message),
            line(&e.fully_qualified_error_id)
        ),
        CallError::Retryable(r) => format!("the server asked to retry later: {}", line(&r.reason)),
        CallError::Limit(m) => format!("limit reached: {}", line(m)),
        CallError::Timeout => "the server did not answer in time".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_error_text_escapes_server_text() {
        let error = CallError::Remote(ErrorRecord {
            message: "bad\r\nINFO forged".into(),
            fully_qualified_error_id: "Id\u{1b}[2J".into(),
            category: String::new(),
            target: None,
        });
        assert_eq!(
            call_error_text(&error),
            "bad\\r\\nINFO forged (Id\\u{1b}[2J)"
        );
        let error = CallError::Transport("x\ny".into());
        assert_eq!(call_error_text(&error), "connection failed: x\\ny");
    }
}
