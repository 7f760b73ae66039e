//! The agent's settings: Usercube's `appsettings.agent.json` shape plus our
//! own keys. Every error names the file, the key and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::limits::Limits;

/// A settings problem, precise enough for an operator to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {problem}{}", fix.as_ref().map(|f| format!(" Fix: {f}")).unwrap_or_default())]
pub struct SettingsError {
    pub file: String,
    pub key: String,
    pub problem: String,
    pub fix: Option<String>,
}

/// A secret value: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// Kerberos through the system's GSSAPI (ambient credentials, or Login +
    /// Password, or a client keytab).
    Kerberos,
    /// Login + Password. Over http only with `AllowUnencrypted`.
    Basic,
    /// No authentication: test endpoints only (the simulator's `--auth none`).
    None,
    /// A scripted backend: `Server` is a fixture file (see docs/replay.md).
    Replay,
}

impl AuthType {
    const NAMES: &'static str = "Kerberos, Basic, Replay or None";

    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "kerberos" => Some(AuthType::Kerberos),
            "basic" => Some(AuthType::Basic),
            "none" => Some(AuthType::None),
            "replay" => Some(AuthType::Replay),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    /// The endpoint URL (`http://<fqdn>/PowerShell/`) or, for `Replay`, the
    /// fixture file resolved against the settings file's folder.
    pub server: String,
    pub auth: AuthType,
    pub login: Option<String>,
    pub password: Option<Secret>,
    pub allow_unencrypted: bool,
    pub configuration_name: String,
    pub ca_file: Option<PathBuf>,
    /// `ClientKeytab` (Kerberos): a service account's keytab; `Login`
    /// then picks its principal.
    pub client_keytab: Option<PathBuf>,
    /// `None`: the default Exchange component.
    pub component_path: Option<PathBuf>,
    pub limits: Limits,
    /// `EntityTypes`: extra target entity type identifiers of fulfill
    /// orders, each mapped to `mailbox` or `database` (lower case).
    pub entity_types: Vec<(String, String)>,
    /// `Grants`: narrows, per operation, the cmdlets a job may run.
    pub grants: crate::grants::GrantSettings,
    /// `ComponentSha256`: the only component digest this connection loads.
    pub component_sha256: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub file: PathBuf,
    pub temp_folder: PathBuf,
    pub work_folder: PathBuf,
    pub component_cache: PathBuf,
    pub connections: BTreeMap<String, Connection>,
}

impl Settings {
    pub fn export_output(&self) -> PathBuf {
        self.temp_folder.join("ExportOutput")
    }

    pub fn export_cookies(&self) -> PathBuf {
        self.work_folder.join("ExportCookies")
    }

    pub fn connection(&self, id: &str) -> Result<&Connection, SettingsError> {
        self.connections.get(id).ok_or_else(|| {
            let known: Vec<&str> = self.connections.keys().map(String::as_str).collect();
            SettingsError {
                file: self.file.display().to_string(),
                key: format!("Connections.{id}"),
                problem: "no such connection".into(),
                fix: Some(if known.is_empty() {
                    "add it under \"Connections\"".into()
                } else {
                    format!("use one of: {}", known.join(", "))
                }),
            }
        })
    }

    pub fn load(file: &Path) -> Result<Settings, SettingsError> {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| SettingsError {
            file: name.clone(),
            key: "(file)".into(),
            problem: format!("cannot read: {e}"),
            fix: Some("pass the path of appsettings.agent.json with --settings".into()),
        })?;
        let base = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Settings::parse(&text, &name, &base)
    }

    /// Parses settings text; relative paths resolve against `base`.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Settings, SettingsError> {
        let ctx = Ctx { file, base };
        let root: Value = serde_json::from_str(text).map_err(|e| {
            ctx.err(
                "(file)",
                format!(
                    "not valid JSON at line {}, column {}: {e}",
                    e.line(),
                    e.column()
                ),
                "fix the JSON syntax (a trailing comma or a missing quote is the usual cause)",
            )
        })?;
        let root = root.as_object().ok_or_else(|| {
            ctx.err(
                "(root)",
                "must be a JSON object",
                "wrap the settings in { }",
            )
        })?;

        let temp_folder = ctx.path_or(root, "TempFolderPath", "Temp")?;
        let work_folder = ctx.path_or(root, "WorkFolderPath", "Work")?;
        let component_cache = match ctx.opt_str(root, "ComponentCachePath", "ComponentCachePath")? {
            Some(p) => base.join(p),
            None => work_folder.join("ComponentCache"),
        };

        let conns = match root.get("Connections") {
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(ctx.err(
                    "Connections",
                    "must be an object of connections by identifier",
                    "write \"Connections\": { \"MyExchange\": { ... } }",
                ))
            }
            None => return Err(ctx.err(
                "Connections",
                "missing",
                "add \"Connections\": { \"<identifier>\": { \"Server\": ..., \"AuthType\": ... } }",
            )),
        };
        let mut connections = BTreeMap::new();
        for (id, value) in conns {
            let conn = ctx.connection(id, value)?;
            connections.insert(id.clone(), conn);
        }
        Ok(Settings {
            file: PathBuf::from(file),
            temp_folder,
            work_folder,
            component_cache,
            connections,
        })
    }
}

/// Usercube's identifier rules: no leading digit, none of `< > : " / \ | ? * _`.
pub fn validate_identifier(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the connection identifier is empty".into());
    }
    if id.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "the connection identifier '{id}' begins with a digit, which Usercube forbids"
        ));
    }
    const FORBIDDEN: &[char] = &['<', '>', ':', '"', '/', '\\', '|', '?', '*', '_'];
    if let Some(c) = id.chars().find(|c| FORBIDDEN.contains(c) || c.is_control()) {
        return Err(format!(
            "the connection identifier '{id}' contains '{}', which is not allowed (forbidden: < > : \" / \\ | ? * _)",
            c.escape_default()
        ));
    }
    Ok(())
}

struct Ctx<'a> {
    file: &'a str,
    base: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, key: &str, problem: impl Into<String>, fix: impl Into<String>) -> SettingsError {
        SettingsError {
            file: self.file.to_string(),
            key: key.to_string(),
            problem: problem.into(),
            fix: Some(fix.into()),
        }
    }

    fn opt_str<'v>(
        &self,
        obj: &'v Map<String, Value>,
        name: &str,
        key: &str,
    ) -> Result<Option<&'v str>, SettingsError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(
                key,
                format!("must be a string, found {}", kind(other)),
                format!("write \"{name}\": \"...\""),
            )),
        }
    }

    fn opt_bool(
        &self,
        obj: &Map<String, Value>,
        name: &str,
        key: &str,
    ) -> Result<bool, SettingsError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(other) => Err(self.err(
                key,
                format!("must be true or false, found {}", kind(other)),
                format!("write \"{name}\": true or false"),
            )),
        }
    }

    fn path_or(
        &self,
        obj: &Map<String, Value>,
        name: &str,
        default: &str,
    ) -> Result<PathBuf, SettingsError> {
        let rel = self.opt_str(obj, name, name)?.unwrap_or(default);
        Ok(self.base.join(rel))
    }

    fn connection(&self, id: &str, value: &Value) -> Result<Connection, SettingsError> {
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
        let password = self
            .opt_str(obj, "Password", &key("Password"))?
            .map(Secret::new);
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
        match (auth, &login, &password) {
            (AuthType::Basic, None, _) => {
                return Err(self.err(
                    &key("Login"),
                    "missing (AuthType Basic needs Login and Password)",
                    "set Login to the account, e.g. CONTOSO\\svc-idconn",
                ))
            }
            (AuthType::Basic, Some(_), None) => {
                return Err(self.err(
                    &key("Password"),
                    "missing (AuthType Basic needs Login and Password)",
                    "set Password",
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
        if auth == AuthType::Basic && server.starts_with("http://") && !allow_unencrypted {
            return Err(self.err(
                &key("AllowUnencrypted"),
                "Basic authentication over plain http sends the password in clear text and is refused",
                "use https:// in Server, or AuthType Kerberos, or set AllowUnencrypted to true (test servers only)",
            ));
        }
        let configuration_name = self
            .opt_str(obj, "ConfigurationName", &key("ConfigurationName"))?
            .unwrap_or("Microsoft.Exchange")
            .to_string();
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

        let entity_types = self.entity_types(obj, &key("EntityTypes"))?;
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
        })
    }

    /// `"EntityTypes": {"MyMailbox": "mailbox", "MyDatabase": "database"}`.
    fn entity_types(
        &self,
        obj: &Map<String, Value>,
        key: &str,
    ) -> Result<Vec<(String, String)>, SettingsError> {
        const FIX: &str =
            "write \"EntityTypes\": { \"<TargetEntityType identifier>\": \"mailbox\" or \"database\" }";
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
            let entity = match value {
                Value::String(s) if s.eq_ignore_ascii_case("mailbox") => "mailbox",
                Value::String(s) if s.eq_ignore_ascii_case("database") => "database",
                Value::String(s) => {
                    return Err(self.err(
                        &entity_key,
                        format!("unknown entity '{s}'"),
                        "use \"mailbox\" or \"database\"",
                    ))
                }
                other => {
                    return Err(self.err(
                        &entity_key,
                        format!("must be a string, found {}", kind(other)),
                        "use \"mailbox\" or \"database\"",
                    ))
                }
            };
            mapping.push((identifier.clone(), entity.to_string()));
        }
        Ok(mapping)
    }
}

fn validate_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("'{url}' is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("'{url}' has no host name"));
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod entity_types_tests {
    use super::*;

    fn parse_entity_types(value: &str) -> Result<Vec<(String, String)>, String> {
        let text = format!(
            r#"{{ "Connections": {{ "Exchange": {{ "Server": "http://mbx.contoso.com/PowerShell/", "AuthType": "Kerberos", "EntityTypes": {value} }} }} }}"#
        );
        Settings::parse(&text, "appsettings.agent.json", Path::new("/agent"))
            .map(|s| s.connections["Exchange"].entity_types.clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn entity_types_map_identifiers_to_mailbox_or_database() {
        let mapping =
            parse_entity_types(r#"{"HR_MailUser": "Mailbox", "Infra_Store": "database"}"#).unwrap();
        assert_eq!(
            mapping,
            [
                ("HR_MailUser".to_string(), "mailbox".to_string()),
                ("Infra_Store".to_string(), "database".to_string())
            ]
        );
        assert!(parse_entity_types("null").unwrap().is_empty());
    }

    #[test]
    fn a_wrong_entity_type_names_the_key_and_the_fix() {
        let e = parse_entity_types(r#"{"HR_MailUser": "contact"}"#).unwrap_err();
        assert!(
            e.contains("Connections.Exchange.EntityTypes.HR_MailUser: unknown entity 'contact'"),
            "{e}"
        );
        assert!(e.contains("\"mailbox\" or \"database\""), "{e}");
        let e = parse_entity_types(r#"{"HR_MailUser": 1}"#).unwrap_err();
        assert!(e.contains("must be a string, found a number"), "{e}");
        let e = parse_entity_types(r#"["HR_MailUser"]"#).unwrap_err();
        assert!(
            e.contains("Connections.Exchange.EntityTypes: must be an object"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod client_keytab_tests {
    use super::*;

    fn parse(connection: &str) -> Result<Connection, String> {
        let text = format!(r#"{{ "Connections": {{ "Exchange": {connection} }} }}"#);
        Settings::parse(&text, "appsettings.agent.json", Path::new("/agent"))
            .map(|s| s.connections["Exchange"].clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_client_keytab_is_resolved_and_login_needs_no_password_with_it() {
        let c = parse(
            r#"{ "Server": "http://mbx.contoso.com/PowerShell/", "AuthType": "Kerberos", "Login": "svc-idconn", "ClientKeytab": "svc.keytab" }"#,
        )
        .unwrap();
        assert_eq!(c.client_keytab, Some(PathBuf::from("/agent/svc.keytab")));
        assert_eq!(c.login.as_deref(), Some("svc-idconn"));
    }

    #[test]
    fn a_client_keytab_with_a_password_or_without_kerberos_is_refused() {
        let e = parse(
            r#"{ "Server": "http://mbx.contoso.com/PowerShell/", "AuthType": "Kerberos", "Login": "a", "Password": "p", "ClientKeytab": "k" }"#,
        )
        .unwrap_err();
        assert!(e.contains("Connections.Exchange.Password"), "{e}");
        assert!(e.contains("ClientKeytab"), "{e}");
        let e = parse(
            r#"{ "Server": "https://mbx.contoso.com/PowerShell/", "AuthType": "Basic", "Login": "a", "Password": "p", "ClientKeytab": "k" }"#,
        )
        .unwrap_err();
        assert!(e.contains("only AuthType Kerberos"), "{e}");
    }
}
