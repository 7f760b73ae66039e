//! `idconn_host::testkit` as a connector's own tests use it: a built
//! component run against a fixture in the sandbox, compared with golden
//! files. The fixture is a real Exchange 2016 capture, given as CLIXML.

use std::fs;
use std::path::Path;

use crate::common::component;
use idconn_host::grants::Operation;
use idconn_host::testkit::{default_expect_dir, run_fixture, TestOptions};

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/replay/exchange2016/fixture.json")
}

fn options() -> TestOptions {
    let mut options = TestOptions::new(component("exchange"), fixture());
    options.component_cache = Some(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target")
            .join("e2e-component-cache"),
    );
    options
}

#[test]
fn the_exchange_2016_capture_replays_to_its_golden_files() {
    let run = run_fixture(&options()).unwrap();
    assert_eq!(run.operation, Operation::Export);
    assert_eq!(run.connection, "Exchange2016");
    let comparison = run.compare(default_expect_dir(&fixture())).unwrap();
    assert!(comparison.is_same(), "{}", comparison.render());
    assert_eq!(comparison.same.len(), 3, "{:?}", comparison.same);
}

#[test]
fn a_changed_golden_row_is_named_by_row_and_column() {
    let golden = tempfile::tempdir().unwrap();
    let original = default_expect_dir(&fixture());
    for entry in fs::read_dir(&original).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), golden.path().join(entry.file_name())).unwrap();
    }
    let csv = golden.path().join("Exchange2016_mailboxes.csv");
    let text = fs::read_to_string(&csv).unwrap();
    fs::write(&csv, text.replace(",Ex2016-DB2,", ",Ex2016-DB9,")).unwrap();
    let run = run_fixture(&options()).unwrap();
    let comparison = run.compare(golden.path()).unwrap();
    assert!(!comparison.is_same());
    let report = comparison.render();
    assert!(
        report.contains(
            "Exchange2016_mailboxes.csv: differs\n  row 1, column Database: expected \"Ex2016-DB9\", actual \"Ex2016-DB2\""
        ),
        "{report}"
    );
    // --update puts the run back.
    run.update(golden.path()).unwrap();
    assert_eq!(fs::read_to_string(&csv).unwrap(), text);
}
