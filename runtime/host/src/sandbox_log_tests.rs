//! The job's log budget: `MaxLogKiB` for `report.log` records and the
//! guest's stdout/stderr lines.

use super::*;

#[test]
fn empty_records_use_up_the_budget() {
    let mut budget = 10 * LOG_RECORD_OVERHEAD;
    let kept = (0..1000)
        .take_while(|_| charge_log_record(&mut budget, 0))
        .count();
    assert_eq!(kept, 10);
    assert_eq!(budget, 0);
    assert!(!charge_log_record(&mut budget, 0));
}

#[test]
fn guest_streams_skip_empty_lines_and_are_cut_at_a_line_count() {
    assert_eq!(guest_stream_lines("a\n\n \r\nb\n"), (vec!["a", "b"], 0));
    assert_eq!(guest_stream_lines(&"\n".repeat(100_000)), (vec![], 0));
    let flood = "x\n".repeat(MAX_GUEST_STREAM_LINES + 5);
    let (kept, more) = guest_stream_lines(&flood);
    assert_eq!((kept.len(), more), (MAX_GUEST_STREAM_LINES, 5));
}

#[test]
fn a_record_too_big_spends_the_rest() {
    let mut budget = 200;
    assert!(charge_log_record(&mut budget, 100));
    assert_eq!(budget, 200 - 100 - LOG_RECORD_OVERHEAD);
    assert!(!charge_log_record(&mut budget, 100));
    assert_eq!(budget, 0);
}
