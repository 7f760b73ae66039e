//! Kerberos credentials through the system's MIT GSSAPI, and failures
//! explained so an operator knows what to fix.
//!
//! Credentials come from MIT's credential-store extension
//! (`gss_acquire_cred_from`), so a password or a client keytab fills a
//! private `MEMORY:` ticket cache of this process: the user's own cache and
//! the process environment are never touched.

use std::ffi::CString;
use std::path::Path;
use std::ptr;

use libgssapi::error::{Error as GssError, MajorFlags};
use libgssapi_sys::{
    gss_acquire_cred_from, gss_buffer_desc, gss_cred_id_t, gss_import_name,
    gss_key_value_element_desc, gss_key_value_set_desc, gss_name_t, gss_release_name, OM_uint32,
    GSS_C_ACCEPT, GSS_C_INITIATE, GSS_C_NT_USER_NAME,
};

use crate::krb5::context::failure;
use crate::krb5::{Credential, TargetName};

/// Where the initiator's ticket comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// The environment's ticket cache (`KRB5CCNAME` or the default), filled
    /// by `kinit` or the logon session.
    Ambient,
    /// A ticket obtained with this principal and password into a private
    /// in-memory cache.
    Password { principal: String, password: String },
    /// A ticket obtained from a client keytab into a private in-memory
    /// cache; without a principal, the keytab's first one.
    Keytab {
        keytab: std::path::PathBuf,
        principal: Option<String>,
    },
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredentials::Ambient => f.write_str("Ambient"),
            ClientCredentials::Password { principal, .. } => f
                .debug_struct("Password")
                .field("principal", principal)
                .finish_non_exhaustive(),
            ClientCredentials::Keytab { keytab, principal } => f
                .debug_struct("Keytab")
                .field("keytab", keytab)
                .field("principal", principal)
                .finish(),
        }
    }
}

impl ClientCredentials {
    /// Who the credentials are for, for messages.
    pub fn describe(&self) -> String {
        match self {
            ClientCredentials::Ambient => "the ticket cache (KRB5CCNAME or the default)".into(),
            ClientCredentials::Password { principal, .. } => {
                format!("'{principal}' (Login/Password)")
            }
            ClientCredentials::Keytab { keytab, principal } => format!(
                "{}the client keytab {}",
                principal
                    .as_ref()
                    .map(|p| format!("'{p}' from "))
                    .unwrap_or_default(),
                keytab.display()
            ),
        }
    }
}

/// Acquires initiator credentials.
pub fn acquire_initiator(credentials: &ClientCredentials) -> Result<Credential, GssError> {
    match credentials {
        ClientCredentials::Ambient => acquire_from(None, GSS_C_INITIATE, &[]),
        ClientCredentials::Password {
            principal,
            password,
        } => acquire_from(
            Some(principal.as_str()),
            GSS_C_INITIATE,
            // MIT puts a password's ticket in a new MEMORY: cache of its
            // own (and refuses a ccache element next to a password).
            &[("password", password)],
        ),
        ClientCredentials::Keytab { keytab, principal } => acquire_from(
            principal.as_deref(),
            GSS_C_INITIATE,
            &[
                ("ccache", &private_ccache()),
                ("client_keytab", &keytab.to_string_lossy()),
            ],
        ),
    }
}

/// Acceptor credentials for every service key in `keytab`.
pub fn acquire_acceptor(keytab: &Path) -> Result<Credential, GssError> {
    acquire_from(
        None,
        GSS_C_ACCEPT,
        &[("keytab", &format!("FILE:{}", keytab.display()))],
    )
}

/// A `MEMORY:` cache name no other credential in this process shares.
fn private_ccache() -> String {
    format!("MEMORY:idconn-{}", uuid::Uuid::new_v4().simple())
}

/// The GSS host-based name of the HTTP service on `host` (`HTTP@host`,
/// the SPN `HTTP/host`).
pub fn http_service_name(host: &str) -> Result<TargetName, GssError> {
    TargetName::host_based_service(&format!("HTTP@{host}"))
}

/// `gss_acquire_cred_from` with a credential store of key/value pairs
/// (`ccache`, `password`, `client_keytab`, `keytab`).
fn acquire_from(
    user: Option<&str>,
    usage: u32,
    store: &[(&str, &str)],
) -> Result<Credential, GssError> {
    // A NUL inside a value cannot cross the C API; GSS_S_BAD_NAME-like
    // failure (major 0x20000 = GSS_S_FAILURE) keeps the value out of the
    // message.
    let invalid = || failure(libgssapi_sys::_GSS_S_FAILURE, 0);
    let strings: Vec<(CString, CString)> = store
        .iter()
        .map(|(k, v)| {
            Ok((
                CString::new(*k).map_err(|_| invalid())?,
                CString::new(*v).map_err(|_| invalid())?,
            ))
        })
        .collect::<Result<_, GssError>>()?;
    let mut elements: Vec<gss_key_value_element_desc> = strings
        .iter()
        .map(|(k, v)| gss_key_value_element_desc {
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let store = gss_key_value_set_desc {
        count: elements.len() as OM_uint32,
        elements: elements.as_mut_ptr(),
    };
    let mut minor: OM_uint32 = 0;
    let mut gss_name: gss_name_t = ptr::null_mut();
    if let Some(text) = user {
        let mut buffer = gss_buffer_desc {
            length: text.len(),
            value: text.as_ptr() as *mut std::ffi::c_void,
        };
        // SAFETY: the buffer points at `text`, alive for the call; the
        // name type OID is a static GSSAPI constant.
        let major =
            unsafe { gss_import_name(&mut minor, &mut buffer, GSS_C_NT_USER_NAME, &mut gss_name) };
        if major != 0 {
            return Err(failure(major, minor));
        }
    }
    let mut cred: gss_cred_id_t = ptr::null_mut();
    // SAFETY: every pointer is valid for the call (the store borrows
    // `strings` and `elements`, alive until the end of this function);
    // null out-parameters are allowed by the API.
    let major = unsafe {
        gss_acquire_cred_from(
            &mut minor,
            gss_name,
            0xffff_ffff,
            ptr::null_mut(),
            usage as i32,
            &store,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if !gss_name.is_null() {
        let mut release_minor: OM_uint32 = 0;
        // SAFETY: the name was allocated by gss_import_name above.
        unsafe {
            gss_release_name(&mut release_minor, &mut gss_name);
        }
    }
    if major != 0 {
        return Err(failure(major, minor));
    }
    // SAFETY: gss_acquire_cred_from returned a new credential we now own.
    Ok(unsafe { Credential::from_raw(cred) })
}

/// What went wrong, in the operator's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    NoTicket,
    WrongPassword,
    UnknownClient,
    UnknownService,
    ClockSkew,
    KdcUnreachable,
    TicketExpired,
    Other,
}

// MIT krb5 com_err codes (krb5.h), as GSS minor statuses.
const KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = -1765328378;
const KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = -1765328377;
const KDC_ERR_KEY_EXP: i32 = -1765328361;
const KDC_ERR_PREAUTH_FAILED: i32 = -1765328360;
const AP_ERR_BAD_INTEGRITY: i32 = -1765328353;
const AP_ERR_TKT_EXPIRED: i32 = -1765328352;
const AP_ERR_SKEW: i32 = -1765328347;
const KDC_UNREACH: i32 = -1765328228;
const CC_NOTFOUND: i32 = -1765328243;
const FCC_NOFILE: i32 = -1765328189;
const REALM_CANT_RESOLVE: i32 = -1765328164;
const PREAUTH_FAILED: i32 = -1765328174;

pub fn classify(error: &GssError) -> Failure {
    match classify_code(error) {
        Failure::Other => classify_text(&error.to_string()),
        known => known,
    }
}

fn classify_code(error: &GssError) -> Failure {
    match error.minor as i32 {
        KDC_ERR_PREAUTH_FAILED | AP_ERR_BAD_INTEGRITY | PREAUTH_FAILED => Failure::WrongPassword,
        KDC_ERR_C_PRINCIPAL_UNKNOWN => Failure::UnknownClient,
        KDC_ERR_S_PRINCIPAL_UNKNOWN => Failure::UnknownService,
        AP_ERR_SKEW => Failure::ClockSkew,
        KDC_UNREACH | REALM_CANT_RESOLVE => Failure::KdcUnreachable,
        AP_ERR_TKT_EXPIRED | KDC_ERR_KEY_EXP => Failure::TicketExpired,
        CC_NOTFOUND | FCC_NOFILE => Failure::NoTicket,
        _ if error.major.contains(MajorFlags::GSS_S_NO_CRED) => Failure::NoTicket,
        _ if error.major.contains(MajorFlags::GSS_S_CREDENTIALS_EXPIRED) => Failure::TicketExpired,
        _ => Failure::Other,
    }
}

/// The mechanism glue renumbers minor codes of mechanisms such as SPNEGO,
/// so MIT's message texts are the stable signal there.
fn classify_text(text: &str) -> Failure {
    let text = text.to_ascii_lowercase();
    let has = |needle: &str| text.contains(needle);
    if has("preauthentication failed") || has("password incorrect") {
        Failure::WrongPassword
    } else if has("client") && has("not found in kerberos database") {
        Failure::UnknownClient
    } else if has("not found in kerberos database") {
        Failure::UnknownService
    } else if has("clock skew") {
        Failure::ClockSkew
    } else if has("cannot contact any kdc") || has("cannot find kdc") {
        Failure::KdcUnreachable
    } else if has("expired") {
        Failure::TicketExpired
    } else if has("no kerberos credentials") || has("no credentials cache") {
        Failure::NoTicket
    } else {
        Failure::Other
    }
}

/// An operator-facing explanation of a GSSAPI failure. `who` names the
/// credentials, `spn` the service principal; neither holds a secret, and
/// GSSAPI's own status text never includes one.
pub fn explain(error: &GssError, who: &str, spn: &str) -> String {
    let detail = error.to_string();
    let detail = detail.trim();
    match classify(error) {
        Failure::NoTicket => format!(
            "no Kerberos ticket for {who}: run kinit (or set Login and Password, or a ClientKeytab) ({detail})"
        ),
        Failure::WrongPassword => format!(
            "the KDC refused the password for {who}: check Login and Password ({detail})"
        ),
        Failure::UnknownClient => format!(
            "the KDC does not know the user {who}: check Login (user@REALM) ({detail})"
        ),
        Failure::UnknownService => format!(
            "the KDC does not know the service principal {spn}: check that Server names the Exchange server by its FQDN (not an IP address or an alias) and that {spn} is registered ({detail})"
        ),
        Failure::ClockSkew => format!(
            "the clocks of this machine and the KDC or server differ too much (Kerberos allows 5 minutes): synchronize the time ({detail})"
        ),
        Failure::KdcUnreachable => format!(
            "no KDC of the realm answered: check the network, DNS and the [realms] of krb5.conf (KRB5_CONFIG) ({detail})"
        ),
        Failure::TicketExpired => format!(
            "the Kerberos ticket of {who} has expired: run kinit again, or set Login and Password ({detail})"
        ),
        Failure::Other => format!("Kerberos failed for {who} and {spn}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(major: MajorFlags, minor: i32) -> GssError {
        GssError {
            major,
            minor: minor as u32,
        }
    }

    #[test]
    fn krb5_codes_are_classified() {
        let failure = MajorFlags::GSS_S_FAILURE;
        for (code, expected) in [
            (KDC_ERR_PREAUTH_FAILED, Failure::WrongPassword),
            (AP_ERR_BAD_INTEGRITY, Failure::WrongPassword),
            (KDC_ERR_C_PRINCIPAL_UNKNOWN, Failure::UnknownClient),
            (KDC_ERR_S_PRINCIPAL_UNKNOWN, Failure::UnknownService),
            (AP_ERR_SKEW, Failure::ClockSkew),
            (KDC_UNREACH, Failure::KdcUnreachable),
            (AP_ERR_TKT_EXPIRED, Failure::TicketExpired),
            (FCC_NOFILE, Failure::NoTicket),
        ] {
            assert_eq!(classify(&error(failure, code)), expected, "{code}");
        }
        assert_eq!(
            classify(&error(MajorFlags::GSS_S_CREDENTIALS_EXPIRED, 1)),
            Failure::TicketExpired
        );
    }

    #[test]
    fn mit_texts_are_classified_when_the_code_is_renumbered() {
        assert_eq!(classify_text("Clock skew too great"), Failure::ClockSkew);
        assert_eq!(
            classify_text("Server krbtgt/NOWHERE.TEST@IDCONN.TEST not found in Kerberos database"),
            Failure::UnknownService
        );
        assert_eq!(
            classify_text("Client 'bob@IDCONN.TEST' not found in Kerberos database"),
            Failure::UnknownClient
        );
        assert_eq!(
            classify_text("Cannot contact any KDC for realm 'IDCONN.TEST'"),
            Failure::KdcUnreachable
        );
        assert_eq!(classify_text("Ticket expired"), Failure::TicketExpired);
    }

    #[test]
    fn explanations_say_what_to_fix() {
        let skew = explain(
            &error(MajorFlags::GSS_S_FAILURE, AP_ERR_SKEW),
            "'admin'",
            "HTTP/x",
        );
        assert!(skew.contains("synchronize the time"), "{skew}");
        let spn = explain(
            &error(MajorFlags::GSS_S_FAILURE, KDC_ERR_S_PRINCIPAL_UNKNOWN),
            "'admin'",
            "HTTP/10.0.0.1",
        );
        assert!(
            spn.contains("FQDN") && spn.contains("HTTP/10.0.0.1"),
            "{spn}"
        );
        let expired = explain(
            &error(MajorFlags::GSS_S_FAILURE, AP_ERR_TKT_EXPIRED),
            "x",
            "y",
        );
        assert!(expired.contains("kinit again"), "{expired}");
    }

    #[test]
    fn credentials_never_show_the_password() {
        let credentials = ClientCredentials::Password {
            principal: "admin".into(),
            password: "Hunter-2-Secret".into(),
        };
        assert!(!format!("{credentials:?}").contains("Hunter-2-Secret"));
        assert!(!credentials.describe().contains("Hunter-2-Secret"));
    }
}
