//! A GSSAPI security context over MIT's C API (`libgssapi-sys`): the
//! initiator and acceptor loops, the peer's name, and MIT's own sealing for
//! sessions we do not seal ourselves. We own the raw `gss_ctx_id_t` so an
//! established AES context can be handed to [`super::cfx`] (see
//! [`Context::into_sealer`]).

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use libgssapi::error::{Error as GssError, MajorFlags};
use libgssapi_sys::{
    gss_OID_desc, gss_accept_sec_context, gss_buffer_desc, gss_cred_id_t, gss_ctx_id_t,
    gss_delete_sec_context, gss_display_name, gss_import_name, gss_init_sec_context,
    gss_inquire_context, gss_iov_buffer_desc, gss_name_t, gss_release_buffer, gss_release_cred,
    gss_release_iov_buffer, gss_release_name, gss_unwrap, gss_wrap_iov, OM_uint32,
    _GSS_C_INDEFINITE, _GSS_S_CONTINUE_NEEDED, _GSS_S_DEFECTIVE_TOKEN, _GSS_S_FAILURE,
    _GSS_S_NO_CONTEXT, GSS_C_CONF_FLAG, GSS_C_INTEG_FLAG, GSS_C_MUTUAL_FLAG,
    GSS_C_NT_HOSTBASED_SERVICE, GSS_C_SEQUENCE_FLAG, GSS_IOV_BUFFER_FLAG_ALLOCATE,
    GSS_IOV_BUFFER_TYPE_DATA, GSS_IOV_BUFFER_TYPE_HEADER, GSS_IOV_BUFFER_TYPE_PADDING,
};

use super::{lucid, Sealer};

/// The routine-error and calling-error bits of a major status.
const ERROR_MASK: u32 = 0xffff_0000;

pub(crate) fn failure(major: u32, minor: u32) -> GssError {
    GssError {
        major: MajorFlags::from_bits_retain(major),
        minor,
    }
}

fn check(major: u32, minor: u32) -> Result<(), GssError> {
    if major & ERROR_MASK != 0 {
        Err(failure(major, minor))
    } else {
        Ok(())
    }
}

/// Acquired credentials, shared by the contexts that use them.
#[derive(Clone)]
pub struct Credential(Arc<OwnedCred>);

struct OwnedCred(gss_cred_id_t);

// SAFETY: MIT's credential handles lock internally; they may be used and
// released from any thread.
unsafe impl Send for OwnedCred {}
// SAFETY: as above: concurrent use of one credential is allowed.
unsafe impl Sync for OwnedCred {}

impl Drop for OwnedCred {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: we own the handle (from gss_acquire_cred_from) and
        // release it once.
        unsafe {
            gss_release_cred(&mut minor, &mut self.0);
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(..)")
    }
}

impl Credential {
    /// # Safety
    /// `cred` is a valid credential handle the caller owns and hands over.
    pub(crate) unsafe fn from_raw(cred: gss_cred_id_t) -> Credential {
        Credential(Arc::new(OwnedCred(cred)))
    }

    fn raw(&self) -> gss_cred_id_t {
        self.0 .0
    }
}

/// An imported name: the service an initiator asks a ticket for.
pub struct TargetName(gss_name_t);

// SAFETY: a GSS name is immutable once imported; MIT allows using it from
// any thread.
unsafe impl Send for TargetName {}

impl Drop for TargetName {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: the name came from gss_import_name and is released once.
        unsafe {
            gss_release_name(&mut minor, &mut self.0);
        }
    }
}

impl TargetName {
    /// A host-based service name such as `HTTP@mail.contoso.com`.
    pub fn host_based_service(text: &str) -> Result<TargetName, GssError> {
        let mut buffer = gss_buffer_desc {
            length: text.len(),
            value: text.as_ptr() as *mut c_void,
        };
        let mut minor = 0;
        let mut name: gss_name_t = ptr::null_mut();
        // SAFETY: the buffer borrows `text` for the call; the name type is
        // MIT's static OID; `name` receives a new name we then own.
        let major = unsafe {
            gss_import_name(
                &mut minor,
                &mut buffer,
                GSS_C_NT_HOSTBASED_SERVICE,
                &mut name,
            )
        };
        check(major, minor)?;
        Ok(TargetName(name))
    }
}

/// The mechanism an initiator asks for (the acceptor takes either).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// SPNEGO around Kerberos (`Negotiate`).
    Spnego,
    /// Raw Kerberos 5 (`Kerberos`).
    Kerberos,
}

/// 1.2.840.113554.1.2.2
static KRB5_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// 1.3.6.1.5.5.2
static SPNEGO_OID: [u8; 6] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

impl Mechanism {
    fn oid(self) -> gss_OID_desc {
        let bytes: &'static [u8] = match self {
            Mechanism::Spnego => &SPNEGO_OID,
            Mechanism::Kerberos => &KRB5_OID,
        };
        gss_OID_desc {
            length: bytes.len() as OM_uint32,
            // MIT only reads a mechanism OID (and copies what it keeps).
            elements: bytes.as_ptr() as *mut c_void,
        }
    }
}

/// What a WinRM client asks for: mutual authentication, confidentiality,
/// integrity and sequencing.
const REQUEST_FLAGS: u32 =
    GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG | GSS_C_SEQUENCE_FLAG;

enum Role {
    Initiator {
        cred: Option<Credential>,
        target: TargetName,
        mechanism: Mechanism,
    },
    Acceptor {
        cred: Option<Credential>,
    },
}

/// One GSSAPI security context, deleted on drop.
pub struct Context {
    handle: gss_ctx_id_t,
    role: Role,
    complete: bool,
    failed: Option<GssError>,
    flags: u32,
}

// SAFETY: a context is used by one thread at a time (`&mut self` for every
// call that touches it); MIT does not tie contexts to threads.
unsafe impl Send for Context {}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field(
                "role",
                &match self.role {
                    Role::Initiator { .. } => "initiator",
                    Role::Acceptor { .. } => "acceptor",
                },
            )
            .field("complete", &self.complete)
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if !self.handle.is_null() {
            let mut minor = 0;
            // SAFETY: the handle is ours (from init/accept) and deleted once;
            // no output token is wanted.
            unsafe {
                gss_delete_sec_context(&mut minor, &mut self.handle, ptr::null_mut());
            }
        }
    }
}

/// Takes a buffer MIT allocated, copies it out and releases it.
///
/// # Safety
/// `buffer` was filled by a GSSAPI call (or is empty).
unsafe fn take_buffer(buffer: &mut gss_buffer_desc) -> Vec<u8> {
    let bytes = if buffer.value.is_null() || buffer.length == 0 {
        Vec::new()
    } else {
        // SAFETY: MIT's buffer holds `length` readable bytes.
        unsafe { std::slice::from_raw_parts(buffer.value as *const u8, buffer.length) }.to_vec()
    };
    let mut minor = 0;
    // SAFETY: the buffer was allocated by GSSAPI; release tolerates empty.
    unsafe {
        gss_release_buffer(&mut minor, buffer);
    }
    bytes
}

fn empty_buffer() -> gss_buffer_desc {
    gss_buffer_desc {
        length: 0,
        value: ptr::null_mut(),
    }
}

impl Context {
    /// An initiator for `target`, asking for mutual authentication,
    /// confidentiality, integrity and sequencing. Without `cred`, the
    /// default credentials.
    pub fn initiator(
        cred: Option<Credential>,
        target: TargetName,
        mechanism: Mechanism,
    ) -> Context {
        Context::new(Role::Initiator {
            cred,
            target,
            mechanism,
        })
    }

    /// An acceptor; without `cred`, the default keytab.
    pub fn acceptor(cred: Option<Credential>) -> Context {
        Context::new(Role::Acceptor { cred })
    }

    fn new(role: Role) -> Context {
        Context {
            handle: ptr::null_mut(),
            role,
            complete: false,
            failed: None,
            flags: 0,
        }
    }

    pub fn is_initiator(&self) -> bool {
        matches!(self.role, Role::Initiator { .. })
    }

    /// One step of the handshake with the peer's token (none for an
    /// initiator's first step); returns the token to send, if any. A
    /// failed context keeps failing with the same error.
    pub fn step(&mut self, token: Option<&[u8]>) -> Result<Option<Vec<u8>>, GssError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.complete {
            return Ok(None);
        }
        let result = self.step_raw(token);
        if let Err(e) = result {
            self.failed = Some(e);
        }
        result
    }

    fn step_raw(&mut self, token: Option<&[u8]>) -> Result<Option<Vec<u8>>, GssError> {
        let mut input = token.map(|t| gss_buffer_desc {
            length: t.len(),
            value: t.as_ptr() as *mut c_void,
        });
        let input_ptr = input
            .as_mut()
            .map_or(ptr::null_mut(), |b| b as *mut gss_buffer_desc);
        let mut output = empty_buffer();
        let mut minor = 0;
        let mut flags = 0;
        let major = match &self.role {
            Role::Initiator {
                cred,
                target,
                mechanism,
            } => {
                let mut mech = mechanism.oid();
                // SAFETY: every pointer is valid for the call: the handle
                // is ours, the name and credential outlive it, the input
                // borrows `token`, the mechanism OID points at a static.
                unsafe {
                    gss_init_sec_context(
                        &mut minor,
                        cred.as_ref().map_or(ptr::null_mut(), Credential::raw),
                        &mut self.handle,
                        target.0,
                        &mut mech,
                        REQUEST_FLAGS,
                        _GSS_C_INDEFINITE,
                        ptr::null_mut(),
                        input_ptr,
                        ptr::null_mut(),
                        &mut output,
                        &mut flags,
                        ptr::null_mut(),
                    )
                }
            }
            Role::Acceptor { cred } => {
                if input_ptr.is_null() {
                    return Err(failure(_GSS_S_DEFECTIVE_TOKEN, 0));
                }
                let mut delegated: gss_cred_id_t = ptr::null_mut();
                // SAFETY: as above; the delegated credential, if any, is
                // ours to release below.
                let major = unsafe {
                    gss_accept_sec_context(
                        &mut minor,
                        &mut self.handle,
                        cred.as_ref().map_or(ptr::null_mut(), Credential::raw),
                        input_ptr,
                        ptr::null_mut(),
                        ptr::null_mut(),
                        ptr::null_mut(),
                        &mut output,
                        &mut flags,
                        ptr::null_mut(),
                        &mut delegated,
                    )
                };
                if !delegated.is_null() {
                    // Delegation is never requested; drop one if offered.
                    // SAFETY: the credential was just handed to us.
                    drop(unsafe { Credential::from_raw(delegated) });
                }
                major
            }
        };
        // SAFETY: `output` was filled (or left empty) by the call above.
        let token = unsafe { take_buffer(&mut output) };
        check(major, minor)?;
        self.flags = flags;
        if major & _GSS_S_CONTINUE_NEEDED != 0 {
            return Ok(Some(token));
        }
        self.complete = true;
        Ok(if token.is_empty() { None } else { Some(token) })
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Whether the peer proved its identity (mutual authentication).
    pub fn is_mutual(&self) -> bool {
        self.complete && self.flags & GSS_C_MUTUAL_FLAG != 0
    }

    /// The initiator's principal (`user@REALM`), for an acceptor.
    pub fn source_name(&self) -> Result<String, GssError> {
        if self.handle.is_null() {
            return Err(failure(_GSS_S_NO_CONTEXT, 0));
        }
        let mut minor = 0;
        let mut name: gss_name_t = ptr::null_mut();
        // SAFETY: the handle is a live context; only the source name is
        // asked for (every other out-parameter may be null).
        let major = unsafe {
            gss_inquire_context(
                &mut minor,
                self.handle,
                &mut name,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        check(major, minor)?;
        let mut text = empty_buffer();
        // SAFETY: `name` is the name just returned; the output buffer is
        // released by take_buffer.
        let major = unsafe { gss_display_name(&mut minor, name, &mut text, ptr::null_mut()) };
        // SAFETY: `text` was filled (or left empty) by gss_display_name.
        let bytes = unsafe { take_buffer(&mut text) };
        let mut release_minor = 0;
        // SAFETY: the name from gss_inquire_context is ours to release.
        unsafe {
            gss_release_name(&mut release_minor, &mut name);
        }
        check(major, minor)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Hands the established context to the sealing that fits it: our
    /// own RFC 4121 code for aes128/aes256-cts-hmac-sha1-96, MIT's
    /// otherwise. MIT's export destroys its context, so the enctype is
    /// asked first and only a supported one is exported.
    pub fn into_sealer(mut self) -> Result<Sealer, GssError> {
        if !self.complete || self.handle.is_null() {
            return Err(failure(_GSS_S_NO_CONTEXT, 0));
        }
        if lucid::supported_enctype(self.handle).is_none() {
            return Ok(Sealer::Mit(self));
        }
        let acceptor = !self.is_initiator();
        match lucid::export(&mut self.handle, acceptor) {
            Ok(native) => Ok(Sealer::Native(Box::new(native))),
            // The context is intact when the export itself failed.
            Err(lucid::ExportError::Refused(e)) if !self.handle.is_null() => {
                tracing::debug!("sealing with MIT: the context cannot be exported: {e}");
                Ok(Sealer::Mit(self))
            }
            Err(e) => {
                tracing::info!("the exported Kerberos context is unusable: {e}");
                Err(failure(_GSS_S_FAILURE, 0))
            }
        }
    }

    /// Keeps sealing in MIT whatever the enctype (tests; interop checks).
    pub fn into_mit_sealer(self) -> Result<Sealer, GssError> {
        if !self.complete || self.handle.is_null() {
            return Err(failure(_GSS_S_NO_CONTEXT, 0));
        }
        Ok(Sealer::Mit(self))
    }

    /// `gss_wrap_iov` with HEADER, DATA and PADDING: returns the header and
    /// the encrypted data followed by any padding.
    pub(crate) fn wrap_iov(&mut self, plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), GssError> {
        let mut data = plaintext.to_vec();
        let mut iov = [
            gss_iov_buffer_desc {
                type_: GSS_IOV_BUFFER_TYPE_HEADER | GSS_IOV_BUFFER_FLAG_ALLOCATE,
                buffer: empty_buffer(),
            },
            gss_iov_buffer_desc {
                type_: GSS_IOV_BUFFER_TYPE_DATA,
                buffer: gss_buffer_desc {
                    length: data.len(),
                    value: data.as_mut_ptr() as *mut c_void,
                },
            },
            gss_iov_buffer_desc {
                type_: GSS_IOV_BUFFER_TYPE_PADDING | GSS_IOV_BUFFER_FLAG_ALLOCATE,
                buffer: empty_buffer(),
            },
        ];
        let mut minor = 0;
        let mut conf_state = 0;
        // SAFETY: the handle is a live context; DATA points at `data`,
        // encrypted in place; HEADER and PADDING are allocated by MIT and
        // released below.
        let major = unsafe {
            gss_wrap_iov(
                &mut minor,
                self.handle,
                1,
                0,
                &mut conf_state,
                iov.as_mut_ptr(),
                iov.len() as i32,
            )
        };
        let copy = |b: &gss_buffer_desc| {
            if b.value.is_null() || b.length == 0 {
                Vec::new()
            } else {
                // SAFETY: MIT filled this buffer with `length` bytes.
                unsafe { std::slice::from_raw_parts(b.value as *const u8, b.length) }.to_vec()
            }
        };
        let header = copy(&iov[0].buffer);
        let padding = copy(&iov[2].buffer);
        let mut release_minor = 0;
        // SAFETY: releases only the buffers MIT allocated (ALLOCATE flag).
        unsafe {
            gss_release_iov_buffer(&mut release_minor, iov.as_mut_ptr(), iov.len() as i32);
        }
        check(major, minor)?;
        if conf_state == 0 {
            return Err(failure(_GSS_S_FAILURE, 0));
        }
        data.extend_from_slice(&padding);
        Ok((header, data))
    }

    /// `gss_unwrap` of a whole token; refuses one that was not encrypted.
    pub(crate) fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, GssError> {
        let mut input = gss_buffer_desc {
            length: token.len(),
            value: token.as_ptr() as *mut c_void,
        };
        let mut output = empty_buffer();
        let mut minor = 0;
        let mut conf_state = 0;
        // SAFETY: the handle is live; the input borrows `token`; the
        // output is released by take_buffer.
        let major = unsafe {
            gss_unwrap(
                &mut minor,
                self.handle,
                &mut input,
                &mut output,
                &mut conf_state,
                ptr::null_mut(),
            )
        };
        // SAFETY: `output` was filled (or left empty) by gss_unwrap.
        let plaintext = unsafe { take_buffer(&mut output) };
        // Supplementary bits (a duplicate, old or gap token) are refusals
        // too: messages on a connection are strictly sequential.
        if major != 0 {
            return Err(failure(major, minor));
        }
        if conf_state == 0 {
            return Err(failure(_GSS_S_FAILURE, 0));
        }
        Ok(plaintext)
    }
}
