//! The seam between HTTP and SOAP: an [`Authenticator`] decides the
//! Authorization header of each request, reacts to 401 challenges, and may
//! seal/unseal bodies (WinRM message encryption with Kerberos over http).
//! A connection-bound scheme resets its context on every new connection.

use base64::Engine as _;

use super::error::Error;

pub const SOAP_CONTENT_TYPE: &str = "application/soap+xml;charset=UTF-8";

/// A request body as it goes on the wire.
#[derive(Debug, Clone)]
pub struct SealedBody {
    pub content_type: String,
    pub body: Vec<u8>,
}

pub trait Authenticator: Send {
    /// The scheme, for messages (`Basic`, `Negotiate`...).
    fn scheme(&self) -> &'static str;

    /// A new TCP connection was opened: forget any per-connection context.
    fn on_new_connection(&mut self) {}

    /// The Authorization header value for the next request, if any.
    fn authorization(&mut self) -> Result<Option<String>, Error>;

    /// The server answered 401 with these `WWW-Authenticate` values. Returns
    /// true to retry the request (another leg of a handshake), false when
    /// the credentials were refused.
    fn on_unauthorized(&mut self, challenges: &[String]) -> Result<bool, Error>;

    /// A non-401 answer arrived with these `WWW-Authenticate` values (the
    /// mutual-authentication token of Kerberos).
    fn on_response(&mut self, _challenges: &[String]) -> Result<(), Error> {
        Ok(())
    }

    /// True while a sealing scheme has no context on this connection: the
    /// transport then sends the handshake with an empty body (nothing can
    /// be sealed yet) and the real request after it.
    fn awaiting_handshake(&self) -> bool {
        false
    }

    /// Wraps a SOAP body for the wire.
    fn seal(&mut self, soap: Vec<u8>) -> Result<SealedBody, Error> {
        Ok(SealedBody {
            content_type: SOAP_CONTENT_TYPE.into(),
            body: soap,
        })
    }

    /// Unwraps a response body given its Content-Type.
    fn unseal(&mut self, _content_type: &str, body: Vec<u8>) -> Result<Vec<u8>, Error> {
        Ok(body)
    }
}

#[derive(Debug, Default)]
pub struct NoAuthenticator;

impl Authenticator for NoAuthenticator {
    fn scheme(&self) -> &'static str {
        "None"
    }

    fn authorization(&mut self) -> Result<Option<String>, Error> {
        Ok(None)
    }

    fn on_unauthorized(&mut self, challenges: &[String]) -> Result<bool, Error> {
        Err(Error::Auth(format!(
            "the server requires authentication ({}) but none is configured",
            challenges.join(", ")
        )))
    }
}

pub struct BasicAuthenticator {
    header: String,
    username: String,
}

impl BasicAuthenticator {
    pub fn new(username: &str, password: &super::Secret) -> BasicAuthenticator {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{username}:{}", password.expose()));
        BasicAuthenticator {
            header: format!("Basic {token}"),
            username: username.to_string(),
        }
    }
}

impl std::fmt::Debug for BasicAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthenticator")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Authenticator for BasicAuthenticator {
    fn scheme(&self) -> &'static str {
        "Basic"
    }

    fn authorization(&mut self) -> Result<Option<String>, Error> {
        Ok(Some(self.header.clone()))
    }

    fn on_unauthorized(&mut self, _challenges: &[String]) -> Result<bool, Error> {
        Err(Error::Auth(format!(
            "the server refused Basic credentials for user '{}': check the login and password, and that Basic authentication is enabled on the endpoint",
            self.username
        )))
    }
}
