//! The Microsoft Exchange connector component.
//!
//! This file only holds the WIT glue: the logic lives in [`export`] and
//! [`fulfill`], generic over [`shell::Shell`] and [`shell::Reporter`], so it
//! runs natively with a scripted shell in tests and benchmarks.

wit_bindgen::generate!({
    world: "connector",
    path: "../../wit/since_v0.2.0",
    additional_derives: [PartialEq],
});

pub mod export;
pub mod fulfill;

/// The manifest the host reads without running the component: name,
/// version and the cmdlets each operation runs (components/exchange/README.md
/// lists the same; the host grants nothing beyond them).
pub const MANIFEST: &str = concat!(
    r#"{"name":"exchange","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#"","grants":{"export":["Get-MailboxDatabase","Get-Mailbox","Get-User","Select-Object"],"#,
    r#""fulfill":["Get-Mailbox","Get-MailboxDatabase","Select-Object","Enable-Mailbox","#,
    r#""Set-Mailbox","Disable-Mailbox","New-MoveRequest","Get-MoveRequest","#,
    r#""Get-MoveRequestStatistics","Remove-MoveRequest","New-MailboxDatabase","#,
    r#""Set-MailboxDatabase","Mount-Database","Dismount-Database","Remove-MailboxDatabase"]}}"#
);

#[cfg(target_arch = "wasm32")]
#[link_section = "idconn-manifest"]
#[used]
static MANIFEST_SECTION: [u8; MANIFEST.len()] = manifest_bytes();

#[cfg(target_arch = "wasm32")]
const fn manifest_bytes<const N: usize>() -> [u8; N] {
    let text = MANIFEST.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = text[i];
        i += 1;
    }
    out
}
pub mod batch;
pub mod dates;
pub mod shell;
pub mod values;

#[cfg(test)]
mod testing;

#[cfg(target_arch = "wasm32")]
mod component {
    use crate::exports::idconn::connector::{exporter, fulfiller};
    use crate::idconn::connector::powershell::{self, Command, Error, ErrorRecord};
    use crate::idconn::connector::report::{self, Level};
    use crate::idconn::connector::types::Batch;
    use crate::shell::{PipelineOutput, Reporter, Shell};

    struct Connector;

    struct HostShell;

    impl Shell for HostShell {
        type Output = powershell::Output;

        fn invoke(&self, pipeline: &[Command]) -> Result<Self::Output, Error> {
            powershell::invoke(pipeline)
        }
    }

    impl PipelineOutput for powershell::Output {
        fn next(&mut self, max: u32) -> Result<Option<Batch>, Error> {
            powershell::Output::next(self, max)
        }

        fn errors(&self) -> Vec<ErrorRecord> {
            powershell::Output::errors(self)
        }

        fn warnings(&self) -> Vec<String> {
            powershell::Output::warnings(self)
        }
    }

    struct HostReporter;

    impl Reporter for HostReporter {
        fn log(&self, level: Level, message: &str) {
            report::log(level, message);
        }

        fn progress(&self, done: u64, total: Option<u64>) {
            report::progress(done, total);
        }
    }

    impl exporter::Guest for Connector {
        fn run(request: exporter::ExportRequest) -> Result<exporter::ExportSummary, String> {
            crate::export::run(&HostShell, &HostReporter, &request)
        }
    }

    impl fulfiller::Guest for Connector {
        fn run(request: fulfiller::FulfillRequest) -> Result<Vec<fulfiller::OrderResult>, String> {
            crate::fulfill::run(&HostShell, &HostReporter, &request)
        }
    }

    crate::export!(Connector with_types_in crate);
}
