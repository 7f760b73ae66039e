//! Cheap incrementals (deletions.rs): disabled mailboxes from the users
//! changed since the last export; removed ones at the reconciliation.

use super::*;
use crate::export::deletions::reconciliation_due;

fn user(guid_text: &str, kind: &str) -> PsObject {
    object(vec![
        ("Guid", guid(guid_text)),
        ("RecipientTypeDetails", text(kind)),
    ])
}

/// The second run's shell: nothing changed but what `users` says.
fn second_run_shell(users: Vec<PsObject>, since: &str) -> FakeShell {
    let databases = first_run_shell().calls_answer(&databases_pipeline());
    FakeShell::new()
        .on(databases_pipeline(), databases)
        .on(changed_mailboxes_pipeline(since), Answer::nothing())
        .on(changed_users_pipeline(since), Answer::objects(users))
        .on(
            mailbox_guids_pipeline(),
            // carol was removed (Remove-Mailbox): no cmdlet lists her.
            Answer::objects(
                [GUID_A, GUID_B]
                    .iter()
                    .map(|g| object(vec![("Guid", guid(g))]))
                    .collect(),
            ),
        )
}

fn run_at(shell: &FakeShell, dirs: &Dirs, started_at: &str) -> ExportSummary {
    run_with(
        shell,
        &RecordingReporter::default(),
        &dirs.request(started_at, false),
        &ExportOptions::default(),
    )
    .unwrap()
}

#[test]
fn between_reconciliations_a_disabled_mailbox_is_deleted_without_listing_every_mailbox() {
    let dirs = Dirs::after_first_export();
    let shell = second_run_shell(
        vec![
            // alice's mailbox was disabled: her user stays.
            user(GUID_A, "User"),
            // bob changed and is still a mailbox.
            user(GUID_B, "UserMailbox"),
            // Never exported: not a deletion.
            user(GUID_E, "User"),
        ],
        FILTER_SINCE,
    );
    let summary = run_at(&shell, &dirs, SECOND_RUN);
    assert_eq!(summary.deletes, 1);
    let rows = rows(&dirs.mailboxes_csv());
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(
        (rows[0]["Command"].as_str(), rows[0]["Guid"].as_str()),
        ("Delete", GUID_A)
    );
    let calls = shell.call_texts();
    assert!(
        calls.iter().any(|c| c.starts_with("Get-User")),
        "{calls:#?}"
    );
    assert!(
        !calls.contains(&pipeline_text(&mailbox_guids_pipeline())),
        "no full listing: {calls:#?}"
    );
    let cookie = dirs.cookie();
    // The last reconciliation is still the first export's.
    assert!(
        cookie.contains(&format!("reconciled-at {COOKIE_TIME}")),
        "{cookie}"
    );
    assert!(
        !cookie.contains(GUID_A) && cookie.contains(GUID_C),
        "{cookie}"
    );
}

#[test]
fn a_removed_mailbox_is_deleted_by_the_first_export_once_the_period_passed() {
    let dirs = Dirs::after_first_export();
    // One hour later: carol's removal is not seen (no user lists her)...
    let shell = second_run_shell(Vec::new(), FILTER_SINCE);
    assert_eq!(run_at(&shell, &dirs, SECOND_RUN).deletes, 0);
    // ...and 24 hours after the first export, the reconciliation lists
    // every mailbox and reports her.
    let since = "2026-11-26T19:00:00Z"; // SECOND_RUN (seconds) - 14 h
    let later = "2026-11-28T08:00:00Z";
    let shell = second_run_shell(Vec::new(), since);
    let summary = run_at(&shell, &dirs, later);
    assert_eq!(summary.deletes, 1);
    let rows = rows(&dirs.mailboxes_csv());
    assert_eq!(
        (rows[0]["Command"].as_str(), rows[0]["Guid"].as_str()),
        ("Delete", GUID_C)
    );
    assert!(!shell.call_texts().iter().any(|c| c.starts_with("Get-User")));
    let cookie = dirs.cookie();
    assert!(cookie.contains(&format!("reconciled-at {later}")));
    // The next known set: everything reported before but carol.
    assert!(
        !cookie.contains(GUID_C) && cookie.contains(GUID_A) && cookie.contains(GUID_B),
        "{cookie}"
    );
}

#[test]
fn reconciliation_is_due_after_the_period_and_always_with_zero() {
    let at = |text| parse_date_time(text).unwrap();
    let last = at("2026-11-27T08:00:00Z");
    assert!(!reconciliation_due(&last, &at("2026-11-28T07:59:59Z"), 24));
    assert!(reconciliation_due(&last, &at("2026-11-28T08:00:00Z"), 24));
    assert!(reconciliation_due(&last, &last, 0));
}

#[test]
fn the_users_pipeline_is_the_documented_one() {
    assert_eq!(
        pipeline_text(&changed_users_pipeline(COOKIE_TIME)),
        "Get-User -ResultSize 'Unlimited' -Filter 'WhenChangedUTC -ge ''2026-11-27T08:00:00Z''' \
         | Select-Object -Property 'Guid','RecipientTypeDetails'"
    );
}
