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

/// Per-session options the client chose in the endpoint URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvokeOptions {
    /// `?serializationLevel=Full` (what the Exchange Management Shell sends):
    /// ADObjectId and quota values as full objects instead of strings.
    pub full_serialization: bool,
}

impl InvokeOptions {
    /// Reads the options from the query of the URL a shell was created on
    /// (`serializationLevel=Full;ExchClientVer=...`, `;` or `&` separated).
    pub fn from_query(query: &str) -> InvokeOptions {
        let full_serialization = query.split(['&', ';']).any(|pair| {
            pair.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("serializationLevel")
                    && v.trim().eq_ignore_ascii_case("Full")
            })
        });
        InvokeOptions { full_serialization }
    }
}

/// What the protocol layer asks of the Exchange model.
pub trait ExchangeBackend: Send + Sync + 'static {
    /// Checks Basic credentials; returns the canonical user name.
    fn authenticate_basic(&self, user: &str, password: &str) -> Option<String>;
    /// Starts a pipeline for an authenticated user.
    fn invoke(&self, user: &str, commands: Vec<Command>) -> Box<dyn PipelineRun>;
    /// Starts a pipeline with the session's options.
    fn invoke_with_options(
        &self,
        user: &str,
        commands: Vec<Command>,
        options: InvokeOptions,
    ) -> Box<dyn PipelineRun> {
        let _ = options;
        self.invoke(user, commands)
    }
}

#[cfg(test)]
mod tests {
    use super::InvokeOptions;

    #[test]
    fn serialization_level_is_read_from_the_query() {
        assert!(
            InvokeOptions::from_query("serializationLevel=Full;ExchClientVer=15.1")
                .full_serialization
        );
        assert!(InvokeOptions::from_query("a=b&SERIALIZATIONLEVEL=full").full_serialization);
        assert!(!InvokeOptions::from_query("serializationLevel=Partial").full_serialization);
        assert!(!InvokeOptions::from_query("").full_serialization);
    }
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
    /// Close the connection without an answer on the first this many
    /// shell Deletes, before acting on them: a Delete lost on the way (a
    /// proxy's or a network's cut), so the shell stays open.
    pub drop_deletes: u64,
}
