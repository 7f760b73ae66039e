//! `--state FILE`: the directory survives a restart.

mod common;

use common::*;
use exchange_sim::exchange::seed::SeedSpec;
use exchange_sim::exchange::Organization;
use idconn_psrp::clixml::Value;

fn open(path: &std::path::Path, seed: u64) -> Organization {
    let mut options = options();
    options.state_path = Some(path.to_path_buf());
    Organization::open(
        SeedSpec {
            mailboxes: 25,
            databases: 2,
            seed,
        },
        options,
    )
    .expect("open the organization")
}

#[test]
fn changes_survive_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("state.json");
    let first = open(&path, 3);
    assert!(path.exists(), "seeded directory saved at start");
    run(
        &first,
        vec![cmd("Set-Mailbox")
            .param("Identity", text("Administrator"))
            .param("EmailAddressPolicyEnabled", Value::Bool(false))],
    )
    .ok();
    run(
        &first,
        vec![cmd("New-MailboxDatabase")
            .param("Name", text("DB-X"))
            .param("Server", text("EXCH01"))],
    )
    .ok();
    let before = first.snapshot();
    drop(first);

    // Another seed: the state file wins, seeding is skipped.
    let second = open(&path, 99);
    let after = second.snapshot();
    assert_eq!(before.users, after.users);
    assert_eq!(before.databases, after.databases);
    assert_eq!(before.next_id, after.next_id);
    assert_eq!(
        prop(
            &mailbox(&second, "Administrator"),
            "EmailAddressPolicyEnabled"
        ),
        &Value::Bool(false)
    );
    let leftovers: Vec<_> = std::fs::read_dir(temp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn a_corrupt_state_file_is_an_error_not_a_reseed() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("state.json");
    std::fs::write(&path, "{not json").unwrap();
    let mut options = options();
    options.state_path = Some(path.clone());
    let err = Organization::open(
        SeedSpec {
            mailboxes: 1,
            databases: 1,
            seed: 1,
        },
        options,
    )
    .err()
    .unwrap();
    assert!(format!("{err:#}").contains("parsing the state file"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
}
