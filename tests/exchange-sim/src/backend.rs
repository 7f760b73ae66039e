//! The boundary between the protocol layer (`server/`: HTTP, WS-Management,
//! PSRP) and the Exchange model (`exchange/`: directory, cmdlets, RBAC).
//!
//! The protocol layer knows nothing of mailboxes; the model knows nothing of
//! SOAP. Each side can be tested alone.

use idconn_psrp::clixml::Value;
use idconn_psrp::Command;

/// An error record as Exchange writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimErrorRecord {
    pub message: String,
    /// e.g. `[Server=EXCH01,RequestId=...] [FailureCategory=Cmdlet-ManagementObjectNotFoundException] 5D2D4F4E,Microsoft.Exchange.Management.RecipientTasks.GetMailbox`
    pub fully_qualified_error_id: String,
    /// The exception's .NET type name, e.g.
    /// `Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException`.
    pub exception_type: String,
    /// A PowerShell `ErrorCategory` name, e.g. `NotSpecified`, `ObjectNotFound`.
    pub category: String,
    /// `CategoryInfo.Activity`, usually the cmdlet name.
    pub activity: String,
    pub target_name: Option<String>,
}

/// One thing a running pipeline produces, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    Output(Value),
    /// A non-terminating error record (the pipeline goes on).
    Error(SimErrorRecord),
    Warning(String),
    /// A terminating error: the pipeline state becomes Failed with it.
    Failed(SimErrorRecord),
}

/// A pipeline in progress. Pulled by the protocol layer as Receives arrive,
/// so a large result is never built whole in memory.
pub trait PipelineRun: Send {
    /// The next event, or `None` once the pipeline completed.
    fn next_event(&mut self) -> Option<PipelineEvent>;
}

/// What the protocol layer asks of the Exchange model.
pub trait ExchangeBackend: Send + Sync + 'static {
    /// Checks Basic credentials; returns the canonical user name.
    fn authenticate_basic(&self, user: &str, password: &str) -> Option<String>;
    /// Starts a pipeline for an authenticated user.
    fn invoke(&self, user: &str, commands: Vec<Command>) -> Box<dyn PipelineRun>;
}

/// Faults the protocol layer injects on request (tests only; loopback).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Close the TCP connection instead of answering once this many output
    /// objects have been sent over the server's lifetime.
    pub drop_after_objects: Option<u64>,
    /// Extra delay before every response.
    pub latency: Option<std::time::Duration>,
    /// Answer the Nth request (1-based, over the server's lifetime) with a
    /// body that is not XML.
    pub malformed_response_at: Option<u64>,
    /// Answer the Nth request (1-based) and those after it with HTTP 500.
    pub http_500_from: Option<u64>,
    /// Refuse every authentication with 401.
    pub reject_auth: bool,
}
