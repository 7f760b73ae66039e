//! RFC 4121 sealed wrap tokens for an established AES context, from the
//! keys and sequence numbers MIT hands over (see `lucid`).
//!
//! ```text
//! token = TOK_ID 05 04 | flags | FF | EC (u16) | RRC (u16) | SND_SEQ (u64)
//!         | rotate_right(E(confounder | data | filler | header') | HMAC, RRC)
//! ```
//! where header' is the token header with RRC = 0. We send EC = 0 and
//! RRC = 28 (the encrypted header copy and the checksum move in front of
//! the data), as Windows and MIT's `gss_wrap_iov` do for WinRM, so the
//! first 60 bytes are WinRM's "header" and the rest the encrypted data.

use std::ops::Range;

use hmac::Mac;

use super::crypto::{
    cbc_decrypt_chained, cts_decrypt_tail, cts_split, CryptoError, Enctype, UsageKeys,
    CHECKSUM_LEN, CONFOUNDER_LEN,
};

const TOKEN_HEADER_LEN: usize = 16;
const TOK_ID: [u8; 2] = [0x05, 0x04];
const FLAG_SENT_BY_ACCEPTOR: u8 = 0x01;
const FLAG_SEALED: u8 = 0x02;
const FLAG_ACCEPTOR_SUBKEY: u8 = 0x04;
const FILLER: u8 = 0xFF;
/// The right rotation of the tokens we send: header copy + checksum.
const SEND_RRC: usize = TOKEN_HEADER_LEN + CHECKSUM_LEN;
/// What precedes the data in the tokens we send (WinRM's header part).
pub const SEND_HEADER_LEN: usize = TOKEN_HEADER_LEN + SEND_RRC + CONFOUNDER_LEN;
/// Key usages (RFC 4121 section 2).
const KG_USAGE_ACCEPTOR_SEAL: u32 = 22;
const KG_USAGE_INITIATOR_SEAL: u32 = 24;
const AES_BLOCK: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapError {
    #[error("the wrap token is truncated ({0} bytes)")]
    Truncated(usize),
    #[error("not a wrap token (token id {0:02x}{1:02x})")]
    TokenId(u8, u8),
    #[error("the wrap token's filler byte is {0:#04x}, not 0xff")]
    Filler(u8),
    #[error("the wrap token comes from the wrong direction (SentByAcceptor is {0})")]
    Direction(bool),
    #[error("the wrap token is not sealed (integrity only) on a sealed session")]
    NotSealed,
    #[error("the wrap token's AcceptorSubkey flag ({0}) does not match the session")]
    AcceptorSubkey(bool),
    #[error("the wrap token failed its integrity check")]
    Integrity,
    #[error("the encrypted copy of the wrap token header does not match the header")]
    HeaderCopy,
    #[error(
        "out-of-sequence wrap token: expected sequence number {expected}, received {received}"
    )]
    Sequence { expected: u64, received: u64 },
    #[error("no random confounder: {0}")]
    Random(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// One side of an established AES context: its keys for both directions
/// and both sequence numbers. Messages on a WinRM connection are strictly
/// sequential, so anything but the next number is refused.
pub struct CfxContext {
    enctype: Enctype,
    acceptor: bool,
    acceptor_subkey: bool,
    send: UsageKeys,
    receive: UsageKeys,
    send_seq: u64,
    receive_seq: u64,
}

impl std::fmt::Debug for CfxContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CfxContext")
            .field("enctype", &self.enctype)
            .field("acceptor", &self.acceptor)
            .field("acceptor_subkey", &self.acceptor_subkey)
            .field("send_seq", &self.send_seq)
            .field("receive_seq", &self.receive_seq)
            .finish_non_exhaustive()
    }
}

/// Where a context's keys and sequence numbers come from.
pub struct CfxParams<'a> {
    pub enctype: Enctype,
    /// The acceptor subkey if the acceptor asserted one, else the
    /// context key.
    pub key: &'a [u8],
    pub acceptor: bool,
    pub acceptor_subkey: bool,
    pub send_seq: u64,
    pub receive_seq: u64,
}

impl CfxContext {
    pub fn new(params: CfxParams<'_>) -> Result<CfxContext, CryptoError> {
        let (send_usage, receive_usage) = if params.acceptor {
            (KG_USAGE_ACCEPTOR_SEAL, KG_USAGE_INITIATOR_SEAL)
        } else {
            (KG_USAGE_INITIATOR_SEAL, KG_USAGE_ACCEPTOR_SEAL)
        };
        Ok(CfxContext {
            enctype: params.enctype,
            acceptor: params.acceptor,
            acceptor_subkey: params.acceptor_subkey,
            send: UsageKeys::derive(params.enctype, params.key, send_usage)?,
            receive: UsageKeys::derive(params.enctype, params.key, receive_usage)?,
            send_seq: params.send_seq,
            receive_seq: params.receive_seq,
        })
    }

    pub fn enctype(&self) -> Enctype {
        self.enctype
    }

    fn flags(&self) -> u8 {
        let mut flags = FLAG_SEALED;
        if self.acceptor {
            flags |= FLAG_SENT_BY_ACCEPTOR;
        }
        if self.acceptor_subkey {
            flags |= FLAG_ACCEPTOR_SUBKEY;
        }
        flags
    }

    /// Appends the sealed wrap token of `plaintext` to `out`; its first
    /// [`SEND_HEADER_LEN`] bytes are the header, the rest the encrypted
    /// data (as long as the plaintext).
    pub fn wrap_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), WrapError> {
        let mut header = [0u8; TOKEN_HEADER_LEN];
        header[..2].copy_from_slice(&TOK_ID);
        header[2] = self.flags();
        header[3] = FILLER;
        // EC = 0: CTS needs no padding. RRC = 0 in the encrypted copy.
        header[8..].copy_from_slice(&self.send_seq.to_be_bytes());
        let mut confounder = [0u8; CONFOUNDER_LEN];
        getrandom::fill(&mut confounder).map_err(|e| WrapError::Random(e.to_string()))?;

        let start = out.len();
        out.reserve(SEND_HEADER_LEN + plaintext.len() + TOKEN_HEADER_LEN);
        out.extend_from_slice(&header[..6]);
        out.extend_from_slice(&(SEND_RRC as u16).to_be_bytes());
        out.extend_from_slice(&header[8..]);
        // Room for the rotated tail: the last cipher block and the checksum.
        out.resize(start + TOKEN_HEADER_LEN + SEND_RRC, 0);
        let body = out.len();
        out.extend_from_slice(&confounder);
        out.extend_from_slice(plaintext);
        out.extend_from_slice(&header);

        let mut mac = self.send.mac()?;
        self.send.encrypt_cts(&mut out[body..], Some(&mut mac))?;
        let checksum = mac.finalize().into_bytes();
        let end = out.len();
        let (front, last_block) = out.split_at_mut(end - TOKEN_HEADER_LEN);
        let slot = &mut front[start + TOKEN_HEADER_LEN..body];
        slot[..TOKEN_HEADER_LEN].copy_from_slice(last_block);
        slot[TOKEN_HEADER_LEN..].copy_from_slice(&checksum[..CHECKSUM_LEN]);
        out.truncate(end - TOKEN_HEADER_LEN);
        self.send_seq = self.send_seq.wrapping_add(1);
        Ok(())
    }

    /// Checks and decrypts a sealed wrap token in place (any EC and RRC);
    /// returns where the plaintext now is within `token`.
    pub fn unwrap_in_place(&mut self, token: &mut [u8]) -> Result<Range<usize>, WrapError> {
        let min = TOKEN_HEADER_LEN + CONFOUNDER_LEN + TOKEN_HEADER_LEN + CHECKSUM_LEN;
        if token.len() < min {
            return Err(WrapError::Truncated(token.len()));
        }
        let (head, rest) = token.split_at_mut(TOKEN_HEADER_LEN);
        let mut header = [0u8; TOKEN_HEADER_LEN];
        header.copy_from_slice(head);
        self.check_header(&header)?;
        let ec = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let rrc = usize::from(u16::from_be_bytes([header[6], header[7]]));
        let received = u64::from_be_bytes([
            header[8], header[9], header[10], header[11], header[12], header[13], header[14],
            header[15],
        ]);
        let len = rest.len();
        let overhead = CONFOUNDER_LEN + ec + TOKEN_HEADER_LEN + CHECKSUM_LEN;
        if len < overhead {
            return Err(WrapError::Truncated(token.len()));
        }
        let data_len = len - overhead;

        // `rest` is the rotated (ciphertext | checksum), U: U[i] is
        // rest[(i + rrc) % len]. With a rotation no larger than the filler,
        // header copy and checksum (28 for what Windows and MIT send), the
        // confounder and data are contiguous at rest[rrc..]; anything else
        // is undone by moving bytes.
        let mut rrc = rrc % len;
        if rrc > ec + TOKEN_HEADER_LEN + CHECKSUM_LEN {
            rest.rotate_left(rrc);
            rrc = 0;
        }
        let cipher_len = len - CHECKSUM_LEN;
        let (bulk, _) = cts_split(cipher_len);
        // Plain CBC blocks decrypted where they lie.
        let in_place = bulk.min((len - rrc) / AES_BLOCK * AES_BLOCK);
        let cipher = self.receive.cipher();
        let mut mac = self.receive.mac()?;
        let chain = cbc_decrypt_chained(
            cipher,
            &[0; AES_BLOCK],
            &mut rest[rrc..rrc + in_place],
            Some(&mut mac),
        );
        // The rest of U (the last blocks and the checksum), gathered.
        let mut tail: Vec<u8> = (in_place..len).map(|i| rest[(i + rrc) % len]).collect();
        let (tail_text, checksum) = tail.split_at_mut(cipher_len - in_place);
        let (middle, last_two) = tail_text.split_at_mut(bulk - in_place);
        let chain = cbc_decrypt_chained(cipher, &chain, middle, Some(&mut mac));
        cts_decrypt_tail(cipher, &chain, last_two)?;
        mac.update(last_two);
        mac.verify_truncated_left(checksum)
            .map_err(|_| WrapError::Integrity)?;
        // The copy's RRC is not compared (it is rotated after sealing);
        // its EC is, or a changed EC could cut the end off the data.
        let copy = &tail_text[tail_text.len() - TOKEN_HEADER_LEN..];
        if copy[..6] != header[..6] || copy[8..] != header[8..] {
            return Err(WrapError::HeaderCopy);
        }
        if received != self.receive_seq {
            return Err(WrapError::Sequence {
                expected: self.receive_seq,
                received,
            });
        }
        self.receive_seq = self.receive_seq.wrapping_add(1);

        let data_end = CONFOUNDER_LEN + data_len;
        if data_end > in_place {
            rest[rrc + in_place..rrc + data_end].copy_from_slice(&tail_text[..data_end - in_place]);
        }
        let start = TOKEN_HEADER_LEN + rrc + CONFOUNDER_LEN;
        Ok(start..start + data_len)
    }

    fn check_header(&self, header: &[u8; TOKEN_HEADER_LEN]) -> Result<(), WrapError> {
        if header[..2] != TOK_ID {
            return Err(WrapError::TokenId(header[0], header[1]));
        }
        let flags = header[2];
        if header[3] != FILLER {
            return Err(WrapError::Filler(header[3]));
        }
        let from_acceptor = flags & FLAG_SENT_BY_ACCEPTOR != 0;
        if from_acceptor == self.acceptor {
            return Err(WrapError::Direction(from_acceptor));
        }
        if flags & FLAG_SEALED == 0 {
            return Err(WrapError::NotSealed);
        }
        let subkey = flags & FLAG_ACCEPTOR_SUBKEY != 0;
        if subkey != self.acceptor_subkey {
            return Err(WrapError::AcceptorSubkey(subkey));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "cfx_tests.rs"]
mod tests;
