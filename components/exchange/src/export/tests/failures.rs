use super::*;

fn remote_error() -> Error {
    Error::Remote(ErrorRecord {
        message: "The operation couldn't be performed because object 'x' couldn't be found.".into(),
        fully_qualified_error_id:
            "5D2D4F4E,Microsoft.Exchange.Management.RecipientTasks.GetMailbox".into(),
        category: "NotSpecified".into(),
        target: None,
    })
}

/// A second run over the first run's files that fails as `failing` says.
fn assert_failure_leaves_files(failing: FakeShell, expected_error: &str) {
    let dirs = Dirs::after_first_export();
    let before = dirs.snapshot();
    assert_eq!(before.len(), 3);

    let error = run(
        &failing,
        &RecordingReporter::default(),
        &dirs.request(SECOND_RUN, false),
    )
    .unwrap_err()
    .message;

    assert!(error.contains(expected_error), "{error}");
    assert_eq!(
        dirs.snapshot(),
        before,
        "the previous files changed or temp files remain"
    );
}

fn incremental_databases() -> Answer {
    Answer::objects(vec![database(
        DB_3,
        "DB03",
        "2026-11-27T08:10:00Z",
        "2026-11-27T08:10:00Z",
    )])
}

fn changed_pipeline() -> Vec<idconn_sdk::Command> {
    changed_mailboxes_pipeline(FILTER_SINCE)
}

#[test]
fn a_failure_in_the_middle_leaves_the_previous_files_byte_identical() {
    let many: Vec<PsObject> = (0..700u32)
        .map(|i| {
            mailbox(
                &format!("00000000-0000-0000-0002-{i:012x}"),
                "x",
                COOKIE_TIME,
                COOKIE_TIME,
            )
        })
        .collect();
    let failing = FakeShell::new()
        .on(databases_pipeline(), incremental_databases())
        .on(
            changed_pipeline(),
            Answer::Objects {
                objects: many,
                fail_after: Some((600, remote_error())),
                errors: vec![],
                warnings: vec![],
            },
        );
    assert_failure_leaves_files(
        failing,
        "Get-Mailbox failed: The operation couldn't be performed because object 'x' couldn't be found. \
         (5D2D4F4E,Microsoft.Exchange.Management.RecipientTasks.GetMailbox)",
    );
}

#[test]
fn a_failure_of_the_current_set_leaves_the_previous_files() {
    let failing = FakeShell::new()
        .on(databases_pipeline(), incremental_databases())
        .on(changed_pipeline(), Answer::nothing())
        .on(mailbox_guids_pipeline(), Answer::Refused(Error::Timeout));
    assert_failure_leaves_files(failing, "Get-Mailbox timed out");
}

#[test]
fn denied_limit_and_transport_errors_say_what_happened() {
    let cases = [
        (
            Error::Denied("Get-MailboxDatabase is not granted".into()),
            "Get-MailboxDatabase was denied by the host: Get-MailboxDatabase is not granted",
        ),
        (
            Error::Limit("output over 64 MiB (setting MaxOutputBytes)".into()),
            "Get-MailboxDatabase was stopped by a host limit: output over 64 MiB",
        ),
        (
            Error::Transport("connection refused".into()),
            "Get-MailboxDatabase failed: the connection to the server failed: connection refused",
        ),
    ];
    for (error, expected) in cases {
        let failing = FakeShell::new().on(databases_pipeline(), Answer::Refused(error));
        assert_failure_leaves_files(failing, expected);
    }
}

/// The contract's `failure.retryable`: set when the server kept asking to
/// retry (or the connection kept failing) past the pipeline's attempts,
/// never for a refusal another run would meet again.
#[test]
fn only_a_transient_failure_fails_the_export_as_retryable() {
    let throttled = Error::Retryable(idconn_sdk::Retry {
        reason: "over budget".into(),
        retry_after_ms: Some(5000),
    });
    let cases = [
        (throttled, true, 20),
        (Error::Transport("connection closed".into()), true, 20),
        (Error::Denied("not declared".into()), false, 1),
        (Error::Limit("MaxOutputBytes".into()), false, 1),
    ];
    for (error, retryable, calls) in cases {
        let dirs = Dirs::new();
        let shell = FakeShell::new().on(databases_pipeline(), Answer::Refused(error.clone()));
        let failure = run(
            &shell,
            &RecordingReporter::default(),
            &dirs.request(COOKIE_TIME, false),
        )
        .unwrap_err();
        assert_eq!(failure.retryable, retryable, "{error:?}: {failure:?}");
        assert_eq!(shell.calls.borrow().len(), calls, "{error:?}");
        assert!(dirs.snapshot().is_empty());
    }
}

#[test]
fn non_terminating_errors_fail_the_export_rather_than_invent_deletions() {
    let record = ErrorRecord {
        message: "The object is corrupted".into(),
        fully_qualified_error_id: "Corrupt,GetMailbox".into(),
        category: "ReadError".into(),
        target: None,
    };
    let failing = FakeShell::new()
        .on(databases_pipeline(), incremental_databases())
        .on(changed_pipeline(), Answer::nothing())
        .on(
            mailbox_guids_pipeline(),
            Answer::Objects {
                objects: vec![],
                fail_after: None,
                errors: vec![record],
                warnings: vec![],
            },
        );
    assert_failure_leaves_files(
        failing,
        "Get-Mailbox reported 1 error(s), so the export would be incomplete; the first: The object is corrupted (Corrupt,GetMailbox)",
    );
}

#[test]
fn a_write_failure_leaves_the_previous_files() {
    let dirs = Dirs::after_first_export();
    let before = dirs.snapshot();
    // During the last pipeline, a directory appears where the cookie's
    // temporary file goes: writing the cookie fails after both CSVs were
    // written under their temporary names.
    let blocker = dirs.cookies.join("ExchangeExport_cookie.bin.tmp");
    let hook_blocker = blocker.clone();
    let shell = FakeShell::new()
        .on(databases_pipeline(), incremental_databases())
        .on(changed_pipeline(), Answer::nothing())
        .on(mailbox_guids_pipeline(), Answer::nothing())
        .before_each_call(move |call| {
            if call == 2 {
                std::fs::create_dir(&hook_blocker).unwrap();
                std::fs::write(hook_blocker.join("keep"), b"x").unwrap();
            }
        });
    let error = run(
        &shell,
        &RecordingReporter::default(),
        &dirs.request(SECOND_RUN, false),
    )
    .unwrap_err()
    .message;
    assert!(
        error.starts_with("writing ") && error.contains("ExchangeExport_cookie.bin.tmp failed"),
        "{error}"
    );
    assert_eq!(shell.calls.borrow().len(), 3);
    std::fs::remove_dir_all(&blocker).unwrap();
    assert_eq!(dirs.snapshot(), before);
}

#[test]
fn an_invalid_start_time_is_refused() {
    let dirs = Dirs::new();
    let error = run(
        &first_run_shell(),
        &RecordingReporter::default(),
        &dirs.request("now", false),
    )
    .unwrap_err()
    .message;
    assert!(error.contains("started-at `now`"), "{error}");
    assert!(dirs.snapshot().is_empty());
}
