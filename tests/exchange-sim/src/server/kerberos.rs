//! Kerberos as WinRM does it over http: a 401 offering `Negotiate` and
//! `Kerberos`, a GSSAPI acceptor fed by a keytab (SPNEGO or raw Kerberos
//! tokens), the mutual-authentication token in the answer, and every body
//! after that sealed. The context belongs to the TCP connection.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Request, StatusCode};
use idconn_psrp::krb5::{Context, Credential, Sealer};
use idconn_psrp::sealing::{self, Protocol};

use super::http::{read_body, respond, DropConnection, HttpResponse, Server};

/// The acceptor's credentials: every service key of the keytab.
pub(super) struct Acceptor {
    cred: Credential,
}

impl Acceptor {
    pub(super) fn new(keytab: &Path) -> anyhow::Result<Acceptor> {
        let cred = idconn_psrp::gss::acquire_acceptor(keytab).map_err(|e| {
            anyhow::anyhow!(
                "cannot use the keytab {} to accept Kerberos: {e}",
                keytab.display()
            )
        });
        Ok(Acceptor {
            cred: cred.context("the simulator's Kerberos service key")?,
        })
    }
}

/// The Kerberos state of one connection: the handshake's context until it
/// completes, then its sealing (our own for AES, MIT's otherwise).
#[derive(Default)]
pub(super) struct ConnectionAuth {
    context: Option<Context>,
    sealer: Option<Sealer>,
    protocol: Option<Protocol>,
    user: Option<String>,
}

pub(super) type SharedConnectionAuth = Arc<Mutex<ConnectionAuth>>;

enum Outcome {
    /// Authenticated now (with the mutual token to return) or earlier on
    /// this connection.
    Authenticated {
        user: String,
        mutual: Option<String>,
    },
    /// 401 with this extra challenge token (a continuation or an error).
    Challenge(Option<String>),
}

impl ConnectionAuth {
    fn authenticate(
        &mut self,
        acceptor: &Acceptor,
        authorization: Option<&str>,
        offer_negotiate: bool,
    ) -> Outcome {
        let Some((scheme, token)) = authorization.and_then(|h| h.trim().split_once(' ')) else {
            return match &self.user {
                Some(user) => Outcome::Authenticated {
                    user: user.clone(),
                    mutual: None,
                },
                None => Outcome::Challenge(None),
            };
        };
        let Some(protocol) =
            Protocol::from_scheme(scheme).filter(|p| offer_negotiate || *p == Protocol::Kerberos)
        else {
            return Outcome::Challenge(None);
        };
        let Ok(token) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
            return Outcome::Challenge(None);
        };
        // A new token on this connection starts a new context.
        if self.user.is_some() || self.protocol != Some(protocol) {
            *self = ConnectionAuth::default();
        }
        let context = self
            .context
            .get_or_insert_with(|| Context::acceptor(Some(acceptor.cred.clone())));
        self.protocol = Some(protocol);
        let header = |token: &[u8]| {
            format!(
                "{} {}",
                protocol.scheme(),
                base64::engine::general_purpose::STANDARD.encode(token)
            )
        };
        match context.step(Some(&token)) {
            Err(e) => {
                tracing::info!("Kerberos authentication refused: {e}");
                *self = ConnectionAuth::default();
                Outcome::Challenge(None)
            }
            Ok(out) if !context.is_complete() => Outcome::Challenge(out.map(|t| header(&t))),
            Ok(out) => {
                let principal = context.source_name().unwrap_or_default();
                // alice@IDCONN.TEST is the simulator's user `alice`.
                let user = principal.split('@').next().unwrap_or_default().to_string();
                if user.is_empty() {
                    *self = ConnectionAuth::default();
                    return Outcome::Challenge(None);
                }
                let Some(context) = self.context.take() else {
                    return Outcome::Challenge(None);
                };
                // The name is read first: handing an AES context to our
                // own sealing ends MIT's context.
                match context.into_sealer() {
                    Ok(sealer) => {
                        tracing::debug!(native = sealer.is_native(), "Kerberos context accepted");
                        self.sealer = Some(sealer);
                    }
                    Err(e) => {
                        tracing::info!("cannot seal with the Kerberos context: {e}");
                        *self = ConnectionAuth::default();
                        return Outcome::Challenge(None);
                    }
                }
                self.user = Some(user.clone());
                Outcome::Authenticated {
                    user,
                    mutual: out.map(|t| header(&t)),
                }
            }
        }
    }
}

fn challenge(extra: Option<String>, offer_negotiate: bool) -> HttpResponse {
    let mut response = respond(StatusCode::UNAUTHORIZED, "text/plain", "");
    let headers = response.headers_mut();
    match extra.and_then(|v| HeaderValue::from_str(&v).ok()) {
        Some(value) => {
            headers.append(WWW_AUTHENTICATE, value);
        }
        None => {
            if offer_negotiate {
                headers.append(WWW_AUTHENTICATE, HeaderValue::from_static("Negotiate"));
            }
            headers.append(WWW_AUTHENTICATE, HeaderValue::from_static("Kerberos"));
        }
    }
    response
}

/// WinRM answers 500 to a message in clear when AllowUnencrypted is false.
fn unencrypted_refused() -> HttpResponse {
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/plain",
        "The WinRM service refuses unencrypted messages on this endpoint (AllowUnencrypted is false): seal messages with the Kerberos session key.",
    )
}

pub(super) async fn handle(
    server: &Server,
    request: Request<Incoming>,
    connection: &SharedConnectionAuth,
    number: u64,
) -> Result<HttpResponse, DropConnection> {
    let Some(acceptor) = server.acceptor.as_ref() else {
        return Ok(respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "Kerberos is not configured (no keytab)",
        ));
    };
    let offer_negotiate = server.config.offer_negotiate;
    if server.config.faults.reject_auth {
        return Ok(challenge(None, offer_negotiate));
    }
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let outcome =
        lock(connection).authenticate(acceptor, authorization.as_deref(), offer_negotiate);
    let (user, mutual) = match outcome {
        Outcome::Authenticated { user, mutual } => (user, mutual),
        Outcome::Challenge(extra) => return Ok(challenge(extra, offer_negotiate)),
    };
    let query = request.uri().query().unwrap_or_default().to_string();
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(response) => return Ok(response),
    };
    let with_mutual = |mut response: HttpResponse| {
        if let Some(value) = mutual
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    };
    // The handshake of a sealing client: authenticated, nothing to do yet.
    if body.is_empty() {
        return Ok(with_mutual(respond(StatusCode::OK, "text/plain", "")));
    }
    let plaintext = {
        let mut auth = lock(connection);
        let protocol = auth.protocol;
        let sealed = sealing::sealed_protocol(&content_type);
        match (sealed, auth.sealer.as_mut(), protocol) {
            (Ok(Some(sealed_with)), Some(sealer), Some(protocol)) if sealed_with == protocol => {
                match sealing::unseal(sealer, protocol, Vec::from(body)) {
                    Ok(plaintext) => plaintext,
                    Err(e) => {
                        tracing::info!("refused a sealed message: {e}");
                        return Ok(respond(
                            StatusCode::BAD_REQUEST,
                            "text/plain",
                            format!("cannot unseal the message: {e}"),
                        ));
                    }
                }
            }
            (Ok(None), _, _) => return Ok(with_mutual(unencrypted_refused())),
            _ => {
                return Ok(respond(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "the message is sealed with another protocol than the session's",
                ))
            }
        }
    };
    let response = server.process(&user, &query, &plaintext, number).await?;
    let (mut parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let mut auth = lock(connection);
    let protocol = auth.protocol.unwrap_or(Protocol::Spnego);
    let Some(sealer) = auth.sealer.as_mut() else {
        return Ok(respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", ""));
    };
    match sealing::seal(sealer, protocol, &body) {
        Ok(sealed) => {
            if let Ok(value) = HeaderValue::from_str(&protocol.content_type()) {
                parts.headers.insert(CONTENT_TYPE, value);
            }
            Ok(with_mutual(hyper::Response::from_parts(
                parts,
                http_body_util::Full::new(Bytes::from(sealed)),
            )))
        }
        Err(e) => Ok(respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("cannot seal the answer: {e}"),
        )),
    }
}

/// `ServerConfig::sealing_work`: an unsealed server's answer sealed as
/// `handle` seals a Kerberos one (the same collect, lock and seal), the
/// result discarded and the answer sent unsealed.
pub(super) async fn sealing_work(
    server: &Server,
    response: HttpResponse,
    connection: &SharedConnectionAuth,
) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    {
        let mut auth = lock(connection);
        if auth.sealer.is_none() {
            auth.sealer = work_sealer();
        }
        if let Some(sealer) = auth.sealer.as_mut() {
            if let Ok(sealed) = sealing::seal(sealer, Protocol::Kerberos, &body) {
                std::hint::black_box(sealed);
                server
                    .work_sealed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    hyper::Response::from_parts(parts, http_body_util::Full::new(body))
}

/// The context `sealing_work` seals with: the AES-256 enctype Windows and
/// MIT negotiate, and a fixed key, since nobody unseals what it seals.
fn work_sealer() -> Option<Sealer> {
    use idconn_psrp::krb5::cfx::{CfxContext, CfxParams};
    use idconn_psrp::krb5::crypto::Enctype;
    let context = CfxContext::new(CfxParams {
        enctype: Enctype::Aes256CtsHmacSha196,
        key: &[0x5a; 32],
        acceptor: true,
        acceptor_subkey: true,
        send_seq: 0,
        receive_seq: 0,
    })
    .ok()?;
    Some(Sealer::Native(Box::new(context)))
}

fn lock(connection: &SharedConnectionAuth) -> std::sync::MutexGuard<'_, ConnectionAuth> {
    // A panic while holding the lock cannot leave GSSAPI state half
    // written in a way that matters more than dropping the connection.
    connection.lock().unwrap_or_else(|e| e.into_inner())
}
