//! The connection check: `Get-MailboxDatabase`, read-only, as Usercube's
//! Exchange connector checks its connection (the count of databases and
//! their servers). The cmdlet's output has each database's `Name` and
//! `Server` (MicrosoftDocs/office-docs-powershell,
//! exchange/exchange-ps/ExchangePowerShell/Get-MailboxDatabase.md, whose
//! DESCRIPTION lists the properties returned).

use idconn_sdk::batch::BatchRef;
use idconn_sdk::{
    command, describe_error, describe_record, CheckReport, CheckRequest, Failure, Level,
    PipelineOutput, Reporter, Shell,
};

use crate::export::{is_transient, BATCH_SIZE};

/// Databases listed one by one in the details; the rest are counted. A
/// hostile server could name millions.
const MAX_LISTED: usize = 64;
/// The longest name or server kept, in characters.
const MAX_TEXT: usize = 256;

pub fn run<S: Shell, R: Reporter>(
    shell: &S,
    reporter: &R,
    request: &CheckRequest,
) -> Result<CheckReport, Failure> {
    const WHAT: &str = "Get-MailboxDatabase";
    let failed = |error: idconn_sdk::Error| {
        let message = describe_error(WHAT, &error);
        if is_transient(&error) {
            Failure::retryable(message)
        } else {
            Failure::fatal(message)
        }
    };
    reporter.log(
        Level::Info,
        &format!("checking {}: {WHAT}", request.connection),
    );
    let mut output = shell.invoke(&[command(WHAT).build()]).map_err(failed)?;
    let mut count = 0u64;
    let mut listed: Vec<(String, String)> = Vec::new();
    let mut servers: Vec<String> = Vec::new();
    while let Some(batch) = output.next(BATCH_SIZE).map_err(failed)? {
        for database in BatchRef::new(&batch).objects() {
            count += 1;
            let name = bounded(database.display("Name").unwrap_or_default());
            let server = bounded(database.display("Server").unwrap_or_default());
            if !server.is_empty() && !servers.contains(&server) && servers.len() < MAX_LISTED {
                servers.push(server.clone());
            }
            if listed.len() < MAX_LISTED {
                listed.push((format!("database {name}"), server));
            }
        }
    }
    if let Some(first) = output.errors().first() {
        return Err(Failure::fatal(format!(
            "{WHAT} reported an error: {}",
            describe_record(first)
        )));
    }
    let on = if servers.is_empty() {
        "(no server named)".to_owned()
    } else {
        servers.join(", ")
    };
    let mut details = vec![
        ("mailbox databases".to_owned(), count.to_string()),
        ("servers".to_owned(), on.clone()),
    ];
    let unlisted = count.saturating_sub(listed.len() as u64);
    details.extend(listed);
    if unlisted > 0 {
        details.push(("databases not listed".to_owned(), unlisted.to_string()));
    }
    Ok(CheckReport {
        // Printed after "Connection <id> is working: ", as the host printed
        // its own check before 0.3.0.
        summary: format!("{count} mailbox databases on {on}"),
        details,
    })
}

/// At most [`MAX_TEXT`] characters.
fn bounded(text: String) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((end, _)) => text[..end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idconn_sdk::testing::{nested, object, text, Answer, FakeShell, RecordingReporter};
    use idconn_sdk::{Error, ErrorRecord, Retry};

    fn request() -> CheckRequest {
        CheckRequest {
            connection: "ExchangeExport".into(),
            options: Vec::new(),
        }
    }

    fn database(name: &str, server: &str) -> idconn_sdk::batch::PsObject {
        object(vec![
            ("Name", text(name)),
            (
                "Server",
                nested("Microsoft.Exchange.Data.Directory.ADObjectId", server),
            ),
        ])
    }

    fn pipeline() -> Vec<idconn_sdk::Command> {
        vec![command("Get-MailboxDatabase").build()]
    }

    #[test]
    fn the_check_counts_databases_and_names_their_servers() {
        let shell = FakeShell::new().on(
            pipeline(),
            Answer::objects(vec![
                database("DB01", "EX01"),
                database("DB02", "EX02"),
                database("DB03", "EX01"),
            ]),
        );
        let report = run(&shell, &RecordingReporter::default(), &request()).unwrap();
        assert_eq!(report.summary, "3 mailbox databases on EX01, EX02");
        assert_eq!(
            report.details,
            [
                ("mailbox databases", "3"),
                ("servers", "EX01, EX02"),
                ("database DB01", "EX01"),
                ("database DB02", "EX02"),
                ("database DB03", "EX01"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(shell.call_texts(), ["Get-MailboxDatabase"]);
        assert!(shell.undeclared(crate::MANIFEST, "check").is_empty());
    }

    #[test]
    fn many_databases_are_counted_not_listed() {
        let many = (0..100)
            .map(|i| database(&format!("DB{i}"), &"S".repeat(1000 + i)))
            .collect();
        let shell = FakeShell::new().on(pipeline(), Answer::objects(many));
        let report = run(&shell, &RecordingReporter::default(), &request()).unwrap();
        assert_eq!(report.details.len(), 2 + MAX_LISTED + 1);
        assert_eq!(
            report.details.last().unwrap(),
            &("databases not listed".to_owned(), "36".to_owned())
        );
        assert!(report.details.iter().all(|(_, v)| v.len() <= 64 * 258));
        assert_eq!(report.details[2].1.len(), MAX_TEXT);
    }

    #[test]
    fn throttling_fails_the_check_as_retryable_and_a_denial_does_not() {
        let throttled = FakeShell::new().on(
            pipeline(),
            Answer::Refused(Error::Retryable(Retry {
                reason: "over budget".into(),
                retry_after_ms: Some(5000),
            })),
        );
        let failure = run(&throttled, &RecordingReporter::default(), &request()).unwrap_err();
        assert!(failure.retryable, "{failure:?}");
        assert!(
            failure.message.contains("retry after 5000 ms"),
            "{failure:?}"
        );

        let denied = FakeShell::new().on(
            pipeline(),
            Answer::Refused(Error::Denied("not declared".into())),
        );
        let failure = run(&denied, &RecordingReporter::default(), &request()).unwrap_err();
        assert!(!failure.retryable, "{failure:?}");

        let remote = FakeShell::new().on(
            pipeline(),
            Answer::Objects {
                objects: vec![],
                fail_after: None,
                errors: vec![ErrorRecord {
                    message: "Access denied".into(),
                    fully_qualified_error_id: "Denied".into(),
                    category: "PermissionDenied".into(),
                    target: None,
                }],
                warnings: vec![],
            },
        );
        let failure = run(&remote, &RecordingReporter::default(), &request()).unwrap_err();
        assert!(
            failure.message.contains("Access denied (Denied)"),
            "{failure:?}"
        );
    }
}
