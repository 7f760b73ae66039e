//! WinRM message sealing over http: each SOAP body is encrypted with the
//! Kerberos session key (`gss_wrap_iov` with HEADER, DATA, PADDING buffers)
//! and framed as `multipart/encrypted`, exactly as Windows and pypsrp do.
//! Used by the client and by the simulator's acceptor. An AES session is
//! sealed by our own RFC 4121 code ([`crate::krb5::cfx`]), any other by
//! MIT's `gss_wrap_iov` / `gss_unwrap` ([`Sealer`]).
//!
//! ```text
//! --Encrypted Boundary\r\n
//! \tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
//! \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<n>\r\n
//! --Encrypted Boundary\r\n
//! \tContent-Type: application/octet-stream\r\n
//! <u32 LE header length><header><encrypted data>--Encrypted Boundary--\r\n
//! ```

use std::ops::Range;

use crate::krb5::cfx::SEND_HEADER_LEN;
use crate::krb5::Sealer;

pub const BOUNDARY: &str = "Encrypted Boundary";
const ORIGINAL_TYPE: &str = "application/soap+xml;charset=UTF-8";
const OCTET_STREAM_LINE: &[u8] = b"\tContent-Type: application/octet-stream\r\n";

#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    #[error("the sealed body is malformed: {0}")]
    Framing(String),
    #[error("cannot {action} the message: {detail}")]
    Gss {
        action: &'static str,
        detail: String,
    },
}

/// Which HTTP scheme established the context: it names the protocol in
/// the MIME framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `Negotiate` (SPNEGO around Kerberos).
    Spnego,
    /// `Kerberos` (a raw Kerberos GSS token).
    Kerberos,
}

impl Protocol {
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Spnego => "Negotiate",
            Protocol::Kerberos => "Kerberos",
        }
    }

    pub fn from_scheme(scheme: &str) -> Option<Protocol> {
        if scheme.eq_ignore_ascii_case("Negotiate") {
            Some(Protocol::Spnego)
        } else if scheme.eq_ignore_ascii_case("Kerberos") {
            Some(Protocol::Kerberos)
        } else {
            None
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Protocol::Spnego => "application/HTTP-SPNEGO-session-encrypted",
            Protocol::Kerberos => "application/HTTP-Kerberos-session-encrypted",
        }
    }

    /// The HTTP `Content-Type` of a sealed body.
    pub fn content_type(self) -> String {
        format!(
            "multipart/encrypted;protocol=\"{}\";boundary=\"{BOUNDARY}\"",
            self.mime()
        )
    }

    fn from_mime(text: &str) -> Option<Protocol> {
        [Protocol::Spnego, Protocol::Kerberos]
            .into_iter()
            .find(|p| text.eq_ignore_ascii_case(p.mime()))
    }
}

/// Whether an HTTP `Content-Type` announces a sealed body, and with which
/// protocol (`None` for a plain body).
pub fn sealed_protocol(content_type: &str) -> Result<Option<Protocol>, SealingError> {
    let lower = content_type.to_ascii_lowercase();
    if !lower.trim_start().starts_with("multipart/encrypted") {
        return Ok(None);
    }
    let protocol = content_type
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("protocol"))
        .map(|(_, v)| v.trim().trim_matches('"'))
        .ok_or_else(|| SealingError::Framing("multipart/encrypted without a protocol".into()))?;
    Protocol::from_mime(protocol).map(Some).ok_or_else(|| {
        // The server's header text: escaped and capped.
        SealingError::Framing(format!(
            "unsupported protocol '{}'",
            crate::untrusted::line(protocol)
        ))
    })
}

/// The parts of a sealed body, borrowed from it.
#[derive(Debug, PartialEq, Eq)]
pub struct SealedParts<'a> {
    pub protocol: Protocol,
    pub original_type: String,
    pub original_length: usize,
    pub header: &'a [u8],
    pub data: &'a [u8],
}

/// Frames an already wrapped message.
pub fn frame(protocol: Protocol, original_length: usize, header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = frame_start(protocol, original_length, header.len(), data.len());
    body.extend_from_slice(header);
    body.extend_from_slice(data);
    frame_end(&mut body);
    body
}

/// Everything before the wrap token, with room for the token and the
/// closing boundary.
fn frame_start(
    protocol: Protocol,
    original_length: usize,
    header_length: usize,
    data_length: usize,
) -> Vec<u8> {
    let opening = format!(
        "--{BOUNDARY}\r\n\tContent-Type: {}\r\n\tOriginalContent: type={ORIGINAL_TYPE};Length={original_length}\r\n--{BOUNDARY}\r\n",
        protocol.mime()
    );
    let mut body = Vec::with_capacity(
        opening.len() + OCTET_STREAM_LINE.len() + 4 + header_length + data_length + 64,
    );
    body.extend_from_slice(opening.as_bytes());
    body.extend_from_slice(OCTET_STREAM_LINE);
    // A GSS header is tens of bytes; it always fits.
    body.extend_from_slice(
        &u32::try_from(header_length)
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    body
}

fn frame_end(body: &mut Vec<u8>) {
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
}

/// Parses a sealed body. Accepts `--Encrypted Boundary` and the variant
/// `-- Encrypted Boundary` some Exchange builds send.
pub fn parse(body: &[u8]) -> Result<SealedParts<'_>, SealingError> {
    let located = locate(body)?;
    let (header, data) = body[located.token.clone()].split_at(located.header_length);
    Ok(SealedParts {
        protocol: located.protocol,
        original_type: located.original_type,
        original_length: located.original_length,
        header,
        data,
    })
}

/// A sealed body's fields, with the wrap token (header then data) as a
/// range of the body, so it can be decrypted in place.
struct Located {
    protocol: Protocol,
    original_type: String,
    original_length: usize,
    token: Range<usize>,
    header_length: usize,
}

fn locate(body: &[u8]) -> Result<Located, SealingError> {
    let bad = |what: &str| SealingError::Framing(what.to_string());
    let rest = strip_boundary_line(body).ok_or_else(|| bad("no opening boundary"))?;
    // The first part's headers run up to the second boundary line.
    let second = find_boundary(rest).ok_or_else(|| bad("no second boundary"))?;
    let headers = std::str::from_utf8(&rest[..second])
        .map_err(|_| bad("the first part's headers are not text"))?;
    let payload =
        strip_boundary_line(&rest[second..]).ok_or_else(|| bad("broken second boundary"))?;
    let mut protocol = None;
    let mut original_type = None;
    let mut original_length = None;
    for line in headers.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("a header line without ':'"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("Content-Type") {
            protocol = Some(Protocol::from_mime(value).ok_or_else(|| {
                SealingError::Framing(format!(
                    "unsupported protocol '{}'",
                    crate::untrusted::line(value)
                ))
            })?);
        } else if name.eq_ignore_ascii_case("OriginalContent") {
            for field in value.split(';') {
                if let Some((k, v)) = field.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("type") {
                        original_type = Some(v.trim().to_string());
                    } else if k.trim().eq_ignore_ascii_case("Length") {
                        original_length = Some(
                            v.trim()
                                .parse::<usize>()
                                .map_err(|_| bad("OriginalContent Length is not a number"))?,
                        );
                    }
                }
            }
        }
    }
    let protocol = protocol.ok_or_else(|| bad("no protocol Content-Type in the first part"))?;
    let original_length = original_length.ok_or_else(|| bad("no OriginalContent Length"))?;
    // charset=UTF-8 arrives as a separate ';' field: keep the media type.
    let original_type = original_type.unwrap_or_else(|| "application/soap+xml".into());
    let payload = payload
        .strip_prefix(OCTET_STREAM_LINE)
        .ok_or_else(|| bad("the second part is not application/octet-stream"))?;
    let payload = strip_closing(payload).ok_or_else(|| bad("no closing boundary"))?;
    let (length, wrapped) = payload
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("the payload is shorter than its length prefix"))?;
    let header_length = u32::from_le_bytes(*length) as usize;
    if header_length > wrapped.len() {
        return Err(bad("the GSS header length exceeds the payload"));
    }
    // `wrapped` is a subslice of `body`: its offset is a difference of
    // addresses within one allocation.
    let start = wrapped.as_ptr() as usize - body.as_ptr() as usize;
    Ok(Located {
        protocol,
        original_type,
        original_length,
        token: start..start + wrapped.len(),
        header_length,
    })
}

const BOUNDARY_VARIANTS: [&[u8]; 2] = [b"--Encrypted Boundary\r\n", b"-- Encrypted Boundary\r\n"];

fn strip_boundary_line(bytes: &[u8]) -> Option<&[u8]> {
    BOUNDARY_VARIANTS
        .iter()
        .find_map(|b| bytes.strip_prefix(*b))
}

/// The first part's headers are two short lines: the second boundary is
/// looked for only this far, not through megabytes of ciphertext.
const MAX_FIRST_PART: usize = 8 * 1024;

fn find_boundary(bytes: &[u8]) -> Option<usize> {
    let mut first: Option<usize> = None;
    for variant in BOUNDARY_VARIANTS {
        // Past an earlier match, a later one cannot be the first.
        let limit = first
            .map_or(MAX_FIRST_PART, |at| at + variant.len())
            .min(bytes.len());
        if let Some(at) = bytes[..limit]
            .windows(variant.len())
            .position(|w| w == variant)
        {
            first = Some(first.map_or(at, |earlier| earlier.min(at)));
        }
    }
    first
}

fn strip_closing(payload: &[u8]) -> Option<&[u8]> {
    [
        &b"--Encrypted Boundary--\r\n"[..],
        b"-- Encrypted Boundary--\r\n",
        b"--Encrypted Boundary--",
        b"-- Encrypted Boundary--",
    ]
    .iter()
    .find_map(|end| payload.strip_suffix(*end))
}

fn gss_error(action: &'static str) -> impl Fn(libgssapi::error::Error) -> SealingError {
    move |e| SealingError::Gss {
        action,
        detail: e.to_string(),
    }
}

/// Encrypts `plaintext` with the session's sealing and frames it.
pub fn seal(
    sealer: &mut Sealer,
    protocol: Protocol,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealingError> {
    match sealer {
        Sealer::Native(context) => {
            let mut body = frame_start(protocol, plaintext.len(), SEND_HEADER_LEN, plaintext.len());
            context
                .wrap_into(plaintext, &mut body)
                .map_err(|e| SealingError::Gss {
                    action: "seal",
                    detail: e.to_string(),
                })?;
            frame_end(&mut body);
            Ok(body)
        }
        Sealer::Mit(context) => {
            let (header, encrypted) = context.wrap_iov(plaintext).map_err(gss_error("seal"))?;
            Ok(frame(protocol, plaintext.len(), &header, &encrypted))
        }
    }
}

/// Parses, decrypts and checks a sealed body; `expected` is the protocol
/// of the context's scheme. Our own sealing decrypts in the body's memory.
pub fn unseal(
    sealer: &mut Sealer,
    expected: Protocol,
    mut body: Vec<u8>,
) -> Result<Vec<u8>, SealingError> {
    let located = locate(&body)?;
    if located.protocol != expected {
        return Err(SealingError::Framing(format!(
            "sealed with {} but the session uses {}",
            located.protocol.mime(),
            expected.mime()
        )));
    }
    // header || data is the complete (rotated) wrap token, whatever the
    // peer's split between the two.
    let token = located.token;
    let plaintext = match sealer {
        Sealer::Native(context) => {
            let range = context
                .unwrap_in_place(&mut body[token.clone()])
                .map_err(|e| SealingError::Gss {
                    action: "unseal",
                    detail: e.to_string(),
                })?;
            body.truncate(token.start + range.end);
            body.drain(..token.start + range.start);
            body
        }
        Sealer::Mit(context) => context.unwrap(&body[token]).map_err(gss_error("unseal"))?,
    };
    if plaintext.len() != located.original_length {
        return Err(SealingError::Framing(format!(
            "decrypted {} bytes where OriginalContent says {}",
            plaintext.len(),
            located.original_length
        )));
    }
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_matches_the_winrm_layout_byte_for_byte() {
        let body = frame(Protocol::Spnego, 5, b"HDR", b"secret");
        let expected = b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=5\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x03\x00\x00\x00HDRsecret--Encrypted Boundary--\r\n";
        assert_eq!(body, expected.to_vec());
        let parts = parse(&body).unwrap();
        assert_eq!(parts.protocol, Protocol::Spnego);
        assert_eq!(parts.original_length, 5);
        assert_eq!(parts.header, b"HDR");
        assert_eq!(parts.data, b"secret");
    }

    #[test]
    fn the_spaced_boundary_variant_parses() {
        let body = b"-- Encrypted Boundary\r\n\tContent-Type: application/HTTP-Kerberos-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=2\r\n-- Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x02\x00\x00\x00hhdd-- Encrypted Boundary--\r\n";
        let parts = parse(body).unwrap();
        assert_eq!(parts.protocol, Protocol::Kerberos);
        assert_eq!(parts.header, b"hh");
        assert_eq!(parts.data, b"dd");
    }

    #[test]
    fn large_bodies_parse_with_either_boundary_and_long_first_parts_do_not() {
        let data = vec![b'-'; 1 << 20];
        let body = frame(Protocol::Kerberos, 7, b"HDR", &data);
        assert_eq!(parse(&body).unwrap().data.len(), data.len());
        let spaced: Vec<u8> = String::from_utf8(body)
            .unwrap()
            .replace("--Encrypted Boundary", "-- Encrypted Boundary")
            .into_bytes();
        assert_eq!(parse(&spaced).unwrap().header, b"HDR");
        let long = format!(
            "--Encrypted Boundary\r\n\tX-Padding: {}\r\n--Encrypted Boundary\r\n",
            "p".repeat(MAX_FIRST_PART)
        );
        assert!(parse(long.as_bytes()).is_err());
    }

    #[test]
    fn content_types_name_the_protocol() {
        let ct = Protocol::Kerberos.content_type();
        assert_eq!(
            ct,
            "multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\";boundary=\"Encrypted Boundary\""
        );
        assert_eq!(sealed_protocol(&ct).unwrap(), Some(Protocol::Kerberos));
        assert_eq!(
            sealed_protocol(&Protocol::Spnego.content_type()).unwrap(),
            Some(Protocol::Spnego)
        );
        assert_eq!(
            sealed_protocol("application/soap+xml;charset=UTF-8").unwrap(),
            None
        );
        assert!(sealed_protocol("multipart/encrypted;protocol=\"x\"").is_err());
        let error = sealed_protocol("multipart/encrypted;protocol=\"x\u{1b}[2J\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("x\\u{1b}[2J") && !error.contains('\u{1b}'),
            "{error}"
        );
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let good = frame(Protocol::Spnego, 3, b"H", b"abc");
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        let mut long_header = good.clone();
        let at = long_header
            .windows(4)
            .position(|w| w == [1, 0, 0, 0])
            .unwrap();
        long_header[at] = 0xff;
        assert!(parse(&long_header).is_err());
        assert!(parse(b"<s:Envelope/>").is_err());
    }
}
