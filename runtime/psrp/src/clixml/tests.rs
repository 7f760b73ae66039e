use std::sync::Arc;

use super::*;

fn parse(xml: &str) -> Value {
    from_str(xml).unwrap_or_else(|e| panic!("{xml}: {e}"))
}

fn error(xml: &str) -> ClixmlError {
    match from_str(xml) {
        Ok(v) => panic!("{xml} decoded to {v:?}"),
        Err(e) => e,
    }
}

fn object(xml: &str) -> PsObject {
    match parse(xml) {
        Value::Object(o) => *o,
        other => panic!("not an object: {other:?}"),
    }
}

fn round_trip(value: &Value) {
    let xml = to_string(value);
    assert_eq!(&parse(&xml), value, "through {xml}");
}

#[test]
fn every_primitive_decodes() {
    let cases: Vec<(&str, Value)> = vec![
        ("<Nil />", Value::Nil),
        ("<Nil></Nil>", Value::Nil),
        ("<S>text</S>", Value::String("text".into())),
        ("<C>97</C>", Value::Char(97)),
        ("<B>true</B>", Value::Bool(true)),
        ("<B>false</B>", Value::Bool(false)),
        ("<B>1</B>", Value::Bool(true)),
        (
            "<DT>2022-10-31T01:01:36Z</DT>",
            Value::DateTime("2022-10-31T01:01:36Z".into()),
        ),
        (
            "<TS>PT9.0269026S</TS>",
            Value::Duration("PT9.0269026S".into()),
        ),
        ("<By>255</By>", Value::U8(255)),
        ("<SB>-128</SB>", Value::I8(-128)),
        ("<U16>65535</U16>", Value::U16(65535)),
        ("<I16>-32768</I16>", Value::I16(-32768)),
        ("<U32>4294967295</U32>", Value::U32(u32::MAX)),
        ("<I32>-2147483648</I32>", Value::I32(i32::MIN)),
        ("<U64>18446744073709551615</U64>", Value::U64(u64::MAX)),
        ("<I64>-9223372036854775808</I64>", Value::I64(i64::MIN)),
        ("<I32> +12 </I32>", Value::I32(12)),
        ("<Sg>1.5</Sg>", Value::Single(1.5)),
        ("<Sg>-INF</Sg>", Value::Single(f32::NEG_INFINITY)),
        ("<Db>1.5E+300</Db>", Value::Double(1.5e300)),
        ("<Db>INF</Db>", Value::Double(f64::INFINITY)),
        (
            "<D>79228162514264337593543950335</D>",
            Value::Decimal("79228162514264337593543950335".into()),
        ),
        ("<BA>AQID/w==</BA>", Value::Bytes(vec![1, 2, 3, 255])),
        ("<BA>AQID\n/w==</BA>", Value::Bytes(vec![1, 2, 3, 255])),
        ("<BA />", Value::Bytes(vec![])),
        (
            "<G>9B9387FE-E1B1-4695-97BD-B0A0BEBE7CE2</G>",
            Value::Guid("9b9387fe-e1b1-4695-97bd-b0a0bebe7ce2".into()),
        ),
        (
            "<URI>http://x/y?a=1&amp;b=2</URI>",
            Value::Uri("http://x/y?a=1&b=2".into()),
        ),
        (
            "<Version>15.1.2507.6</Version>",
            Value::Version("15.1.2507.6".into()),
        ),
        ("<XD>&lt;a/&gt;</XD>", Value::XmlDocument("<a/>".into())),
        (
            "<SBK>Get-Mailbox</SBK>",
            Value::ScriptBlock("Get-Mailbox".into()),
        ),
    ];
    for (xml, expected) in cases {
        assert_eq!(parse(xml), expected, "{xml}");
        round_trip(&expected);
    }
    assert!(matches!(parse("<Db>NaN</Db>"), Value::Double(v) if v.is_nan()));
    assert_eq!(to_string(&Value::Double(f64::NAN)), "<Db>NaN</Db>");
}

#[test]
fn primitives_encode_as_powershell_does() {
    assert_eq!(to_string(&Value::Nil), "<Nil />");
    assert_eq!(to_string(&Value::Bool(true)), "<B>true</B>");
    assert_eq!(to_string(&Value::Double(0.1)), "<Db>0.1</Db>");
    assert_eq!(to_string(&Value::Double(1e300)), "<Db>1E300</Db>");
    assert_eq!(
        to_string(&Value::Double(f64::NEG_INFINITY)),
        "<Db>-INF</Db>"
    );
    assert_eq!(to_string(&Value::Single(2.5e-10)), "<Sg>2.5E-10</Sg>");
    assert_eq!(
        to_string(&Value::Bytes(vec![1, 2, 3, 255])),
        "<BA>AQID/w==</BA>"
    );
    assert_eq!(to_string(&Value::String(String::new())), "<S></S>");
    let mut out = String::new();
    write_named(&mut out, "a\"b", &Value::I32(1));
    assert_eq!(out, r#"<I32 N="a&quot;b">1</I32>"#);
}

#[test]
fn empty_and_spaced_text_is_kept() {
    assert_eq!(parse("<S />"), Value::String(String::new()));
    assert_eq!(parse("<S></S>"), Value::String(String::new()));
    assert_eq!(
        parse("<S>  two  words </S>"),
        Value::String("  two  words ".into())
    );
    assert_eq!(
        parse("<S><![CDATA[<raw>]]>!</S>"),
        Value::String("<raw>!".into())
    );
}

#[test]
fn entities_and_escapes_decode_in_content_and_names() {
    let obj = object(
        r#"<Obj RefId="0"><MS><S N="a_x0009_b&amp;c">x&lt;&#65;&#x42;_x000A__xD83D__xDE00_&quot;</S></MS></Obj>"#,
    );
    assert_eq!(obj.extended[0].0, "a\tb&c");
    assert_eq!(obj.extended[0].1, Value::String("x<AB\n😀\"".into()));
    assert_eq!(
        parse("<S>a_x005F_x000A_</S>"),
        Value::String("a_x000A_".into())
    );
}

#[test]
fn escaping_round_trips_in_strings_names_and_type_names() {
    let tricky = "tab\t nl\n cr\r nul\0 del\u{7f} _x _x000A_ <&>\"' 😀 é \u{FFFF}";
    let value: Value = PsObject::new()
        .with_type_names([tricky, "System.Object"])
        .with_to_string(tricky)
        .with_extended(tricky, tricky)
        .into();
    let xml = to_string(&value);
    assert!(
        !xml.contains('\t') && !xml.contains('\0') && !xml.contains('😀'),
        "{xml}"
    );
    assert!(xml.contains("_x005F_x"), "{xml}");
    round_trip(&value);
}

#[test]
fn bom_declaration_and_whitespace_are_tolerated() {
    assert_eq!(parse("\u{FEFF}  <S>a</S>\r\n"), Value::String("a".into()));
    assert_eq!(
        parse("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- c --><I32>7</I32>"),
        Value::I32(7)
    );
    assert_eq!(
        from_bytes(b"\xEF\xBB\xBF<S>\xC3\xA9</S>").unwrap(),
        Value::String("é".into())
    );
    assert_eq!(
        from_bytes(b"<S>\xFF</S>").unwrap_err().kind(),
        &ClixmlErrorKind::NotUtf8
    );
    // Long enough for the SIMD check's whole blocks: the error still says
    // where the text stops being UTF-8.
    let mut long = b"<S>".to_vec();
    long.extend("é".repeat(100).as_bytes());
    long.extend(b"\xC3(</S>");
    let error = from_bytes(&long).unwrap_err();
    assert_eq!(error.kind(), &ClixmlErrorKind::NotUtf8);
    assert_eq!(error.position(), 203);
}

#[test]
fn object_with_everything() {
    let xml = r#"<Obj RefId="0">
        <TN RefId="0"><T>System.Collections.Hashtable</T><T>System.Object</T></TN>
        <ToString>System.Collections.Hashtable</ToString>
        <DCT>
            <En><S N="Key">Add</S><Obj N="Value" RefId="1"><TN RefId="1"><T>System.Object[]</T></TN><LST><S>smtp:a@b.c</S><S>smtp:d@e.f</S></LST></Obj></En>
            <En><I32 N="Value">1</I32><S N="Key">Count</S></En>
        </DCT>
        <Props><B N="IsFixedSize">false</B></Props>
        <MS><Nil N="Note" /></MS>
    </Obj>"#;
    let obj = object(xml);
    assert_eq!(
        &*obj.type_names,
        ["System.Collections.Hashtable", "System.Object"]
    );
    assert!(obj.is_type("System.Object"));
    assert_eq!(
        obj.to_string.as_deref(),
        Some("System.Collections.Hashtable")
    );
    let entries = obj.dictionary().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].0.as_str(), Some("Add"));
    let added = entries[0].1.as_list().unwrap();
    assert_eq!(
        added,
        [Value::from("smtp:a@b.c"), Value::from("smtp:d@e.f")]
    );
    assert_eq!(entries[1], (Value::from("Count"), Value::I32(1)));
    assert_eq!(obj.property("isfixedsize"), Some(&Value::Bool(false)));
    assert_eq!(obj.property("Note"), Some(&Value::Nil));
    round_trip(&Value::from(obj));
}

#[test]
fn enum_object_holds_its_primitive() {
    let xml = r#"<Obj N="x" RefId="0"><TN RefId="0"><T>System.Management.Automation.Runspaces.PSThreadOptions</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Default</ToString><I32>0</I32></Obj>"#;
    let value = parse(xml);
    let obj = value.as_object().unwrap();
    assert_eq!(obj.value, Some(Value::I32(0)));
    assert_eq!(value.to_display_string().as_deref(), Some("Default"));
    round_trip(&value);
}

#[test]
fn collections_of_every_kind() {
    for (tag, kind) in [
        ("LST", CollectionKind::List),
        ("IE", CollectionKind::Enumerable),
        ("STK", CollectionKind::Stack),
        ("QUE", CollectionKind::Queue),
    ] {
        let obj = object(&format!(
            r#"<Obj RefId="0"><{tag}><I32>1</I32><Nil /></{tag}></Obj>"#
        ));
        assert_eq!(
            obj.collection,
            Some(Collection::List(kind, vec![Value::I32(1), Value::Nil]))
        );
        let empty = object(&format!(r#"<Obj RefId="0"><{tag} /></Obj>"#));
        assert_eq!(empty.collection, Some(Collection::List(kind, vec![])));
        round_trip(&Value::from(obj));
    }
    assert_eq!(
        object(r#"<Obj RefId="0"><DCT /></Obj>"#).dictionary(),
        Some(&[][..])
    );
}

#[test]
fn type_name_refs_share_one_list() {
    let xml = r#"<Obj RefId="0"><LST>
        <Obj RefId="1"><TN RefId="0"><T>A</T><T>System.Object</T></TN><ToString>a</ToString></Obj>
        <Obj RefId="2"><TNRef RefId="0" /><ToString>b</ToString></Obj>
    </LST></Obj>"#;
    let value = parse(xml);
    let items = value.as_list().unwrap();
    let (a, b) = (items[0].as_object().unwrap(), items[1].as_object().unwrap());
    assert!(Arc::ptr_eq(&a.type_names, &b.type_names));
    assert_eq!(&*b.type_names, ["A", "System.Object"]);

    let out = to_string(&value);
    assert_eq!(out.matches("<TN ").count(), 1, "{out}");
    assert_eq!(out.matches("<TNRef RefId=\"0\" />").count(), 1, "{out}");
    round_trip(&value);
}

#[test]
fn equal_type_name_lists_are_written_once() {
    let a = PsObject::new().with_type_names(["T1", "System.Object"]);
    let b = PsObject::new().with_type_names(["T1", "System.Object"]);
    let c = PsObject::new().with_type_names(["T2"]);
    let list: Value = PsObject::new()
        .with_list(CollectionKind::List, vec![a.into(), b.into(), c.into()])
        .into();
    assert_eq!(
        to_string(&list),
        concat!(
            r#"<Obj RefId="0"><LST>"#,
            r#"<Obj RefId="1"><TN RefId="0"><T>T1</T><T>System.Object</T></TN></Obj>"#,
            r#"<Obj RefId="2"><TNRef RefId="0" /></Obj>"#,
            r#"<Obj RefId="3"><TN RefId="1"><T>T2</T></TN></Obj>"#,
            r#"</LST></Obj>"#
        )
    );
}

#[test]
fn refs_reproduce_the_earlier_object() {
    let xml = r#"<Obj RefId="0"><MS>
        <Obj N="First" RefId="1"><TN RefId="0"><T>X</T></TN><ToString>x</ToString><Props><S N="P">v</S></Props></Obj>
        <Ref N="Second" RefId="1" />
        <Ref N="Third" RefId="1"></Ref>
    </MS></Obj>"#;
    let obj = object(xml);
    let first = obj.property("First").unwrap();
    assert_eq!(obj.property("Second"), Some(first));
    assert_eq!(obj.property("Third"), Some(first));
    assert_eq!(
        first.as_object().unwrap().property("P"),
        Some(&Value::from("v"))
    );
}

#[test]
fn refs_inside_refs_and_type_name_refs_across_them() {
    let xml = r#"<Obj RefId="0"><LST>
        <Obj RefId="1"><TN RefId="0"><T>X</T></TN><ToString>one</ToString></Obj>
        <Obj RefId="2"><TNRef RefId="0" /><LST><Ref RefId="1" /></LST></Obj>
        <Ref RefId="2" />
    </LST></Obj>"#;
    let value = parse(xml);
    let items = value.as_list().unwrap();
    assert_eq!(items[1], items[2]);
    assert_eq!(items[2].as_list().unwrap()[0], items[0]);
}

#[test]
fn objects_nest() {
    let inner = PsObject::new()
        .with_type_names(["Inner"])
        .with_adapted("N", 5);
    let outer: Value = PsObject::new()
        .with_type_names(["Outer"])
        .with_adapted("Child", inner.clone())
        .with_extended(
            "Kids",
            PsObject::new().with_list(CollectionKind::List, vec![inner.into()]),
        )
        .into();
    round_trip(&outer);
    let obj = outer.as_object().unwrap();
    let child = obj.property("child").unwrap().as_object().unwrap();
    assert_eq!(child.property("N"), Some(&Value::I32(5)));
}

#[test]
fn display_strings() {
    assert_eq!(Value::Nil.to_display_string(), None);
    assert_eq!(Value::from("x").to_display_string().as_deref(), Some("x"));
    assert_eq!(
        Value::Bool(true).to_display_string().as_deref(),
        Some("True")
    );
    assert_eq!(Value::I64(-3).to_display_string().as_deref(), Some("-3"));
    assert_eq!(Value::Char(65).to_display_string().as_deref(), Some("A"));
    assert_eq!(
        Value::Double(0.5).to_display_string().as_deref(),
        Some("0.5")
    );
    let wrapped: Value = PsObject::new().with_value(7).into();
    assert_eq!(wrapped.to_display_string().as_deref(), Some("7"));
    assert_eq!(Value::from(PsObject::new()).to_display_string(), None);
    assert_eq!(Value::from(Some(3u32)), Value::U32(3));
    assert_eq!(Value::from(None::<String>), Value::Nil);
    assert_eq!(Value::U64(u64::MAX).as_i64(), None);
    assert_eq!(Value::U16(7).as_i64(), Some(7));
}

#[test]
fn message_bodies_build_from_values() {
    let body: Value = PsObject::new()
        .with_extended("MinRunspaces", 1)
        .with_extended(
            "PSThreadOptions",
            PsObject::new()
                .with_type_names([
                    "System.Management.Automation.Runspaces.PSThreadOptions",
                    "System.Enum",
                ])
                .with_to_string("Default")
                .with_value(0),
        )
        .with_extended(
            "HostInfo",
            PsObject::new().with_extended("_isHostNull", true),
        )
        .into();
    assert_eq!(
        to_string(&body),
        concat!(
            r#"<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32>"#,
            r#"<Obj N="PSThreadOptions" RefId="1"><TN RefId="0"><T>System.Management.Automation.Runspaces.PSThreadOptions</T><T>System.Enum</T></TN><ToString>Default</ToString><I32>0</I32></Obj>"#,
            r#"<Obj N="HostInfo" RefId="2"><MS><B N="_isHostNull">true</B></MS></Obj>"#,
            r#"</MS></Obj>"#
        )
    );
    let mut shared = String::new();
    let mut serializer = Serializer::new(&mut shared);
    serializer.write_named("A", &PsObject::new().into());
    serializer.write_named("B", &PsObject::new().into());
    assert_eq!(
        shared,
        r#"<Obj N="A" RefId="0"></Obj><Obj N="B" RefId="1"></Obj>"#
    );
}

#[test]
fn export_clixml_documents() {
    let xml = r#"<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj RefId="0"><TN RefId="0"><T>A</T></TN></Obj><Obj RefId="1"><TNRef RefId="0" /></Obj><S>x</S></Objs>"#;
    let values = from_document(xml).unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(values[0], values[1]);
    assert_eq!(from_document("<S>x</S>").unwrap(), vec![Value::from("x")]);
    assert_eq!(error(xml).kind(), &ClixmlErrorKind::DocumentWrapper);
}

#[test]
fn secure_strings_are_refused_without_echoing_them() {
    let e = error(r#"<Obj RefId="0"><MS><SS N="Password">c2VjcmV0</SS></MS></Obj>"#);
    assert_eq!(e.kind(), &ClixmlErrorKind::SecureString);
    assert!(!e.to_string().contains("c2VjcmV0"));
    assert!(e.to_string().contains("SecureString"), "{e}");
}

#[test]
fn errors_name_the_problem_and_place() {
    type Check = fn(&ClixmlErrorKind) -> bool;
    let cases: Vec<(&str, Check)> = vec![
        ("", |k| *k == ClixmlErrorKind::Empty),
        ("   ", |k| *k == ClixmlErrorKind::Empty),
        ("<S>a</S><S>b</S>", |k| {
            *k == ClixmlErrorKind::TrailingContent
        }),
        ("<S>a</S>junk", |k| *k == ClixmlErrorKind::TrailingContent),
        ("junk", |k| {
            matches!(k, ClixmlErrorKind::Unexpected { found: "text", .. })
        }),
        ("<S>a", |k| matches!(k, ClixmlErrorKind::UnexpectedEof("S"))),
        ("<S>a</I32>", |k| matches!(k, ClixmlErrorKind::Xml(_))),
        (
            "<Foo />",
            |k| matches!(k, ClixmlErrorKind::UnknownElement { element, .. } if element == "Foo"),
        ),
        ("<S><B>true</B></S>", |k| {
            matches!(k, ClixmlErrorKind::Unexpected { parent: "S", .. })
        }),
        (
            "<I32>12x</I32>",
            |k| matches!(k, ClixmlErrorKind::InvalidValue { element: "I32", text, .. } if text == "12x"),
        ),
        ("<By>256</By>", |k| {
            matches!(k, ClixmlErrorKind::InvalidValue { element: "By", .. })
        }),
        ("<B>yes</B>", |k| {
            matches!(k, ClixmlErrorKind::InvalidValue { element: "B", .. })
        }),
        ("<G>not-a-guid</G>", |k| {
            matches!(k, ClixmlErrorKind::InvalidValue { element: "G", .. })
        }),
        ("<BA>!!</BA>", |k| {
            matches!(k, ClixmlErrorKind::InvalidValue { element: "BA", .. })
        }),
        ("<Nil>x</Nil>", |k| {
            matches!(k, ClixmlErrorKind::Unexpected { parent: "Nil", .. })
        }),
        (
            "<S>&bogus;</S>",
            |k| matches!(k, ClixmlErrorKind::UnknownEntity(e) if e == "bogus"),
        ),
        (r#"<Obj RefId="0"><Props><S>x</S></Props></Obj>"#, |k| {
            matches!(
                k,
                ClixmlErrorKind::MissingAttribute {
                    element: "S",
                    attribute: "N"
                }
            )
        }),
        (
            r#"<Obj RefId="0"><TNRef RefId="9" /></Obj>"#,
            |k| matches!(k, ClixmlErrorKind::UnknownTypeNameRef(id) if id == "9"),
        ),
        (
            r#"<Obj RefId="0"><LST><Ref RefId="0" /></LST></Obj>"#,
            |k| matches!(k, ClixmlErrorKind::UnknownRef(id) if id == "0"),
        ),
        (r#"<Ref />"#, |k| {
            matches!(k, ClixmlErrorKind::MissingAttribute { element: "Ref", .. })
        }),
        (r#"<Obj RefId="0"><TN><X /></TN></Obj>"#, |k| {
            matches!(k, ClixmlErrorKind::UnknownElement { parent: "TN", .. })
        }),
        (r#"<Obj RefId="0"><LST /><LST /></Obj>"#, |k| {
            matches!(k, ClixmlErrorKind::Duplicate { element: "LST", .. })
        }),
        (r#"<Obj RefId="0"><Blob /></Obj>"#, |k| {
            matches!(k, ClixmlErrorKind::UnknownElement { parent: "Obj", .. })
        }),
        (
            r#"<Obj RefId="0"><DCT><En><S N="Key">k</S></En></DCT></Obj>"#,
            |k| *k == ClixmlErrorKind::MissingEntryPart("Value"),
        ),
        (r#"<Obj RefId="0"><DCT><X /></DCT></Obj>"#, |k| {
            matches!(k, ClixmlErrorKind::UnknownElement { parent: "DCT", .. })
        }),
        (
            r#"<Obj RefId="0"><DCT><En><S N="Other">k</S></En></DCT></Obj>"#,
            |k| matches!(k, ClixmlErrorKind::MissingAttribute { element: "S", .. }),
        ),
        (r#"<Obj RefId="0">text</Obj>"#, |k| {
            matches!(k, ClixmlErrorKind::Unexpected { parent: "Obj", .. })
        }),
    ];
    for (xml, check) in cases {
        let e = error(xml);
        assert!(check(e.kind()), "{xml}: {e:?}");
        assert!(e.position() <= xml.len(), "{xml}: {e:?}");
    }
    let e = error("<S>ok</S>\n<I32>1</I32>");
    assert_eq!(e.position(), 10);
    assert!(e.to_string().contains("byte 10"), "{e}");
    let e = error(r#"<Obj RefId="0"><MS><I32 N="A">x</I32></MS></Obj>"#);
    assert_eq!(e.position(), 19);
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let depth = MAX_DEPTH + 1;
    let xml = format!(
        "{}{}",
        r#"<Obj RefId="0"><LST>"#.repeat(depth),
        "</LST></Obj>".repeat(depth)
    );
    assert_eq!(error(&xml).kind(), &ClixmlErrorKind::TooDeep(MAX_DEPTH));
    let hostile = "<Obj><LST>".repeat(100_000);
    assert_eq!(error(&hostile).kind(), &ClixmlErrorKind::TooDeep(MAX_DEPTH));

    let allowed = MAX_DEPTH - 1;
    let xml = format!(
        "{}<S>deep</S>{}",
        r#"<Obj RefId="0"><LST>"#.repeat(allowed),
        "</LST></Obj>".repeat(allowed)
    );
    assert!(from_str(&xml).is_ok());
}

#[test]
fn reference_amplification_is_bounded() {
    // Each object holds two references to the previous one: 2^40 copies.
    let mut xml =
        String::from(r#"<Obj RefId="0"><LST><Obj RefId="1"><ToString>seed</ToString></Obj>"#);
    for i in 2..42 {
        xml.push_str(&format!(
            r#"<Obj RefId="{i}"><LST><Ref RefId="{p}" /><Ref RefId="{p}" /></LST></Obj>"#,
            p = i - 1
        ));
    }
    xml.push_str("</LST></Obj>");
    assert!(matches!(
        error(&xml).kind(),
        ClixmlErrorKind::RefExpansionLimit(_)
    ));
}

#[test]
fn type_name_lists_are_shared_across_documents() {
    let doc = |name: &str| {
        format!(
            r#"<Obj RefId="0"><TN RefId="0"><T>Shared.Type</T><T>System.Object</T></TN><ToString>{name}</ToString></Obj>"#
        )
    };
    let (a, b) = (object(&doc("a")), object(&doc("b")));
    assert!(Arc::ptr_eq(&a.type_names, &b.type_names));
    let spaced = object(
        r#"<Obj RefId="0"><TN RefId="0"> <T>Shared.Type</T> <T>System.Object</T> </TN></Obj>"#,
    );
    assert_eq!(spaced.type_names, a.type_names);
    let other = object(r#"<Obj RefId="0"><TN RefId="0"><T>Shared.Type</T></TN></Obj>"#);
    assert_eq!(&*other.type_names, ["Shared.Type"]);
}

#[test]
fn type_name_cache_stays_correct_past_its_bound() {
    let padding = "x".repeat(300);
    for round in 0..2 {
        for i in 0..2_000 {
            let xml = format!(r#"<Obj RefId="0"><TN RefId="0"><T>T{i}{padding}</T></TN></Obj>"#);
            let expected = format!("T{i}{padding}");
            assert_eq!(&*object(&xml).type_names, [expected], "round {round}");
        }
    }
}

#[test]
fn errors_inside_type_names_point_into_the_input() {
    let e = error(r#"<Obj RefId="0"><TN RefId="0"><T>a</T><X/></TN></Obj>"#);
    assert!(matches!(
        e.kind(),
        ClixmlErrorKind::UnknownElement { parent: "TN", .. }
    ));
    assert_eq!(e.position(), 37);
    let e = error(r#"<Obj RefId="0"><TN RefId="0"><T>a</T></Obj>"#);
    assert!(matches!(e.kind(), ClixmlErrorKind::Xml(_)), "{e:?}");
}
