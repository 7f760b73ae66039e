//! A Receive response read straight from the body, without building the
//! element tree: an export's every Receive brings half a megabyte of base64,
//! which the tree would validate as UTF-8 and copy into a `String` before
//! the base64 decoder reads it (5% of an export's CPU). Here the decoder
//! reads the body's bytes in place, into buffers the caller recycles.
//!
//! This reader knows only the plain shape of a Receive response (MS-WSMV
//! 2.2.4.27: `rsp:ReceiveResponse` holding `rsp:Stream` elements of base64
//! and an optional `rsp:CommandState` with its `rsp:ExitCode`), as every
//! Windows server in the pypsrp recordings writes it. Anything
//! else (a fault, an element it does not expect, text it would have to
//! unescape, malformed XML) makes it answer `None`, and the caller parses
//! the tree ([`super::client::receive_response`]), which gives the answer or
//! the precise error. So where this reader answers, the tree's answer is the
//! same: `tests` hold it to that on every mutation of a real response.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::client::{CommandState, ReceiveResponse, ReceivedStream};
use super::xml::MAX_NODES;
use super::{NS_SHELL, NS_SOAP};

/// As the tree's nesting limit.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Envelope,
    /// Inside the Header (or any element under it), skipped.
    Skipped,
    Body,
    Response,
    Stream,
    CommandState,
    ExitCode,
}

/// What the element being read collects.
#[derive(Default)]
struct Open<'b> {
    stream: Option<ReceivedStream>,
    /// The stream's one text run, in the body, not yet decoded.
    text: Option<&'b [u8]>,
}

/// The Receive response in `body`, stream data decoded into buffers from
/// `buffer` (each returned empty); `None` when the tree must decide.
pub fn receive_response_direct(
    body: &[u8],
    mut buffer: impl FnMut() -> Vec<u8>,
) -> Option<ReceiveResponse> {
    let mut reader = NsReader::from_reader(body);
    let mut stack: Vec<Level> = Vec::new();
    let mut nodes = 0usize;
    let mut out = ReceiveResponse::default();
    let (mut seen_header, mut seen_body, mut seen_response) = (false, false, false);
    let mut open = Open::default();
    let mut exit_code: Option<&[u8]> = None;
    loop {
        let (resolved, event) = reader.read_resolved_event().ok()?;
        let namespace: &[u8] = match resolved {
            ResolveResult::Bound(ns) => ns.0,
            _ => b"",
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let empty = matches!(event, Event::Empty(_));
                nodes += 1 + checked_attributes(start)?;
                if nodes > MAX_NODES || stack.len() >= MAX_DEPTH {
                    return None;
                }
                let local = start.local_name();
                let (soap, shell) = (
                    namespace == NS_SOAP.as_bytes(),
                    namespace == NS_SHELL.as_bytes(),
                );
                let level = match (stack.last(), local.as_ref()) {
                    (None, b"Envelope") if soap => Level::Envelope,
                    (Some(Level::Envelope), b"Header") if soap && !seen_header && !seen_body => {
                        seen_header = true;
                        Level::Skipped
                    }
                    (Some(Level::Envelope), b"Body") if soap && !seen_body => {
                        seen_body = true;
                        Level::Body
                    }
                    (Some(Level::Skipped), _) => Level::Skipped,
                    (Some(Level::Body), b"ReceiveResponse") if shell && !seen_response => {
                        seen_response = true;
                        Level::Response
                    }
                    (Some(Level::Response), b"Stream") if shell => {
                        open.stream = Some(ReceivedStream {
                            name: attribute(start, b"Name")?.unwrap_or_default(),
                            command_id: attribute(start, b"CommandId")?,
                            data: buffer(),
                        });
                        open.text = None;
                        Level::Stream
                    }
                    (Some(Level::Response), b"CommandState")
                        if shell && out.command_state.is_none() =>
                    {
                        out.command_state = Some(CommandState {
                            command_id: attribute(start, b"CommandId")?,
                            state: attribute(start, b"State")?.unwrap_or_default(),
                            exit_code: None,
                        });
                        Level::CommandState
                    }
                    (Some(Level::CommandState), b"ExitCode") if shell && exit_code.is_none() => {
                        exit_code = Some(b"");
                        Level::ExitCode
                    }
                    // A fault, a second Body, an element the tree would
                    // ignore or read differently: the tree decides.
                    _ => return None,
                };
                if empty {
                    close(level, &mut open, &mut out)?;
                    if stack.is_empty() {
                        return finish(out, exit_code, seen_response);
                    }
                } else {
                    stack.push(level);
                }
            }
            Event::End(_) => {
                let level = stack.pop()?;
                close(level, &mut open, &mut out)?;
                if stack.is_empty() {
                    return finish(out, exit_code, seen_response);
                }
            }
            Event::Text(text) => {
                let bytes: &[u8] = &text;
                match stack.last() {
                    Some(Level::Stream) if open.text.is_none() => {
                        // Decoded in place from `body` when the stream ends.
                        open.text = Some(slice_of(body, bytes)?);
                    }
                    Some(Level::ExitCode) if exit_code == Some(b"") => {
                        std::str::from_utf8(bytes).ok()?;
                        exit_code = Some(slice_of(body, bytes)?);
                    }
                    // The tree keeps every element's text as UTF-8.
                    Some(Level::Envelope | Level::Skipped | Level::Body | Level::Response)
                    | Some(Level::CommandState)
                    | None => {
                        std::str::from_utf8(bytes).ok()?;
                    }
                    _ => return None,
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            // Entities and CDATA: the tree resolves them (or refuses them).
            Event::CData(_) | Event::GeneralRef(_) | Event::Eof => return None,
        }
    }
}

/// The response with its exit code, as the tree reads it.
fn finish(
    mut out: ReceiveResponse,
    exit_code: Option<&[u8]>,
    seen_response: bool,
) -> Option<ReceiveResponse> {
    // A response without a ReceiveResponse is the tree's to refuse.
    if !seen_response {
        return None;
    }
    if let (Some(state), Some(code)) = (&mut out.command_state, exit_code) {
        state.exit_code = std::str::from_utf8(code).ok()?.trim().parse().ok();
    }
    Some(out)
}

/// Closes an element: a stream's text is decoded into its buffer.
fn close(level: Level, open: &mut Open<'_>, out: &mut ReceiveResponse) -> Option<()> {
    if level == Level::Stream {
        let mut stream = open.stream.take()?;
        if let Some(text) = open.text.take() {
            let text = text.trim_ascii();
            base64_simd::STANDARD
                .decode_append(text, &mut stream.data)
                .ok()?;
        }
        out.streams.push(stream);
    }
    Some(())
}

/// `bytes`, borrowed from `body`, as a slice of `body` itself.
fn slice_of<'a>(body: &'a [u8], bytes: &[u8]) -> Option<&'a [u8]> {
    let start = (bytes.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    body.get(start..start.checked_add(bytes.len())?)
}

/// Counts the attributes the tree would keep, checking every one as the
/// tree does (duplicates, escapes); `None` where the tree would fail.
fn checked_attributes(start: &BytesStart<'_>) -> Option<usize> {
    let mut kept = 0;
    for attribute in start.attributes() {
        let attribute = attribute.ok()?;
        if attribute.key.as_ref().starts_with(b"xmlns") {
            continue;
        }
        attribute.unescape_value().ok()?;
        kept += 1;
    }
    Some(kept)
}

/// The first attribute with this local name, unescaped, as the tree's
/// `Element::attr` finds it.
fn attribute(start: &BytesStart<'_>, local: &[u8]) -> Option<Option<String>> {
    for attribute in start.attributes() {
        let attribute = attribute.ok()?;
        let key = attribute.key;
        if key.as_ref().starts_with(b"xmlns") || key.local_name().as_ref() != local {
            continue;
        }
        return Some(Some(attribute.unescape_value().ok()?.into_owned()));
    }
    Some(None)
}
