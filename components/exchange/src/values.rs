//! How remote values are written as CSV text, and the multi-valued encoding
//! shared by the export and by fulfill orders.
//!
//! Multi-valued text: the values joined by one space; inside a value `%` is
//! written `%25` and a space `%20`. Ordinary addresses (no space, no `%`)
//! therefore look exactly like Usercube's, and X500 addresses, which contain
//! spaces, stay unambiguous.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

pub use crate::dates::{format_date_time, parse_date_time, write_date_time};

use idconn_sdk::batch::{ElementRef, ScalarRef, ValueRef};

/// The prefix that marks the primary SMTP address (case matters: `smtp:`
/// marks a secondary one).
pub const PRIMARY_SMTP_PREFIX: &str = "SMTP:";

/// Appends the CSV text of a value.
pub fn write_value(out: &mut String, value: ValueRef<'_>) {
    match value {
        ValueRef::Scalar(scalar) => write_scalar(out, scalar),
        ValueRef::List(items) => {
            let mut item_text = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                item_text.clear();
                write_scalar(&mut item_text, item);
                encode_item(out, &item_text);
            }
        }
        ValueRef::Dictionary(entries) => {
            let mut item_text = String::new();
            for (i, (key, element)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                item_text.clear();
                item_text.push_str(key);
                item_text.push('=');
                match element {
                    ElementRef::Scalar(scalar) => write_scalar(&mut item_text, scalar),
                    ElementRef::List(items) => {
                        for (j, item) in items.iter().enumerate() {
                            if j > 0 {
                                item_text.push(',');
                            }
                            write_scalar(&mut item_text, item);
                        }
                    }
                }
                encode_item(out, &item_text);
            }
        }
    }
}

/// Appends the CSV text of a scalar.
pub fn write_scalar(out: &mut String, scalar: ScalarRef<'_>) {
    match scalar {
        ScalarRef::Null => {}
        ScalarRef::Text(text) => out.push_str(text),
        ScalarRef::Boolean(true) => out.push_str("True"),
        ScalarRef::Boolean(false) => out.push_str("False"),
        ScalarRef::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        ScalarRef::Number(n) => {
            let _ = write!(out, "{n}");
        }
        ScalarRef::DateTime(text) => match parse_date_time(text) {
            Some(utc) => write_date_time(out, &utc),
            // An unexpected form is kept rather than dropped: the operator
            // can still read it.
            None => out.push_str(text),
        },
        ScalarRef::Guid(text) => out.push_str(text),
        ScalarRef::Bytes(bytes) => {
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
        }
        ScalarRef::Object(object) => out.push_str(&object.to_string),
    }
}

/// Appends `EmailAddresses`: every address, the primary (`SMTP:`) first, the
/// others in the server's order, encoded as a multi-valued text.
pub fn write_email_addresses(out: &mut String, value: ValueRef<'_>) {
    match value {
        ValueRef::List(items) => {
            // Addresses are text: borrowed as they are, so only their order
            // costs anything.
            let mut texts: Vec<Cow<'_, str>> = items
                .iter()
                .filter(|item| !matches!(item, ScalarRef::Null))
                .map(|item| match item {
                    ScalarRef::Text(text) => Cow::Borrowed(text),
                    other => {
                        let mut text = String::new();
                        write_scalar(&mut text, other);
                        Cow::Owned(text)
                    }
                })
                .collect();
            if let Some(primary) = texts
                .iter()
                .position(|t| t.starts_with(PRIMARY_SMTP_PREFIX))
            {
                let primary = texts.remove(primary);
                texts.insert(0, primary);
            }
            write_encoded_list(out, texts.iter().map(|t| t.as_ref()));
        }
        ValueRef::Scalar(ScalarRef::Text(text)) => encode_item(out, text),
        other => write_value(out, other),
    }
}

/// Appends items joined by a space, each encoded.
pub fn write_encoded_list<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        encode_item(out, item);
    }
}

fn encode_item(out: &mut String, item: &str) {
    // Copies runs between the two escaped bytes whole: most addresses have
    // neither, and a char-by-char push was a hot spot of the export.
    let mut rest = item;
    while let Some(at) = memchr::memchr2(b'%', b' ', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        out.push_str(if rest.as_bytes()[at] == b'%' {
            "%25"
        } else {
            "%20"
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// Splits a multi-valued text written by [`write_encoded_list`]. Unknown
/// `%xx` sequences are kept as they are, so a literal `%` typed by hand in
/// an order survives.
pub fn decode_list(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|item| !item.is_empty())
        .map(decode_item)
        .collect()
}

fn decode_item(item: &str) -> String {
    let mut out = String::with_capacity(item.len());
    let mut rest = item;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        if let Some(after) = escape.strip_prefix("%20") {
            out.push(' ');
            rest = after;
        } else if let Some(after) = escape.strip_prefix("%25") {
            out.push('%');
            rest = after;
        } else {
            out.push('%');
            rest = &escape[1..];
        }
    }
    out.push_str(rest);
    out
}

/// A date of a scalar that may hold it as a date or as text.
pub fn scalar_date_time(scalar: ScalarRef<'_>) -> Option<DateTime<Utc>> {
    match scalar {
        ScalarRef::DateTime(text) | ScalarRef::Text(text) => parse_date_time(text),
        ScalarRef::Object(object) => parse_date_time(&object.to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idconn_sdk::{Scalar, Value};

    fn text(s: &str) -> Scalar {
        Scalar::Text(s.to_owned())
    }

    #[test]
    fn scalars_are_written_in_their_documented_forms() {
        let cases = [
            (Scalar::Null, ""),
            (Scalar::Boolean(true), "True"),
            (Scalar::Boolean(false), "False"),
            (Scalar::Integer(-42), "-42"),
            (Scalar::Number(1.5), "1.5"),
            (
                Scalar::DateTime("2022-10-31T02:01:36+01:00".into()),
                "2022-10-31T01:01:36Z",
            ),
            (
                Scalar::DateTime("2022-10-31T01:01:36.1234567Z".into()),
                "2022-10-31T01:01:36.123456700Z",
            ),
            (
                Scalar::DateTime("2022-10-31T01:01:36".into()),
                "2022-10-31T01:01:36Z",
            ),
            (Scalar::DateTime("yesterday".into()), "yesterday"),
            (Scalar::Bytes(vec![0, 0xab]), "00ab"),
        ];
        for (scalar, expected) in cases {
            let mut out = String::new();
            write_scalar(&mut out, (&scalar).into());
            assert_eq!(out, expected, "{scalar:?}");
        }
    }

    #[test]
    fn email_addresses_put_the_primary_first_and_encode_spaces() {
        let value = Value::List(vec![
            text("smtp:b@contoso.com"),
            text("X500:/o=First Organization/cn=Recipients/cn=a b"),
            text("SMTP:a@contoso.com"),
            text("smtp:100%@contoso.com"),
        ]);
        let mut out = String::new();
        write_email_addresses(&mut out, (&value).into());
        assert_eq!(
            out,
            "SMTP:a@contoso.com smtp:b@contoso.com \
             X500:/o=First%20Organization/cn=Recipients/cn=a%20b smtp:100%25@contoso.com"
        );
        assert_eq!(
            decode_list(&out),
            vec![
                "SMTP:a@contoso.com",
                "smtp:b@contoso.com",
                "X500:/o=First Organization/cn=Recipients/cn=a b",
                "smtp:100%@contoso.com",
            ]
        );
    }

    #[test]
    fn decoding_keeps_unknown_escapes_and_skips_empty_items() {
        assert_eq!(
            decode_list("a%2 b%%20c  100%25%2520 %"),
            vec!["a%2", "b% c", "100%%20", "%"]
        );
        assert!(decode_list("").is_empty());
    }
}
