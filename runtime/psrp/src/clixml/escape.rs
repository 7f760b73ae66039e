//! Text escaping: the `_xHHHH_` encoding of MS-PSRP 2.2.5.3.2 layered over
//! XML entity escaping.
//!
//! PowerShell escapes control characters and UTF-16 surrogates as
//! `_xHHHH_` (four hex digits of one UTF-16 code unit), so a character
//! outside the BMP travels as two escapes. An underscore that would start
//! such a sequence is itself escaped (`_x` is written `_x005F_x`).

use std::borrow::Cow;

/// Length of one escape: `_x` + four hex digits + `_`.
const ESCAPE_LEN: usize = 7;

/// Decodes `_xHHHH_` escapes; borrows when there are none.
///
/// A surrogate that is not part of a well-formed pair cannot live in a Rust
/// string and becomes U+FFFD, as a lossy UTF-16 decoder would do.
pub(crate) fn decode(text: Cow<'_, str>) -> Cow<'_, str> {
    match first_escape(&text, 0) {
        None => text,
        Some(first) => Cow::Owned(decode_from(&text, first)),
    }
}

fn first_escape(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = from;
    while let Some(offset) = memchr::memchr(b'_', text.get(at..)?.as_bytes()) {
        let start = at + offset;
        if code_unit_at(bytes, start).is_some() {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

fn decode_from(text: &str, first: usize) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut next = Some(first);
    while let Some(start) = next {
        out.push_str(&text[copied..start]);
        let mut end = start + ESCAPE_LEN;
        let unit = code_unit_at(bytes, start).unwrap_or(0xFFFD);
        let ch = match unit {
            0xD800..=0xDBFF => match code_unit_at(bytes, end) {
                Some(low @ 0xDC00..=0xDFFF) => {
                    end += ESCAPE_LEN;
                    let scalar =
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    char::from_u32(scalar)
                }
                _ => None,
            },
            _ => char::from_u32(u32::from(unit)),
        };
        out.push(ch.unwrap_or(char::REPLACEMENT_CHARACTER));
        copied = end;
        next = first_escape(text, end);
    }
    out.push_str(&text[copied..]);
    out
}

/// The code unit of a `_xHHHH_` escape starting at `at`, if there is one.
fn code_unit_at(bytes: &[u8], at: usize) -> Option<u16> {
    let seq = bytes.get(at..at + ESCAPE_LEN)?;
    if seq[0] != b'_' || seq[1] != b'x' || seq[6] != b'_' {
        return None;
    }
    seq[2..6].iter().try_fold(0u16, |acc, &b| {
        let digit = char::from(b).to_digit(16)?;
        Some((acc << 4) | digit as u16)
    })
}

/// Whether PowerShell writes this character as `_xHHHH_`: controls
/// (`char.IsControl`), the non-characters XML forbids, and anything outside
/// the BMP (surrogates in UTF-16).
fn needs_code_escape(c: char) -> bool {
    matches!(c, '\0'..='\u{1F}' | '\u{7F}'..='\u{9F}' | '\u{FFFE}' | '\u{FFFF}')
        || u32::from(c) > 0xFFFF
}

/// Appends `text` to `out` with `_xHHHH_` and XML entity escaping. In an
/// attribute, `"` is escaped as well.
pub(crate) fn write_text(out: &mut String, text: &str, in_attribute: bool) {
    // Nearly all text (names, addresses, quotas, dates) is printable ASCII
    // with nothing to escape: one byte scan and one copy instead of a
    // character-by-character walk (the walk was an eighth of the
    // simulator's CPU serving 100,000 mailboxes).
    if text.bytes().all(is_plain) {
        out.push_str(text);
        return;
    }
    write_text_escaped(out, text, in_attribute);
}

/// A byte that stands for itself in CLIXML text and attributes (`_` is
/// left to the full walk, which escapes it only before an `x`).
fn is_plain(byte: u8) -> bool {
    matches!(byte, b' '..=b'~') && !matches!(byte, b'<' | b'>' | b'&' | b'"' | b'_')
}

fn write_text_escaped(out: &mut String, text: &str, in_attribute: bool) {
    let bytes = text.as_bytes();
    let mut copied = 0;
    for (i, c) in text.char_indices() {
        let replacement: Option<&str> = match c {
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            '&' => Some("&amp;"),
            '"' if in_attribute => Some("&quot;"),
            '_' if bytes.get(i + 1) == Some(&b'x') => Some("_x005F_"),
            c if needs_code_escape(c) => None,
            _ => continue,
        };
        out.push_str(&text[copied..i]);
        copied = i + c.len_utf8();
        match replacement {
            Some(r) => out.push_str(r),
            None => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_code_escape(out, *unit);
                }
            }
        }
    }
    out.push_str(&text[copied..]);
}

fn push_code_escape(out: &mut String, unit: u16) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push_str("_x");
    for shift in [12u16, 8, 4, 0] {
        out.push(char::from(HEX[usize::from((unit >> shift) & 0xF)]));
    }
    out.push('_');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(text: &str) -> String {
        let mut out = String::new();
        write_text(&mut out, text, false);
        out
    }

    fn dec(text: &str) -> String {
        decode(Cow::Borrowed(text)).into_owned()
    }

    #[test]
    fn the_plain_fast_path_writes_what_the_full_walk_writes() {
        let mut texts: Vec<String> = (0u8..=0x7f)
            .map(|b| format!("a{}b", char::from(b)))
            .collect();
        texts.extend(
            [
                "",
                "user000123@contoso.com",
                "2 GB (2,147,483,648 bytes)",
                "_x0041_",
                "a_b",
                "_",
                "x_",
                "é",
                "\u{85}",
                "\u{FFFE}",
                "😀",
                "<a href=\"x\">&amp;</a>",
            ]
            .map(String::from),
        );
        for text in &texts {
            for in_attribute in [false, true] {
                let (mut fast, mut full) = (String::new(), String::new());
                write_text(&mut fast, text, in_attribute);
                write_text_escaped(&mut full, text, in_attribute);
                assert_eq!(fast, full, "{text:?} in_attribute={in_attribute}");
            }
        }
    }

    #[test]
    fn spec_examples() {
        assert_eq!(enc("Order\nDetails"), "Order_x000A_Details");
        assert_eq!(dec("Order_x000A_Details"), "Order\nDetails");
        assert_eq!(enc("Order_Details"), "Order_Details");
        assert_eq!(enc("Order_x0020_"), "Order_x005F_x0020_");
        assert_eq!(dec("Order_x005f_x0020_"), "Order_x0020_");
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            decode(Cow::Borrowed("a_b_xyz_x12")),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn xml_specials_and_controls() {
        assert_eq!(enc("a<b>&\"c'"), "a&lt;b&gt;&amp;\"c'");
        let mut attr = String::new();
        write_text(&mut attr, "q\"\t", true);
        assert_eq!(attr, "q&quot;_x0009_");
        assert_eq!(
            enc("\r\0\u{7F}\u{85}\u{FFFF}"),
            "_x000D__x0000__x007F__x0085__xFFFF_"
        );
        assert_eq!(
            dec("_x000D__x0000__x007f__x0085__xffff_"),
            "\r\0\u{7F}\u{85}\u{FFFF}"
        );
    }

    #[test]
    fn astral_characters_are_surrogate_pairs() {
        assert_eq!(enc("a😀b"), "a_xD83D__xDE00_b");
        assert_eq!(dec("a_xD83D__xDE00_b"), "a😀b");
        assert_eq!(dec("_xd83d__xde00_"), "😀");
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(dec("a_xD83D_b"), "a\u{FFFD}b");
        assert_eq!(dec("_xDE00_"), "\u{FFFD}");
        assert_eq!(dec("_xD83D__xD83D__xDE00_"), "\u{FFFD}😀");
    }

    #[test]
    fn malformed_escapes_stay_literal() {
        for text in [
            "_x", "_x12", "_x12345", "_x12G4_", "_X000A_", "__x000A", "é_x00",
        ] {
            let expected = if text == "__x000A" { "__x000A" } else { text };
            assert_eq!(dec(text), expected);
        }
        assert_eq!(dec("__x000A_"), "_\n");
    }

    #[test]
    fn round_trip_tricky_text() {
        for text in [
            "_x",
            "_x_x005F_",
            "__xx",
            "x_",
            "é_xÉ",
            "\u{1}_x0001_\u{10FFFF}",
            "",
        ] {
            assert_eq!(dec(&enc(text)), text, "for {text:?}");
        }
    }
}
