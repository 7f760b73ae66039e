//! The Microsoft Exchange connector component (contract 0.4.0).
//!
//! This file only holds the glue to the SDK: the manifest and the three
//! operations. The logic lives in [`export`], [`fulfill`] and [`check`],
//! generic over [`idconn_sdk::Shell`] and [`idconn_sdk::Reporter`], so it runs
//! natively with the SDK's scripted shell in tests and benchmarks.

use idconn_sdk::{
    CheckReport, CheckRequest, Connector, ExportRequest, ExportSummary, Failure, FulfillRequest,
    OrderResult, Reporter, Shell,
};

pub mod check;
pub mod dates;
pub mod export;
pub mod fulfill;
pub mod values;

/// The entity kinds, as the manifest declares them and the summaries and
/// progress count them.
pub const MAILBOX: &str = "mailbox";
pub const DATABASE: &str = "database";

// What the host reads without running the component (components/exchange/
// README.md, "Manifest"). Each operation declares the cmdlets it runs; the
// host runs nothing else. The retryable error ids are Exchange's throttling
// errors: a user over budget gets `OverBudgetException` (Exchange workload
// management, learn.microsoft.com/exchange/server-health/workload-management;
// the full id is the one exchange-sim sends, marked a guess in
// docs/simulator.md), the same family `export::is_transient` retries.
idconn_sdk::manifest! {
    name: "exchange",
    version: env!("CARGO_PKG_VERSION"),
    entities: ["mailbox", "database"],
    powershell: {
        configuration_name: "Microsoft.Exchange",
        retryable_errors: [
            "Microsoft.Exchange.Data.Directory.OverBudgetException",
        ],
        export: ["Get-MailboxDatabase", "Get-Mailbox", "Get-User", "Select-Object"],
        check: ["Get-MailboxDatabase"],
        fulfill: [
            "Get-Mailbox",
            "Get-MailboxDatabase",
            "Select-Object",
            "Enable-Mailbox",
            "Set-Mailbox",
            "Disable-Mailbox",
            "New-MoveRequest",
            "Get-MoveRequest",
            "Get-MoveRequestStatistics",
            "Remove-MoveRequest",
            "New-MailboxDatabase",
            "Set-MailboxDatabase",
            "Mount-Database",
            "Dismount-Database",
            "Remove-MailboxDatabase",
        ],
    },
}

/// The connector.
pub struct Exchange;

impl Connector for Exchange {
    fn export<S: Shell, R: Reporter>(
        shell: &S,
        reporter: &R,
        request: ExportRequest,
    ) -> Result<ExportSummary, Failure> {
        export::run(shell, reporter, &request).map(export::ExportSummary::counted)
    }

    fn fulfill<S: Shell, R: Reporter>(
        shell: &S,
        reporter: &R,
        request: FulfillRequest,
    ) -> Result<Vec<OrderResult>, Failure> {
        fulfill::run(shell, reporter, &request).map_err(Failure::fatal)
    }

    fn check<S: Shell, R: Reporter>(
        shell: &S,
        reporter: &R,
        request: CheckRequest,
    ) -> Result<CheckReport, Failure> {
        check::run(shell, reporter, &request)
    }
}

idconn_sdk::export_connector!(Exchange);
