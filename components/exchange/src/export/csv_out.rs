//! The export's CSV records, byte for byte as the csv crate writes them with
//! its defaults (a comma between fields, `\n` after each record, a field
//! quoted only when it holds a comma, a quote, `\r` or `\n`, a quote inside
//! doubled, and a record of no field or of one empty field written `""`),
//! but copying each field whole: csv_core's byte-at-a-time state machine was
//! a tenth of the export's CPU in wasmtime. The tests hold it to the csv
//! crate, which the connector's other files are still written with.

use std::io::{self, Write};

pub struct CsvOut<W: Write> {
    out: W,
    buffer: Vec<u8>,
    /// Bytes gathered before each write to `out`.
    flush_at: usize,
}

impl<W: Write> CsvOut<W> {
    pub fn new(out: W, flush_at: usize) -> Self {
        CsvOut {
            out,
            buffer: Vec::with_capacity(flush_at.saturating_add(4096)),
            flush_at,
        }
    }

    pub fn write_record<F: AsRef<[u8]>>(&mut self, fields: &[F]) -> io::Result<()> {
        self.write_fields(fields, |_| false)
    }

    /// Like [`Self::write_record`], told which fields the caller wrote itself
    /// from bytes that never need quotes (`True`, a number, a date in its
    /// fixed form): those are copied without being scanned.
    pub fn write_fields<F: AsRef<[u8]>>(
        &mut self,
        fields: &[F],
        plain: impl Fn(usize) -> bool,
    ) -> io::Result<()> {
        let empty = match fields {
            [] => true,
            [only] => only.as_ref().is_empty(),
            _ => false,
        };
        if empty {
            // Else the record would read back as no field at all.
            self.buffer.extend_from_slice(b"\"\"\n");
            return self.flush_if_full();
        }
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.buffer.push(b',');
            }
            let field = field.as_ref();
            if !plain(i) && needs_quotes(field) {
                self.buffer.push(b'"');
                for (j, part) in field.split(|b| *b == b'"').enumerate() {
                    if j > 0 {
                        self.buffer.extend_from_slice(b"\"\"");
                    }
                    self.buffer.extend_from_slice(part);
                }
                self.buffer.push(b'"');
            } else {
                self.buffer.extend_from_slice(field);
            }
        }
        self.buffer.push(b'\n');
        self.flush_if_full()
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buffer.len() >= self.flush_at {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Writes what is gathered and hands the writer back.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.write_all(&self.buffer)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Whether `field` holds a byte that must be quoted: `,`, `"`, `\r` or
/// `\n`. Most fields are short (`True`, a date, a name) and take one table
/// lookup per byte; longer ones take memchr's scans, 16 bytes a step with
/// wasm SIMD (components/.cargo/config.toml).
fn needs_quotes(field: &[u8]) -> bool {
    if field.len() < 16 {
        return field.iter().any(|b| QUOTED[usize::from(*b)]);
    }
    memchr::memchr3(b',', b'"', b'\n', field).is_some() || memchr::memchr(b'\r', field).is_some()
}

/// The bytes that make a field quoted.
static QUOTED: [bool; 256] = {
    let mut quoted = [false; 256];
    quoted[b',' as usize] = true;
    quoted[b'"' as usize] = true;
    quoted[b'\n' as usize] = true;
    quoted[b'\r' as usize] = true;
    quoted
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ours(records: &[Vec<String>], flush_at: usize) -> Vec<u8> {
        let mut out = CsvOut::new(Vec::new(), flush_at);
        for record in records {
            out.write_record(record).unwrap();
        }
        out.into_inner().unwrap()
    }

    fn theirs(records: &[Vec<String>]) -> Vec<u8> {
        let mut out = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        for record in records {
            out.write_record(record).unwrap();
        }
        out.into_inner().unwrap()
    }

    /// Every field of up to four of these bytes (each special byte, text
    /// around it, a multi-byte character), alone and between others.
    #[test]
    fn every_short_field_is_written_as_the_csv_crate_writes_it() {
        let alphabet = ["a", ",", "\"", "\r", "\n", " ", "é", "\t"];
        let mut fields = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = fields
                .iter()
                .flat_map(|f| alphabet.iter().map(move |c| format!("{f}{c}")))
                .collect();
            fields.extend(longer);
        }
        fields.sort();
        fields.dedup();
        for field in &fields {
            for record in [
                vec![field.clone()],
                vec![field.clone(), "x".into()],
                vec!["".into(), field.clone(), "".into()],
            ] {
                let records = vec![record];
                assert_eq!(ours(&records, 1), theirs(&records), "{field:?}");
            }
        }
    }

    /// Long fields (the eight-byte scan and its remainder at every offset)
    /// and whole records, written in chunks of every size.
    #[test]
    fn long_fields_and_many_records_match_the_csv_crate() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut records = Vec::new();
        for _ in 0..400 {
            let len = (next() % 12) as usize;
            let record = (0..len)
                .map(|_| {
                    let n = (next() % 40) as usize;
                    let special = (next() % 3 == 0).then(|| (next() % 40) as usize);
                    (0..n)
                        .map(|i| match special {
                            Some(at) if at == i => [',', '"', '\n', '\r'][(next() % 4) as usize],
                            _ => char::from(b'a' + (i % 26) as u8),
                        })
                        .collect::<String>()
                })
                .collect::<Vec<_>>();
            records.push(record);
        }
        let expected = theirs(&records);
        for flush_at in [1, 7, 64, 1 << 20] {
            let got = ours(&records, flush_at);
            // The first difference, not two 30 KB dumps.
            let at = got.iter().zip(&expected).position(|(a, b)| a != b);
            let at = at.unwrap_or(got.len().min(expected.len()));
            assert!(
                got == expected,
                "flush at {flush_at}: differ at byte {at}: {:?} against {:?}",
                String::from_utf8_lossy(&got[at.saturating_sub(20)..(at + 20).min(got.len())]),
                String::from_utf8_lossy(
                    &expected[at.saturating_sub(20)..(at + 20).min(expected.len())]
                ),
            );
        }
    }

    #[test]
    fn the_scan_finds_a_special_byte_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                for special in [b',', b'"', b'\n', b'\r'] {
                    let mut field = vec![b'x'; len];
                    field[at] = special;
                    assert!(needs_quotes(&field), "{len} {at} {special}");
                }
            }
            assert!(!needs_quotes(&vec![b'x'; len]));
            // Bytes one off each special one (the bit trick's edges).
            let near: Vec<u8> = (0..len)
                .map(|i| [b'+', b'-', b'!', b'#', 0x09, 0x0b, 0x0c, 0x0e, 0x80, 0xff][i % 10])
                .collect();
            assert!(!needs_quotes(&near), "{near:?}");
        }
    }
}
