#![allow(clippy::unwrap_used)]

use super::*;

fn pair(enctype: Enctype, subkey: bool) -> (CfxContext, CfxContext) {
    let key: Vec<u8> = (0..enctype.key_len() as u8).collect();
    let side = |acceptor: bool| {
        CfxContext::new(CfxParams {
            enctype,
            key: &key,
            acceptor,
            acceptor_subkey: subkey,
            send_seq: if acceptor { 7000 } else { 42 },
            receive_seq: if acceptor { 42 } else { 7000 },
        })
        .unwrap()
    };
    (side(false), side(true))
}

fn wrap(ctx: &mut CfxContext, plaintext: &[u8]) -> Vec<u8> {
    let mut out = b"prefix".to_vec();
    ctx.wrap_into(plaintext, &mut out).unwrap();
    assert_eq!(&out[..6], b"prefix");
    out.split_off(6)
}

fn unwrap(ctx: &mut CfxContext, mut token: Vec<u8>) -> Result<Vec<u8>, WrapError> {
    let range = ctx.unwrap_in_place(&mut token)?;
    Ok(token[range].to_vec())
}

/// A token as another implementation might send it: any EC (with filler)
/// and any RRC, built from the same primitives.
fn foreign_token(ctx: &mut CfxContext, plaintext: &[u8], ec: usize, rrc: usize) -> Vec<u8> {
    let mut header = [0u8; 16];
    header[..2].copy_from_slice(&TOK_ID);
    header[2] = ctx.flags();
    header[3] = FILLER;
    header[4..6].copy_from_slice(&(ec as u16).to_be_bytes());
    header[8..].copy_from_slice(&ctx.send_seq.to_be_bytes());
    ctx.send_seq += 1;
    let mut text = vec![0x5a; CONFOUNDER_LEN];
    text.extend_from_slice(plaintext);
    text.extend(std::iter::repeat_n(0xFF, ec));
    text.extend_from_slice(&header);
    // MACed in one pass and encrypted in another: the same result as the
    // interleaved passes of wrap_into.
    let mut mac = ctx.send.mac().unwrap();
    mac.update(&text);
    let checksum = mac.finalize().into_bytes();
    ctx.send.encrypt_cts(&mut text, None).unwrap();
    text.extend_from_slice(&checksum[..CHECKSUM_LEN]);
    let shift = rrc % text.len();
    text.rotate_right(shift);
    header[6..8].copy_from_slice(&(rrc as u16).to_be_bytes());
    [&header[..], &text].concat()
}

#[test]
fn tokens_round_trip_both_ways_with_advancing_sequence_numbers() {
    for enctype in [Enctype::Aes128CtsHmacSha196, Enctype::Aes256CtsHmacSha196] {
        for subkey in [true, false] {
            let (mut initiator, mut acceptor) = pair(enctype, subkey);
            for (round, len) in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 4096, 70_001]
                .into_iter()
                .enumerate()
            {
                let message: Vec<u8> = (0..len).map(|i| (i * 7 + round) as u8).collect();
                let token = wrap(&mut initiator, &message);
                assert_eq!(token.len(), SEND_HEADER_LEN + len);
                assert_eq!(
                    &token[..4],
                    &[0x05, 0x04, 0x02 | u8::from(subkey) << 2, 0xFF]
                );
                assert_eq!(&token[4..8], &[0, 0, 0, 28]);
                assert_eq!(
                    u64::from_be_bytes(token[8..16].try_into().unwrap()),
                    42 + round as u64
                );
                if len > 8 {
                    assert!(!token.windows(8).any(|w| w == &message[..8]));
                }
                assert_eq!(unwrap(&mut acceptor, token).unwrap(), message);
                let answer = wrap(&mut acceptor, &message);
                assert_eq!(answer[2], 0x03 | u8::from(subkey) << 2);
                assert_eq!(unwrap(&mut initiator, answer).unwrap(), message);
            }
        }
    }
}

#[test]
fn any_rotation_and_filler_is_accepted() {
    let (mut initiator, mut acceptor) = pair(Enctype::Aes256CtsHmacSha196, true);
    let message = b"<s:Envelope>rotated and padded</s:Envelope>".repeat(3);
    for ec in [0usize, 1, 15, 16, 40] {
        for rrc in [0usize, 5, 12, 28, 28 + ec, 29 + ec, 44, 100, 1000, 65535] {
            let token = foreign_token(&mut initiator, &message, ec, rrc);
            let plain = unwrap(&mut acceptor, token);
            assert_eq!(plain.as_deref(), Ok(&message[..]), "ec {ec} rrc {rrc}");
        }
    }
    // Longer than a chunk of the interleaved MAC and cipher passes.
    let long: Vec<u8> = (0..100_003u32).map(|i| (i % 253) as u8).collect();
    for rrc in [0, 28, 50_000] {
        let token = foreign_token(&mut initiator, &long, 0, rrc);
        assert_eq!(
            unwrap(&mut acceptor, token).as_deref(),
            Ok(&long[..]),
            "{rrc}"
        );
    }
}

#[test]
fn the_receiver_refuses_what_it_must() {
    let (mut initiator, mut acceptor) = pair(Enctype::Aes128CtsHmacSha196, true);
    let first = wrap(
        &mut initiator,
        b"first message, long enough for several blocks",
    );

    // Every single flipped bit past the header fails the checksum (or
    // the header checks); none panics, none decrypts.
    for at in 0..first.len() {
        let mut tampered = first.clone();
        tampered[at] ^= 0x10;
        assert!(unwrap(&mut acceptor, tampered).is_err(), "byte {at}");
    }
    let mut tampered = first.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(unwrap(&mut acceptor, tampered), Err(WrapError::Integrity));

    // Truncation anywhere: an error, never a panic.
    for cut in 0..first.len() {
        assert!(
            unwrap(&mut acceptor, first[..cut].to_vec()).is_err(),
            "cut {cut}"
        );
    }

    // The genuine token still goes through: failures consumed nothing.
    assert!(unwrap(&mut acceptor, first.clone()).is_ok());
    // A replay names both numbers.
    assert_eq!(
        unwrap(&mut acceptor, first.clone()),
        Err(WrapError::Sequence {
            expected: 43,
            received: 42
        })
    );
    let error = unwrap(&mut acceptor, first.clone())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("expected sequence number 43, received 42"),
        "{error}"
    );

    // A skipped message.
    let second = wrap(&mut initiator, b"second");
    let third = wrap(&mut initiator, b"third");
    assert_eq!(
        unwrap(&mut acceptor, third.clone()),
        Err(WrapError::Sequence {
            expected: 43,
            received: 44
        })
    );
    assert_eq!(unwrap(&mut acceptor, second).unwrap(), b"second");
    assert_eq!(unwrap(&mut acceptor, third).unwrap(), b"third");

    // Our own token comes back: wrong direction.
    let own = wrap(&mut acceptor, b"answer");
    assert_eq!(
        unwrap(&mut acceptor, own.clone()),
        Err(WrapError::Direction(true))
    );
    // An integrity-only token, and a wrong AcceptorSubkey flag.
    let mut unsealed = own.clone();
    unsealed[2] &= !FLAG_SEALED;
    assert_eq!(unwrap(&mut initiator, unsealed), Err(WrapError::NotSealed));
    let mut subkey = own.clone();
    subkey[2] &= !FLAG_ACCEPTOR_SUBKEY;
    assert_eq!(
        unwrap(&mut initiator, subkey),
        Err(WrapError::AcceptorSubkey(false))
    );
    let mut filler = own.clone();
    filler[3] = 0;
    assert_eq!(unwrap(&mut initiator, filler), Err(WrapError::Filler(0)));
    let mut mic = own.clone();
    mic[1] = 0x05;
    assert_eq!(unwrap(&mut initiator, mic), Err(WrapError::TokenId(5, 5)));
    // The sequence number outside the encrypted copy was changed.
    let mut renumbered = own.clone();
    renumbered[15] ^= 1;
    assert_eq!(
        unwrap(&mut initiator, renumbered),
        Err(WrapError::HeaderCopy)
    );
    assert_eq!(unwrap(&mut initiator, own).unwrap(), b"answer");
}

#[test]
fn a_different_key_fails_the_checksum() {
    let (mut initiator, _) = pair(Enctype::Aes256CtsHmacSha196, false);
    let mut stranger = CfxContext::new(CfxParams {
        enctype: Enctype::Aes256CtsHmacSha196,
        key: &[0xEE; 32],
        acceptor: true,
        acceptor_subkey: false,
        send_seq: 0,
        receive_seq: 42,
    })
    .unwrap();
    let token = wrap(&mut initiator, b"for someone else");
    assert_eq!(unwrap(&mut stranger, token), Err(WrapError::Integrity));
}

#[test]
fn debug_output_holds_no_key() {
    let key = [0xABu8; 16];
    let ctx = CfxContext::new(CfxParams {
        enctype: Enctype::Aes128CtsHmacSha196,
        key: &key,
        acceptor: false,
        acceptor_subkey: true,
        send_seq: 1,
        receive_seq: 2,
    })
    .unwrap();
    let text = format!("{ctx:?}");
    assert!(!text.to_lowercase().contains("abab"), "{text}");
    assert!(!text.contains("171"), "{text}");
    assert!(text.contains("send_seq: 1"), "{text}");
}
