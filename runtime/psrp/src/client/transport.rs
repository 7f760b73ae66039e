//! One HTTP/1.1 keep-alive connection to the endpoint (TCP or TLS), driven
//! by hyper, with an [`Authenticator`] in front of every exchange. Owning the
//! connection (rather than a pool) is what a connection-bound scheme such as
//! Kerberos with message sealing needs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{
    HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT, WWW_AUTHENTICATE,
};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::auth::{Authenticator, SealedBody, SOAP_CONTENT_TYPE};
use super::error::Error;
use super::ClientConfig;

/// Most handshake legs any scheme needs before giving up.
const MAX_AUTH_ROUNDS: usize = 4;
/// Response bodies beyond this are refused (a sealed 512 KB envelope is far
/// below it).
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// hyper's read buffer, fixed: its adaptive buffer grew in steps toward
/// the half-megabyte responses, each step a fresh allocation the kernel had
/// to clear (1.5% of an export's CPU); a fixed one is reused as soon as the
/// body's chunks are copied out.
const READ_BUFFER: usize = 64 * 1024;

pub(crate) struct Transport {
    /// Path and query exactly as configured (origin-form request target).
    target: Uri,
    host_header: HeaderValue,
    host: String,
    port: u16,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    auth: Box<dyn Authenticator>,
    sender: Option<SendRequest<Full<Bytes>>>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

fn tls_connector(config: &ClientConfig) -> Result<tokio_rustls::TlsConnector, Error> {
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            use rustls::pki_types::pem::PemObject as _;
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| {
                Error::Config(format!("cannot read the CA file {}: {e}", path.display()))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    Error::Config(format!(
                        "the CA file {} holds an invalid certificate: {e}",
                        path.display()
                    ))
                })?;
                roots.add(cert).map_err(|e| {
                    Error::Config(format!(
                        "the CA file {} holds an unusable certificate: {e}",
                        path.display()
                    ))
                })?;
            }
            if roots.is_empty() {
                return Err(Error::Config(format!(
                    "the CA file {} holds no PEM certificate",
                    path.display()
                )));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A broken system certificate should not block the others.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(tls)))
}

impl Transport {
    pub(crate) fn new(
        config: &ClientConfig,
        auth: Box<dyn Authenticator>,
    ) -> Result<Transport, Error> {
        let uri: Uri = config.endpoint.parse().map_err(|e| {
            Error::Config(format!("endpoint '{}' is not a URL: {e}", config.endpoint))
        })?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(Error::Config(format!(
                    "endpoint '{}' must start with http:// or https://",
                    config.endpoint
                )))
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| Error::Config(format!("endpoint '{}' has no host", config.endpoint)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(&host);
        let host_header = HeaderValue::from_str(authority)
            .map_err(|e| Error::Config(format!("endpoint host is not a valid header: {e}")))?;
        let tls = if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| {
                Error::Config(format!("'{host}' is not a valid TLS server name: {e}"))
            })?;
            Some((tls_connector(config)?, name))
        } else {
            None
        };
        let target: Uri = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|e| Error::Config(format!("endpoint path is not valid: {e}")))?;
        Ok(Transport {
            target,
            host_header,
            host,
            port,
            tls,
            auth,
            sender: None,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
        })
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, Error> {
        let address = format!("{}:{}", self.host, self.port);
        let connect = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| Error::Transport(format!("cannot connect to {address}: {e}")))?;
            let _ = tcp.set_nodelay(true);
            match &self.tls {
                Some((connector, name)) => {
                    let stream = connector
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| Error::Transport(format!("TLS with {address} failed: {e}")))?;
                    handshake(TokioIo::new(stream)).await
                }
                None => handshake(TokioIo::new(tcp)).await,
            }
        };
        let sender = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| {
                Error::Timeout(format!(
                    "connecting to {address} took longer than {:?}",
                    self.connect_timeout
                ))
            })??;
        self.auth.on_new_connection();
        Ok(sender)
    }

    /// Sends one SOAP request and returns the SOAP response body (HTTP 200,
    /// or 500 carrying a SOAP fault, which the caller parses), read into
    /// `buffer` (emptied first). A Receive brings half a megabyte: a buffer
    /// handed back by the caller keeps the allocator from mapping and
    /// zeroing fresh pages for every one of them (7% of an export's CPU went
    /// to the kernel clearing such pages).
    pub(crate) async fn post_into(
        &mut self,
        soap: &str,
        mut buffer: Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        let mut rounds = 0;
        let mut retried = false;
        loop {
            let reused = self.sender.as_ref().is_some_and(|s| !s.is_closed());
            let mut sender = match self.sender.take() {
                Some(s) if !s.is_closed() => s,
                _ => self.connect().await?,
            };
            let handshake = self.auth.awaiting_handshake();
            let sealed = if handshake {
                SealedBody {
                    content_type: SOAP_CONTENT_TYPE.into(),
                    body: Vec::new(),
                }
            } else {
                self.auth.seal(soap.as_bytes().to_vec())?
            };
            let mut request = Request::post(self.target.clone())
                .header(HOST, self.host_header.clone())
                .header(CONTENT_TYPE, sealed.content_type.as_str())
                .header(ACCEPT_ENCODING, "identity")
                .header(USER_AGENT, "idconn-psrp");
            if let Some(value) = self.auth.authorization()? {
                request = request.header(AUTHORIZATION, value);
            }
            let request = request
                .body(Full::new(Bytes::from(sealed.body)))
                .map_err(|e| Error::Protocol(format!("cannot build the HTTP request: {e}")))?;
            // Only a request that certainly never reached the server is
            // retried (on a fresh connection): resending one the server may
            // have processed could lose a Receive's data silently.
            let exchange = async {
                sender.ready().await.map_err(|e| (true, e))?;
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| (e.is_canceled(), e))?;
                let (parts, body) = response.into_parts();
                let body = read_body(body, &mut buffer).await;
                Ok::<_, (bool, hyper::Error)>((parts, body))
            };
            let (parts, body) = match tokio::time::timeout(self.request_timeout, exchange).await {
                Err(_) => {
                    return Err(Error::Timeout(format!(
                        "no answer from the endpoint within {:?}",
                        self.request_timeout
                    )))
                }
                Ok(Err((unsent, _))) if unsent && reused && !retried => {
                    retried = true;
                    continue;
                }
                Ok(Err((_, e))) => return Err(Error::Transport(format!("request failed: {e}"))),
                Ok(Ok((parts, body))) => {
                    body?;
                    (parts, std::mem::take(&mut buffer))
                }
            };
            self.sender = Some(sender);
            let challenges: Vec<String> = parts
                .headers
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            if parts.status == StatusCode::UNAUTHORIZED {
                rounds += 1;
                if rounds > MAX_AUTH_ROUNDS || !self.auth.on_unauthorized(&challenges)? {
                    return Err(Error::Auth(format!(
                        "the server refused {} authentication",
                        self.auth.scheme()
                    )));
                }
                continue;
            }
            self.auth.on_response(&challenges)?;
            if handshake && parts.status.is_success() {
                // Authenticated: now the request itself, sealed.
                continue;
            }
            let content_type = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let body = self.auth.unseal(&content_type, body)?;
            // A sealed fault is SOAP once unsealed.
            let soap_fault = parts.status == StatusCode::INTERNAL_SERVER_ERROR
                && (content_type.contains("soap") || content_type.contains("multipart/encrypted"))
                && !body.is_empty();
            if parts.status.is_success() || soap_fault {
                return Ok(body);
            }
            // The server's text, for an operator's log: one escaped line.
            let detail = crate::untrusted::for_log(
                String::from_utf8_lossy(&body[..body.len().min(300)]).trim(),
                300,
            );
            return Err(Error::Http {
                status: parts.status.as_u16(),
                detail: if detail.is_empty() {
                    parts
                        .status
                        .canonical_reason()
                        .unwrap_or("no detail")
                        .to_string()
                } else {
                    detail
                },
            });
        }
    }
}

/// Reads a response body into `buffer` (emptied first), refusing one over
/// [`MAX_RESPONSE_BYTES`] as soon as it passes the limit.
async fn read_body(mut body: hyper::body::Incoming, buffer: &mut Vec<u8>) -> Result<(), Error> {
    buffer.clear();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Error::Transport(format!("reading the response failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buffer.len().saturating_add(data.len()) > MAX_RESPONSE_BYTES {
                return Err(Error::Transport(format!(
                    "reading the response failed: the body is over {} MiB",
                    MAX_RESPONSE_BYTES >> 20
                )));
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(())
}

async fn handshake<T>(io: TokioIo<T>) -> Result<SendRequest<Full<Bytes>>, Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .read_buf_exact_size(Some(READ_BUFFER))
        .handshake(io)
        .await
        .map_err(|e| Error::Transport(format!("HTTP handshake failed: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("PowerShell endpoint connection ended: {e}");
        }
    });
    Ok(sender)
}
