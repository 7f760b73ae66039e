//! The state kept between exports: the cookie file.
//!
//! One file holds both the time of the last successful export and the guids
//! that export reported, so one rename commits the whole state. Format
//! (UTF-8 text, `\n` line ends):
//!
//! ```text
//! idconn-exchange-cookie 3
//! started-at 2026-11-27T08:00:00Z
//! reconciled-at 2026-11-26T20:00:00Z
//! databases 2
//! 0b9d5f3c-... 5e0b...(32 hex digits)
//! ...
//! mailboxes 3
//! 9b9387fe-...
//! ...
//! end
//! ```
//!
//! Each database carries the digest of the row last exported for it:
//! `Mounted` is runtime state that does not move `WhenChangedUTC`, so the
//! next export compares rows, not dates. Version 1 (no digests) is still
//! read: each of its databases is then reported once as `Update`.
//! `reconciled-at` (version 3) is the start of the last export that listed
//! every mailbox (deletions.rs); versions 1 and 2 listed them at every
//! export, so their `started-at` stands for it.
//!
//! The counts and the `end` line make a truncated or edited file detectable.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Utc};

use super::output_file::OutputFile;
use crate::values::{format_date_time, parse_date_time};

const MAGIC: &str = "idconn-exchange-cookie 3";
const MAGIC_V2: &str = "idconn-exchange-cookie 2";
const MAGIC_V1: &str = "idconn-exchange-cookie 1";

/// Database guid -> digest of its last exported row (`None`: read from a
/// version 1 cookie, which had none).
pub type DatabaseRows = BTreeMap<u128, Option<u128>>;

/// A compact set of guids (16 bytes each), sorted for binary search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuidSet(Vec<u128>);

impl GuidSet {
    pub fn from_unsorted(mut guids: Vec<u128>) -> Self {
        guids.sort_unstable();
        guids.dedup();
        GuidSet(guids)
    }

    /// Guids already sorted without duplicates (`written.rs`); checked,
    /// and sorted after all if they are not.
    pub fn from_sorted_unique(guids: Vec<u128>) -> Self {
        if guids.windows(2).all(|w| w[0] < w[1]) {
            GuidSet(guids)
        } else {
            GuidSet::from_unsorted(guids)
        }
    }

    pub fn contains(&self, guid: u128) -> bool {
        self.0.binary_search(&guid).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.0.iter().copied()
    }

    /// `self` and `other` together, without `gone` (sorted), in order,
    /// computed as it is read: an incremental export's next known set is
    /// never held beside the previous one.
    pub fn union_without<'s>(
        &'s self,
        other: &'s GuidSet,
        gone: &'s [u128],
    ) -> impl Iterator<Item = u128> + Clone + 's {
        Union {
            a: &self.0,
            b: &other.0,
        }
        .filter(move |guid| gone.binary_search(guid).is_err())
    }

    /// The guids of `self` that `now` lacks, in order.
    pub fn missing_from<'a>(&'a self, now: &'a GuidSet) -> impl Iterator<Item = u128> + 'a {
        self.iter().filter(move |guid| !now.contains(*guid))
    }
}

/// The merge of two sorted lists without duplicates.
#[derive(Clone)]
struct Union<'s> {
    a: &'s [u128],
    b: &'s [u128],
}

impl Iterator for Union<'_> {
    type Item = u128;

    fn next(&mut self) -> Option<u128> {
        let next = match (self.a.first(), self.b.first()) {
            (Some(&x), Some(&y)) if x == y => {
                self.a = &self.a[1..];
                self.b = &self.b[1..];
                x
            }
            (Some(&x), Some(&y)) if x < y => {
                self.a = &self.a[1..];
                x
            }
            (_, Some(&y)) => {
                self.b = &self.b[1..];
                y
            }
            (Some(&x), None) => {
                self.a = &self.a[1..];
                x
            }
            (None, None) => return None,
        };
        Some(next)
    }
}

/// A guid in any common text form (hyphens and braces optional).
pub fn parse_guid(text: &str) -> Option<u128> {
    let text = text.trim();
    let text = text.strip_prefix('{').unwrap_or(text);
    let text = text.strip_suffix('}').unwrap_or(text);
    // Shifts, not `from_str_radix`: a u128 multiply is a library call in
    // wasm, and this runs for every exported object.
    let mut guid = 0u128;
    let mut digits = 0;
    for byte in text.bytes() {
        if byte == b'-' {
            continue;
        }
        let digit = char::from(byte).to_digit(16)?;
        digits += 1;
        if digits > 32 {
            return None;
        }
        guid = guid << 4 | u128::from(digit);
    }
    (digits == 32).then_some(guid)
}

/// Lower-case hyphenated, as Exchange sends guids.
pub fn format_guid(guid: u128) -> String {
    guid_text(guid)
        .iter()
        .map(|&byte| char::from(byte))
        .collect()
}

/// [`format_guid`]'s text as bytes, without allocating: the cookie holds
/// one per mailbox.
fn guid_text(guid: u128) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'-'; 36];
    // Nibbles from the bytes: a u128 shifted by a variable amount is a
    // library call in wasm, 32 per guid.
    let mut nibbles = guid
        .to_be_bytes()
        .into_iter()
        .flat_map(|byte| [byte >> 4, byte & 0xf]);
    for (at, byte) in text.iter_mut().enumerate() {
        if matches!(at, 8 | 13 | 18 | 23) {
            continue;
        }
        if let Some(nibble) = nibbles.next() {
            *byte = HEX[usize::from(nibble)];
        }
    }
    text
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cookie {
    /// The start of the export that wrote it (the host's clock minus the
    /// connection's overlap): the next window's lower bound.
    pub started_at: DateTime<Utc>,
    /// The start of the last export that listed every mailbox.
    pub reconciled_at: DateTime<Utc>,
    pub databases: DatabaseRows,
    /// The mailboxes reported as `Insert` by this or an earlier export and
    /// not deleted since.
    pub mailboxes: GuidSet,
}

impl Cookie {
    /// Reads the cookie; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<Cookie>, String> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unusable(path, &e.to_string())),
        };
        Self::parse(BufReader::new(file))
            .map(Some)
            .map_err(|detail| unusable(path, &detail))
    }

    fn parse(reader: impl BufRead) -> Result<Cookie, String> {
        let mut lines = reader.lines().enumerate().map(|(i, line)| {
            line.map(|l| (i + 1, l))
                .map_err(|e| format!("line {}: {e}", i + 1))
        });
        let mut next = move || -> Result<(usize, String), String> {
            lines
                .next()
                .unwrap_or_else(|| Err("the file ends early".to_owned()))
        };
        let (_, magic) = next()?;
        let (with_digests, with_reconciliation) = match magic.as_str() {
            MAGIC => (true, true),
            MAGIC_V2 => (true, false),
            MAGIC_V1 => (false, false),
            _ => return Err(format!("the first line is not `{MAGIC}`")),
        };
        let mut date = |key: &str| -> Result<DateTime<Utc>, String> {
            let (n, line) = next()?;
            line.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(parse_date_time)
                .ok_or_else(|| format!("line {n}: expected `{key} <ISO 8601 UTC date>`"))
        };
        let started_at = date("started-at")?;
        let reconciled_at = if with_reconciliation {
            date("reconciled-at")?
        } else {
            started_at
        };
        let databases = parse_databases(&mut next, with_digests)?;
        let mailboxes = GuidSet::from_unsorted(parse_section(&mut next, "mailboxes")?);
        let (n, end) = next()?;
        if end != "end" {
            return Err(format!("line {n}: expected `end`"));
        }
        if let Ok((n, _)) = next() {
            return Err(format!("line {n}: unexpected text after `end`"));
        }
        Ok(Cookie {
            started_at,
            reconciled_at,
            databases,
            mailboxes,
        })
    }

    /// Writes the cookie to `path` (a temporary name: the caller renames it).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut guids = self.mailboxes.iter();
        write_cookie(
            path,
            &self.started_at,
            &self.reconciled_at,
            &self.databases,
            self.mailboxes.len(),
            || Ok(guids.next()),
        )
    }
}

/// Writes a cookie to `path` (a temporary name: the caller renames it),
/// its `count` mailboxes taken in order from `next_mailbox`: a complete
/// export streams them from disk (written.rs). Fewer or more than `count`
/// is an error, never a cookie whose count lies.
pub fn write_cookie(
    path: &Path,
    started_at: &DateTime<Utc>,
    reconciled_at: &DateTime<Utc>,
    databases: &DatabaseRows,
    count: usize,
    mut next_mailbox: impl FnMut() -> Result<Option<u128>, String>,
) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("writing {} failed: {e}", path.display());
    // One host call per MiB rather than per 8 KiB (see rows.rs).
    let file = File::create(path).map_err(failed)?;
    let mut out = BufWriter::with_capacity(1 << 20, OutputFile::new(file));
    (|| {
        writeln!(out, "{MAGIC}")?;
        writeln!(out, "started-at {}", format_date_time(started_at))?;
        writeln!(out, "reconciled-at {}", format_date_time(reconciled_at))?;
        writeln!(out, "databases {}", databases.len())?;
        for (&guid, digest) in databases {
            out.write_all(&guid_text(guid))?;
            // A database without a digest (from a version 1 cookie) is
            // always re-exported, so it never reaches here without one.
            writeln!(out, " {:032x}", digest.unwrap_or_default())?;
        }
        writeln!(out, "mailboxes {count}")
    })()
    .map_err(failed)?;
    let mut written = 0usize;
    while let Some(guid) = next_mailbox()? {
        written += 1;
        out.write_all(&guid_text(guid))
            .and_then(|()| out.write_all(b"\n"))
            .map_err(failed)?;
    }
    if written != count {
        return Err(format!(
            "writing {} failed: {written} mailboxes where {count} were counted",
            path.display()
        ));
    }
    writeln!(out, "end").map_err(failed)?;
    let file = out
        .into_inner()
        .map_err(|e| failed(e.into_error()))?
        .into_file();
    file.sync_all().map_err(failed)
}

/// The `databases` section: `<guid> <digest>` lines (`<guid>` in version 1).
fn parse_databases(
    next: &mut impl FnMut() -> Result<(usize, String), String>,
    with_digests: bool,
) -> Result<DatabaseRows, String> {
    let lines = section_lines(next, "databases")?;
    let mut databases = DatabaseRows::new();
    for (n, line) in lines {
        let (guid, digest) = if with_digests {
            let (guid, digest) = line
                .split_once(' ')
                .ok_or_else(|| format!("line {n}: expected `<guid> <digest>`"))?;
            let digest = (digest.len() == 32)
                .then(|| u128::from_str_radix(digest, 16).ok())
                .flatten()
                .ok_or_else(|| format!("line {n}: `{digest}` is not a digest"))?;
            (guid, Some(digest))
        } else {
            (line.as_str(), None)
        };
        let guid = parse_guid(guid).ok_or_else(|| format!("line {n}: `{guid}` is not a guid"))?;
        databases.insert(guid, digest);
    }
    Ok(databases)
}

/// The `<name> <count>` line and the `count` guids after it, parsed as
/// they are read: holding a million lines as text first cost five times
/// the guids' memory, which a wasm instance never gives back.
fn parse_section(
    next: &mut impl FnMut() -> Result<(usize, String), String>,
    name: &str,
) -> Result<Vec<u128>, String> {
    let count = section_count(next, name)?;
    // The count is the file's word: reserve no more than a million up front.
    let mut guids = Vec::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let (n, line) = next()?;
        guids.push(parse_guid(&line).ok_or_else(|| format!("line {n}: `{line}` is not a guid"))?);
    }
    Ok(guids)
}

fn section_count(
    next: &mut impl FnMut() -> Result<(usize, String), String>,
    name: &str,
) -> Result<usize, String> {
    let (n, line) = next()?;
    count_of(&line, name).ok_or_else(|| format!("line {n}: expected `{name} <count>`"))
}

fn count_of(line: &str, name: &str) -> Option<usize> {
    line.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(' '))
        .and_then(|count| count.parse().ok())
}

/// The databases and mailboxes a cookie lists, read from its counts
/// without holding its guids (the progress bar's estimate); `None` when
/// there is no cookie or it is not one.
pub fn count_objects(path: &Path) -> Option<u64> {
    let mut lines = BufReader::new(File::open(path).ok()?).lines();
    let header_lines = match lines.next()?.ok()?.as_str() {
        MAGIC => 2,
        MAGIC_V2 | MAGIC_V1 => 1,
        _ => return None,
    };
    for _ in 0..header_lines {
        lines.next()?.ok()?;
    }
    let databases = count_of(&lines.next()?.ok()?, "databases")?;
    for _ in 0..databases {
        lines.next()?.ok()?;
    }
    let mailboxes = count_of(&lines.next()?.ok()?, "mailboxes")?;
    Some(databases as u64 + mailboxes as u64)
}

/// The `<name> <count>` line and the `count` lines after it.
fn section_lines(
    next: &mut impl FnMut() -> Result<(usize, String), String>,
    name: &str,
) -> Result<Vec<(usize, String)>, String> {
    let count = section_count(next, name)?;
    // The count is the file's word: reserve little up front.
    let mut lines = Vec::with_capacity(count.min(1 << 10));
    for _ in 0..count {
        lines.push(next()?);
    }
    Ok(lines)
}

fn unusable(path: &Path, detail: &str) -> String {
    format!(
        "the export cookie {} cannot be used ({detail}); rerun the export with \
         --ignore-cookies to run a complete export and write a new cookie",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_survives_a_write_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bin");
        let cookie = Cookie {
            started_at: parse_date_time("2026-11-27T08:00:00Z").unwrap(),
            reconciled_at: parse_date_time("2026-11-26T20:00:00Z").unwrap(),
            databases: DatabaseRows::from([(3, Some(u128::MAX)), (1, Some(0xab))]),
            mailboxes: GuidSet::from_unsorted(vec![u128::MAX, 0, 7]),
        };
        cookie.write(&path).unwrap();
        assert_eq!(Cookie::read(&path).unwrap(), Some(cookie));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "idconn-exchange-cookie 3\nstarted-at 2026-11-27T08:00:00Z\n\
             reconciled-at 2026-11-26T20:00:00Z\ndatabases 2\n\
             00000000-0000-0000-0000-000000000001 000000000000000000000000000000ab\n"
        ));
        assert!(text.ends_with("ffffffff-ffff-ffff-ffff-ffffffffffff\nend\n"));
    }

    #[test]
    fn a_version_1_cookie_is_read_without_digests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bin");
        std::fs::write(
            &path,
            "idconn-exchange-cookie 1\nstarted-at 2026-11-27T08:00:00Z\ndatabases 1\n\
             00000000-0000-0000-0000-000000000001\nmailboxes 0\nend\n",
        )
        .unwrap();
        let cookie = Cookie::read(&path).unwrap().unwrap();
        assert_eq!(cookie.databases, DatabaseRows::from([(1, None)]));
        assert_eq!(cookie.reconciled_at, cookie.started_at);
    }

    #[test]
    fn a_version_2_cookie_was_reconciled_when_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bin");
        std::fs::write(
            &path,
            "idconn-exchange-cookie 2\nstarted-at 2026-11-27T08:00:00Z\ndatabases 0\n\
             mailboxes 1\n00000000-0000-0000-0000-000000000007\nend\n",
        )
        .unwrap();
        let cookie = Cookie::read(&path).unwrap().unwrap();
        assert_eq!(cookie.reconciled_at, cookie.started_at);
        assert!(cookie.mailboxes.contains(7));
    }

    #[test]
    fn the_counts_are_read_without_the_guids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bin");
        assert_eq!(count_objects(&path), None);
        let cookie = Cookie {
            started_at: parse_date_time("2026-11-27T08:00:00Z").unwrap(),
            reconciled_at: parse_date_time("2026-11-27T08:00:00Z").unwrap(),
            databases: [(1, Some(2)), (3, Some(4))].into_iter().collect(),
            mailboxes: GuidSet::from_unsorted(vec![5, 6, 7]),
        };
        cookie.write(&path).unwrap();
        assert_eq!(count_objects(&path), Some(5));
        let v1 = "idconn-exchange-cookie 1\nstarted-at 2026-11-27T08:00:00Z\n\
                  databases 1\n00000000-0000-0000-0000-000000000001\n\
                  mailboxes 2\n";
        std::fs::write(&path, v1).unwrap();
        assert_eq!(count_objects(&path), Some(3));
        for bad in [
            "",
            "not a cookie\n",
            "idconn-exchange-cookie 3\nstarted-at x\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert_eq!(count_objects(&path), None, "{bad:?}");
        }
        // A count the file does not hold ends at the end of the file.
        std::fs::write(
            &path,
            "idconn-exchange-cookie 2\nstarted-at x\ndatabases 99999999999\n",
        )
        .unwrap();
        assert_eq!(count_objects(&path), None);
    }

    #[test]
    fn a_union_without_some_guids_is_computed_in_order() {
        let a = GuidSet::from_unsorted(vec![1, 3, 5, 7, u128::MAX]);
        let b = GuidSet::from_unsorted(vec![0, 3, 4, 8]);
        let union: Vec<u128> = a.union_without(&b, &[4, 5, 9]).collect();
        assert_eq!(union, [0, 1, 3, 7, 8, u128::MAX]);
        let empty = GuidSet::default();
        assert_eq!(empty.union_without(&empty, &[]).count(), 0);
        assert_eq!(
            a.union_without(&empty, &[]).collect::<Vec<_>>(),
            [1, 3, 5, 7, u128::MAX]
        );
        assert_eq!(empty.union_without(&b, &[0]).collect::<Vec<_>>(), [3, 4, 8]);
    }

    #[test]
    fn a_missing_cookie_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Cookie::read(&dir.path().join("none.bin")).unwrap(), None);
    }

    #[test]
    fn damaged_cookies_are_refused_with_the_fix() {
        let good = "idconn-exchange-cookie 2\nstarted-at 2026-11-27T08:00:00Z\n\
                    databases 1\n00000000-0000-0000-0000-000000000001 \
                    0000000000000000000000000000000f\nmailboxes 0\nend\n";
        let damaged = [
            "",
            "2026-11-27T08:00:00Z",
            &good[..good.len() - 4],
            &good.replace("databases 1", "databases 2"),
            &good.replace("0001 ", "000g "),
            &good.replace(" 0000000000000000000000000000000f", ""),
            &good.replace("000f\n", "00xf\n"),
            &good.replace("08:00:00Z", "soon"),
            &format!("{good}more\n"),
            "\u{fffd}\u{0}",
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bin");
        for text in damaged {
            std::fs::write(&path, text).unwrap();
            let error = Cookie::read(&path).unwrap_err();
            assert!(error.contains("--ignore-cookies"), "{text:?}: {error}");
        }
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(Cookie::read(&path)
            .unwrap_err()
            .contains("--ignore-cookies"));
        std::fs::write(&path, good).unwrap();
        assert!(Cookie::read(&path).unwrap().is_some());
    }

    #[test]
    fn guids_parse_in_common_forms() {
        let guid = parse_guid("9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2").unwrap();
        assert_eq!(format_guid(guid), "9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2");
        assert_eq!(
            parse_guid("{9B9387FE-E1B1-4695-97BD-B0A0BEBE7CE2}"),
            Some(guid)
        );
        assert_eq!(parse_guid("9b9387fe"), None);
        assert_eq!(parse_guid("+b9387fe-e1b1-4695-97bd-b0a0bebe7ce2"), None);
        assert_eq!(parse_guid(" 9b9387fee1b1469597bdb0a0bebe7ce2 "), Some(guid));
        assert_eq!(parse_guid("9b9387fe-e1b1-4695-97bd-b0a0bebe7ce20"), None);
        assert_eq!(parse_guid("9b9387fe-e1b1-4695-97bd-b0a0bebe7cé"), None);
        assert_eq!(
            parse_guid("ffffffff-ffff-ffff-ffff-ffffffffffff"),
            Some(u128::MAX)
        );
    }
}
