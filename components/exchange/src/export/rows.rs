//! Writing exported objects as CSV rows, one reused buffer per column so a
//! row costs no allocation once the buffers have grown.

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::csv_out::CsvOut;
use super::output_file::OutputFile;
use super::schema::{
    selected, ACCOUNT_DISABLED_IS_DIR_SYNCED, COMMAND, EMAIL_ADDRESSES, GUID, WHEN_CHANGED_UTC,
    WHEN_CREATED_UTC,
};
use super::state::{format_guid, parse_guid};
use crate::values::{scalar_date_time, write_date_time, write_email_addresses, write_value};
use idconn_sdk::batch::{ObjectRef, ScalarRef, ValueRef};

/// Bytes of CSV gathered before each write to the file. In the sandbox
/// every write is a host call, so csv's default 8 KiB would cost ten
/// thousand calls for 100,000 mailboxes; this costs about ninety.
const WRITE_BUFFER: usize = 1 << 20;

/// What the export needs to know of a row beyond its text.
#[derive(Debug, Default, Clone, Copy)]
pub struct RowFacts {
    pub guid: Option<u128>,
    pub changed: Option<DateTime<Utc>>,
    pub created: Option<DateTime<Utc>>,
}

pub struct RowWriter {
    csv: CsvOut<OutputFile>,
    path: PathBuf,
    columns: &'static [&'static str],
    /// For the n-th selected property, its column: properties usually arrive
    /// in the order Select-Object was given, so this guess is nearly always right.
    expected: Vec<usize>,
    guid_column: usize,
    /// What each column needs beyond its text, decided once rather than by
    /// comparing names for every property of every row.
    kinds: Vec<Kind>,
    fields: Vec<String>,
    /// Columns of the row last filled that hold only bytes this writer
    /// wrote itself and that never need quotes (a boolean, a number, a date
    /// it formatted): the CSV writer copies them without scanning them.
    plain: Vec<bool>,
    /// The column of each property, for the shapes of the batch being
    /// written: names are compared once per shape and batch instead of once
    /// per property of every row, which was the export's largest cost.
    layouts: Vec<(u32, Vec<Option<usize>>)>,
    layouts_of: Option<BatchNo>,
}

/// Tells batches apart, so what is known of one batch's shapes is not
/// applied to the next one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchNo(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not read from the object (`Command`, or a column the export fills itself).
    Skipped,
    EmailAddresses,
    Guid,
    Changed,
    Created,
    Plain,
}

fn kind_of(column: &str) -> Kind {
    match column {
        COMMAND | ACCOUNT_DISABLED_IS_DIR_SYNCED => Kind::Skipped,
        EMAIL_ADDRESSES => Kind::EmailAddresses,
        GUID => Kind::Guid,
        WHEN_CHANGED_UTC => Kind::Changed,
        WHEN_CREATED_UTC => Kind::Created,
        _ => Kind::Plain,
    }
}

impl RowWriter {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path, columns: &'static [&'static str]) -> Result<Self, String> {
        let file =
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mut csv = CsvOut::new(OutputFile::new(file), WRITE_BUFFER);
        csv.write_record(columns)
            .map_err(|e| write_failed(path, &e))?;
        let expected = selected(columns)
            .iter()
            .filter_map(|name| columns.iter().position(|c| c == name))
            .collect();
        let guid_column = columns.iter().position(|c| *c == GUID).unwrap_or(0);
        Ok(RowWriter {
            csv,
            path: path.to_path_buf(),
            columns,
            expected,
            guid_column,
            kinds: columns.iter().map(|c| kind_of(c)).collect(),
            fields: vec![String::new(); columns.len()],
            plain: vec![false; columns.len()],
            layouts: Vec::new(),
            layouts_of: None,
        })
    }

    /// Fills the row's columns from an object's properties (the object is
    /// one of batch `batch`); `write` sends it.
    pub fn fill(&mut self, batch: BatchNo, object: &ObjectRef<'_>) -> RowFacts {
        self.clear();
        let layout = self.layout(batch, object);
        let mut facts = RowFacts::default();
        for (&column, value) in self.layouts[layout].1.iter().zip(object.values()) {
            let Some(column) = column else {
                continue;
            };
            let kind = self.kinds[column];
            let field = &mut self.fields[column];
            field.clear();
            self.plain[column] = matches!(
                value,
                ValueRef::Scalar(
                    ScalarRef::Null
                        | ScalarRef::Boolean(_)
                        | ScalarRef::Integer(_)
                        | ScalarRef::Number(_)
                )
            );
            match (kind, value) {
                (Kind::Skipped, _) => continue,
                (Kind::EmailAddresses, _) => write_email_addresses(field, value),
                (Kind::Changed | Kind::Created, ValueRef::Scalar(scalar)) => {
                    // Parsed once: for the row's text and for the facts.
                    let at = scalar_date_time(scalar);
                    match (at, scalar) {
                        (Some(at), ScalarRef::DateTime(_)) => {
                            write_date_time(field, &at);
                            self.plain[column] = true;
                        }
                        _ => write_value(field, value),
                    }
                    if kind == Kind::Changed {
                        facts.changed = at;
                    } else {
                        facts.created = at;
                    }
                }
                (Kind::Guid, ValueRef::Scalar(scalar)) => {
                    write_value(field, value);
                    facts.guid = guid_of(scalar);
                }
                // Most values: text as it is (what `write_value` does with
                // it), without two calls per property.
                (Kind::Plain, ValueRef::Scalar(ScalarRef::Text(text))) => field.push_str(text),
                _ => write_value(field, value),
            }
        }
        facts
    }

    /// The index in `layouts` of the object's shape, worked out on the
    /// shape's first object in a batch.
    fn layout(&mut self, batch: BatchNo, object: &ObjectRef<'_>) -> usize {
        if self.layouts_of != Some(batch) {
            self.layouts.clear();
            self.layouts_of = Some(batch);
        }
        let shape = object.shape_index();
        if let Some(at) = self.layouts.iter().position(|(s, _)| *s == shape) {
            return at;
        }
        let columns = object
            .property_names()
            .iter()
            .enumerate()
            .map(|(i, name)| self.column_of(i, name))
            .collect();
        self.layouts.push((shape, columns));
        self.layouts.len() - 1
    }

    /// A digest of the row last filled (every column but `Command`): equal
    /// digests, equal rows. The first 128 bits of SHA-256 over each field's
    /// length and bytes, so no field can shift into its neighbour.
    pub fn digest(&self) -> u128 {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for field in self.fields.iter().skip(1) {
            hasher.update((field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
        let sum = hasher.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&sum[..16]);
        u128::from_be_bytes(first)
    }

    /// Writes the row last filled, with its `Command`.
    pub fn write(&mut self, command: &str) -> Result<(), String> {
        self.fields[0].clear();
        self.fields[0].push_str(command);
        let plain = &self.plain;
        self.csv
            .write_fields(&self.fields, |i| plain.get(i).copied().unwrap_or(false))
            .map_err(|e| write_failed(&self.path, &e))
    }

    /// A `Delete` row: the guid and nothing else.
    pub fn write_delete(&mut self, guid: u128) -> Result<(), String> {
        self.clear();
        self.fields[self.guid_column] = format_guid(guid);
        self.write("Delete")
    }

    fn clear(&mut self) {
        for field in &mut self.fields {
            field.clear();
        }
        self.plain.fill(false);
    }

    /// Flushes and syncs the file.
    pub fn finish(self) -> Result<(), String> {
        let path = self.path;
        let file = self
            .csv
            .into_inner()
            .map_err(|e| write_failed(&path, &e))?
            .into_file();
        file.sync_all()
            .map_err(|e| format!("writing {} failed: {e}", path.display()))
    }

    fn column_of(&self, index: usize, name: &str) -> Option<usize> {
        match self.expected.get(index) {
            Some(&column) if self.columns[column].eq_ignore_ascii_case(name) => Some(column),
            _ => self
                .columns
                .iter()
                .position(|c| c.eq_ignore_ascii_case(name)),
        }
    }
}

/// A guid sent as a guid, as text, or (full serialization) as an object.
pub fn guid_of(scalar: ScalarRef<'_>) -> Option<u128> {
    match scalar {
        ScalarRef::Guid(text) | ScalarRef::Text(text) => parse_guid(text),
        ScalarRef::Object(object) => parse_guid(&object.to_string),
        _ => None,
    }
}

fn write_failed(path: &Path, error: &std::io::Error) -> String {
    format!("writing {} failed: {error}", path.display())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use idconn_sdk::batch::{batch_of, BatchRef, Property, PsObject};
    use idconn_sdk::{Scalar, Value};

    const COLUMNS: [&str; 8] = [
        COMMAND,
        "Text",
        "Flag",
        "Count",
        "Ratio",
        "Missing",
        GUID,
        WHEN_CHANGED_UTC,
    ];

    fn object(text: &str, changed: Scalar) -> PsObject {
        let property = |name: &str, value: Scalar| Property {
            name: name.into(),
            value: Value::Scalar(value),
        };
        PsObject {
            type_names: Vec::new(),
            to_string: None,
            properties: vec![
                property("Text", Scalar::Text(text.into())),
                property("Flag", Scalar::Boolean(true)),
                property("Count", Scalar::Integer(-12)),
                property("Ratio", Scalar::Number(0.5)),
                property("Missing", Scalar::Null),
                property(
                    "Guid",
                    Scalar::Guid("2cd62d98-d99b-44ee-b7c9-fd57dcc2b900".into()),
                ),
                property(WHEN_CHANGED_UTC, changed),
            ],
        }
    }

    /// Rows whose typed fields are copied unscanned still read back as
    /// written, next to text that must be quoted, and to a date that is
    /// not in Exchange's form (kept as sent, so scanned).
    #[test]
    fn typed_fields_copied_unscanned_read_back_field_for_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        let objects = [
            object(
                "CN=García\\, José,OU=Staff",
                Scalar::DateTime("2021-08-05T13:53:30Z".into()),
            ),
            object("say \"hi\"\r\nbye", Scalar::DateTime("soon, maybe".into())),
            object("plain", Scalar::Text("2021-08-05T13:53:30Z".into())),
        ];
        let batch = batch_of(&objects);
        let mut writer = RowWriter::create(&path, &COLUMNS).unwrap();
        let mut expected = Vec::new();
        for object in BatchRef::new(&batch).objects() {
            writer.fill(BatchNo(1), &object);
            writer.write("Insert").unwrap();
            expected.push(writer.fields.clone());
        }
        writer.finish().unwrap();

        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(&path)
            .unwrap();
        let read: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(read, expected);
        assert_eq!(read[0][1], "CN=García\\, José,OU=Staff");
        assert_eq!(&read[0][2..6], ["True", "-12", "0.5", ""]);
        assert_eq!(read[0][7], "2021-08-05T13:53:30Z");
        assert_eq!(read[1][7], "soon, maybe");
    }
}
