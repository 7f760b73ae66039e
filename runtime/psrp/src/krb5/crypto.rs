//! The RFC 3961 simplified profile with RFC 3962's AES enctypes
//! (aes128-cts-hmac-sha1-96 = 17, aes256-cts-hmac-sha1-96 = 18): n-fold,
//! key derivation (DK), CBC with ciphertext stealing (CS3, zero IV) and
//! HMAC-SHA1-96. AES, CBC, SHA-1 and HMAC are RustCrypto's (AES-NI and
//! SHA-NI detected at run time); only the Kerberos glue is here.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{
    BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit,
};
use aes::{Aes128, Aes256, Block};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

const BLOCK: usize = 16;
/// Bytes MACed and then encrypted (or decrypted and then MACed) at a time:
/// the second pass over a chunk finds it in cache. A multiple of BLOCK.
const CHUNK: usize = 16 * 1024;
/// HMAC-SHA1 truncated to 96 bits.
pub const CHECKSUM_LEN: usize = 12;
/// The random confounder that starts every encrypted message.
pub const CONFOUNDER_LEN: usize = BLOCK;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enctype {
    Aes128CtsHmacSha196,
    Aes256CtsHmacSha196,
}

impl Enctype {
    /// The IANA number (17 or 18).
    pub fn number(self) -> i32 {
        match self {
            Enctype::Aes128CtsHmacSha196 => 17,
            Enctype::Aes256CtsHmacSha196 => 18,
        }
    }

    pub fn from_number(number: i64) -> Option<Enctype> {
        match number {
            17 => Some(Enctype::Aes128CtsHmacSha196),
            18 => Some(Enctype::Aes256CtsHmacSha196),
            _ => None,
        }
    }

    pub fn key_len(self) -> usize {
        match self {
            Enctype::Aes128CtsHmacSha196 => 16,
            Enctype::Aes256CtsHmacSha196 => 32,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("a {expected}-byte key was expected, got {got} bytes")]
    KeyLength { expected: usize, got: usize },
    #[error("the ciphertext is too short ({0} bytes)")]
    TooShort(usize),
    #[error("HMAC refused the integrity key")]
    MacKey,
}

/// An AES key schedule of either size; RustCrypto wipes it on drop.
// Both variants are a few hundred bytes, used in place: no box needed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Cipher {
    Aes128(Aes128),
    Aes256(Aes256),
}

impl Cipher {
    fn new(enctype: Enctype, key: &[u8]) -> Result<Cipher, CryptoError> {
        let wrong = || CryptoError::KeyLength {
            expected: enctype.key_len(),
            got: key.len(),
        };
        if key.len() != enctype.key_len() {
            return Err(wrong());
        }
        Ok(match enctype {
            Enctype::Aes128CtsHmacSha196 => {
                Cipher::Aes128(Aes128::new_from_slice(key).map_err(|_| wrong())?)
            }
            Enctype::Aes256CtsHmacSha196 => {
                Cipher::Aes256(Aes256::new_from_slice(key).map_err(|_| wrong())?)
            }
        })
    }

    fn encrypt_block(&self, block: &mut Block) {
        match self {
            Cipher::Aes128(c) => c.encrypt_block(block),
            Cipher::Aes256(c) => c.encrypt_block(block),
        }
    }

    fn decrypt_block(&self, block: &mut Block) {
        match self {
            Cipher::Aes128(c) => c.decrypt_block(block),
            Cipher::Aes256(c) => c.decrypt_block(block),
        }
    }

    /// CBC over whole blocks in place, chaining from `iv`.
    fn cbc_encrypt(&self, iv: &[u8; BLOCK], blocks: &mut [u8]) {
        debug_assert_eq!(blocks.len() % BLOCK, 0);
        let len = blocks.len();
        // NoPadding on whole blocks cannot fail.
        let _ = match self {
            Cipher::Aes128(c) => cbc::Encryptor::<Aes128>::inner_iv_init(c.clone(), iv.into())
                .encrypt_padded_mut::<NoPadding>(blocks, len),
            Cipher::Aes256(c) => cbc::Encryptor::<Aes256>::inner_iv_init(c.clone(), iv.into())
                .encrypt_padded_mut::<NoPadding>(blocks, len),
        };
    }

    /// CBC decryption in place; RustCrypto runs several AES-NI blocks
    /// in parallel here (CBC decryption does not chain).
    fn cbc_decrypt(&self, iv: &[u8; BLOCK], blocks: &mut [u8]) {
        debug_assert_eq!(blocks.len() % BLOCK, 0);
        let _ = match self {
            Cipher::Aes128(c) => cbc::Decryptor::<Aes128>::inner_iv_init(c.clone(), iv.into())
                .decrypt_padded_mut::<NoPadding>(blocks),
            Cipher::Aes256(c) => cbc::Decryptor::<Aes256>::inner_iv_init(c.clone(), iv.into())
                .decrypt_padded_mut::<NoPadding>(blocks),
        };
    }
}

/// n-fold (RFC 3961 section 5.1): `input` stretched or shrunk to
/// `out_len` bytes by concatenating copies rotated 13 bits further each
/// and adding `out_len`-byte chunks with end-around carry.
pub fn n_fold(input: &[u8], out_len: usize) -> Vec<u8> {
    if input.is_empty() || out_len == 0 {
        return vec![0; out_len];
    }
    let total = lcm(input.len(), out_len);
    let mut stretched = Vec::with_capacity(total);
    for copy in 0..total / input.len() {
        stretched.extend(rotate_right_bits(input, 13 * copy));
    }
    let mut sum = vec![0u8; out_len];
    for chunk in stretched.chunks(out_len) {
        ones_complement_add(&mut sum, chunk);
    }
    sum
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

/// `bytes` as one big-endian bit string rotated right by `bits`.
fn rotate_right_bits(bytes: &[u8], bits: usize) -> Vec<u8> {
    let total = bytes.len() * 8;
    let shift = bits % total;
    let bit = |i: usize| (bytes[i / 8] >> (7 - i % 8)) & 1;
    (0..bytes.len())
        .map(|byte| {
            (0..8).fold(0u8, |acc, b| {
                let to = byte * 8 + b;
                acc << 1 | bit((to + total - shift) % total)
            })
        })
        .collect()
}

/// `sum += chunk` as big-endian ones'-complement numbers.
fn ones_complement_add(sum: &mut [u8], chunk: &[u8]) {
    let mut carry = 0u16;
    for (s, c) in sum.iter_mut().zip(chunk).rev() {
        let v = u16::from(*s) + u16::from(*c) + carry;
        *s = v as u8;
        carry = v >> 8;
    }
    while carry != 0 {
        for s in sum.iter_mut().rev() {
            let v = u16::from(*s) + carry;
            *s = v as u8;
            carry = v >> 8;
            if carry == 0 {
                break;
            }
        }
    }
}

/// DK(base, constant) (RFC 3961 section 5.1): the n-folded constant
/// encrypted, then re-encrypted, until there are enough bytes; AES's
/// random-to-key is the identity.
pub fn derive_key(
    enctype: Enctype,
    base: &[u8],
    constant: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let cipher = Cipher::new(enctype, base)?;
    let mut block = Block::clone_from_slice(&n_fold(constant, BLOCK));
    let mut key = Zeroizing::new(Vec::with_capacity(enctype.key_len() + BLOCK));
    while key.len() < enctype.key_len() {
        // One block of CTS with a zero IV is one block of AES.
        cipher.encrypt_block(&mut block);
        key.extend_from_slice(&block);
    }
    key.truncate(enctype.key_len());
    block.iter_mut().for_each(|b| *b = 0);
    Ok(key)
}

/// The encryption (Ke) and integrity (Ki) keys of one key usage.
#[derive(Clone)]
pub struct UsageKeys {
    ke: Cipher,
    ki: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for UsageKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageKeys(..)")
    }
}

impl UsageKeys {
    /// Ke = DK(key, usage | 0xAA), Ki = DK(key, usage | 0x55).
    pub fn derive(enctype: Enctype, key: &[u8], usage: u32) -> Result<UsageKeys, CryptoError> {
        let constant = |suffix: u8| {
            let mut c = [0u8; 5];
            c[..4].copy_from_slice(&usage.to_be_bytes());
            c[4] = suffix;
            c
        };
        let ke = derive_key(enctype, key, &constant(0xAA))?;
        let ki = derive_key(enctype, key, &constant(0x55))?;
        Ok(UsageKeys {
            ke: Cipher::new(enctype, &ke)?,
            ki,
        })
    }

    /// HMAC-SHA1 keyed with Ki, to feed the plaintext to.
    pub(crate) fn mac(&self) -> Result<Hmac<Sha1>, CryptoError> {
        // HMAC takes a key of any length: this cannot fail.
        <Hmac<Sha1> as Mac>::new_from_slice(&self.ki).map_err(|_| CryptoError::MacKey)
    }

    /// CBC-CS3 encryption in place of `buf` (more than one block),
    /// feeding the plaintext to `mac` on the way.
    pub(crate) fn encrypt_cts(
        &self,
        buf: &mut [u8],
        mac: Option<&mut Hmac<Sha1>>,
    ) -> Result<(), CryptoError> {
        cts_encrypt(&self.ke, buf, mac)
    }

    pub(crate) fn cipher(&self) -> &Cipher {
        &self.ke
    }
}

/// CBC-CS3 (RFC 3962): CBC with a zero IV whose last two blocks are
/// swapped and the last one truncated to the message length. The
/// plaintext goes to `mac` (if any) before it is encrypted.
pub(crate) fn cts_encrypt(
    cipher: &Cipher,
    buf: &mut [u8],
    mut mac: Option<&mut Hmac<Sha1>>,
) -> Result<(), CryptoError> {
    let len = buf.len();
    if len <= BLOCK {
        return Err(CryptoError::TooShort(len));
    }
    let (bulk, last) = cts_split(len);
    let mut chain = [0u8; BLOCK];
    for chunk in buf[..bulk].chunks_mut(CHUNK) {
        if let Some(mac) = mac.as_mut() {
            mac.update(chunk);
        }
        cipher.cbc_encrypt(&chain, chunk);
        chain.copy_from_slice(&chunk[chunk.len() - BLOCK..]);
    }
    let tail = &mut buf[bulk..];
    if let Some(mac) = mac {
        mac.update(tail);
    }
    // X = E(P[n-1] ^ C[n-2]); Y = E((P[n] || 0) ^ X); out: Y || X[..last].
    let mut x = Block::default();
    for ((o, p), c) in x.iter_mut().zip(&tail[..BLOCK]).zip(&chain) {
        *o = p ^ c;
    }
    cipher.encrypt_block(&mut x);
    let mut y = x;
    for (o, p) in y.iter_mut().zip(&tail[BLOCK..]) {
        *o ^= p;
    }
    cipher.encrypt_block(&mut y);
    tail[..BLOCK].copy_from_slice(&y);
    tail[BLOCK..].copy_from_slice(&x[..last]);
    Ok(())
}

/// Where CS3 leaves plain CBC: (bytes of whole blocks before the last
/// two, length of the final partial-or-whole block).
pub(crate) fn cts_split(len: usize) -> (usize, usize) {
    // Callers pass more than one block; saturating keeps anything else
    // from underflowing.
    let blocks = len.div_ceil(BLOCK);
    let bulk = blocks.saturating_sub(2) * BLOCK;
    (bulk, len.saturating_sub(bulk + BLOCK))
}

/// Decrypts, in place, whole CBC blocks chained from `iv`, feeding the
/// plaintext to `mac` (if any); returns the last ciphertext block (the
/// chaining value for what follows).
pub(crate) fn cbc_decrypt_chained(
    cipher: &Cipher,
    iv: &[u8; BLOCK],
    blocks: &mut [u8],
    mut mac: Option<&mut Hmac<Sha1>>,
) -> [u8; BLOCK] {
    let mut chain = *iv;
    for chunk in blocks.chunks_mut(CHUNK) {
        let mut next = [0u8; BLOCK];
        next.copy_from_slice(&chunk[chunk.len() - BLOCK..]);
        cipher.cbc_decrypt(&chain, chunk);
        if let Some(mac) = mac.as_mut() {
            mac.update(chunk);
        }
        chain = next;
    }
    chain
}

/// Decrypts the last two CS3 blocks (`tail`: one whole block, then 1..=16
/// bytes) in place, chained from `chain`.
pub(crate) fn cts_decrypt_tail(
    cipher: &Cipher,
    chain: &[u8; BLOCK],
    tail: &mut [u8],
) -> Result<(), CryptoError> {
    let last = tail.len().saturating_sub(BLOCK);
    if tail.len() <= BLOCK || last > BLOCK {
        return Err(CryptoError::TooShort(tail.len()));
    }
    // Z = D(Y) = (P[n] || 0) ^ X, so X = C*[n-1] || Z[last..].
    let mut z = Block::clone_from_slice(&tail[..BLOCK]);
    cipher.decrypt_block(&mut z);
    let mut x = Block::default();
    x[..last].copy_from_slice(&tail[BLOCK..]);
    x[last..].copy_from_slice(&z[last..]);
    let mut p_last = [0u8; BLOCK];
    for ((o, zb), xb) in p_last.iter_mut().zip(&z).zip(&x).take(last) {
        *o = zb ^ xb;
    }
    let mut p_prev = x;
    cipher.decrypt_block(&mut p_prev);
    for (o, c) in p_prev.iter_mut().zip(chain) {
        *o ^= c;
    }
    tail[..BLOCK].copy_from_slice(&p_prev);
    tail[BLOCK..].copy_from_slice(&p_last[..last]);
    Ok(())
}

/// CBC-CS3 decryption in place of a contiguous buffer.
#[cfg(test)]
pub(crate) fn cts_decrypt(cipher: &Cipher, buf: &mut [u8]) -> Result<(), CryptoError> {
    if buf.len() <= BLOCK {
        return Err(CryptoError::TooShort(buf.len()));
    }
    let (bulk, _) = cts_split(buf.len());
    let (head, tail) = buf.split_at_mut(bulk);
    let chain = cbc_decrypt_chained(cipher, &[0; BLOCK], head, None);
    cts_decrypt_tail(cipher, &chain, tail)
}

#[cfg(test)]
pub(crate) fn cipher_for_tests(enctype: Enctype, key: &[u8]) -> Cipher {
    match Cipher::new(enctype, key) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod tests;
