//! Property tests: any value survives encode -> decode, and no input makes
//! the decoder panic.

use std::sync::Arc;

use idconn_psrp::clixml::{self, Collection, CollectionKind, PsObject, Value};
use proptest::prelude::*;

const VECTOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/exchange/get-mailbox-exchange2016.clixml"
);

/// Text biased towards what escaping must get right.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 .:@-]{1,6}",
        2 => any::<char>().prop_map(String::from),
        1 => prop::sample::select(vec![
            "_x", "_x000A_", "_x005F_", "_xD83D_", "_xDE00_", "_X0041_", "__x", "_", "x_",
            "\0", "\t", "\n", "\r", "\r\n", "\u{7F}", "\u{85}", "\u{FFFE}", "\u{FFFF}",
            "<", ">", "&", "&amp;", "\"", "'", "]]>", "😀", "\u{10FFFF}", "é", " ", "  ",
        ])
        .prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        text().prop_map(Value::String),
        any::<u16>().prop_map(Value::Char),
        any::<bool>().prop_map(Value::Bool),
        text().prop_map(Value::DateTime),
        text().prop_map(Value::Duration),
        any::<u8>().prop_map(Value::U8),
        any::<i8>().prop_map(Value::I8),
        any::<u16>().prop_map(Value::U16),
        any::<i16>().prop_map(Value::I16),
        any::<u32>().prop_map(Value::U32),
        any::<i32>().prop_map(Value::I32),
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        any::<f32>().prop_map(Value::Single),
        any::<f64>().prop_map(Value::Double),
        text().prop_map(Value::Decimal),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        any::<u128>().prop_map(|g| Value::Guid(uuid::Uuid::from_u128(g).hyphenated().to_string())),
        text().prop_map(Value::Uri),
        text().prop_map(Value::Version),
        text().prop_map(Value::XmlDocument),
        text().prop_map(Value::ScriptBlock),
    ]
}

fn collection_kind() -> impl Strategy<Value = CollectionKind> {
    prop::sample::select(vec![
        CollectionKind::List,
        CollectionKind::Enumerable,
        CollectionKind::Stack,
        CollectionKind::Queue,
    ])
}

fn value() -> impl Strategy<Value = Value> {
    let shared_type_names: Arc<[String]> =
        Arc::from(vec!["Shared".to_owned(), "System.Object".to_owned()]);
    leaf().prop_recursive(4, 48, 5, move |inner| {
        let shared = shared_type_names.clone();
        let type_names = prop_oneof![
            prop::collection::vec(text(), 0..3).prop_map(Arc::from),
            Just(shared),
        ];
        let collection = prop::option::of(prop_oneof![
            (
                collection_kind(),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(kind, items)| Collection::List(kind, items)),
            prop::collection::vec((inner.clone(), inner.clone()), 0..3)
                .prop_map(Collection::Dictionary),
        ]);
        let properties = || prop::collection::vec((text(), inner.clone()), 0..4);
        (
            type_names,
            prop::option::of(text()),
            prop::option::of(leaf()),
            collection,
            properties(),
            properties(),
        )
            .prop_map(
                |(type_names, to_string, value, collection, adapted, extended)| {
                    Value::from(PsObject {
                        type_names,
                        to_string,
                        value,
                        collection,
                        adapted,
                        extended,
                    })
                },
            )
    })
}

/// NaN is not equal to itself; swap it for a marker on both sides.
fn normalized(mut value: Value) -> Value {
    normalize(&mut value);
    value
}

fn normalize(value: &mut Value) {
    match value {
        Value::Single(v) if v.is_nan() => *value = Value::Decimal("<NaN>".into()),
        Value::Double(v) if v.is_nan() => *value = Value::Decimal("<NaN>".into()),
        Value::Object(o) => {
            o.value.iter_mut().for_each(normalize);
            match &mut o.collection {
                Some(Collection::List(_, items)) => items.iter_mut().for_each(normalize),
                Some(Collection::Dictionary(entries)) => entries.iter_mut().for_each(|(k, v)| {
                    normalize(k);
                    normalize(v);
                }),
                None => {}
            }
            o.adapted
                .iter_mut()
                .chain(o.extended.iter_mut())
                .for_each(|(_, v)| normalize(v));
        }
        _ => {}
    }
}

/// Decoding never panics; what decodes re-encodes to the same value.
fn decode_is_total(bytes: &[u8]) {
    if let Ok(value) = clixml::from_bytes(bytes) {
        let xml = clixml::to_string(&value);
        let again = clixml::from_str(&xml).unwrap_or_else(|e| panic!("{xml}: {e}"));
        assert_eq!(normalized(again), normalized(value));
    }
}

fn mutation() -> impl Strategy<Value = (prop::sample::Index, usize, String)> {
    let snippet = prop_oneof![
        prop::sample::select(vec![
            "<",
            ">",
            "/>",
            "</",
            "&",
            "&#0;",
            "&#xD800;",
            "&lt;",
            "\"",
            "<Obj>",
            "</Obj>",
            "<Obj RefId=\"0\">",
            "<Ref RefId=\"0\" />",
            "<Ref RefId=\"1\"/>",
            "<TNRef RefId=\"0\" />",
            "<LST>",
            "</LST>",
            "<DCT><En>",
            "<SS>x</SS>",
            "<S>",
            "</S>",
            "<Nil />",
            "<I32>",
            "N=\"a\"",
            "RefId=\"x\"",
            "_x",
            "_xD83D_",
            "<![CDATA[",
            "]]>",
            "<!--",
            "-->",
            "<?xml version=\"1.0\"?>",
            "<!DOCTYPE x>",
            "\u{FEFF}",
            "\0",
        ])
        .prop_map(String::from),
        any::<String>(),
    ];
    (any::<prop::sample::Index>(), 0usize..16, snippet)
}

fn mutate(doc: &str, mutations: &[(prop::sample::Index, usize, String)]) -> Vec<u8> {
    let mut bytes = doc.as_bytes().to_vec();
    for (at, cut, insert) in mutations {
        let at = at.index(bytes.len() + 1);
        let end = (at + cut).min(bytes.len());
        bytes.splice(at..end, insert.bytes());
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn values_round_trip(value in value()) {
        let xml = clixml::to_string(&value);
        let decoded = clixml::from_str(&xml);
        prop_assert!(decoded.is_ok(), "{} -> {:?}", xml, decoded);
        prop_assert_eq!(normalized(decoded.unwrap_or(Value::Nil)), normalized(value));
    }

    #[test]
    fn named_values_round_trip(name in text(), value in value()) {
        let body = PsObject::new().with_extended(name, value);
        let xml = clixml::to_string(&Value::from(body.clone()));
        let decoded = clixml::from_str(&xml);
        prop_assert!(decoded.is_ok(), "{} -> {:?}", xml, decoded);
        prop_assert_eq!(normalized(decoded.unwrap_or(Value::Nil)), normalized(body.into()));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_is_total(&bytes);
    }

    #[test]
    fn random_text_never_panics(text in any::<String>()) {
        decode_is_total(text.as_bytes());
    }

    #[test]
    fn mutated_documents_never_panic(
        value in value(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let xml = clixml::to_string(&value);
        decode_is_total(&mutate(&xml, &mutations));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutated_exchange_mailbox_never_panics(mutations in prop::collection::vec(mutation(), 1..4)) {
        let doc = std::fs::read_to_string(VECTOR).unwrap_or_else(|e| panic!("{VECTOR}: {e}"));
        decode_is_total(&mutate(&doc, &mutations));
    }
}
