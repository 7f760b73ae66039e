//! The agent's settings: Usercube's `appsettings.agent.json` shape plus our
//! own keys. Every error names the file, the key and the fix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use zeroize::Zeroizing;

use crate::secrets::{overlay, zeroize_json};

use crate::limits::Limits;

mod connection;
mod reader;

pub(crate) use reader::kind as json_kind;
use reader::Ctx;

/// A settings problem, precise enough for an operator to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {problem}{}", fix.as_ref().map(|f| format!(" Fix: {f}")).unwrap_or_default())]
pub struct SettingsError {
    pub file: String,
    pub key: String,
    pub problem: String,
    pub fix: Option<String>,
}

pub use crate::secrets::Secret;
use crate::secrets::SecretSetting;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// Kerberos through the system's GSSAPI (ambient credentials, or Login +
    /// Password, or a client keytab).
    Kerberos,
    /// Usercube's `Basic`: explicit credentials, `Login` + `Password`, and
    /// Kerberos on the wire. Usercube's Export-Exchange.ps1 opens the session
    /// with `New-PSSession -Authentication Kerberos -Credential <Login,
    /// Password>` for `Basic` (reference/usercube-exchange-connector.md,
    /// "More facts from Usercube's own export script"), so a migrated
    /// settings file keeps its meaning: sealed, never HTTP Basic.
    Basic,
    /// HTTP Basic (`Authorization: Basic`), for HTTPS endpoints and the
    /// simulator. Login + Password; over http only with `AllowUnencrypted`.
    HttpBasic,
    /// No authentication: test endpoints only (the simulator's `--auth none`).
    None,
    /// A scripted backend: `Server` is a fixture file (see docs/replay.md).
    Replay,
}

impl AuthType {
    const NAMES: &'static str = "Kerberos, Basic, HttpBasic, Replay or None";

    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "kerberos" => Some(AuthType::Kerberos),
            "basic" => Some(AuthType::Basic),
            "httpbasic" => Some(AuthType::HttpBasic),
            "none" => Some(AuthType::None),
            "replay" => Some(AuthType::Replay),
            _ => None,
        }
    }
}

/// The session configuration when neither `ConfigurationName` nor the
/// component's manifest names one: PowerShell's own default endpoint
/// (about_Session_Configurations).
pub const DEFAULT_CONFIGURATION_NAME: &str = "Microsoft.PowerShell";

#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    /// The endpoint URL (`http://<fqdn>/PowerShell/`) or, for `Replay`, the
    /// fixture file resolved against the settings file's folder.
    pub server: String,
    pub auth: AuthType,
    pub login: Option<String>,
    /// `Password`: a value, or a reference read when a session opens
    /// ([`SecretSetting::resolve`]).
    pub password: Option<SecretSetting>,
    pub allow_unencrypted: bool,
    /// `ConfigurationName`; `None`: the component's manifest says
    /// (`configuration-name`), else [`DEFAULT_CONFIGURATION_NAME`].
    pub configuration_name: Option<String>,
    /// Error id prefixes the backend retries after a wait or a
    /// reconnection: the component's `retryable-errors`, filled in when a
    /// job's backend opens (`jobs::open_backend`).
    pub retryable_errors: Vec<String>,
    pub ca_file: Option<PathBuf>,
    /// `ClientKeytab` (Kerberos): a service account's keytab; `Login`
    /// then picks its principal.
    pub client_keytab: Option<PathBuf>,
    /// `ComponentPath` (resolved in `jobs::component_path`).
    pub component_path: Option<PathBuf>,
    pub limits: Limits,
    /// `EntityTypes`: extra target entity type identifiers of fulfill
    /// orders, each mapped to an entity kind (lower case) that the
    /// component declares (checked when the component is loaded).
    pub entity_types: Vec<(String, String)>,
    /// `Grants`: per operation, the cmdlets the operator approves
    /// (see `grants.rs`).
    pub grants: crate::grants::GrantSettings,
    /// `ComponentSha256`: the only component digest this connection loads.
    pub component_sha256: Option<String>,
    /// `IncrementalOverlapSeconds`: how far before the previous export's
    /// start the next incremental window begins.
    pub incremental_overlap: std::time::Duration,
    /// `MaxRetries`: how many times one job reconnects or waits out
    /// the server's throttling before failing.
    pub max_retries: u32,
    /// `Options`: the connector's own settings, passed through untouched
    /// as (name, JSON text).
    pub options: Vec<(String, String)>,
    /// `MaxParallelPipelines`: pipelines of one job that run at once, each
    /// on a shell of its own (see settings/connection.rs for the default).
    pub max_parallel_pipelines: u32,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub file: PathBuf,
    pub temp_folder: PathBuf,
    pub work_folder: PathBuf,
    pub component_cache: PathBuf,
    /// `ComponentCacheMaxMiB`: the compiled-component cache is pruned to
    /// this size, least recently used first (src/cache.rs).
    pub component_cache_max_mib: u64,
    pub connections: BTreeMap<String, Connection>,
    /// `AgentToken`: a value or a reference (the agent's bearer token when
    /// `IDCONN_AGENT_TOKEN` is not set).
    pub agent_token: Option<SecretSetting>,
    /// The encrypted overlay that was merged in, if there was one.
    pub overlay: Option<PathBuf>,
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

    /// Loads a settings file and its encrypted overlay, if there is one,
    /// decrypted with the identity of `IDCONN_AGE_IDENTITY`.
    pub fn load(file: &Path) -> Result<Settings, SettingsError> {
        Settings::load_with(file, None)
    }

    /// [`Settings::load`] with an identity file (`--identity`) that wins
    /// over `IDCONN_AGE_IDENTITY`.
    pub fn load_with(file: &Path, identity: Option<&Path>) -> Result<Settings, SettingsError> {
        let name = file.display().to_string();
        let text = Zeroizing::new(std::fs::read_to_string(file).map_err(|e| SettingsError {
            file: name.clone(),
            key: "(file)".into(),
            problem: format!("cannot read: {e}"),
            fix: Some("pass the path of appsettings.agent.json with --settings".into()),
        })?);
        let base = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut root = parse_json(&text, &name, &base)?;

        let overlay_file = overlay::overlay_path(file);
        let mut overlaid = BTreeSet::new();
        let overlay = if overlay_file.is_file() {
            let Some((identity, origin)) = overlay::identity_path(identity) else {
                zeroize_json(&mut root);
                return Err(SettingsError {
                    file: overlay_file.display().to_string(),
                    key: "(file)".into(),
                    problem:
                        "holds protected settings, and no age identity was given to decrypt them"
                            .into(),
                    fix: Some(format!(
                        "pass the identity file with --identity or set {}",
                        overlay::IDENTITY_ENV
                    )),
                });
            };
            let decrypted = overlay::read_identities(&identity, origin)
                .and_then(|ids| overlay::decrypt(&overlay_file, &ids, &identity, origin));
            match decrypted {
                Ok(values) => overlaid = overlay::merge(&mut root, values),
                Err(e) => {
                    zeroize_json(&mut root);
                    return Err(e);
                }
            }
            tracing::debug!(overlay = %overlay_file.display(), keys = overlaid.len(), "protected settings merged");
            Some(overlay_file)
        } else {
            if let Some(usercube) = overlay::usercube_file(file) {
                tracing::warn!(
                    "{} is Usercube's encrypted settings file, which idconn cannot read: protect its values again with `idconn protect`",
                    usercube.display()
                );
            }
            None
        };
        let overlay_name = overlay.as_ref().map(|p| p.display().to_string());
        let ctx = Ctx {
            file: &name,
            base: &base,
            overlay: overlay_name.as_deref().map(|n| (n, &overlaid)),
        };
        let settings = ctx.settings(&root, overlay.clone());
        zeroize_json(&mut root);
        settings
    }

    /// Parses settings text; relative paths resolve against `base`.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Settings, SettingsError> {
        let mut root = parse_json(text, file, base)?;
        let ctx = Ctx {
            file,
            base,
            overlay: None,
        };
        let settings = ctx.settings(&root, None);
        zeroize_json(&mut root);
        settings
    }
}

fn parse_json(text: &str, file: &str, base: &Path) -> Result<Value, SettingsError> {
    let ctx = Ctx {
        file,
        base,
        overlay: None,
    };
    serde_json::from_str(text).map_err(|e| {
        ctx.err(
            "(file)",
            format!(
                "not valid JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            ),
            "fix the JSON syntax (a trailing comma or a missing quote is the usual cause)",
        )
    })
}

impl Ctx<'_> {
    fn settings(&self, root: &Value, overlay: Option<PathBuf>) -> Result<Settings, SettingsError> {
        let ctx = self;
        let base = self.base;
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
        let component_cache_max_mib = ctx.opt_u64(
            root,
            "ComponentCacheMaxMiB",
            "ComponentCacheMaxMiB",
            crate::cache::DEFAULT_MAX_MIB,
            1 << 30,
        )?;

        let conns = match root.get("Connections") {
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(ctx.err(
                    "Connections",
                    "must be an object of connections by identifier",
                    "write \"Connections\": { \"MyConnection\": { ... } }",
                ))
            }
            None => return Err(ctx.err(
                "Connections",
                "missing",
                "add \"Connections\": { \"<identifier>\": { \"Server\": ..., \"AuthType\": ... } }",
            )),
        };
        // The top-level ComponentPath: every connection's component unless
        // the connection names its own.
        let component_path = ctx
            .opt_str(root, "ComponentPath", "ComponentPath")?
            .map(|p| base.join(p));
        let mut connections = BTreeMap::new();
        for (id, value) in conns {
            let mut conn = ctx.connection(id, value)?;
            if conn.component_path.is_none() {
                conn.component_path = component_path.clone();
            }
            connections.insert(id.clone(), conn);
        }
        let agent_token = ctx.secret(root.get("AgentToken"), "AgentToken")?;
        Ok(Settings {
            file: PathBuf::from(ctx.file),
            temp_folder,
            work_folder,
            component_cache,
            component_cache_max_mib,
            connections,
            agent_token,
            overlay,
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

#[cfg(test)]
mod entity_types_tests {
    use super::*;

    fn parse_entity_types(value: &str) -> Result<Vec<(String, String)>, String> {
        let text = format!(
            r#"{{ "Connections": {{ "Mail": {{ "Server": "http://mbx.contoso.com/PowerShell/", "AuthType": "Kerberos", "EntityTypes": {value} }} }} }}"#
        );
        Settings::parse(&text, "appsettings.agent.json", Path::new("/agent"))
            .map(|s| s.connections["Mail"].entity_types.clone())
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
        // Which kinds exist is the component's to say (checked when it is
        // loaded); the settings only refuse what is no kind at all.
        assert_eq!(
            parse_entity_types(r#"{"HR_MailUser": "contact"}"#).unwrap(),
            [("HR_MailUser".to_string(), "contact".to_string())]
        );
        let e = parse_entity_types(r#"{"HR_MailUser": "mail box"}"#).unwrap_err();
        assert!(
            e.contains(
                "Connections.Mail.EntityTypes.HR_MailUser: 'mail box' is not an entity kind"
            ),
            "{e}"
        );
        assert!(e.contains("an entity kind the connector declares"), "{e}");
        let e = parse_entity_types(r#"{"HR_MailUser": 1}"#).unwrap_err();
        assert!(e.contains("must be a string, found a number"), "{e}");
        let e = parse_entity_types(r#"["HR_MailUser"]"#).unwrap_err();
        assert!(
            e.contains("Connections.Mail.EntityTypes: must be an object"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod client_keytab_tests {
    use super::*;

    fn parse(connection: &str) -> Result<Connection, String> {
        let text = format!(r#"{{ "Connections": {{ "Mail": {connection} }} }}"#);
        Settings::parse(&text, "appsettings.agent.json", Path::new("/agent"))
            .map(|s| s.connections["Mail"].clone())
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
        assert!(e.contains("Connections.Mail.Password"), "{e}");
        assert!(e.contains("ClientKeytab"), "{e}");
        let e = parse(
            r#"{ "Server": "https://mbx.contoso.com/PowerShell/", "AuthType": "Basic", "Login": "a", "Password": "p", "ClientKeytab": "k" }"#,
        )
        .unwrap_err();
        assert!(e.contains("only AuthType Kerberos"), "{e}");
    }
}

#[cfg(test)]
mod export_settings_tests {
    use super::*;

    fn parse(extra: &str) -> Result<Connection, String> {
        let text = format!(
            r#"{{ "Connections": {{ "Mail": {{ "Server": "http://mbx.contoso.com/PowerShell/", "AuthType": "Kerberos"{extra} }} }} }}"#
        );
        Settings::parse(&text, "appsettings.agent.json", Path::new("/agent"))
            .map(|s| s.connections["Mail"].clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn overlap_and_retries_have_defaults_and_bounds() {
        let c = parse("").unwrap();
        assert_eq!(c.incremental_overlap, std::time::Duration::from_secs(900));
        assert_eq!(c.max_retries, 3);
        let c = parse(r#", "IncrementalOverlapSeconds": 3600, "MaxRetries": 0"#).unwrap();
        assert_eq!(c.incremental_overlap, std::time::Duration::from_secs(3600));
        assert_eq!(c.max_retries, 0);
        for bad in [
            r#", "IncrementalOverlapSeconds": -1"#,
            r#", "IncrementalOverlapSeconds": "900""#,
            r#", "IncrementalOverlapSeconds": 604801"#,
            r#", "MaxRetries": 101"#,
            r#", "MaxRetries": 1.5"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("Connections.Mail."), "{bad}: {e}");
            assert!(e.contains("a whole number from 0 to"), "{bad}: {e}");
        }
    }

    #[test]
    fn started_at_is_the_start_minus_the_overlap() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T09:00:00.750Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            crate::jobs::export_started_at(now, std::time::Duration::from_secs(900)),
            "2026-11-27T08:45:00Z"
        );
        assert_eq!(
            crate::jobs::export_started_at(now, std::time::Duration::ZERO),
            "2026-11-27T09:00:00Z"
        );
    }
}
