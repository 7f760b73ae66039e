//! The export's settings: what `export::run_with` takes from the connection.

use super::deletions;

/// What the connection's settings tune in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// Pipelines run at once by a complete export
    /// (`Connections.<id>.MaxParallelPipelines`); 1 lists every mailbox in
    /// one pipeline, more split the listing by database (partition.rs).
    pub parallel: u32,
    /// Hours between full listings that find removed mailboxes
    /// (`Options.ReconciliationHours`; deletions.rs); 0 lists them at every
    /// export.
    pub reconciliation_hours: u32,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            parallel: 1,
            reconciliation_hours: deletions::DEFAULT_RECONCILIATION_HOURS,
        }
    }
}
