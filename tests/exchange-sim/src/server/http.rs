//! The HTTP layer: routing, Basic authentication (Kerberos is in
//! `kerberos.rs`), fault injection, and the dispatch of WS-Management
//! actions.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use idconn_psrp::wsman::server::{self as ws, RequestBody};
use idconn_psrp::wsman::Fault;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::shell::{Reply, Shells, ANONYMOUS_USER};
use super::{AuthMode, ServerConfig};
use crate::backend::ExchangeBackend;

const SOAP: &str = "application/soap+xml;charset=UTF-8";
/// A client's envelope is at most its MaxEnvelopeSize (512 KB in practice).
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

pub(super) struct Server {
    pub(super) config: ServerConfig,
    pub(super) backend: Arc<dyn ExchangeBackend>,
    pub(super) shells: Shells,
    pub(super) requests: AtomicU64,
    pub(super) objects_sent: AtomicU64,
    /// The drop fault fired: it fires once, as a network outage does.
    pub(super) dropped: std::sync::atomic::AtomicBool,
    /// Shell Deletes the `drop_deletes` fault has dropped so far.
    pub(super) deletes_dropped: AtomicU64,
    /// Receives waiting for a pipeline's output (observed by tests).
    pub(super) waiting_receives: tokio::sync::watch::Sender<usize>,
    /// The keytab's credentials with `AuthMode::Kerberos`.
    pub(super) acceptor: Option<super::kerberos::Acceptor>,
    /// Answers sealed and discarded by `ServerConfig::sealing_work`.
    pub(super) work_sealed: AtomicU64,
}

/// Closing the connection without an answer (the drop fault): the service
/// returns an error, and hyper then drops the connection.
#[derive(Debug)]
pub(super) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault injection: dropping the connection")
    }
}

impl std::error::Error for DropConnection {}

pub(super) type HttpResponse = Response<Full<Bytes>>;

pub(super) fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

fn unauthorized() -> HttpResponse {
    let mut response = respond(StatusCode::UNAUTHORIZED, "text/plain", "");
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"WSMAN\""),
    );
    response
}

pub(super) fn fault(relates_to: &str, fault: &Fault) -> Reply {
    Reply::Fault(ws::fault_response(relates_to, fault))
}

impl Server {
    pub(super) fn new(backend: Arc<dyn ExchangeBackend>, config: ServerConfig) -> Server {
        Server {
            config,
            backend,
            shells: Shells::default(),
            requests: AtomicU64::new(0),
            objects_sent: AtomicU64::new(0),
            dropped: std::sync::atomic::AtomicBool::new(false),
            deletes_dropped: AtomicU64::new(0),
            waiting_receives: tokio::sync::watch::Sender::new(0),
            acceptor: None,
            work_sealed: AtomicU64::new(0),
        }
    }

    fn authenticate(&self, request: &Request<Incoming>) -> Option<String> {
        if self.config.faults.reject_auth {
            return None;
        }
        match self.config.auth {
            AuthMode::None => Some(ANONYMOUS_USER.to_string()),
            AuthMode::Kerberos => None,
            AuthMode::Basic => {
                let header = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
                let (scheme, token) = header.trim().split_once(' ')?;
                if !scheme.eq_ignore_ascii_case("Basic") {
                    return None;
                }
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(token.trim())
                    .ok()?;
                let decoded = String::from_utf8(decoded).ok()?;
                let (user, password) = decoded.split_once(':')?;
                self.backend.authenticate_basic(user, password)
            }
        }
    }

    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        connection: super::kerberos::SharedConnectionAuth,
    ) -> Result<HttpResponse, DropConnection> {
        let number = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let faults = &self.config.faults;
        if let Some(latency) = faults.latency {
            tokio::time::sleep(latency).await;
        }
        if faults.http_500_from.is_some_and(|from| number >= from) {
            return Ok(respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                "Internal Server Error (injected)",
            ));
        }
        if !request
            .uri()
            .path()
            .to_ascii_lowercase()
            .starts_with("/powershell")
        {
            return Ok(respond(StatusCode::NOT_FOUND, "text/plain", "Not Found"));
        }
        if request.method() != Method::POST {
            return Ok(respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "Method Not Allowed",
            ));
        }
        if self.config.auth == AuthMode::Kerberos {
            return super::kerberos::handle(&self, request, &connection, number).await;
        }
        let Some(user) = self.authenticate(&request) else {
            return Ok(unauthorized());
        };
        let query = request.uri().query().unwrap_or_default().to_string();
        let body = match read_body(request).await {
            Ok(body) => body,
            Err(response) => return Ok(response),
        };
        let response = self.process(&user, &query, &body, number).await?;
        if self.config.sealing_work {
            return Ok(super::kerberos::sealing_work(&self, response, &connection).await);
        }
        Ok(response)
    }

    /// Answers an authenticated request's SOAP body.
    pub(super) async fn process(
        &self,
        user: &str,
        query: &str,
        body: &[u8],
        number: u64,
    ) -> Result<HttpResponse, DropConnection> {
        let faults = &self.config.faults;
        if faults.malformed_response_at == Some(number) {
            return Ok(respond(
                StatusCode::OK,
                SOAP,
                "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>",
            ));
        }
        let reply = match ws::parse_request(body) {
            Ok(parsed) => self.dispatch(user, query, parsed).await,
            Err(e) => fault(
                "",
                &Fault::invalid_request(&self.config.server_name, &e.to_string()),
            ),
        };
        match reply {
            Reply::Ok(xml) => Ok(respond(StatusCode::OK, SOAP, xml)),
            Reply::Fault(xml) => Ok(respond(StatusCode::INTERNAL_SERVER_ERROR, SOAP, xml)),
            Reply::Drop => Err(DropConnection),
        }
    }

    async fn dispatch(&self, user: &str, query: &str, request: ws::Request) -> Reply {
        let machine = &self.config.server_name;
        let relates = request.message_id.clone();
        match &request.body {
            RequestBody::Create { .. } => self.shells.create(self, user, query, &request),
            RequestBody::Other => fault(
                &relates,
                &Fault::new(
                    "Sender",
                    "a:ActionNotSupported",
                    2150858754,
                    "The action is not supported by the service.",
                    &format!(
                        "The WS-Management service cannot process the action {}.",
                        request.action
                    ),
                    machine,
                ),
            ),
            _ => {
                let Some(shell_id) = request.shell_id.as_deref() else {
                    return fault(&relates, &Fault::unknown_shell(machine));
                };
                let shell = match self.shells.get(user, shell_id) {
                    Ok(shell) => shell,
                    Err(f) => return fault(&relates, &f(machine)),
                };
                super::shell::handle(self, shell, user, request).await
            }
        }
    }
}

pub(super) async fn read_body(request: Request<Incoming>) -> Result<Bytes, HttpResponse> {
    match Limited::new(request.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(respond(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain",
            "request too large",
        )),
    }
}

pub(super) async fn run(
    listener: TcpListener,
    server: Arc<Server>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    let idle = server.config.shell_idle_timeout;
    let mut expiry =
        tokio::time::interval((idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(60)));
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = expiry.tick() => {
                server.shells.expire(idle);
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        connections.spawn(async move {
            // Kerberos contexts are per connection, as with WinRM.
            let auth = super::kerberos::SharedConnectionAuth::default();
            let service = hyper::service::service_fn(move |request| {
                let server = server.clone();
                let auth = auth.clone();
                async move { server.handle(request, auth).await }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
}
