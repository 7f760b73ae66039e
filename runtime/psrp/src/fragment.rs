//! PSRP fragments (MS-PSRP 2.2.4): how messages are cut to fit WS-Management
//! envelopes and put back together.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::budget::{Budget, Charge, OverBudget};

/// ObjectId (8) + FragmentId (8) + flags (1) + BlobLength (4).
pub const FRAGMENT_HEADER_LEN: usize = 21;

const FLAG_START: u8 = 0x1;
const FLAG_END: u8 = 0x2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("truncated PSRP fragment: {0} bytes left, a fragment header needs 21")]
    TruncatedHeader(usize),
    #[error("truncated PSRP fragment: blob announces {announced} bytes, only {available} present")]
    TruncatedBlob { announced: usize, available: usize },
    #[error("PSRP fragment {fragment_id} of object {object_id} arrived out of order (expected {expected})")]
    OutOfOrder {
        object_id: u64,
        fragment_id: u64,
        expected: u64,
    },
    #[error("PSRP fragment {fragment_id} of object {object_id} has no start fragment before it")]
    MissingStart { object_id: u64, fragment_id: u64 },
    #[error("PSRP message of object {object_id} exceeds the {limit}-byte limit")]
    MessageTooLarge { object_id: u64, limit: usize },
    #[error("more than {limit} PSRP messages are partially received at once")]
    TooManyPartialMessages { limit: usize },
    #[error("partially received PSRP messages: {0}")]
    OverBudget(#[from] OverBudget),
}

/// One fragment, borrowing its blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub object_id: u64,
    pub fragment_id: u64,
    pub start: bool,
    pub end: bool,
    pub blob: &'a [u8],
}

impl<'a> Fragment<'a> {
    pub fn encoded_len(&self) -> usize {
        FRAGMENT_HEADER_LEN + self.blob.len()
    }

    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(&self.object_id.to_be_bytes());
        out.extend_from_slice(&self.fragment_id.to_be_bytes());
        let mut flags = 0;
        if self.start {
            flags |= FLAG_START;
        }
        if self.end {
            flags |= FLAG_END;
        }
        out.push(flags);
        // A blob never exceeds an envelope, far below u32::MAX.
        out.extend_from_slice(&(self.blob.len() as u32).to_be_bytes());
        out.extend_from_slice(self.blob);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Decodes the first fragment of `data`; returns it and the rest.
    pub fn decode(data: &'a [u8]) -> Result<(Fragment<'a>, &'a [u8]), FragmentError> {
        if data.len() < FRAGMENT_HEADER_LEN {
            return Err(FragmentError::TruncatedHeader(data.len()));
        }
        let (header, rest) = data.split_at(FRAGMENT_HEADER_LEN);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let object_id = u64_at(0);
        let fragment_id = u64_at(8);
        let flags = header[16];
        let mut len = [0u8; 4];
        len.copy_from_slice(&header[17..21]);
        let blob_len = u32::from_be_bytes(len) as usize;
        if rest.len() < blob_len {
            return Err(FragmentError::TruncatedBlob {
                announced: blob_len,
                available: rest.len(),
            });
        }
        let (blob, rest) = rest.split_at(blob_len);
        Ok((
            Fragment {
                object_id,
                fragment_id,
                start: flags & FLAG_START != 0,
                end: flags & FLAG_END != 0,
                blob,
            },
            rest,
        ))
    }

    /// Decodes every fragment packed in `data`.
    pub fn decode_all(mut data: &'a [u8]) -> Result<Vec<Fragment<'a>>, FragmentError> {
        let mut fragments = Vec::new();
        while !data.is_empty() {
            let (fragment, rest) = Fragment::decode(data)?;
            fragments.push(fragment);
            data = rest;
        }
        Ok(fragments)
    }
}

/// Cuts messages into fragments, numbering objects as one sender must (each
/// message gets the next ObjectId, starting at 1).
#[derive(Debug)]
pub struct Fragmenter {
    next_object_id: u64,
}

impl Default for Fragmenter {
    fn default() -> Self {
        Fragmenter { next_object_id: 1 }
    }
}

impl Fragmenter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn allocate_object_id(&mut self) -> u64 {
        let id = self.next_object_id;
        self.next_object_id += 1;
        id
    }

    /// The fragments of one message, each at most `max_fragment_len` bytes
    /// on the wire (header included; at least one byte of blob is always
    /// carried so a tiny limit still makes progress).
    pub fn fragment<'a>(
        &mut self,
        message: &'a [u8],
        max_fragment_len: usize,
    ) -> Vec<Fragment<'a>> {
        let object_id = self.allocate_object_id();
        let max_blob = max_fragment_len.saturating_sub(FRAGMENT_HEADER_LEN).max(1);
        if message.is_empty() {
            return vec![Fragment {
                object_id,
                fragment_id: 0,
                start: true,
                end: true,
                blob: message,
            }];
        }
        let count = message.len().div_ceil(max_blob);
        message
            .chunks(max_blob)
            .enumerate()
            .map(|(i, blob)| Fragment {
                object_id,
                fragment_id: i as u64,
                start: i == 0,
                end: i + 1 == count,
                blob,
            })
            .collect()
    }
}

/// Maximum bytes of raw fragment data that fit in one envelope of
/// `max_envelope_size` bytes once base64-encoded, given `overhead` bytes of
/// SOAP around it.
pub fn fragment_budget(max_envelope_size: u32, overhead: usize) -> usize {
    let room = (max_envelope_size as usize).saturating_sub(overhead);
    // base64 turns every 3 bytes into 4.
    (room / 4) * 3
}

/// Messages waiting to be sent, cut into fragments lazily so that a sender
/// can fill each envelope with as many fragments as fit and continue a long
/// message in the next one.
#[derive(Debug, Default)]
pub struct FragmentQueue {
    fragmenter: Fragmenter,
    pending: VecDeque<Pending>,
    queued_bytes: usize,
}

#[derive(Debug)]
struct Pending {
    object_id: u64,
    next_fragment_id: u64,
    offset: usize,
    bytes: Vec<u8>,
}

impl FragmentQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, message: Vec<u8>) {
        let object_id = self.fragmenter.allocate_object_id();
        self.push_with_object_id(object_id, message);
    }

    /// Queues a message under an ObjectId the caller allocated (when several
    /// queues share one sender's numbering).
    pub fn push_with_object_id(&mut self, object_id: u64, message: Vec<u8>) {
        self.queued_bytes += message.len();
        self.pending.push_back(Pending {
            object_id,
            next_fragment_id: 0,
            offset: 0,
            bytes: message,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Unsent message bytes (to bound how far a producer may run ahead).
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Encodes the next fragment, at most `max_fragment_len` bytes on the
    /// wire, into `out`; returns false when nothing is queued.
    pub fn pop_into(&mut self, max_fragment_len: usize, out: &mut Vec<u8>) -> bool {
        let Some(pending) = self.pending.front_mut() else {
            return false;
        };
        let max_blob = max_fragment_len.saturating_sub(FRAGMENT_HEADER_LEN).max(1);
        let end_offset = (pending.offset + max_blob).min(pending.bytes.len());
        let fragment = Fragment {
            object_id: pending.object_id,
            fragment_id: pending.next_fragment_id,
            start: pending.next_fragment_id == 0,
            end: end_offset == pending.bytes.len(),
            blob: &pending.bytes[pending.offset..end_offset],
        };
        fragment.encode_into(out);
        self.queued_bytes -= end_offset - pending.offset;
        pending.offset = end_offset;
        pending.next_fragment_id += 1;
        if fragment.end {
            self.pending.pop_front();
        }
        true
    }
}

/// Limits that keep a hostile peer from making the defragmenter allocate
/// without bound.
#[derive(Debug, Clone, Copy)]
pub struct DefragmentLimits {
    pub max_message_len: usize,
    pub max_partial_messages: usize,
}

impl Default for DefragmentLimits {
    fn default() -> Self {
        DefragmentLimits {
            // A mailbox is ~10 KiB of CLIXML; 64 MiB leaves room for any
            // real object while bounding memory.
            max_message_len: 64 * 1024 * 1024,
            max_partial_messages: 64,
        }
    }
}

/// Reassembles messages from fragments that arrive in any grouping: many per
/// Receive, or one message over many Receives.
#[derive(Debug)]
pub struct Defragmenter {
    limits: DefragmentLimits,
    partial: HashMap<u64, PartialMessage>,
    /// Charged with the bytes of every partial message, so that all the
    /// partial messages of a session together stay bounded (64 messages of
    /// 64 MiB each would otherwise be 4 GiB).
    budget: Arc<Budget>,
}

impl Default for Defragmenter {
    fn default() -> Self {
        Defragmenter::new(DefragmentLimits::default())
    }
}

#[derive(Debug)]
struct PartialMessage {
    next_fragment_id: u64,
    bytes: Vec<u8>,
    charge: Charge,
}

/// A message a fragment completed, with its charge on the budget.
type Completed<'a> = (Cow<'a, [u8]>, Charge);

impl Defragmenter {
    pub fn new(limits: DefragmentLimits) -> Self {
        Defragmenter::with_budget(limits, Budget::unlimited())
    }

    /// A defragmenter whose partial messages are charged to `budget`.
    pub fn with_budget(limits: DefragmentLimits, budget: Arc<Budget>) -> Self {
        Defragmenter {
            limits,
            partial: HashMap::new(),
            budget,
        }
    }

    /// How many messages are half-received.
    pub fn partial_messages(&self) -> usize {
        self.partial.len()
    }

    /// Feeds the raw bytes of one stream chunk (whole fragments, possibly
    /// several) and returns the messages they complete, in order.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, FragmentError> {
        Ok(self
            .push_charged(data)?
            .into_iter()
            .map(|(message, _)| message)
            .collect())
    }

    /// [`Self::push`], each message still charged to the budget: the caller
    /// keeps the charge while it decodes the message, so that the raw bytes
    /// and what they decode to are bounded together.
    pub fn push_charged(&mut self, data: &[u8]) -> Result<Vec<(Vec<u8>, Charge)>, FragmentError> {
        let mut complete = Vec::new();
        self.push_each(data, |message, charge| {
            complete.push((message.into_owned(), charge));
            Ok::<(), FragmentError>(())
        })?;
        Ok(complete)
    }

    /// [`Self::push_charged`], handing each message to `each` as it
    /// completes: a message whole in one fragment (nearly every one: an
    /// object is a few KiB) is lent from `data` rather than copied out.
    pub fn push_each<E: From<FragmentError>>(
        &mut self,
        data: &[u8],
        mut each: impl FnMut(Cow<'_, [u8]>, Charge) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut rest = data;
        while !rest.is_empty() {
            let (fragment, tail) = Fragment::decode(rest)?;
            rest = tail;
            if let Some((message, charge)) = self.accept_lent(&fragment)? {
                each(message, charge)?;
            }
        }
        Ok(())
    }

    /// Accepts one fragment; returns the message it completes, if any.
    pub fn accept(&mut self, fragment: &Fragment<'_>) -> Result<Option<Vec<u8>>, FragmentError> {
        Ok(self.accept_charged(fragment)?.map(|(message, _)| message))
    }

    /// [`Self::accept`] with the message's charge.
    pub fn accept_charged(
        &mut self,
        fragment: &Fragment<'_>,
    ) -> Result<Option<(Vec<u8>, Charge)>, FragmentError> {
        Ok(self
            .accept_lent(fragment)?
            .map(|(message, charge)| (message.into_owned(), charge)))
    }

    /// [`Self::accept_charged`], a message whole in its one fragment lent
    /// from the fragment rather than copied.
    fn accept_lent<'a>(
        &mut self,
        fragment: &Fragment<'a>,
    ) -> Result<Option<Completed<'a>>, FragmentError> {
        let object_id = fragment.object_id;
        if fragment.blob.len() > self.limits.max_message_len {
            return Err(FragmentError::MessageTooLarge {
                object_id,
                limit: self.limits.max_message_len,
            });
        }
        if fragment.start {
            if fragment.fragment_id != 0 {
                return Err(FragmentError::OutOfOrder {
                    object_id,
                    fragment_id: fragment.fragment_id,
                    expected: 0,
                });
            }
            if fragment.end {
                // A whole message replaces (and releases) an earlier part
                // of the same object.
                if !self.partial.is_empty() {
                    self.partial.remove(&object_id);
                }
                let charge = self.budget.charge(fragment.blob.len())?;
                return Ok(Some((Cow::Borrowed(fragment.blob), charge)));
            }
            if !self.partial.contains_key(&object_id)
                && self.partial.len() >= self.limits.max_partial_messages
            {
                return Err(FragmentError::TooManyPartialMessages {
                    limit: self.limits.max_partial_messages,
                });
            }
            // A restarted object replaces (and releases) its earlier part.
            self.partial.remove(&object_id);
            let charge = self.budget.charge(fragment.blob.len())?;
            self.partial.insert(
                object_id,
                PartialMessage {
                    next_fragment_id: 1,
                    bytes: fragment.blob.to_vec(),
                    charge,
                },
            );
            return Ok(None);
        }
        let Some(partial) = self.partial.get_mut(&object_id) else {
            return Err(FragmentError::MissingStart {
                object_id,
                fragment_id: fragment.fragment_id,
            });
        };
        if fragment.fragment_id != partial.next_fragment_id {
            let expected = partial.next_fragment_id;
            self.partial.remove(&object_id);
            return Err(FragmentError::OutOfOrder {
                object_id,
                fragment_id: fragment.fragment_id,
                expected,
            });
        }
        if partial.bytes.len() + fragment.blob.len() > self.limits.max_message_len {
            self.partial.remove(&object_id);
            return Err(FragmentError::MessageTooLarge {
                object_id,
                limit: self.limits.max_message_len,
            });
        }
        // The charge follows the buffer's capacity, grown here by doubling
        // (as Vec would) but charged before it is allocated: 64 partial
        // messages each at half their capacity would otherwise hold twice
        // what the budget says.
        let needed = partial.bytes.len() + fragment.blob.len();
        let capacity = partial.bytes.capacity();
        if needed > capacity {
            let target = needed
                .max(capacity.saturating_mul(2))
                .min(self.limits.max_message_len);
            if let Err(e) = partial.charge.grow(target - capacity) {
                self.partial.remove(&object_id);
                return Err(e.into());
            }
            partial.bytes.reserve_exact(target - partial.bytes.len());
        }
        partial.bytes.extend_from_slice(fragment.blob);
        partial.next_fragment_id += 1;
        if fragment.end {
            Ok(self
                .partial
                .remove(&object_id)
                .map(|p| (Cow::Owned(p.bytes), p.charge)))
        } else {
            Ok(None)
        }
    }

    /// True when no message is half-received.
    pub fn is_idle(&self) -> bool {
        self.partial.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_recorded_fragment_header() {
        let mut bytes = vec![
            0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 2,
        ];
        bytes.extend_from_slice(b"hi");
        let (f, rest) = Fragment::decode(&bytes).unwrap();
        assert_eq!(
            (f.object_id, f.fragment_id, f.start, f.end),
            (1, 0, true, true)
        );
        assert_eq!(f.blob, b"hi");
        assert!(rest.is_empty());
        assert_eq!(f.encode(), bytes);
    }

    #[test]
    fn rejects_truncation_and_disorder() {
        assert!(matches!(
            Fragment::decode(&[0; 5]),
            Err(FragmentError::TruncatedHeader(5))
        ));
        let mut bytes = vec![0; 17];
        bytes.extend_from_slice(&[0, 0, 0, 9]);
        assert!(matches!(
            Fragment::decode(&bytes),
            Err(FragmentError::TruncatedBlob { .. })
        ));
        let mut d = Defragmenter::default();
        let middle = Fragment {
            object_id: 7,
            fragment_id: 1,
            start: false,
            end: false,
            blob: b"x",
        };
        assert!(matches!(
            d.accept(&middle),
            Err(FragmentError::MissingStart { .. })
        ));
    }

    #[test]
    fn bounds_memory() {
        let mut d = Defragmenter::new(DefragmentLimits {
            max_message_len: 10,
            max_partial_messages: 2,
        });
        let start = |id| Fragment {
            object_id: id,
            fragment_id: 0,
            start: true,
            end: false,
            blob: b"12345678",
        };
        d.accept(&start(1)).unwrap();
        d.accept(&start(2)).unwrap();
        assert!(matches!(
            d.accept(&start(3)),
            Err(FragmentError::TooManyPartialMessages { .. })
        ));
        let more = Fragment {
            object_id: 1,
            fragment_id: 1,
            start: false,
            end: true,
            blob: b"123",
        };
        assert!(matches!(
            d.accept(&more),
            Err(FragmentError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn partial_messages_share_one_budget() {
        let budget = Budget::new(20);
        let mut d = Defragmenter::with_budget(DefragmentLimits::default(), budget.clone());
        let part = |id, fragment_id, end| Fragment {
            object_id: id,
            fragment_id,
            start: fragment_id == 0,
            end,
            blob: b"12345678",
        };
        d.accept(&part(1, 0, false)).unwrap();
        d.accept(&part(2, 0, false)).unwrap();
        assert_eq!(budget.used(), 16);
        assert!(matches!(
            d.accept(&part(3, 0, false)),
            Err(FragmentError::OverBudget(_))
        ));
        // A message that outgrows the budget is dropped with its bytes.
        assert!(matches!(
            d.accept(&part(1, 1, true)),
            Err(FragmentError::OverBudget(_))
        ));
        assert_eq!(budget.used(), 8);
        d.accept(&part(3, 0, false)).unwrap();
        assert_eq!(d.partial_messages(), 2);

        // A completed message stays charged until its caller drops it.
        let budget = Budget::new(100);
        let mut d = Defragmenter::with_budget(DefragmentLimits::default(), budget.clone());
        d.accept(&part(1, 0, false)).unwrap();
        let (message, charge) = d.accept_charged(&part(1, 1, true)).unwrap().unwrap();
        assert_eq!(message.len(), 16);
        assert_eq!(budget.used(), charge.amount());
        drop(charge);
        assert_eq!(budget.used(), 0);
    }

    /// A message whole in one fragment is lent from the chunk, charged while
    /// its caller holds it, and replaces a part of the same object; split
    /// messages are still put together.
    #[test]
    fn whole_messages_are_lent_and_split_ones_assembled() {
        let budget = Budget::new(100);
        let limits = DefragmentLimits {
            max_message_len: 10,
            ..DefragmentLimits::default()
        };
        let mut d = Defragmenter::with_budget(limits, budget.clone());
        let fragment = |id, fragment_id, start, end, blob: &'static [u8]| {
            Fragment {
                object_id: id,
                fragment_id,
                start,
                end,
                blob,
            }
            .encode()
        };
        d.accept(&Fragment {
            object_id: 7,
            fragment_id: 0,
            start: true,
            end: false,
            blob: b"old",
        })
        .unwrap();
        assert_eq!(budget.used(), 3);
        let mut chunk = fragment(7, 0, true, true, b"whole");
        chunk.extend(fragment(8, 0, true, false, b"sp"));
        chunk.extend(fragment(8, 1, false, true, b"lit"));
        let mut seen = Vec::new();
        d.push_each(&chunk, |message, charge| {
            seen.push((matches!(message, Cow::Borrowed(_)), message.to_vec()));
            // The part of object 7 is released; only this message is held.
            assert_eq!(budget.used(), charge.amount());
            Ok::<(), FragmentError>(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [(true, b"whole".to_vec()), (false, b"split".to_vec())]
        );
        assert!(d.is_idle());
        assert_eq!(budget.used(), 0);

        let too_long = fragment(9, 0, true, true, b"0123456789A");
        assert!(matches!(
            d.push_each(&too_long, |_, _| Ok::<(), FragmentError>(())),
            Err(FragmentError::MessageTooLarge { object_id: 9, .. })
        ));
        let small = Budget::new(4);
        let mut d = Defragmenter::with_budget(DefragmentLimits::default(), small);
        assert!(matches!(
            d.push_each(&fragment(1, 0, true, true, b"whole"), |_, _| Ok::<
                (),
                FragmentError,
            >(
                ()
            )),
            Err(FragmentError::OverBudget(_))
        ));
    }

    #[test]
    fn queue_continues_a_message_across_envelopes() {
        let mut q = FragmentQueue::new();
        q.push(b"abcdefghij".to_vec());
        q.push(b"k".to_vec());
        let mut d = Defragmenter::default();
        let mut out = Vec::new();
        let mut messages = Vec::new();
        while q.pop_into(FRAGMENT_HEADER_LEN + 3, &mut out) {
            messages.extend(d.push(&out).unwrap());
            out.clear();
        }
        assert_eq!(messages, vec![b"abcdefghij".to_vec(), b"k".to_vec()]);
        assert_eq!(q.queued_bytes(), 0);
    }
}
