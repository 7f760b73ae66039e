//! Kerberos contexts through MIT's GSSAPI, and sealing with them.
//!
//! MIT establishes every context (tickets, SPNEGO, mutual authentication).
//! Once established, an aes128- or aes256-cts-hmac-sha1-96 context is
//! exported from MIT and sealed by our own RFC 4121 code over RustCrypto
//! (AES-NI, SHA-NI): Debian's libk5crypto uses table AES and plain SHA-1,
//! several times slower on the ~600 MB of a large export. Any other
//! enctype stays with MIT's `gss_wrap_iov` / `gss_unwrap`.

pub mod cfx;
pub mod context;
pub mod crypto;
mod lucid;

pub use context::{Context, Credential, Mechanism, TargetName};

/// An established context's sealing: ours or MIT's.
#[derive(Debug)]
pub enum Sealer {
    /// Our RFC 4121 implementation (AES with SHA-1).
    Native(Box<cfx::CfxContext>),
    /// MIT's, for other enctypes.
    Mit(Context),
}

impl Sealer {
    /// Whether our own implementation seals this session.
    pub fn is_native(&self) -> bool {
        matches!(self, Sealer::Native(_))
    }
}
