//! One connection's settings: `Connections.<id>`.

use serde_json::{Map, Value};

use super::reader::{kind, validate_url, Ctx};
use super::{validate_identifier, AuthType, Connection, SettingsError};
use crate::limits::Limits;

/// `IncrementalOverlapSeconds`: each incremental window starts this long
/// before the previous export's start. whenChanged is stamped by the DC
/// that applied a change, with its own clock (Kerberos tolerates 5 minutes
/// of skew), and a change replicates to the DC that answers the next export
/// minutes later; 15 minutes covers both with room. A longer overlap only
/// repeats `Update` rows.
pub const DEFAULT_INCREMENTAL_OVERLAP_SECONDS: u64 = 900;
const MAX_INCREMENTAL_OVERLAP_SECONDS: u64 = 7 * 24 * 3600;
/// `MaxRetries`: reconnections and throttling waits one job may use.
pub const DEFAULT_MAX_RETRIES: u64 = 3;
const MAX_MAX_RETRIES: u64 = 100;

/// `MaxParallelPipelines` when absent: one pipeline at a time.
pub const DEFAULT_MAX_PARALLEL_PIPELINES: u64 = 1;
const MAX_MAX_PARALLEL_PIPELINES: u64 = 64;
/// `Options`: entries and JSON bytes, far above any connector's needs.
const MAX_OPTIONS: usize = 256;
const MAX_OPTIONS_BYTES: usize = 64 << 10;

impl Ctx<'_> {
    pub(super) fn connection(&self, id: &str, value: &Value) -> Result<Connection, SettingsError> {
        let key = |k: &str| format!("Connections.{id}.{k}");
        validate_identifier(id).map_err(|problem| {
            self.err(
                &format!("Connections.{id}"),
                problem,
                "rename the connection: start with a letter, use letters, digits, '-' or '.'",
            )
        })?;
        let obj = value.as_object().ok_or_else(|| {
            self.err(
                &format!("Connections.{id}"),
                "must be an object",
                "write { \"Server\": ..., \"AuthType\": ... }",
            )
        })?;

        let auth_text = self
            .opt_str(obj, "AuthType", &key("AuthType"))?
            .ok_or_else(|| {
                self.err(
                    &key("AuthType"),
                    "missing",
                    format!("set it to {}", AuthType::NAMES),
                )
            })?;
        let auth = AuthType::parse(auth_text).ok_or_else(|| {
            self.err(
                &key("AuthType"),
                format!("unknown value '{auth_text}'"),
                format!("use {}", AuthType::NAMES),
            )
        })?;

        let server = self
            .opt_str(obj, "Server", &key("Server"))?
            .ok_or_else(|| {
                let fix = if auth == AuthType::Replay {
                    "set it to the path of a replay fixture file"
                } else {
                    "set it to http://<server FQDN>/PowerShell/"
                };
                self.err(&key("Server"), "missing", fix)
            })?;
        let server = if auth == AuthType::Replay {
            self.base.join(server).display().to_string()
        } else {
            validate_url(server).map_err(|p| {
                self.err(
                    &key("Server"),
                    p,
                    "write it as http://<server FQDN>/PowerShell/",
                )
            })?;
            server.to_string()
        };

        let login = self
            .opt_str(obj, "Login", &key("Login"))?
            .map(str::to_string);
        let password = self.secret(obj.get("Password"), &key("Password"))?;
        let client_keytab = self
            .opt_str(obj, "ClientKeytab", &key("ClientKeytab"))?
            .map(|p| self.base.join(p));
        match (auth, &client_keytab) {
            (AuthType::Kerberos, Some(_)) if password.is_some() => {
                return Err(self.err(
                    &key("Password"),
                    "set together with ClientKeytab: the ticket comes from one or the other",
                    "remove Password to use the keytab, or remove ClientKeytab",
                ))
            }
            (AuthType::Kerberos, _) | (_, None) => {}
            (_, Some(_)) => {
                return Err(self.err(
                    &key("ClientKeytab"),
                    "only AuthType Kerberos uses a client keytab",
                    "set AuthType to Kerberos, or remove ClientKeytab",
                ))
            }
        }
        let needs_both = |name: &str| format!("missing (AuthType {name} needs Login and Password)");
        match (auth, &login, &password) {
            (AuthType::Basic | AuthType::HttpBasic, None, _) => {
                return Err(self.err(
                    &key("Login"),
                    needs_both(if auth == AuthType::Basic {
                        "Basic"
                    } else {
                        "HttpBasic"
                    }),
                    "set Login to the account, e.g. CONTOSO\\svc-idconn",
                ))
            }
            (AuthType::Basic | AuthType::HttpBasic, Some(_), None) => {
                return Err(self.err(
                    &key("Password"),
                    needs_both(if auth == AuthType::Basic {
                        "Basic"
                    } else {
                        "HttpBasic"
                    }),
                    format!(
                        "set Password to the password or to a reference: {}",
                        crate::secrets::REFERENCE_FORMS
                    ),
                ))
            }
            (AuthType::Kerberos, Some(_), None) if client_keytab.is_none() => {
                return Err(self.err(
                    &key("Password"),
                    "missing: Login is set, so Kerberos gets a ticket with Login and Password",
                    "set Password, or remove Login to use the ticket cache",
                ))
            }
            (AuthType::Kerberos, None, Some(_)) => {
                return Err(self.err(
                    &key("Login"),
                    "missing: Password is set without Login",
                    "set Login, or remove Password to use the ticket cache",
                ))
            }
            _ => {}
        }

        let allow_unencrypted = self.opt_bool(obj, "AllowUnencrypted", &key("AllowUnencrypted"))?;
        // Usercube has no AllowUnencrypted: a Basic connection with it was
        // written for idconn's former Basic, which was HTTP Basic. Taking it
        // as Kerberos now would fail later with a puzzling Kerberos error.
        if auth == AuthType::Basic && obj.get("AllowUnencrypted").is_some_and(|v| !v.is_null()) {
            return Err(self.err(
                &key("AuthType"),
                "Basic is Usercube's meaning, Kerberos with Login and Password (sealed), and AllowUnencrypted only applies to HTTP Basic",
                "write \"AuthType\": \"HttpBasic\" for HTTP Basic, or remove AllowUnencrypted for Kerberos with Login and Password",
            ));
        }
        if auth == AuthType::HttpBasic && server.starts_with("http://") && !allow_unencrypted {
            return Err(self.err(
                &key("AllowUnencrypted"),
                "HTTP Basic authentication over plain http sends the password in clear text and is refused",
                "use https:// in Server, or AuthType Basic or Kerberos (Kerberos, sealed), or set AllowUnencrypted to true (test servers only)",
            ));
        }
        let configuration_name = self
            .opt_str(obj, "ConfigurationName", &key("ConfigurationName"))?
            .map(str::to_string);
        let ca_file = self
            .opt_str(obj, "CaFile", &key("CaFile"))?
            .map(|p| self.base.join(p));
        let component_path = self
            .opt_str(obj, "ComponentPath", &key("ComponentPath"))?
            .map(|p| self.base.join(p));
        let limits = match obj.get("Limits") {
            None | Some(Value::Null) => Limits::default(),
            Some(v) => Limits::from_json(v).map_err(|(k, problem)| {
                self.err(
                    &key(&format!("Limits.{k}")),
                    problem,
                    "see the Limits table in README.md",
                )
            })?,
        };

        let incremental_overlap = std::time::Duration::from_secs(self.opt_u64(
            obj,
            "IncrementalOverlapSeconds",
            &key("IncrementalOverlapSeconds"),
            DEFAULT_INCREMENTAL_OVERLAP_SECONDS,
            MAX_INCREMENTAL_OVERLAP_SECONDS,
        )?);
        let max_retries = self.opt_u64(
            obj,
            "MaxRetries",
            &key("MaxRetries"),
            DEFAULT_MAX_RETRIES,
            MAX_MAX_RETRIES,
        )? as u32;
        let entity_types = self.entity_types(obj, &key("EntityTypes"))?;
        let options = self.options(obj, &key("Options"))?;
        let max_parallel_pipelines = self.opt_u64(
            obj,
            "MaxParallelPipelines",
            &key("MaxParallelPipelines"),
            DEFAULT_MAX_PARALLEL_PIPELINES,
            MAX_MAX_PARALLEL_PIPELINES,
        )? as u32;
        if max_parallel_pipelines == 0 {
            return Err(self.err(
                &key("MaxParallelPipelines"),
                "must be at least 1",
                "remove it, or set a number from 1",
            ));
        }
        let grants = match obj.get("Grants") {
            None | Some(Value::Null) => crate::grants::GrantSettings::default(),
            Some(v) => crate::grants::GrantSettings::from_json(v).map_err(|(k, problem)| {
                let at = if k.is_empty() {
                    key("Grants")
                } else {
                    key(&format!("Grants.{k}"))
                };
                self.err(
                    &at,
                    problem,
                    "write \"Grants\": { \"export\": [\"Get-Mailbox\", ...], \"fulfill\": [...] }",
                )
            })?,
        };
        let component_sha256 =
            match self.opt_str(obj, "ComponentSha256", &key("ComponentSha256"))? {
                None => None,
                Some(d) if d.len() == 64 && d.chars().all(|c| c.is_ascii_hexdigit()) => {
                    Some(d.to_ascii_lowercase())
                }
                Some(_) => {
                    return Err(self.err(
                        &key("ComponentSha256"),
                        "must be 64 hexadecimal digits",
                        "copy the sha256 line of `idconn inspect <component.wasm>`",
                    ))
                }
            };

        Ok(Connection {
            id: id.to_string(),
            server,
            auth,
            login,
            password,
            allow_unencrypted,
            configuration_name,
            ca_file,
            client_keytab,
            component_path,
            limits,
            entity_types,
            grants,
            component_sha256,
            incremental_overlap,
            max_retries,
            options,
            max_parallel_pipelines,
            retryable_errors: Vec::new(),
        })
    }

    /// `"Options": {...}`: the connector's own settings, each value passed
    /// to the component as JSON text. Bounded: it crosses into the sandbox
    /// with every request.
    fn options(
        &self,
        obj: &Map<String, Value>,
        key: &str,
    ) -> Result<Vec<(String, String)>, SettingsError> {
        const FIX: &str = "write \"Options\": { \"<name>\": <any JSON value> } as the connector's documentation says";
        let map = match obj.get("Options") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(self.err(
                    key,
                    format!("must be an object, found {}", kind(other)),
                    FIX,
                ))
            }
        };
        if map.len() > MAX_OPTIONS {
            return Err(self.err(
                key,
                format!(
                    "has {} entries; at most {MAX_OPTIONS} are accepted",
                    map.len()
                ),
                FIX,
            ));
        }
        let mut options = Vec::with_capacity(map.len());
        let mut total = 0usize;
        for (name, value) in map {
            let text = value.to_string();
            total = total.saturating_add(name.len() + text.len());
            if total > MAX_OPTIONS_BYTES {
                return Err(self.err(
                    key,
                    format!("is larger than {MAX_OPTIONS_BYTES} bytes as JSON"),
                    FIX,
                ));
            }
            options.push((name.clone(), text));
        }
        Ok(options)
    }

    /// `"EntityTypes": {"MyMailbox": "mailbox", "MyDatabase": "database"}`.
    fn entity_types(
        &self,
        obj: &Map<String, Value>,
        key: &str,
    ) -> Result<Vec<(String, String)>, SettingsError> {
        const FIX: &str =
            "write \"EntityTypes\": { \"<TargetEntityType identifier>\": \"<an entity kind the connector declares>\" }";
        let map = match obj.get("EntityTypes") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(self.err(
                    key,
                    format!("must be an object, found {}", kind(other)),
                    FIX,
                ))
            }
        };
        let mut mapping = Vec::with_capacity(map.len());
        for (identifier, value) in map {
            let entity_key = format!("{key}.{identifier}");
            if identifier.trim().is_empty() {
                return Err(self.err(key, "holds an empty identifier", FIX));
            }
            // Which kinds exist is the component's to say: checked against
            // its manifest when it is loaded (`jobs::check_entity_types`).
            let entity = match value {
                Value::String(s) if crate::manifest::is_entity_kind(&s.to_ascii_lowercase()) => {
                    s.to_ascii_lowercase()
                }
                Value::String(s) => {
                    return Err(self.err(
                        &entity_key,
                        format!(
                            "'{}' is not an entity kind",
                            idconn_psrp::untrusted::for_log(s, 64)
                        ),
                        "use an entity kind the connector declares, e.g. \"mailbox\"",
                    ))
                }
                other => {
                    return Err(self.err(
                        &entity_key,
                        format!("must be a string, found {}", kind(other)),
                        "use an entity kind the connector declares, e.g. \"mailbox\"",
                    ))
                }
            };
            mapping.push((identifier.clone(), entity));
        }
        Ok(mapping)
    }
}
