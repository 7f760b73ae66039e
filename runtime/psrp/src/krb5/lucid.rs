//! Getting an established context's keys and sequence numbers out of MIT:
//! the session key's enctype (`GSS_C_INQ_SSPI_SESSION_KEY`, which leaves
//! the context alone) and the "lucid" export (which destroys it).

use std::ffi::c_void;
use std::ptr;

use libgssapi_sys::{
    gss_buffer_set_t, gss_ctx_id_t, gss_inquire_sec_context_by_oid, gss_release_buffer_set,
    OM_uint32, GSS_C_INQ_SSPI_SESSION_KEY,
};
use zeroize::Zeroizing;

use super::cfx::{CfxContext, CfxParams};
use super::crypto::Enctype;

/// `gss_krb5_lucid_key_t` (gssapi/gssapi_krb5.h).
#[repr(C)]
struct LucidKey {
    enctype: OM_uint32,
    length: OM_uint32,
    data: *mut c_void,
}

/// `gss_krb5_rfc1964_keydata_t`: only there for the layout.
#[repr(C)]
struct Rfc1964KeyData {
    sign_alg: OM_uint32,
    seal_alg: OM_uint32,
    ctx_key: LucidKey,
}

/// `gss_krb5_cfx_keydata_t`.
#[repr(C)]
struct CfxKeyData {
    have_acceptor_subkey: OM_uint32,
    ctx_key: LucidKey,
    acceptor_subkey: LucidKey,
}

/// `gss_krb5_lucid_context_v1_t`.
#[repr(C)]
struct LucidContextV1 {
    version: OM_uint32,
    initiate: OM_uint32,
    endtime: OM_uint32,
    send_seq: u64,
    recv_seq: u64,
    protocol: OM_uint32,
    rfc1964_kd: Rfc1964KeyData,
    cfx_kd: CfxKeyData,
}

// The library is linked by libgssapi-sys (gssapi_krb5).
extern "C" {
    fn gss_krb5_export_lucid_sec_context(
        minor_status: *mut OM_uint32,
        context_handle: *mut gss_ctx_id_t,
        version: OM_uint32,
        kctx: *mut *mut c_void,
    ) -> OM_uint32;

    fn gss_krb5_free_lucid_sec_context(
        minor_status: *mut OM_uint32,
        kctx: *mut c_void,
    ) -> OM_uint32;
}

/// MIT's GSS_KRB5_SESSION_KEY_ENCTYPE_OID, 1.2.840.113554.1.2.2.4: the
/// session key's OID is this followed by the enctype as one more arc.
const SESSION_KEY_ENCTYPE_PREFIX: [u8; 10] =
    [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x04];

/// The enctype of the key that protects wrap tokens (the acceptor subkey
/// if any, else the initiator's subkey or the session key), when it is one
/// we seal ourselves.
pub(super) fn supported_enctype(handle: gss_ctx_id_t) -> Option<Enctype> {
    enctype_number(handle).and_then(Enctype::from_number)
}

fn enctype_number(handle: gss_ctx_id_t) -> Option<i64> {
    let mut minor = 0;
    let mut set: gss_buffer_set_t = ptr::null_mut();
    // SAFETY: the handle is a live, established context; the OID is MIT's
    // static; `set` receives a buffer set we release below.
    let major = unsafe {
        gss_inquire_sec_context_by_oid(&mut minor, handle, GSS_C_INQ_SSPI_SESSION_KEY, &mut set)
    };
    let mut number = None;
    if major == 0 && !set.is_null() {
        // SAFETY: MIT returned a buffer set of `count` buffers; element 0
        // is the key (not read), element 1 the enctype's OID.
        unsafe {
            let set = &*set;
            if set.count >= 2 && !set.elements.is_null() {
                let oid = &*set.elements.add(1);
                if !oid.value.is_null() {
                    let bytes = std::slice::from_raw_parts(oid.value as *const u8, oid.length);
                    number = parse_enctype_oid(bytes);
                }
            }
        }
    }
    if !set.is_null() {
        let mut release_minor = 0;
        // SAFETY: the set was allocated by MIT (the key inside included).
        unsafe {
            gss_release_buffer_set(&mut release_minor, &mut set);
        }
    }
    number
}

/// The enctype arc after MIT's prefix (base 128, high bit = more).
fn parse_enctype_oid(oid: &[u8]) -> Option<i64> {
    let arc = oid.strip_prefix(&SESSION_KEY_ENCTYPE_PREFIX)?;
    if arc.is_empty() || arc.len() > 4 {
        return None;
    }
    let mut value: i64 = 0;
    for (i, byte) in arc.iter().enumerate() {
        value = value << 7 | i64::from(byte & 0x7f);
        let last = i == arc.len() - 1;
        if (byte & 0x80 == 0) != last {
            return None;
        }
    }
    Some(value)
}

#[derive(Debug, thiserror::Error)]
pub(super) enum ExportError {
    /// MIT refused to export; the context is untouched.
    #[error("gss_krb5_export_lucid_sec_context failed ({0})")]
    Refused(libgssapi::error::Error),
    /// The export happened (the context is gone) but does not fit.
    #[error("{0}")]
    Unusable(String),
}

/// Exports the context (MIT deletes it and nulls `handle`) into our own
/// sealing. `acceptor` is our role, checked against MIT's.
pub(super) fn export(handle: &mut gss_ctx_id_t, acceptor: bool) -> Result<CfxContext, ExportError> {
    let mut minor = 0;
    let mut lucid: *mut c_void = ptr::null_mut();
    // SAFETY: `handle` is a live, established context; on success MIT
    // deletes it, sets it to GSS_C_NO_CONTEXT and gives us `lucid`.
    let major = unsafe { gss_krb5_export_lucid_sec_context(&mut minor, handle, 1, &mut lucid) };
    if major != 0 || lucid.is_null() {
        return Err(ExportError::Refused(super::context::failure(major, minor)));
    }
    // SAFETY: MIT returned a version-1 lucid context (we asked for 1 and
    // check the version field before trusting the rest).
    let result = unsafe { from_lucid(&*(lucid as *const LucidContextV1), acceptor) };
    let mut free_minor = 0;
    // SAFETY: frees the lucid context MIT allocated (it wipes the keys).
    unsafe {
        gss_krb5_free_lucid_sec_context(&mut free_minor, lucid);
    }
    result
}

/// # Safety
/// The key pointers of `lucid` point at `length` readable bytes.
unsafe fn from_lucid(lucid: &LucidContextV1, acceptor: bool) -> Result<CfxContext, ExportError> {
    let unusable = |what: String| Err(ExportError::Unusable(what));
    if lucid.version != 1 {
        return unusable(format!("lucid context version {}", lucid.version));
    }
    if lucid.protocol != 1 {
        return unusable("an RFC 1964 (pre-CFX) context".into());
    }
    if (lucid.initiate == 0) != acceptor {
        return unusable("the context's role differs from ours".into());
    }
    let have_acceptor_subkey = lucid.cfx_kd.have_acceptor_subkey != 0;
    let key = if have_acceptor_subkey {
        &lucid.cfx_kd.acceptor_subkey
    } else {
        &lucid.cfx_kd.ctx_key
    };
    let Some(enctype) = Enctype::from_number(i64::from(key.enctype)) else {
        return unusable(format!("enctype {}", key.enctype));
    };
    if key.data.is_null() || key.length as usize != enctype.key_len() {
        return unusable(format!(
            "a {}-byte key for enctype {}",
            key.length, key.enctype
        ));
    }
    // SAFETY: per this function's contract, `data` holds `length` bytes.
    let bytes = Zeroizing::new(
        unsafe { std::slice::from_raw_parts(key.data as *const u8, key.length as usize) }.to_vec(),
    );
    CfxContext::new(CfxParams {
        enctype,
        key: &bytes,
        acceptor,
        acceptor_subkey: have_acceptor_subkey,
        send_seq: lucid.send_seq,
        receive_seq: lucid.recv_seq,
    })
    .map_err(|e| ExportError::Unusable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enctype_oids_parse() {
        let oid = |arc: &[u8]| [&SESSION_KEY_ENCTYPE_PREFIX[..], arc].concat();
        assert_eq!(parse_enctype_oid(&oid(&[18])), Some(18));
        assert_eq!(parse_enctype_oid(&oid(&[17])), Some(17));
        assert_eq!(parse_enctype_oid(&oid(&[0x81, 0x00])), Some(128));
        assert_eq!(parse_enctype_oid(&oid(&[])), None);
        assert_eq!(parse_enctype_oid(&oid(&[0x81])), None);
        assert_eq!(parse_enctype_oid(&oid(&[1, 2])), None);
        assert_eq!(parse_enctype_oid(&[0x2a, 0x86, 18]), None);
    }
}
