//! The fragment and message decoders never panic on what a server sends:
//! the input is split into Receive-sized chunks fed to one defragmenter, and
//! every message it completes goes through the PSRP header decoder.
//! From runtime/psrp: `cargo +nightly fuzz run fragment`.
#![no_main]

use idconn_psrp::fragment::{DefragmentLimits, Defragmenter};
use idconn_psrp::message::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let mut defragmenter = Defragmenter::new(DefragmentLimits {
        max_message_len: 1 << 20,
        max_partial_messages: 8,
    });
    let chunk = usize::from(split).max(1) * 8;
    for receive in rest.chunks(chunk) {
        let Ok(messages) = defragmenter.push(receive) else {
            return;
        };
        for message in messages {
            let _ = Message::decode(message);
        }
    }
});
