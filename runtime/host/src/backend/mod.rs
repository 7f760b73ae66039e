//! Where the `powershell` capability's pipelines run: a remote Exchange
//! server (`remote`) or a scripted fixture (`replay`).

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
    match error {
        CallError::Denied(m) => format!("denied: {m}"),
        CallError::Transport(m) => format!("connection failed: {m}"),
        CallError::Remote(e) if e.fully_qualified_error_id.is_empty() => e.message.clone(),
        CallError::Remote(e) => format!("{} ({})", e.message, e.fully_qualified_error_id),
        CallError::Limit(m) => format!("limit reached: {m}"),
        CallError::Timeout => "the server did not answer in time".into(),
    }
}
