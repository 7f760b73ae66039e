//! Cells a spreadsheet would run as formulas (`=`, `+`, `-`, `@` first) are
//! written verbatim: Usercube reads the files as data, and a prefix (`'`) or
//! any other rewriting would change the values it synchronizes (issue 18).

use super::*;

#[test]
fn formula_like_values_are_written_verbatim() {
    let dirs = Dirs::new();
    let cells = [
        ("DisplayName", "=HYPERLINK(\"http://example.com\",\"x\")"),
        ("Alias", "+1-555-0100"),
        ("Name", "-2+3"),
        ("OrganizationalUnit", "@SUM(A1:A2)"),
        ("ServerName", "=1+1"),
    ];
    let mut formulas = mailbox(
        GUID_A,
        "zoe",
        "2021-01-01T00:00:00Z",
        "2021-01-01T00:00:00Z",
    );
    for (column, value) in cells {
        formulas = with(formulas, column, text(value));
    }
    let shell = FakeShell::new()
        .on(
            databases_pipeline(),
            Answer::objects(vec![database(
                DB_1,
                "=DB(1)",
                "2020-01-01T00:00:00Z",
                "2020-01-01T00:00:00Z",
            )]),
        )
        .on(all_mailboxes_pipeline(), Answer::objects(vec![formulas]));

    run(
        &shell,
        &RecordingReporter::default(),
        &dirs.request(COOKIE_TIME, false),
    )
    .unwrap();

    let csv_text = dirs.mailboxes_csv();
    let row = &rows(&csv_text)[0];
    for (column, value) in cells {
        assert_eq!(row[column], value, "{column} in {csv_text}");
    }
    // On disk too: no leading quote, tab or space; quoted only where CSV
    // needs it (the quotes inside the HYPERLINK).
    assert!(csv_text.contains(",+1-555-0100,"), "{csv_text}");
    assert!(csv_text.contains(",-2+3,"), "{csv_text}");
    assert!(csv_text.contains(",@SUM(A1:A2),"), "{csv_text}");
    assert!(csv_text.contains(",=1+1,"), "{csv_text}");
    assert!(
        csv_text.contains(r#","=HYPERLINK(""http://example.com"",""x"")","#),
        "{csv_text}"
    );
    assert!(!csv_text.contains("'="), "{csv_text}");
    assert_eq!(rows(&dirs.databases_csv())[0]["Name"], "=DB(1)");
}
