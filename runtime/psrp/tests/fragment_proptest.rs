//! Any messages, cut at any fragment size and grouped into Receives in any
//! way, reassemble to the originals; arbitrary bytes never panic.

// Helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use idconn_psrp::fragment::{Defragmenter, FragmentQueue, Fragmenter, FRAGMENT_HEADER_LEN};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fragments_reassemble_over_any_receive_split(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..8),
        max_fragment in (FRAGMENT_HEADER_LEN + 1)..2000usize,
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        // The wire: every fragment of every message, in order.
        let mut fragmenter = Fragmenter::new();
        let mut fragments: Vec<Vec<u8>> = Vec::new();
        for m in &messages {
            for f in fragmenter.fragment(m, max_fragment) {
                prop_assert!(f.encoded_len() <= max_fragment.max(FRAGMENT_HEADER_LEN + 1));
                fragments.push(f.encode());
            }
        }
        // Receives hold whole fragments; split the sequence anywhere.
        let mut boundaries: Vec<usize> = cuts.iter().map(|i| i.index(fragments.len() + 1)).collect();
        boundaries.push(0);
        boundaries.push(fragments.len());
        boundaries.sort_unstable();
        boundaries.dedup();
        let mut defragmenter = Defragmenter::default();
        let mut out = Vec::new();
        for pair in boundaries.windows(2) {
            let receive: Vec<u8> = fragments[pair[0]..pair[1]].concat();
            out.extend(defragmenter.push(&receive).unwrap());
        }
        prop_assert_eq!(out, messages);
        prop_assert!(defragmenter.is_idle());
    }

    #[test]
    fn queue_fills_envelopes_of_any_size(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..8),
        envelope_budgets in prop::collection::vec((FRAGMENT_HEADER_LEN + 1)..1500usize, 1..20),
    ) {
        let mut queue = FragmentQueue::new();
        for m in &messages {
            queue.push(m.clone());
        }
        let mut defragmenter = Defragmenter::default();
        let mut out = Vec::new();
        let mut i = 0;
        while !queue.is_empty() {
            let budget = envelope_budgets[i % envelope_budgets.len()];
            i += 1;
            let mut envelope = Vec::new();
            while envelope.len() + FRAGMENT_HEADER_LEN < budget
                && queue.pop_into(budget - envelope.len(), &mut envelope)
            {}
            out.extend(defragmenter.push(&envelope).unwrap());
        }
        prop_assert_eq!(out, messages);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut defragmenter = Defragmenter::default();
        let _ = defragmenter.push(&data);
        let _ = idconn_psrp::wsman::server::parse_request(&data);
        let _ = idconn_psrp::wsman::client::parse_response(&data);
        let _ = idconn_psrp::message::Message::decode(data);
    }
}
