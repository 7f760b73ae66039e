//! The CLIXML decoder never panics, and whatever it accepts re-encodes to
//! the same value. From runtime/psrp, seeded with the Exchange mailbox:
//! `mkdir -p fuzz/corpus/clixml && cp ../../../shared/vectors/exchange/*.clixml fuzz/corpus/clixml/`
//! then `cargo +nightly fuzz run clixml -- -max_len=20000`.
#![no_main]

use idconn_psrp::clixml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = clixml::from_bytes(data) else {
        return;
    };
    let xml = clixml::to_string(&value);
    let again = match clixml::from_str(&xml) {
        Ok(again) => again,
        Err(e) => panic!("re-encoded value does not decode: {e}\n{xml}"),
    };
    // NaN never equals itself; compare the encodings instead.
    assert_eq!(clixml::to_string(&again), xml);
});
