//! The packed values of contract 0.4.0 (`record cells` in
//! wit/since_v0.4.0/deps/powershell/powershell.wit): a kind byte and a
//! 64-bit payload per value, which cross into the sandbox as two block
//! copies. [`Cell`] is one value unpacked; the views of
//! [`batch`](crate::batch) read the two lists in place, and the
//! [`BatchBuilder`](crate::builder::BatchBuilder) writes them.

use crate::{Cells, Span};

/// One value of a batch, unpacked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    Null,
    /// A span of the batch's `text`.
    Text(Span),
    Boolean(bool),
    Integer(i64),
    Number(f64),
    /// A span of the batch's `text`: ISO 8601 as the server sent it.
    DateTime(Span),
    /// A span of the batch's `text`: lower-case hyphenated.
    Guid(Span),
    /// A span of the batch's `binary`.
    Bytes(Span),
    /// An index into the batch's `nested`.
    Object(u32),
    /// A span of the batch's `items`.
    List(Span),
    /// A span of the batch's entries (`entry-keys` and `entry-values`).
    Dictionary(Span),
}

/// The kinds, numbered as the WIT's table numbers them.
pub mod kind {
    pub const NULL: u8 = 0;
    pub const TEXT: u8 = 1;
    pub const BOOLEAN: u8 = 2;
    pub const INTEGER: u8 = 3;
    pub const NUMBER: u8 = 4;
    pub const DATE_TIME: u8 = 5;
    pub const GUID: u8 = 6;
    pub const BYTES: u8 = 7;
    pub const OBJECT: u8 = 8;
    pub const LIST: u8 = 9;
    pub const DICTIONARY: u8 = 10;
}

/// `start` in the low 32 bits, `len` in the high 32.
#[inline]
pub fn span_of(payload: u64) -> Span {
    Span {
        start: payload as u32,
        len: (payload >> 32) as u32,
    }
}

#[inline]
fn packed_span(span: Span) -> u64 {
    u64::from(span.start) | (u64::from(span.len) << 32)
}

impl Cell {
    /// The kind byte and payload the contract carries.
    pub fn pack(self) -> (u8, u64) {
        match self {
            Cell::Null => (kind::NULL, 0),
            Cell::Text(s) => (kind::TEXT, packed_span(s)),
            Cell::Boolean(b) => (kind::BOOLEAN, u64::from(b)),
            // Two's complement: the bits are the value.
            Cell::Integer(n) => (kind::INTEGER, n as u64),
            Cell::Number(n) => (kind::NUMBER, n.to_bits()),
            Cell::DateTime(s) => (kind::DATE_TIME, packed_span(s)),
            Cell::Guid(s) => (kind::GUID, packed_span(s)),
            Cell::Bytes(s) => (kind::BYTES, packed_span(s)),
            Cell::Object(i) => (kind::OBJECT, u64::from(i)),
            Cell::List(s) => (kind::LIST, packed_span(s)),
            Cell::Dictionary(s) => (kind::DICTIONARY, packed_span(s)),
        }
    }

    /// A kind this SDK does not know (a newer host's) reads as null, as the
    /// WIT asks of every reader.
    #[inline]
    pub fn unpack(kind: u8, payload: u64) -> Cell {
        match kind {
            kind::TEXT => Cell::Text(span_of(payload)),
            kind::BOOLEAN => Cell::Boolean(payload != 0),
            kind::INTEGER => Cell::Integer(payload as i64),
            kind::NUMBER => Cell::Number(f64::from_bits(payload)),
            kind::DATE_TIME => Cell::DateTime(span_of(payload)),
            kind::GUID => Cell::Guid(span_of(payload)),
            kind::BYTES => Cell::Bytes(span_of(payload)),
            kind::OBJECT => Cell::Object(payload as u32),
            kind::LIST => Cell::List(span_of(payload)),
            kind::DICTIONARY => Cell::Dictionary(span_of(payload)),
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

    pub fn push(&mut self, cell: Cell) {
        let (kind, payload) = cell.pack();
        self.kinds.push(kind);
        self.payloads.push(payload);
    }

    /// The number of values: the shorter list's length, should a host
    /// send two of different lengths.
    pub fn len(&self) -> usize {
        self.kinds.len().min(self.payloads.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<Cell> {
        CellsRef::of(self).get(i)
    }
}

impl Default for Cells {
    fn default() -> Self {
        Cells::new()
    }
}

impl Extend<Cell> for Cells {
    fn extend<I: IntoIterator<Item = Cell>>(&mut self, cells: I) {
        for cell in cells {
            self.push(cell);
        }
    }
}

/// A run of a batch's values, borrowed: two slices of one length.
#[derive(Debug, Clone, Copy)]
pub struct CellsRef<'a> {
    kinds: &'a [u8],
    payloads: &'a [u64],
}

impl<'a> CellsRef<'a> {
    pub const EMPTY: CellsRef<'static> = CellsRef {
        kinds: &[],
        payloads: &[],
    };

    #[inline]
    pub fn of(cells: &'a Cells) -> CellsRef<'a> {
        let len = cells.len();
        CellsRef {
            kinds: cells.kinds.get(..len).unwrap_or_default(),
            payloads: cells.payloads.get(..len).unwrap_or_default(),
        }
    }

    /// The values of `span`; empty when it runs past the end (a bad batch
    /// must not bring the connector down).
    #[inline]
    pub fn span(self, span: Span) -> CellsRef<'a> {
        let start = span.start as usize;
        let end = start.saturating_add(span.len as usize);
        match (self.kinds.get(start..end), self.payloads.get(start..end)) {
            (Some(kinds), Some(payloads)) => CellsRef { kinds, payloads },
            _ => CellsRef::EMPTY,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<Cell> {
        Some(Cell::unpack(*self.kinds.get(i)?, *self.payloads.get(i)?))
    }

    #[inline]
    pub fn iter(self) -> impl Iterator<Item = Cell> + 'a {
        self.kinds
            .iter()
            .zip(self.payloads)
            .map(|(&kind, &payload)| Cell::unpack(kind, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_the_numbers_are_the_wits() {
        let s = |start, len| Span { start, len };
        let all = [
            (Cell::Null, 0, 0),
            (Cell::Text(s(1, 2)), 1, 1 | 2 << 32),
            (Cell::Boolean(true), 2, 1),
            (Cell::Integer(-2), 3, u64::MAX - 1),
            (Cell::Number(1.0), 4, 0x3ff0_0000_0000_0000),
            (Cell::DateTime(s(u32::MAX, 0)), 5, u64::from(u32::MAX)),
            (Cell::Guid(s(0, u32::MAX)), 6, u64::from(u32::MAX) << 32),
            (Cell::Bytes(s(3, 4)), 7, 3 | 4 << 32),
            (Cell::Object(9), 8, 9),
            (Cell::List(s(5, 6)), 9, 5 | 6 << 32),
            (Cell::Dictionary(s(7, 8)), 10, 7 | 8 << 32),
        ];
        let mut cells = Cells::new();
        for (cell, kind, payload) in all {
            assert_eq!(cell.pack(), (kind, payload), "{cell:?}");
            assert_eq!(Cell::unpack(kind, payload), cell);
            cells.push(cell);
        }
        let back: Vec<Cell> = CellsRef::of(&cells).iter().collect();
        assert_eq!(back, all.map(|(c, _, _)| c));
        assert_eq!(Cell::unpack(11, 5), Cell::Null);
        assert_eq!(Cell::unpack(255, 5), Cell::Null);
    }

    #[test]
    fn spans_past_the_end_and_uneven_lists_read_as_empty() {
        let cells = Cells {
            kinds: vec![kind::BOOLEAN, kind::BOOLEAN, kind::TEXT],
            payloads: vec![1, 0],
        };
        let all = CellsRef::of(&cells);
        assert_eq!(all.len(), 2);
        assert_eq!(all.get(2), None);
        assert_eq!(
            all.span(Span { start: 1, len: 1 }).get(0),
            Some(Cell::Boolean(false))
        );
        assert!(all.span(Span { start: 1, len: 2 }).is_empty());
        assert!(all
            .span(Span {
                start: u32::MAX,
                len: u32::MAX
            })
            .is_empty());
    }
}
