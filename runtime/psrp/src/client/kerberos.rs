//! Kerberos for the client: SPNEGO `Negotiate` or raw `Kerberos`, mutual
//! authentication, and WinRM message sealing over plain http.
//!
//! The security context belongs to one TCP connection: a new connection
//! starts a new handshake. Over http the first authenticated request
//! carries an empty body (nothing can be sealed before the context
//! exists); the real request follows, sealed, once the server's
//! mutual-authentication token has completed the context.

use super::auth::{Authenticator, SealedBody, SOAP_CONTENT_TYPE};
use super::error::Error;
use crate::gss::{self, ClientCredentials};
use crate::krb5::{Context, Credential, Mechanism, Sealer};
use crate::sealing::{self, Protocol};
use base64::Engine as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// No context on this connection yet.
    Idle,
    /// The first token went out; waiting for the server's answer.
    Sent,
    /// Mutually authenticated: bodies are sealed (over http).
    Established,
}

pub struct KerberosAuthenticator {
    protocol: Protocol,
    host: String,
    spn: String,
    credentials: ClientCredentials,
    /// Acquired once and reused by every connection's context (a password
    /// or keytab ticket is not fetched again per connection).
    cred: Option<Credential>,
    /// The handshake of this connection.
    context: Option<Context>,
    /// The established context's sealing (over http).
    sealer: Option<Sealer>,
    stage: Stage,
    seal: bool,
    /// The scheme was switched once after the server offered only the
    /// other one.
    switched: bool,
}

impl std::fmt::Debug for KerberosAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosAuthenticator")
            .field("protocol", &self.protocol)
            .field("spn", &self.spn)
            .field("credentials", &self.credentials)
            .field("stage", &self.stage)
            .field("seal", &self.seal)
            .finish_non_exhaustive()
    }
}

impl KerberosAuthenticator {
    /// `host` is the endpoint's host name (the SPN is `HTTP/<host>`);
    /// `seal` is true over plain http.
    pub fn new(
        protocol: Protocol,
        host: &str,
        credentials: ClientCredentials,
        seal: bool,
    ) -> KerberosAuthenticator {
        KerberosAuthenticator {
            protocol,
            host: host.to_string(),
            spn: format!("HTTP/{host}"),
            credentials,
            cred: None,
            context: None,
            sealer: None,
            stage: Stage::Idle,
            seal,
            switched: false,
        }
    }

    fn explain(&self, error: &libgssapi::error::Error) -> Error {
        Error::Auth(gss::explain(error, &self.credentials.describe(), &self.spn))
    }

    fn start(&mut self) -> Result<Vec<u8>, Error> {
        let cred = match &self.cred {
            Some(cred) => cred.clone(),
            None => {
                let cred =
                    gss::acquire_initiator(&self.credentials).map_err(|e| self.explain(&e))?;
                self.cred = Some(cred.clone());
                cred
            }
        };
        let target = gss::http_service_name(&self.host).map_err(|e| self.explain(&e))?;
        let mechanism = match self.protocol {
            Protocol::Spnego => Mechanism::Spnego,
            Protocol::Kerberos => Mechanism::Kerberos,
        };
        let mut context = Context::initiator(Some(cred), target, mechanism);
        let token = match context.step(None) {
            Ok(Some(token)) => token,
            Ok(None) => {
                return Err(Error::Auth(
                    "Kerberos produced no initial token".to_string(),
                ))
            }
            Err(e) => {
                // A failure may come from an expired ticket reused from the
                // cache: fetch credentials again next time.
                self.cred = None;
                return Err(self.explain(&e));
            }
        };
        self.context = Some(context);
        self.sealer = None;
        self.stage = Stage::Sent;
        Ok(token)
    }

    /// The token of our scheme in `WWW-Authenticate` values, if any.
    fn server_token(&self, challenges: &[String]) -> Result<Option<Vec<u8>>, Error> {
        for challenge in challenges {
            let mut words = challenge.trim().splitn(2, ' ');
            let scheme = words.next().unwrap_or_default();
            if !scheme.eq_ignore_ascii_case(self.protocol.scheme()) {
                continue;
            }
            let Some(token) = words.next().map(str::trim).filter(|t| !t.is_empty()) else {
                continue;
            };
            return base64::engine::general_purpose::STANDARD
                .decode(token)
                .map(Some)
                .map_err(|_| {
                    Error::Auth(format!(
                        "the server's {} token is not base64",
                        self.protocol.scheme()
                    ))
                });
        }
        Ok(None)
    }

    fn offers(challenges: &[String], protocol: Protocol) -> bool {
        challenges.iter().any(|c| {
            c.split_whitespace()
                .next()
                .is_some_and(|s| s.eq_ignore_ascii_case(protocol.scheme()))
        })
    }
}

impl Authenticator for KerberosAuthenticator {
    fn scheme(&self) -> &'static str {
        self.protocol.scheme()
    }

    fn on_new_connection(&mut self) {
        self.context = None;
        self.sealer = None;
        self.stage = Stage::Idle;
    }

    fn awaiting_handshake(&self) -> bool {
        self.seal && self.stage != Stage::Established
    }

    fn authorization(&mut self) -> Result<Option<String>, Error> {
        if self.stage == Stage::Established {
            return Ok(None);
        }
        let token = self.start()?;
        Ok(Some(format!(
            "{} {}",
            self.protocol.scheme(),
            base64::engine::general_purpose::STANDARD.encode(token)
        )))
    }

    fn on_unauthorized(&mut self, challenges: &[String]) -> Result<bool, Error> {
        let other = match self.protocol {
            Protocol::Spnego => Protocol::Kerberos,
            Protocol::Kerberos => Protocol::Spnego,
        };
        if !Self::offers(challenges, self.protocol) && Self::offers(challenges, other) {
            if self.switched {
                return Ok(false);
            }
            // The endpoint offers only the other scheme: use it.
            self.switched = true;
            self.protocol = other;
            self.on_new_connection();
            return Ok(true);
        }
        if self.stage == Stage::Sent {
            // A token in a 401 is a KRB-ERROR (skew, bad ticket...): let
            // GSSAPI say what it is.
            if let Some(token) = self.server_token(challenges)? {
                if let Some(context) = self.context.as_mut() {
                    if let Err(e) = context.step(Some(&token)) {
                        return Err(self.explain(&e));
                    }
                }
            }
            return Err(Error::Auth(format!(
                "the server refused the Kerberos ticket of {} for {}: check that {} is the SPN of the server's account (Server must be its FQDN), that the clocks of this machine and the server agree, and that the account may use the endpoint",
                self.credentials.describe(),
                self.spn,
                self.spn
            )));
        }
        // A 401 on an established connection: the server forgot the
        // context; authenticate again.
        self.on_new_connection();
        Ok(true)
    }

    fn on_response(&mut self, challenges: &[String]) -> Result<(), Error> {
        if self.stage != Stage::Sent {
            return Ok(());
        }
        let token = self.server_token(challenges)?;
        let Some(mut context) = self.context.take() else {
            return Err(Error::Auth("no Kerberos context for the answer".into()));
        };
        if let Some(token) = token {
            if let Err(e) = context.step(Some(&token)) {
                return Err(self.explain(&e));
            }
        }
        if !context.is_mutual() {
            return Err(Error::Auth(format!(
                "the server did not prove its identity (no mutual-authentication token from {}): refusing to continue",
                self.spn
            )));
        }
        if self.seal {
            // An AES context goes to our own sealing from here on.
            let sealer = context.into_sealer().map_err(|e| self.explain(&e))?;
            tracing::debug!(native = sealer.is_native(), "Kerberos session established");
            self.sealer = Some(sealer);
        }
        self.stage = Stage::Established;
        Ok(())
    }

    fn seal(&mut self, soap: Vec<u8>) -> Result<SealedBody, Error> {
        if !self.seal {
            return Ok(SealedBody {
                content_type: SOAP_CONTENT_TYPE.into(),
                body: soap,
            });
        }
        let Some(sealer) = self
            .sealer
            .as_mut()
            .filter(|_| self.stage == Stage::Established)
        else {
            return Err(Error::Auth(
                "cannot seal a message before Kerberos authentication".into(),
            ));
        };
        let body =
            sealing::seal(sealer, self.protocol, &soap).map_err(|e| Error::Auth(e.to_string()))?;
        Ok(SealedBody {
            content_type: self.protocol.content_type(),
            body,
        })
    }

    fn unseal(&mut self, content_type: &str, body: Vec<u8>) -> Result<Vec<u8>, Error> {
        // Server text in a SealingError is escaped where it is made
        // (sealing.rs), so it is not escaped twice here.
        let sealed =
            sealing::sealed_protocol(content_type).map_err(|e| Error::Protocol(e.to_string()))?;
        match (sealed, self.sealer.as_mut()) {
            (Some(protocol), Some(sealer)) if self.stage == Stage::Established => {
                sealing::unseal(sealer, protocol, body).map_err(|e| Error::Protocol(e.to_string()))
            }
            (Some(_), _) => Err(Error::Protocol(
                "a sealed answer arrived before Kerberos authentication completed".into(),
            )),
            (None, _)
                if self.seal
                    && self.stage == Stage::Established
                    && !body.is_empty()
                    && content_type.to_ascii_lowercase().contains("soap") =>
            {
                Err(Error::Protocol(
                    "the server answered in clear on a sealed Kerberos session: refusing it".into(),
                ))
            }
            (None, _) => Ok(body),
        }
    }
}

/// The authenticator for a configured endpoint: SPN from the URL's host,
/// sealing over plain http.
pub(super) fn for_config(
    config: &super::ClientConfig,
    credentials: &super::KerberosCredentials,
    scheme: super::KerberosScheme,
) -> Result<Box<dyn Authenticator>, Error> {
    let uri: hyper::Uri = config
        .endpoint
        .parse()
        .map_err(|e| Error::Config(format!("endpoint '{}' is not a URL: {e}", config.endpoint)))?;
    let host = uri
        .host()
        .ok_or_else(|| Error::Config(format!("endpoint '{}' has no host", config.endpoint)))?;
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return Err(Error::Config(format!(
            "Kerberos needs the server's FQDN in the endpoint, not the IP address {host}: the ticket is for HTTP/<FQDN>"
        )));
    }
    let seal = uri.scheme_str() != Some("https");
    let credentials = match credentials {
        super::KerberosCredentials::Ambient => ClientCredentials::Ambient,
        super::KerberosCredentials::Password {
            principal,
            password,
        } => ClientCredentials::Password {
            principal: principal.clone(),
            password: password.expose().to_string(),
        },
        super::KerberosCredentials::Keytab { keytab, principal } => ClientCredentials::Keytab {
            keytab: keytab.clone(),
            principal: principal.clone(),
        },
    };
    let protocol = match scheme {
        super::KerberosScheme::Negotiate => Protocol::Spnego,
        super::KerberosScheme::Kerberos => Protocol::Kerberos,
    };
    Ok(Box::new(KerberosAuthenticator::new(
        protocol,
        host,
        credentials,
        seal,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator() -> KerberosAuthenticator {
        KerberosAuthenticator::new(
            Protocol::Spnego,
            "mbx01.contoso.com",
            ClientCredentials::Ambient,
            true,
        )
    }

    #[test]
    fn a_server_offering_only_kerberos_gets_the_kerberos_scheme_once() {
        let mut auth = authenticator();
        assert_eq!(auth.scheme(), "Negotiate");
        assert!(auth.on_unauthorized(&["Kerberos".into()]).unwrap());
        assert_eq!(auth.scheme(), "Kerberos");
        assert!(auth.awaiting_handshake());
        // Offered only Negotiate again: no endless switching.
        assert!(!auth.on_unauthorized(&["Negotiate".into()]).unwrap());
    }

    #[test]
    fn nothing_is_sealed_or_accepted_sealed_before_the_handshake() {
        let mut auth = authenticator();
        assert!(auth.seal(b"<s:Envelope/>".to_vec()).is_err());
        let body = sealing::frame(Protocol::Spnego, 1, b"h", b"d");
        assert!(auth.unseal(&Protocol::Spnego.content_type(), body).is_err());
        // An answer without a body (a 401 page, the handshake's 200) is fine.
        assert!(auth.unseal("text/plain", Vec::new()).is_ok());
    }

    #[test]
    fn https_sends_soap_as_is() {
        let mut auth = KerberosAuthenticator::new(
            Protocol::Spnego,
            "mbx01.contoso.com",
            ClientCredentials::Ambient,
            false,
        );
        assert!(!auth.awaiting_handshake());
        let body = auth.seal(b"<s:Envelope/>".to_vec()).unwrap();
        assert_eq!(body.content_type, SOAP_CONTENT_TYPE);
    }

    #[test]
    fn an_ip_address_is_refused_with_the_reason() {
        let config = super::super::ClientConfig::new(
            "http://10.1.2.3/PowerShell/",
            super::super::Auth::None,
        );
        let Err(error) = for_config(
            &config,
            &super::super::KerberosCredentials::Ambient,
            super::super::KerberosScheme::Negotiate,
        ) else {
            panic!("an IP address was accepted");
        };
        assert!(error.to_string().contains("FQDN"), "{error}");
    }
}
