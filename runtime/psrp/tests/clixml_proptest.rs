//! Property tests: any value survives encode -> decode, and no input makes
//! the decoder panic. Every input is also decoded by the flat decoder
//! (clixml/flat.rs), which must agree with the value decoder on all of it:
//! the same objects, the same decoded size, the same errors.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use idconn_psrp::clixml::{self, flat, Collection, CollectionKind, FlatBuilder, PsObject, Value};
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

/// The flat decoder agrees with the value decoder on `bytes`, decoded as
/// one more object of `builder`'s batch.
fn flat_agrees_in(builder: &mut FlatBuilder, bytes: &[u8]) {
    let before = builder.len();
    let tree = clixml::from_bytes_within(bytes, LIMIT);
    let flat = builder.push_message(bytes, LIMIT);
    match (tree, flat) {
        (Ok((value, size)), Ok(flat_size)) => {
            assert_eq!(
                flat_size,
                size,
                "decoded size of {:?}",
                String::from_utf8_lossy(bytes)
            );
            assert_eq!(builder.len(), before + 1);
            let batch = builder.take();
            let last = batch.to_values().pop().map(normalized);
            assert_eq!(
                last,
                Some(normalized(flat::normalize(&value))),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
            // Put the batch back as it was, to go on sharing its shapes.
            let mut again = FlatBuilder::new();
            for value in batch.to_values() {
                again
                    .push_message(clixml::to_string(&value).as_bytes(), LIMIT)
                    .unwrap();
            }
            *builder = again;
        }
        (Err(tree), Err(flat)) => {
            assert_eq!(flat.to_string(), tree.to_string());
            assert_eq!(builder.len(), before, "a failed message left an object");
        }
        (tree, flat) => panic!(
            "the decoders disagree on {:?}: values {tree:?}, flat {flat:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

const LIMIT: usize = 64 << 20;

fn flat_agrees(bytes: &[u8]) {
    flat_agrees_in(&mut FlatBuilder::new(), bytes);
}

/// Decoding never panics; what decodes re-encodes to the same value.
fn decode_is_total(bytes: &[u8]) {
    flat_agrees(bytes);
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
        flat_agrees(xml.as_bytes());
    }

    /// Several objects in one batch: shapes shared, extended, changed.
    #[test]
    fn flat_batches_of_several_objects_agree(values in prop::collection::vec(value(), 1..6)) {
        let mut builder = FlatBuilder::new();
        for value in &values {
            flat_agrees_in(&mut builder, clixml::to_string(value).as_bytes());
        }
        prop_assert_eq!(builder.len(), values.len());
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

/// The real Exchange 2016 mailbox, twice in one batch: one shape.
#[test]
fn the_exchange_mailbox_decodes_flat_as_values_do() {
    let doc = std::fs::read(VECTOR).unwrap_or_else(|e| panic!("{VECTOR}: {e}"));
    let mut builder = FlatBuilder::new();
    builder.push_message(&doc, LIMIT).unwrap();
    builder.push_message(&doc, LIMIT).unwrap();
    let batch = builder.take();
    assert_eq!(batch.shapes.len(), 1);
    assert!(batch.shapes[0].property_names.len() > 150);
    let tree = clixml::from_bytes(&doc).unwrap();
    let values = batch.to_values();
    assert_eq!(values.len(), 2);
    for value in values {
        assert_eq!(value, flat::normalize(&tree));
    }
}

/// Cases a serializer does not write but a server may send.
#[test]
fn unusual_objects_decode_flat_as_values_do() {
    let cases = [
        // <MS> before <Props>: adapted properties still come first.
        r#"<Obj RefId="0"><MS><S N="b">2</S></MS><Props><S N="a">1</S></Props><MS><I32 N="c">3</I32></MS></Obj>"#,
        // A <Ref> to an earlier object and a nested object.
        r#"<Obj RefId="0"><Props><Obj N="x" RefId="1"><TN RefId="0"><T>T</T></TN><ToString>t</ToString></Obj><Ref N="y" RefId="1" /></Props></Obj>"#,
        // Escaped names and text, entities, CDATA.
        r#"<Obj RefId="0"><MS><S N="a_x0020_b">x_x000A_y &amp; <![CDATA[<z>]]></S><G N="g">{01234567-89AB-CDEF-0123-456789ABCDEF}</G></MS></Obj>"#,
        // A top-level primitive and a top-level collection object.
        r#"<S>plain</S>"#,
        r#"<Obj RefId="0"><LST><S>a</S></LST><ToString>a</ToString></Obj>"#,
        // Errors: duplicate ToString, missing N, unknown TNRef, a SecureString.
        r#"<Obj RefId="0"><ToString>a</ToString><ToString>b</ToString></Obj>"#,
        r#"<Obj RefId="0"><MS><S>a</S></MS></Obj>"#,
        r#"<Obj RefId="0"><TNRef RefId="9" /></Obj>"#,
        r#"<Obj RefId="0"><MS><SS N="p">secret</SS></MS></Obj>"#,
        r#"<Obj RefId="0"><MS><I32 N="n">12x</I32></MS></Obj>"#,
    ];
    let mut builder = FlatBuilder::new();
    for case in cases {
        flat_agrees(case.as_bytes());
        // And in one batch, after the objects before it.
        flat_agrees_in(&mut builder, case.as_bytes());
    }
}

/// Objects whose names are a prefix, an extension or a change of the last
/// shape's get shapes of their own; the same names again reuse one.
#[test]
fn shapes_follow_the_names() {
    let objects = [
        r#"<Obj RefId="0"><TN RefId="0"><T>A</T></TN><MS><S N="a">1</S><S N="b">2</S></MS></Obj>"#,
        r#"<Obj RefId="0"><TN RefId="0"><T>A</T></TN><MS><S N="a">1</S></MS></Obj>"#,
        r#"<Obj RefId="0"><TN RefId="0"><T>A</T></TN><MS><S N="a">1</S><S N="b">2</S><S N="c">3</S></MS></Obj>"#,
        r#"<Obj RefId="0"><TN RefId="0"><T>B</T></TN><MS><S N="a">1</S><S N="b">2</S></MS></Obj>"#,
        r#"<Obj RefId="0"><TN RefId="0"><T>A</T></TN><MS><S N="a">1</S><S N="b">2</S></MS></Obj>"#,
        r#"<Obj RefId="0"><TN RefId="0"><T>A</T></TN><MS><S N="a">1</S><S N="x">2</S></MS></Obj>"#,
    ];
    let mut builder = FlatBuilder::new();
    for object in objects {
        builder.push_message(object.as_bytes(), LIMIT).unwrap();
    }
    let batch = builder.take();
    let shapes: Vec<u32> = batch.objects.iter().map(|o| o.shape).collect();
    assert_eq!(shapes, [0, 1, 2, 3, 0, 4]);
    assert_eq!(batch.shapes[1].property_names, ["a"]);
    assert_eq!(batch.shapes[2].property_names, ["a", "b", "c"]);
    assert_eq!(&*batch.shapes[3].type_names, ["B"]);
    assert_eq!(batch.shapes[4].property_names, ["a", "x"]);
}

/// The same document with every leaf and list item written so that the
/// decoders cannot read it in place (a space the XML reader skips).
fn through_the_reader(xml: &str) -> String {
    let mut out = xml.replace("<S>", "<S >");
    for tag in ["S", "DT", "G", "B", "I32", "I64", "Nil"] {
        out = out.replace(&format!("<{tag} N=\""), &format!("<{tag}  N=\""));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Leaves and list items read in place (clixml/de/plain.rs) decode to
    /// what the XML reader makes of them, with the same decoded size, and
    /// a limit below that size refuses both alike.
    #[test]
    fn reading_in_place_agrees_with_the_reader(value in value(), name in text()) {
        let body = PsObject::new().with_extended(name, value.clone()).with_extended("x", value);
        let xml = clixml::to_string(&Value::from(body));
        let slow = through_the_reader(&xml);
        let fast_value = clixml::from_bytes_within(xml.as_bytes(), LIMIT);
        let slow_value = clixml::from_bytes_within(slow.as_bytes(), LIMIT);
        prop_assert_eq!(&fast_value, &slow_value, "{}", xml);
        let mut fast_flat = FlatBuilder::new();
        let mut slow_flat = FlatBuilder::new();
        let fast_size = fast_flat.push_message(xml.as_bytes(), LIMIT);
        let slow_size = slow_flat.push_message(slow.as_bytes(), LIMIT);
        prop_assert_eq!(&fast_size, &slow_size, "{}", xml);
        prop_assert_eq!(fast_flat.take().to_values(), slow_flat.take().to_values());
        if let Ok((_, size)) = fast_value {
            let below = size.saturating_sub(1);
            let fast = clixml::from_bytes_within(xml.as_bytes(), below).map_err(|e| e.kind().clone());
            let slow = clixml::from_bytes_within(slow.as_bytes(), below).map_err(|e| e.kind().clone());
            prop_assert_eq!(fast.map(|(v, _)| v), slow.map(|(v, _)| v));
        }
    }
}
