#![allow(clippy::unwrap_used)]

use super::*;

fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn n_fold_matches_rfc_3961_appendix_a1() {
    for (bits, input, expected) in [
        (64, "012345", "be072631276b1955"),
        (56, "password", "78a07b6caf85fa"),
        (64, "Rough Consensus, and Running Code", "bb6ed30870b7f0e0"),
        (
            168,
            "password",
            "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e",
        ),
        (
            192,
            "MASSACHVSETTS INSTITVTE OF TECHNOLOGY",
            "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b",
        ),
        (168, "Q", "518a54a215a8452a518a54a215a8452a518a54a215"),
        (168, "ba", "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"),
        (64, "kerberos", "6b65726265726f73"),
        (128, "kerberos", "6b65726265726f737b9b5b2b93132b93"),
        (
            168,
            "kerberos",
            "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4",
        ),
        (
            256,
            "kerberos",
            "6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4",
        ),
    ] {
        assert_eq!(
            n_fold(input.as_bytes(), bits / 8),
            hex(expected),
            "{bits}-fold({input})"
        );
    }
}

/// RFC 3962 appendix B prints each string-to-key case's PBKDF2 output
/// (tkey) and the final key, DK(tkey, "kerberos"): a known answer for DK.
#[test]
fn derive_key_matches_rfc_3962_appendix_b() {
    for (tkey, key) in [
        (
            "cd ed b5 28 1b b2 f8 01 56 5a 11 22 b2 56 35 15",
            "42 26 3c 6e 89 f4 fc 28 b8 df 68 ee 09 79 9f 15",
        ),
        (
            "cd ed b5 28 1b b2 f8 01 56 5a 11 22 b2 56 35 15
             0a d1 f7 a0 4b b9 f3 a3 33 ec c0 e2 e1 f7 08 37",
            "fe 69 7b 52 bc 0d 3c e1 44 32 ba 03 6a 92 e6 5b
             bb 52 28 09 90 a2 fa 27 88 39 98 d7 2a f3 01 61",
        ),
        (
            "01 db ee 7f 4a 9e 24 3e 98 8b 62 c7 3c da 93 5d",
            "c6 51 bf 29 e2 30 0a c2 7f a4 69 d6 93 bd da 13",
        ),
        (
            "01 db ee 7f 4a 9e 24 3e 98 8b 62 c7 3c da 93 5d
             a0 53 78 b9 32 44 ec 8f 48 a9 9e 61 ad 79 9d 86",
            "a2 e1 6d 16 b3 60 69 c1 35 d5 e9 d2 e2 5f 89 61
             02 68 56 18 b9 59 14 b4 67 c6 76 22 22 58 24 ff",
        ),
    ] {
        let tkey = hex(tkey);
        let enctype = if tkey.len() == 16 {
            Enctype::Aes128CtsHmacSha196
        } else {
            Enctype::Aes256CtsHmacSha196
        };
        let derived = derive_key(enctype, &tkey, b"kerberos").unwrap();
        assert_eq!(*derived, hex(key));
    }
}

#[test]
fn derive_key_refuses_a_key_of_the_wrong_length() {
    assert_eq!(
        derive_key(Enctype::Aes256CtsHmacSha196, &[0; 16], b"x").unwrap_err(),
        CryptoError::KeyLength {
            expected: 32,
            got: 16
        }
    );
}

const CHICKEN: &str = "I would like the General Gau's Chicken, please, and wonton soup.";

/// RFC 3962 appendix B: AES-128 CTS with a zero IV, key "chicken teriyaki".
fn cts_vectors() -> Vec<(usize, Vec<u8>)> {
    vec![
        (
            17,
            hex("c6 35 35 68 f2 bf 8c b4 d8 a5 80 36 2d a7 ff 7f 97"),
        ),
        (
            31,
            hex("fc 00 78 3e 0e fd b2 c1 d4 45 d4 c8 ef f7 ed 22
                 97 68 72 68 d6 ec cc c0 c0 7b 25 e2 5e cf e5"),
        ),
        (
            32,
            hex("39 31 25 23 a7 86 62 d5 be 7f cb cc 98 eb f5 a8
                 97 68 72 68 d6 ec cc c0 c0 7b 25 e2 5e cf e5 84"),
        ),
        (
            47,
            hex("97 68 72 68 d6 ec cc c0 c0 7b 25 e2 5e cf e5 84
                 b3 ff fd 94 0c 16 a1 8c 1b 55 49 d2 f8 38 02 9e
                 39 31 25 23 a7 86 62 d5 be 7f cb cc 98 eb f5"),
        ),
        (
            48,
            hex("97 68 72 68 d6 ec cc c0 c0 7b 25 e2 5e cf e5 84
                 9d ad 8b bb 96 c4 cd c0 3b c1 03 e1 a1 94 bb d8
                 39 31 25 23 a7 86 62 d5 be 7f cb cc 98 eb f5 a8"),
        ),
        (
            64,
            hex("97 68 72 68 d6 ec cc c0 c0 7b 25 e2 5e cf e5 84
                 39 31 25 23 a7 86 62 d5 be 7f cb cc 98 eb f5 a8
                 48 07 ef e8 36 ee 89 a5 26 73 0d bc 2f 7b c8 40
                 9d ad 8b bb 96 c4 cd c0 3b c1 03 e1 a1 94 bb d8"),
        ),
    ]
}

#[test]
fn cts_matches_rfc_3962_appendix_b_both_ways() {
    let cipher = cipher_for_tests(Enctype::Aes128CtsHmacSha196, b"chicken teriyaki");
    for (len, expected) in cts_vectors() {
        let mut buf = CHICKEN.as_bytes()[..len].to_vec();
        cts_encrypt(&cipher, &mut buf, None).unwrap();
        assert_eq!(buf, expected, "encrypt {len}");
        cts_decrypt(&cipher, &mut buf).unwrap();
        assert_eq!(buf, CHICKEN.as_bytes()[..len], "decrypt {len}");
    }
}

#[test]
fn cts_round_trips_every_length_for_both_key_sizes() {
    for (enctype, key) in [
        (Enctype::Aes128CtsHmacSha196, vec![7u8; 16]),
        (Enctype::Aes256CtsHmacSha196, vec![9u8; 32]),
    ] {
        let cipher = cipher_for_tests(enctype, &key);
        for len in 17..=200 {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut buf = plain.clone();
            cts_encrypt(&cipher, &mut buf, None).unwrap();
            assert_ne!(buf, plain);
            cts_decrypt(&cipher, &mut buf).unwrap();
            assert_eq!(buf, plain, "{enctype:?} {len}");
        }
    }
}

#[test]
fn one_block_or_less_is_an_error_not_a_panic() {
    let cipher = cipher_for_tests(Enctype::Aes128CtsHmacSha196, &[1; 16]);
    for len in 0..=16 {
        let mut buf = vec![0u8; len];
        assert!(cts_encrypt(&cipher, &mut buf, None).is_err());
        assert!(cts_decrypt(&cipher, &mut buf).is_err());
    }
    assert!(cts_decrypt_tail(&cipher, &[0; 16], &mut [0u8; 33]).is_err());
}

#[test]
fn usage_keys_differ_by_usage_and_purpose() {
    let key = [3u8; 32];
    let a = UsageKeys::derive(Enctype::Aes256CtsHmacSha196, &key, 22).unwrap();
    let b = UsageKeys::derive(Enctype::Aes256CtsHmacSha196, &key, 24).unwrap();
    assert_ne!(*a.ki, *b.ki);
    let ke = derive_key(Enctype::Aes256CtsHmacSha196, &key, &[0, 0, 0, 22, 0xAA]).unwrap();
    assert_ne!(*ke, *a.ki);
    assert_eq!(
        *a.ki,
        *derive_key(Enctype::Aes256CtsHmacSha196, &key, &[0, 0, 0, 22, 0x55]).unwrap()
    );
    assert_eq!(format!("{a:?}"), "UsageKeys(..)");
}
