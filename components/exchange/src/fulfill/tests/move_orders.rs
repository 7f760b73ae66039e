use super::*;

fn move_to(database: &str) -> Order {
    order(
        "20",
        ChangeType::Modified,
        MAILBOX,
        vec![("Database", t(database))],
        vec![("SamAccountName", t("jbond"))],
    )
}

fn request_pipeline() -> Vec<Command> {
    let mut call = one_call("Get-MoveRequest -Identity 'jbond'");
    call.push(
        idconn_sdk::command("Select-Object")
            .texts("Property", ["Status", "TargetDatabase", "SourceDatabase"])
            .build(),
    );
    call
}

fn statistics_pipeline() -> Vec<Command> {
    let mut call = one_call("Get-MoveRequestStatistics -Identity 'jbond'");
    call.push(
        idconn_sdk::command("Select-Object")
            .texts("Property", ["Status", "Message", "FailureType"])
            .build(),
    );
    call
}

fn request(status: &str, target: &str) -> Answer {
    Answer::objects(vec![object(vec![
        ("Status", text(status)),
        ("TargetDatabase", text(target)),
        ("SourceDatabase", text("DB01")),
    ])])
}

/// jbond in DB01, with `request` as Get-MoveRequest's answer.
fn shell_with(request: Answer) -> FakeShell {
    FakeShell::new()
        .on(
            mailbox::state_pipeline("jbond"),
            mailbox_state(&["SMTP:jbond@contoso.com"], "DB01"),
        )
        .on(request_pipeline(), request)
        .on(
            one_call("Remove-MoveRequest -Identity 'jbond' -Confirm $false"),
            done(),
        )
        .on(
            one_call("New-MoveRequest -Identity 'jbond' -TargetDatabase 'DB02'"),
            done(),
        )
}

fn calls_after_state(shell: &FakeShell) -> Vec<String> {
    shell.call_texts().into_iter().skip(1).collect()
}

#[test]
fn a_mailbox_already_in_the_target_needs_no_request() {
    let shell = shell_with(done());
    let results = run_orders(&shell, vec![move_to("db01")]);
    assert_eq!(executed(&results[0]), "nothing to change");
    assert!(calls_after_state(&shell).is_empty());
}

#[test]
fn without_a_request_a_move_is_queued() {
    let shell = shell_with(not_found("jbond"));
    let results = run_orders(&shell, vec![move_to("DB02")]);
    assert!(executed(&results[0]).starts_with("ran New-MoveRequest; the move to `DB02` is queued"));
}

#[test]
fn a_running_move_to_the_target_is_executed_and_one_elsewhere_is_errored() {
    for status in ["Queued", "InProgress", "CompletionInProgress"] {
        let shell = shell_with(request(status, "DB02"));
        let results = run_orders(&shell, vec![move_to("DB02")]);
        assert_eq!(
            executed(&results[0]),
            format!("a move to `DB02` is already {status}: Exchange completes it asynchronously")
        );
        assert_eq!(
            calls_after_state(&shell).len(),
            1,
            "{:?}",
            shell.call_texts()
        );
    }
    let shell = shell_with(request("InProgress", "DB03"));
    let results = run_orders(&shell, vec![move_to("DB02")]);
    assert!(errored(&results[0]).starts_with("a move of the mailbox to `DB03` is InProgress"));
    assert_eq!(calls_after_state(&shell).len(), 1);
}

#[test]
fn a_completed_request_is_removed_before_a_new_move() {
    let shell = shell_with(request("Completed", "DB03"));
    let results = run_orders(&shell, vec![move_to("DB02")]);
    assert!(executed(&results[0]).starts_with(
        "ran Remove-MoveRequest, New-MoveRequest; removed the completed earlier move request to `DB03`; the move to `DB02` is queued"
    ));
    assert_eq!(
        calls_after_state(&shell)[1..],
        [
            "Remove-MoveRequest -Identity 'jbond' -Confirm $false",
            "New-MoveRequest -Identity 'jbond' -TargetDatabase 'DB02'",
        ]
    );
}

#[test]
fn a_failed_move_is_the_orders_error_with_exchanges_message_and_is_cleared() {
    let shell = shell_with(request("Failed", "DB02")).on(
        statistics_pipeline(),
        Answer::objects(vec![object(vec![
            ("Status", text("Failed")),
            ("Message", text("Error: MapiExceptionMdbOffline: offline.")),
            ("FailureType", text("MapiExceptionMdbOffline")),
        ])]),
    );
    let results = run_orders(&shell, vec![move_to("DB02")]);
    assert_eq!(
        errored(&results[0]),
        "the move to `DB02` failed: Error: MapiExceptionMdbOffline: offline. (FailureType MapiExceptionMdbOffline); its request was removed (Remove-MoveRequest), so running the order again requests a new move"
    );
    assert_eq!(
        calls_after_state(&shell).last().map(String::as_str),
        Some("Remove-MoveRequest -Identity 'jbond' -Confirm $false")
    );
    // A failed request to another database only makes way for the new one.
    let shell = shell_with(request("Failed", "DB03"));
    let results = run_orders(&shell, vec![move_to("DB02")]);
    assert!(executed(&results[0]).starts_with(
        "ran Remove-MoveRequest, New-MoveRequest; removed the failed earlier move request to `DB03`"
    ));
}
