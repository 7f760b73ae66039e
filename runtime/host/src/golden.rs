//! Golden files: what a replayed job wrote, compared with a directory of
//! expected files, or written there (`--update`). A CSV difference names the
//! file, the row and the column; values are escaped and capped, since they
//! come from a component and a fixture.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::Context;
use idconn_psrp::untrusted;

/// Differing rows shown per file; the rest are counted.
const SHOWN_ROWS: usize = 5;
/// Characters of one value in a diff line.
const VALUE_CAP: usize = 200;

/// A file the job wrote: its name and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// How a run compares with its golden directory.
#[derive(Debug, Default)]
pub struct Comparison {
    /// One entry per file that differs, already readable.
    pub differences: Vec<String>,
    /// Files that match.
    pub same: Vec<String>,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.differences.is_empty()
    }

    /// The report an operator reads.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.differences {
            out.push_str(d);
            if !d.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// The regular files directly in `dir`, by name. Hidden files (a leading
/// dot) are not golden files.
pub fn read_dir_files(dir: &Path) -> anyhow::Result<Vec<WrittenFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        let bytes = fs::read(entry.path())
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        files.push(WrittenFile { name, bytes });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Compares `actual` with the files of `expect_dir`.
pub fn compare(actual: &[WrittenFile], expect_dir: &Path) -> anyhow::Result<Comparison> {
    if !expect_dir.is_dir() {
        anyhow::bail!(
            "the golden directory {} does not exist; run with --update to create it from this run",
            expect_dir.display()
        );
    }
    let expected = read_dir_files(expect_dir)?;
    let mut comparison = Comparison::default();
    for e in &expected {
        match actual.iter().find(|a| a.name == e.name) {
            None => comparison.differences.push(format!(
                "{}: expected, but the job did not write it",
                untrusted::line(&e.name)
            )),
            Some(a) if a.bytes == e.bytes => comparison.same.push(e.name.clone()),
            Some(a) => comparison
                .differences
                .push(describe_difference(&e.name, &e.bytes, &a.bytes)),
        }
    }
    for a in actual {
        if !expected.iter().any(|e| e.name == a.name) {
            comparison.differences.push(format!(
                "{}: written by the job, but not in {} (run with --update to accept it)",
                untrusted::line(&a.name),
                expect_dir.display()
            ));
        }
    }
    Ok(comparison)
}

/// Makes `expect_dir` hold exactly `actual`: files are written (temporary
/// name, then rename) and golden files the job no longer writes removed.
pub fn update(actual: &[WrittenFile], expect_dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(expect_dir)
        .with_context(|| format!("cannot create {}", expect_dir.display()))?;
    for file in actual {
        if file.name.contains(['/', '\\']) || file.name.starts_with('.') {
            anyhow::bail!(
                "refusing to write a golden file named {}",
                untrusted::line(&file.name)
            );
        }
        let target = expect_dir.join(&file.name);
        let temp = expect_dir.join(format!(".{}.tmp", file.name));
        fs::write(&temp, &file.bytes)
            .with_context(|| format!("cannot write {}", temp.display()))?;
        fs::rename(&temp, &target).with_context(|| format!("cannot write {}", target.display()))?;
    }
    for old in read_dir_files(expect_dir)? {
        if !actual.iter().any(|a| a.name == old.name) {
            let path = expect_dir.join(&old.name);
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

fn describe_difference(name: &str, expected: &[u8], actual: &[u8]) -> String {
    let shown = untrusted::line(name);
    if name.to_ascii_lowercase().ends_with(".csv") {
        if let Some(text) = csv_difference(expected, actual) {
            return format!("{shown}: differs\n{text}");
        }
    }
    match (std::str::from_utf8(expected), std::str::from_utf8(actual)) {
        (Ok(e), Ok(a)) => {
            let (el, al): (Vec<&str>, Vec<&str>) = (e.lines().collect(), a.lines().collect());
            let line = (0..el.len().max(al.len()))
                .find(|&i| el.get(i) != al.get(i))
                .unwrap_or(el.len().min(al.len()));
            format!(
                "{shown}: differs at line {}\n  expected: {}\n  actual:   {}",
                line + 1,
                el.get(line).map_or("(end of file)".into(), |l| quote(l)),
                al.get(line).map_or("(end of file)".into(), |l| quote(l)),
            )
        }
        _ => {
            let at = expected
                .iter()
                .zip(actual)
                .position(|(e, a)| e != a)
                .unwrap_or(expected.len().min(actual.len()));
            format!(
                "{shown}: differs at byte {at} ({} bytes expected, {} written)",
                expected.len(),
                actual.len()
            )
        }
    }
}

fn quote(value: &str) -> String {
    format!("\"{}\"", untrusted::for_log(value, VALUE_CAP))
}

fn records(bytes: &[u8]) -> Option<Vec<csv::StringRecord>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
        .records()
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// The first differing rows of two CSVs, each naming its row (the header
/// is row 0, the first data row row 1) and the differing columns by the
/// expected header. `None` when either is not CSV.
fn csv_difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    let (e, a) = (records(expected)?, records(actual)?);
    let header: Vec<String> = e
        .first()
        .map(|h| h.iter().map(str::to_string).collect())
        .unwrap_or_default();
    let column = |i: usize| {
        header.get(i).map_or_else(
            || format!("#{}", i + 1),
            |h| untrusted::for_log(h, VALUE_CAP),
        )
    };
    let mut out = String::new();
    let mut differing = 0usize;
    for row in 0..e.len().max(a.len()) {
        let (er, ar) = (e.get(row), a.get(row));
        if er == ar {
            continue;
        }
        differing += 1;
        if differing > SHOWN_ROWS {
            continue;
        }
        match (er, ar) {
            (Some(er), Some(ar)) => {
                for i in 0..er.len().max(ar.len()) {
                    let (ev, av) = (er.get(i), ar.get(i));
                    if ev != av {
                        let _ = writeln!(
                            out,
                            "  row {row}, column {}: expected {}, actual {}",
                            column(i),
                            ev.map_or("(missing)".into(), quote),
                            av.map_or("(missing)".into(), quote)
                        );
                    }
                }
            }
            (Some(er), None) => {
                let _ = writeln!(
                    out,
                    "  row {row}: expected {}, but the file ends",
                    quote(&er.iter().collect::<Vec<_>>().join(","))
                );
            }
            (None, Some(ar)) => {
                let _ = writeln!(
                    out,
                    "  row {row}: not expected, written {}",
                    quote(&ar.iter().collect::<Vec<_>>().join(","))
                );
            }
            (None, None) => {}
        }
    }
    if differing == 0 {
        // Same records, different bytes (quoting, line endings).
        let _ = writeln!(
            out,
            "  same rows, but the bytes differ (quoting or line endings)"
        );
    } else if differing > SHOWN_ROWS {
        let _ = writeln!(
            out,
            "  ... and {} more differing rows",
            differing - SHOWN_ROWS
        );
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> WrittenFile {
        WrittenFile {
            name: name.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_csv_difference_names_the_row_and_the_column() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x.csv"), "Name,Mail\na,a@x\nb,b@x\n").unwrap();
        fs::write(dir.path().join("gone.bin"), "1").unwrap();
        let actual = [
            file("x.csv", "Name,Mail\na,a@x\nb,B@x\x1b[2J\n"),
            file("new.txt", "n"),
        ];
        let c = compare(&actual, dir.path()).unwrap();
        let text = c.render();
        assert!(!c.is_same());
        assert!(
            text.contains("row 2, column Mail: expected \"b@x\", actual \"B@x\\u{1b}[2J\""),
            "{text}"
        );
        assert!(
            text.contains("gone.bin: expected, but the job did not write it"),
            "{text}"
        );
        assert!(text.contains("new.txt: written by the job"), "{text}");
    }

    #[test]
    fn update_makes_the_directory_hold_exactly_the_run() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("old.csv"), "x").unwrap();
        let actual = [file("a.csv", "A\n1\n")];
        update(&actual, dir.path()).unwrap();
        assert_eq!(read_dir_files(dir.path()).unwrap(), actual.to_vec());
        assert!(compare(&actual, dir.path()).unwrap().is_same());
    }
}
