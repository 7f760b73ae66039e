use super::*;

/// A deterministic stream of guids with repeats (xorshift).
fn guids(count: usize, distinct: u64) -> Vec<u128> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = state % distinct;
            u128::from(n).wrapping_mul(0x0123_4567_89AB_CDEF_0011_2233_4455_6677) ^ u128::from(n)
        })
        .collect()
}

fn spill(dir: &tempfile::TempDir) -> Spill {
    Spill::beside(&dir.path().join("Conn_cookie.bin.tmp"))
}

fn files(dir: &tempfile::TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn it_answers_as_a_hash_set_does_across_many_runs_and_merges() {
    for run_len in [1, 2, 7, 64, 1 << 20] {
        let dir = tempfile::tempdir().unwrap();
        let mut written = Written::with_run_len(spill(&dir), run_len);
        let mut reference = HashSet::new();
        for guid in guids(5_000, 1_500) {
            assert_eq!(
                written.insert(guid).unwrap(),
                reference.insert(guid),
                "{guid:x}"
            );
            assert!(written.contains(guid).unwrap());
            assert_eq!(written.len(), reference.len());
        }
        // Binary-counter merging: O(log n) runs, each at least twice the
        // next.
        assert!(written.runs.len() <= 12, "{} runs", written.runs.len());
        for pair in written.runs.windows(2) {
            assert!(pair[1].len * 2 < pair[0].len);
        }
        let mut expected: Vec<u128> = reference.into_iter().collect();
        expected.sort_unstable();
        assert_eq!(written.into_vec().unwrap(), expected, "run_len {run_len}");
        assert!(files(&dir).is_empty(), "{:?}", files(&dir));
    }
}

#[test]
fn runs_live_beside_the_cookie_and_go_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut written = Written::with_run_len(spill(&dir), 4);
    for guid in 0..10u128 {
        assert!(written.insert(guid).unwrap());
    }
    let names = files(&dir);
    assert!(!names.is_empty());
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("Conn_cookie.bin.tmp.run") && n.ends_with(".tmp")),
        "{names:?}"
    );
    assert_eq!(
        written.describe(),
        "10 mailbox guids written, 8 of them in 1 sorted runs beside the cookie (Options.MailboxGuidsInMemory 4)"
    );
    let sorted = written.into_sorted().unwrap();
    assert_eq!(sorted.len(), 10);
    assert!(!files(&dir).is_empty(), "the runs are read while sorting");
    drop(sorted);
    assert!(files(&dir).is_empty());

    let mut written = Written::with_run_len(spill(&dir), 4);
    for guid in 0..10u128 {
        written.insert(guid).unwrap();
    }
    drop(written);
    assert!(files(&dir).is_empty());
}

#[test]
fn a_guid_whose_fingerprint_is_known_is_still_looked_up_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut written = Written::with_run_len(spill(&dir), 1 << 12);
    let inserted = guids(200_000, u64::MAX);
    for &guid in &inserted {
        written.insert(guid).unwrap();
    }
    let inserted: HashSet<u128> = inserted.into_iter().collect();
    // Guids never inserted whose fingerprint is (about 200,000 / 2^32 of
    // them): each costs a lookup in the runs, which must say no.
    let mut collisions = 0;
    for n in 0..3_000_000u128 {
        let probe = n.wrapping_mul(0x2545_F491_4F6C_DD1D_1234_5678_9ABC_DEF1) | 1 << 127;
        if inserted.contains(&probe) {
            continue;
        }
        if written
            .fingerprints
            .binary_search(&fingerprint(probe))
            .is_ok()
        {
            collisions += 1;
            assert!(!written.contains(probe).unwrap(), "{probe:x}");
        }
    }
    assert!(
        collisions > 20,
        "{collisions} collisions: the test shows nothing"
    );
}

#[test]
fn extremes_and_an_empty_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut written = Written::with_run_len(spill(&dir), 1);
    assert!(written.insert(u128::MAX).unwrap());
    assert!(written.insert(0).unwrap());
    assert!(!written.insert(u128::MAX).unwrap());
    assert!(!written.insert(0).unwrap());
    assert_eq!(written.into_vec().unwrap(), vec![0, u128::MAX]);
    let empty = Written::with_run_len(spill(&dir), RUN_LEN)
        .into_sorted()
        .unwrap();
    assert_eq!(empty.len(), 0);
    assert!(files(&dir).is_empty());
}

#[test]
fn a_run_that_cannot_be_written_is_an_error_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let gone = Spill::beside(&dir.path().join("missing/Conn_cookie.bin.tmp"));
    let mut written = Written::with_run_len(gone, 2);
    assert!(written.insert(1).unwrap());
    let error = written.insert(2).unwrap_err();
    assert!(error.contains("list of exported mailboxes"), "{error}");
    assert!(error.contains("missing"), "{error}");
}

/// The directory finds exactly the fingerprints a binary search of them all
/// finds: at the bucket edges, in a crowded bucket, past the last one, with
/// one fingerprint, a few, and more than it has buckets.
#[test]
fn the_directory_agrees_with_a_binary_search() {
    let edges = vec![0, 1, 0xFFFF, 0x1_0000, 0x1_0001, u32::MAX - 1, u32::MAX];
    let mut seed = 0x9E37_79B9_u32;
    let mut random = |n: usize| -> Vec<u32> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed
            })
            .collect()
    };
    let mut typical = edges.clone();
    // A crowded bucket, as guids chosen to collide would make.
    typical.extend((0..500u32).map(|i| 0x7777_0000 | (i * 131)));
    typical.extend(random(5_000));
    let mut large = edges.clone();
    large.extend(random(70_000));
    let sets = [vec![0x8000_0000], vec![u32::MAX], edges, typical, large];
    let dir = tempfile::tempdir().unwrap();
    for mut fingerprints in sets {
        fingerprints.sort_unstable();
        fingerprints.dedup();
        let mut written = Written::with_run_len(spill(&dir), 4);
        written.fingerprints = fingerprints.clone();
        index_buckets(&written.fingerprints, &mut written.directory);
        let buckets = written.directory.len() - 1;
        assert!(buckets.is_power_of_two() && buckets <= MAX_BUCKETS);
        assert!(buckets < 2 * fingerprints.len().max(1), "{buckets} buckets");
        let probes = fingerprints
            .iter()
            .flat_map(|&f| [f, f.wrapping_add(1), f.wrapping_sub(1)])
            .chain([2, 0xFFFE, 0x7777_FFFF, 0x8000_0000]);
        for probe in probes {
            assert_eq!(
                written.may_be_on_disk(probe),
                fingerprints.binary_search(&probe).is_ok(),
                "{probe:#x} among {}",
                fingerprints.len()
            );
        }
    }
    // Before the first run there is no directory, and nothing on disk.
    let empty = Written::with_run_len(spill(&dir), 4);
    assert!(!empty.may_be_on_disk(0));
}
