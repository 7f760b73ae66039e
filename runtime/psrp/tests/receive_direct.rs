//! A Receive response read in place (wsman/receive.rs) against the element
//! tree: wherever the direct reader answers, the tree answers the same; on
//! anything unusual the direct reader must leave the answer to the tree.

#![allow(clippy::unwrap_used)]

use idconn_psrp::wsman::client::{self as ws, ReceiveResponse};
use idconn_psrp::wsman::receive::receive_response_direct;
use idconn_psrp::wsman::server::ReceiveResponseBuilder;
use proptest::prelude::*;

const COMMAND: &str = "1A6F2A30-8D4C-4C66-9A1B-8B0D2C5E7F10";

fn tree(body: &str) -> Result<ReceiveResponse, idconn_psrp::wsman::WsmanError> {
    ws::parse_response(body.as_bytes()).and_then(|root| ws::receive_response(&root))
}

fn direct(body: &str) -> Option<ReceiveResponse> {
    receive_response_direct(body.as_bytes(), Vec::new)
}

/// A response as the simulator writes it, with `streams` fragments.
fn built(streams: &[&[u8]], done: bool) -> String {
    let mut builder =
        ReceiveResponseBuilder::new("uuid:5F0C2F9C-0000-4000-8000-000000000001", Some(COMMAND));
    for data in streams {
        builder.push_stream(data);
    }
    builder.finish(done)
}

#[test]
fn the_plain_responses_are_read_in_place() {
    let big = vec![7u8; 300_000];
    for body in [
        built(&[], false),
        built(&[b"abc"], false),
        built(&[b"one", b"two", &big], true),
        built(&[&[]], true),
    ] {
        let read = direct(&body).expect("a plain response is read in place");
        assert_eq!(Ok(read), tree(&body));
    }
    let read = direct(&built(&[b"one", b"two"], true)).unwrap();
    assert_eq!(read.streams.len(), 2);
    assert_eq!(read.streams[1].data, b"two");
    assert_eq!(read.streams[1].command_id.as_deref(), Some(COMMAND));
    let state = read.command_state.unwrap();
    assert!(state.is_done());
    assert_eq!(state.exit_code, Some(0));
}

/// Shapes the direct reader leaves to the tree, each with what the tree
/// makes of it.
#[test]
fn unusual_shapes_are_left_to_the_tree() {
    let plain = built(&[b"data"], true);
    let encoded = "ZGF0YQ==";
    let cases = [
        // A fault.
        plain.replace(
            "<rsp:ReceiveResponse>",
            "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code></s:Fault><rsp:ReceiveResponse>",
        ),
        // Text the tree would unescape or unwrap.
        plain.replace(encoded, "ZGF0&#89;Q=="),
        plain.replace(encoded, "<![CDATA[ZGF0YQ==]]>"),
        plain.replace(encoded, "ZGF0<!-- x -->YQ=="),
        // An element the tree would ignore.
        plain.replace("<rsp:ReceiveResponse>", "<rsp:ReceiveResponse><rsp:Other/>"),
        // No ReceiveResponse at all.
        plain.replace("rsp:ReceiveResponse", "rsp:SomethingElse"),
        // Not base64.
        plain.replace(encoded, "not base64!"),
        // Malformed.
        plain.replace("</rsp:Stream>", "</rsp:Strem>"),
        plain[..plain.len() - 20].to_string(),
    ];
    for (i, body) in cases.iter().enumerate() {
        assert!(direct(body).is_none(), "case {i} was read in place: {body}");
    }
    // The tree still reads the ones it can.
    assert_eq!(tree(&cases[1]).unwrap().streams[0].data, b"data");
    assert_eq!(tree(&cases[2]).unwrap().streams[0].data, b"data");
    assert!(tree(&cases[0]).is_err() && tree(&cases[6]).is_err() && tree(&cases[7]).is_err());
}

/// Whitespace around the base64, other prefixes, an exit code with spaces
/// and a Header with content are all plain.
#[test]
fn prefixes_and_whitespace_read_as_the_tree_reads_them() {
    let body = concat!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
        "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" ",
        "xmlns:w=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\">\n",
        "<env:Header><a:Action xmlns:a=\"urn:x\" a:mustUnderstand=\"true\">x &amp; y</a:Action></env:Header>\n",
        "<env:Body><w:ReceiveResponse>\n",
        "  <w:Stream Name=\"stdout\" CommandId=\"A&amp;B\">\r\n ZGF0YQ== \n</w:Stream>\n",
        "  <w:CommandState CommandId=\"A\" State=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done\">",
        "<w:ExitCode> 3 </w:ExitCode></w:CommandState>\n",
        "</w:ReceiveResponse></env:Body></env:Envelope>"
    );
    // The Header's entity is inside a skipped element's text: left to the tree.
    assert!(direct(body).is_none());
    let body = body.replace("x &amp; y", "x and y");
    let read = direct(&body).unwrap();
    assert_eq!(Ok(read.clone()), tree(&body));
    assert_eq!(read.streams[0].data, b"data");
    assert_eq!(read.streams[0].command_id.as_deref(), Some("A&B"));
    assert_eq!(read.command_state.unwrap().exit_code, Some(3));
}

/// Pieces a mutation inserts: markup that shifts the structure.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "<",
            ">",
            "/",
            "&",
            ";",
            "\"",
            "'",
            "=",
            " ",
            "\r",
            "\n",
            "\u{a0}",
            "\u{2003}",
            "\0",
            "&amp;",
            "&#65;",
            "&lt;",
            "&bogus;",
            "<![CDATA[x]]>",
            "<!-- c -->",
            "<?pi x?>",
            "<rsp:Stream>",
            "</rsp:Stream>",
            "<rsp:Stream Name=\"stdout\"/>",
            "<rsp:CommandState State=\"x\"/>",
            "<rsp:ExitCode>1</rsp:ExitCode>",
            "<s:Fault/>",
            "<s:Body>",
            "</s:Body>",
            "<s:Header/>",
            " Name=\"n\"",
            " Name=\"m\"",
            " xmlns:rsp=\"urn:other\"",
            " xmlns=\"urn:default\"",
            "ZGF0YQ==",
            "====",
            "\u{1F600}",
        ])
        .prop_map(String::from),
        "[A-Za-z0-9+/=]{1,8}",
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, String),
    Delete(usize, usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), piece()).prop_map(|(at, s)| Mutation::Insert(at, s)),
        (any::<usize>(), 1usize..12).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), 1usize..60).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
    ]
}

/// The nearest char boundary at or before `at` (wrapped into the text).
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(mut text: String, mutations: &[Mutation]) -> String {
    for m in mutations {
        match m {
            Mutation::Insert(at, piece) => {
                let at = boundary(&text, *at);
                text.insert_str(at, piece);
            }
            Mutation::Delete(at, n) => {
                let start = boundary(&text, *at);
                let end = boundary(&text, start + n);
                text.replace_range(start..end.max(start), "");
            }
            Mutation::Duplicate(at, n) => {
                let start = boundary(&text, *at);
                let end = boundary(&text, start + n).max(start);
                let copy = text[start..end].to_string();
                text.insert_str(end, &copy);
            }
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Wherever the direct reader answers, the tree gives the same answer.
    #[test]
    fn the_direct_reader_never_disagrees_with_the_tree(
        streams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4),
        done in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 0..4),
    ) {
        let slices: Vec<&[u8]> = streams.iter().map(Vec::as_slice).collect();
        let body = apply(built(&slices, done), &mutations);
        if let Some(read) = direct(&body) {
            prop_assert_eq!(Ok(read), tree(&body), "{}", body);
        }
        if mutations.is_empty() {
            prop_assert!(direct(&body).is_some());
        }
    }
}
