//! The packed values of contract 0.4.0 (`record cells` in
//! wit/since_v0.4.0/deps/powershell/powershell.wit): a kind byte and a
//! 64-bit payload per value. The host builds and reads them as [`Cell`]s;
//! only this module knows the packing, and its table is the WIT's.

use super::{Cells, Span};

/// One value of a batch, unpacked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    Null,
    /// A span of the batch's `text`.
    Text(Span),
    Boolean(bool),
    Integer(i64),
    Number(f64),
    /// A span of the batch's `text`.
    DateTime(Span),
    /// A span of the batch's `text`.
    Guid(Span),
    /// A span of the batch's `binary`.
    Bytes(Span),
    /// An index into the batch's `nested`.
    Object(u32),
    /// A span of the batch's `items`.
    List(Span),
    /// A span of the batch's entries.
    Dictionary(Span),
}

// The kinds, as the WIT's table numbers them.
const NULL: u8 = 0;
const TEXT: u8 = 1;
const BOOLEAN: u8 = 2;
const INTEGER: u8 = 3;
const NUMBER: u8 = 4;
const DATE_TIME: u8 = 5;
const GUID: u8 = 6;
const BYTES: u8 = 7;
const OBJECT: u8 = 8;
const LIST: u8 = 9;
const DICTIONARY: u8 = 10;

fn pack(span: Span) -> u64 {
    u64::from(span.start) | (u64::from(span.len) << 32)
}

fn unpack(payload: u64) -> Span {
    Span {
        start: payload as u32,
        len: (payload >> 32) as u32,
    }
}

impl Cell {
    fn packed(self) -> (u8, u64) {
        match self {
            Cell::Null => (NULL, 0),
            Cell::Text(s) => (TEXT, pack(s)),
            Cell::Boolean(b) => (BOOLEAN, u64::from(b)),
            // Two's complement, as the WIT says: the bits are the value.
            Cell::Integer(n) => (INTEGER, n as u64),
            Cell::Number(n) => (NUMBER, n.to_bits()),
            Cell::DateTime(s) => (DATE_TIME, pack(s)),
            Cell::Guid(s) => (GUID, pack(s)),
            Cell::Bytes(s) => (BYTES, pack(s)),
            Cell::Object(i) => (OBJECT, u64::from(i)),
            Cell::List(s) => (LIST, pack(s)),
            Cell::Dictionary(s) => (DICTIONARY, pack(s)),
        }
    }

    /// A kind this host does not know reads as null, as the WIT asks of
    /// every reader.
    fn unpacked(kind: u8, payload: u64) -> Cell {
        match kind {
            TEXT => Cell::Text(unpack(payload)),
            BOOLEAN => Cell::Boolean(payload != 0),
            INTEGER => Cell::Integer(payload as i64),
            NUMBER => Cell::Number(f64::from_bits(payload)),
            DATE_TIME => Cell::DateTime(unpack(payload)),
            GUID => Cell::Guid(unpack(payload)),
            BYTES => Cell::Bytes(unpack(payload)),
            OBJECT => Cell::Object(payload as u32),
            LIST => Cell::List(unpack(payload)),
            DICTIONARY => Cell::Dictionary(unpack(payload)),
            _ => Cell::Null,
        }
    }
}

impl Cells {
    pub fn new() -> Cells {
        Cells {
            kinds: Vec::new(),
            payloads: Vec::new(),
        }
    }

    /// The number of values. The two lists of a batch the host built have
    /// one length; should they not, the shorter one counts.
    pub fn len(&self) -> usize {
        self.kinds.len().min(self.payloads.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reserve(&mut self, additional: usize) {
        self.kinds.reserve(additional);
        self.payloads.reserve(additional);
    }

    pub fn push(&mut self, cell: Cell) {
        let (kind, payload) = cell.packed();
        self.kinds.push(kind);
        self.payloads.push(payload);
    }

    pub fn get(&self, i: usize) -> Option<Cell> {
        let kind = *self.kinds.get(i)?;
        let payload = *self.payloads.get(i)?;
        Some(Cell::unpacked(kind, payload))
    }

    /// The values of `span`, fewer where it runs past the end.
    pub fn range(&self, span: Span) -> impl Iterator<Item = Cell> + '_ {
        let start = span.start as usize;
        let end = start.saturating_add(span.len as usize).min(self.len());
        (start..end).filter_map(|i| self.get(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = Cell> + '_ {
        self.kinds
            .iter()
            .zip(&self.payloads)
            .map(|(&kind, &payload)| Cell::unpacked(kind, payload))
    }
}

impl Default for Cells {
    fn default() -> Self {
        Cells::new()
    }
}

impl FromIterator<Cell> for Cells {
    fn from_iter<I: IntoIterator<Item = Cell>>(cells: I) -> Cells {
        let mut out = Cells::new();
        for cell in cells {
            out.push(cell);
        }
        out
    }
}

impl Extend<Cell> for Cells {
    fn extend<I: IntoIterator<Item = Cell>>(&mut self, cells: I) {
        for cell in cells {
            self.push(cell);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Cell> {
        let s = |start, len| Span { start, len };
        vec![
            Cell::Null,
            Cell::Text(s(0, u32::MAX)),
            Cell::Boolean(true),
            Cell::Boolean(false),
            Cell::Integer(i64::MIN),
            Cell::Integer(-1),
            Cell::Integer(i64::MAX),
            Cell::Number(-0.5),
            Cell::Number(f64::INFINITY),
            Cell::DateTime(s(u32::MAX, 0)),
            Cell::Guid(s(7, 36)),
            Cell::Bytes(s(1, 2)),
            Cell::Object(u32::MAX),
            Cell::List(s(3, 4)),
            Cell::Dictionary(s(5, 6)),
        ]
    }

    #[test]
    fn every_kind_round_trips_through_the_packing() {
        let cells: Cells = every_kind().into_iter().collect();
        assert_eq!(cells.len(), every_kind().len());
        assert_eq!(cells.iter().collect::<Vec<_>>(), every_kind());
        for (i, cell) in every_kind().into_iter().enumerate() {
            assert_eq!(cells.get(i), Some(cell));
        }
        assert_eq!(cells.get(every_kind().len()), None);
    }

    #[test]
    fn the_packing_is_the_wits_table() {
        let cells: Cells = [
            Cell::Text(Span { start: 1, len: 2 }),
            Cell::Boolean(true),
            Cell::Integer(-2),
            Cell::Number(1.0),
            Cell::Dictionary(Span { start: 0, len: 1 }),
        ]
        .into_iter()
        .collect();
        assert_eq!(cells.kinds, [1, 2, 3, 4, 10]);
        assert_eq!(
            cells.payloads,
            [
                1 | (2 << 32),
                1,
                u64::MAX - 1,
                0x3ff0_0000_0000_0000,
                1 << 32
            ]
        );
    }

    #[test]
    fn unknown_kinds_read_as_null_and_ranges_stop_at_the_end() {
        let cells = Cells {
            kinds: vec![11, 255, TEXT],
            payloads: vec![9, 9],
        };
        assert_eq!(cells.len(), 2);
        assert_eq!(cells.get(0), Some(Cell::Null));
        assert_eq!(cells.get(1), Some(Cell::Null));
        assert_eq!(cells.get(2), None);
        let all: Vec<Cell> = cells
            .range(Span {
                start: 1,
                len: u32::MAX,
            })
            .collect();
        assert_eq!(all, [Cell::Null]);
        assert_eq!(
            cells
                .range(Span {
                    start: u32::MAX,
                    len: u32::MAX
                })
                .count(),
            0
        );
    }
}
