//! The partitioned complete export (partition.rs): the same CSV as one
//! pipeline, every mailbox exactly once while mailboxes move.

use super::*;
use crate::export::partition::{catch_up_pipeline, database_part};
use crate::export::state::parse_guid;

fn db(text: &str) -> Vec<Command> {
    database_part(parse_guid(text).unwrap()).pipeline
}

fn catch_up() -> Vec<Command> {
    catch_up_pipeline(&parse_date_time(COOKIE_TIME).unwrap()).pipeline
}

fn old(guid: &str, sam: &str) -> PsObject {
    mailbox(guid, sam, "2021-01-01T00:00:00Z", "2021-01-01T00:00:00Z")
}

fn parallel(n: u32) -> ExportOptions {
    ExportOptions {
        parallel: n,
        // Runs on disk from the third guid (written.rs).
        guids_in_memory: 2,
        ..ExportOptions::default()
    }
}

/// The first run's directory (`first_run_shell`) split by database.
fn partitioned_shell() -> FakeShell {
    let databases = first_run_shell().calls_answer(&databases_pipeline());
    FakeShell::new()
        .on(databases_pipeline(), databases)
        .on(db(DB_1), Answer::objects(vec![old(GUID_A, "alice")]))
        .on(
            db(DB_2),
            Answer::objects(vec![old(GUID_B, "bob"), old(GUID_C, "carol")]),
        )
        .on(db(DB_4), Answer::nothing())
        .on(catch_up(), Answer::nothing())
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

fn export(shell: &FakeShell, options: ExportOptions) -> Dirs {
    let dirs = Dirs::new();
    run_with(
        shell,
        &RecordingReporter::default(),
        &dirs.request(COOKIE_TIME, false),
        &options,
    )
    .unwrap();
    dirs
}

#[test]
fn the_partitioned_export_writes_what_one_pipeline_writes() {
    let single = export(&first_run_shell(), parallel(1));
    let shell = partitioned_shell();
    let split = export(&shell, parallel(2));
    assert_eq!(
        sorted_lines(&split.mailboxes_csv()),
        sorted_lines(&single.mailboxes_csv())
    );
    assert_eq!(split.databases_csv(), single.databases_csv());
    assert_eq!(split.cookie(), single.cookie());
    let calls = shell.call_texts();
    assert_eq!(calls.len(), 5, "{calls:#?}");
    assert!(
        calls[1].contains(&format!("-Database '{DB_1}'")),
        "{calls:#?}"
    );
    assert!(calls[4].contains("-Filter"), "{calls:#?}");
}

#[test]
fn one_pipeline_is_the_default_and_asks_nothing_new() {
    let shell = first_run_shell();
    export(&shell, ExportOptions::default());
    assert_eq!(shell.call_texts().len(), 2);
}

/// carol moves from DB04 (not listed yet) to DB01 (listed) while DB02 is
/// listed; alice moves from DB01 (listed) to DB02 (not listed yet). One
/// would be missed and one listed twice without the catch-up pipeline and
/// the guid set.
#[test]
fn mailboxes_moving_during_the_export_are_written_exactly_once() {
    let moved = |guid, sam| mailbox(guid, sam, "2021-01-01T00:00:00Z", "2026-11-27T08:00:01Z");
    let databases = first_run_shell().calls_answer(&databases_pipeline());
    let shell = FakeShell::new()
        .on(databases_pipeline(), databases)
        .on(db(DB_1), Answer::objects(vec![old(GUID_A, "alice")]))
        .on(
            db(DB_2),
            Answer::objects(vec![moved(GUID_A, "alice"), old(GUID_B, "bob")]),
        )
        // carol was here when the export started; gone when listed.
        .on(db(DB_4), Answer::nothing())
        .on(
            catch_up(),
            Answer::objects(vec![moved(GUID_A, "alice"), moved(GUID_C, "carol")]),
        );
    let dirs = export(&shell, parallel(1 + 1));
    let rows = rows(&dirs.mailboxes_csv());
    let count = |guid: &str| rows.iter().filter(|r| r["Guid"] == guid).count();
    assert_eq!(
        (count(GUID_A), count(GUID_B), count(GUID_C)),
        (1, 1, 1),
        "{rows:#?}"
    );
    assert!(rows.iter().all(|r| r["Command"] == "Insert"));
    assert!(dirs.cookie().contains(GUID_C));
}

#[test]
fn a_transient_failure_reruns_only_its_partition() {
    let databases = first_run_shell().calls_answer(&databases_pipeline());
    let dropped = Answer::Objects {
        objects: vec![old(GUID_B, "bob"), old(GUID_C, "carol")],
        fail_after: Some((1, Error::Transport("connection reset".into()))),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let shell = FakeShell::new()
        .on(databases_pipeline(), databases)
        .on(db(DB_1), Answer::objects(vec![old(GUID_A, "alice")]))
        .on(db(DB_2), dropped)
        .on(
            db(DB_2),
            Answer::objects(vec![old(GUID_B, "bob"), old(GUID_C, "carol")]),
        )
        .on(db(DB_4), Answer::nothing())
        .on(catch_up(), Answer::nothing());
    let single = export(&first_run_shell(), parallel(1));
    let dirs = export(&shell, parallel(3));
    assert_eq!(
        sorted_lines(&dirs.mailboxes_csv()),
        sorted_lines(&single.mailboxes_csv())
    );
    let db1 = shell
        .call_texts()
        .iter()
        .filter(|c| c.contains(&format!("-Database '{DB_1}'")))
        .count();
    assert_eq!(db1, 1, "the other partitions ran once");
}

#[test]
fn at_most_parallel_pipelines_are_open_at_once() {
    // Three databases, two at a time: the third starts only after one of
    // the first two completed, i.e. after both returned their batch.
    let shell = partitioned_shell();
    export(&shell, parallel(2));
    let open_before_third = shell.max_open.get();
    assert_eq!(open_before_third, 2);
}
