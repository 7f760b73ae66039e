//! Which cmdlets a job may run. The host checks every pipeline before a
//! backend sees it; a refusal is `error::denied` to the guest and an audit
//! line for the operator.
//!
//! What a job may run is the intersection of three sets:
//! - the operation's ceiling: an export or check job runs only `Get-*`,
//!   `Select-Object` and `Measure-Object`; a fulfill job also the write
//!   cmdlets the host allows it;
//! - what the component declares in its manifest (see `manifest.rs`);
//! - the connection's optional `Grants` setting, per operation.
//!
//! A component without a manifest declares nothing, so it gets nothing but
//! what the operator grants it in the connection's `Grants` setting for the
//! operation (still within the ceiling): `Get-*` is not harmless on every
//! endpoint (`Get-Content`, `Get-Credential`, `Get-Variable` on a
//! configuration other than Exchange's restricted runspace).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::manifest::Manifest;

/// The kind of job, which bounds what can ever be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Export,
    Fulfill,
    Check,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Export => "export",
            Operation::Fulfill => "fulfill",
            Operation::Check => "check",
        }
    }

    fn may_write(self) -> bool {
        self == Operation::Fulfill
    }
}

/// Read-only cmdlets besides `Get-*`.
const READ_ONLY: &[&str] = &["Select-Object", "Measure-Object"];

/// The Exchange cmdlets the fulfill operation of the Exchange connector runs.
pub const EXCHANGE_WRITE_CMDLETS: &[&str] = &[
    "Enable-Mailbox",
    "Disable-Mailbox",
    "Set-Mailbox",
    "New-MoveRequest",
    // A completed or failed request blocks a new move of the mailbox
    // until it is removed (components/exchange/README.md, Fulfill).
    "Remove-MoveRequest",
    "New-MailboxDatabase",
    "Set-MailboxDatabase",
    "Mount-Database",
    "Dismount-Database",
    "Remove-MailboxDatabase",
];

/// A connection's `Grants` setting: per operation, the cmdlets it allows.
/// An operation it does not mention is not narrowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantSettings(BTreeMap<String, Vec<String>>);

impl GrantSettings {
    /// Reads `{"export": [...], "fulfill": [...], "check": [...]}`. Errors
    /// are (key below Grants, problem).
    pub fn from_json(value: &Value) -> Result<GrantSettings, (String, String)> {
        let obj = value.as_object().ok_or_else(|| {
            (
                String::new(),
                "must be an object of cmdlet lists by operation".to_string(),
            )
        })?;
        let mut map = BTreeMap::new();
        for (operation, list) in obj {
            if !["export", "fulfill", "check"].contains(&operation.as_str()) {
                return Err((
                    operation.clone(),
                    "unknown operation (known: export, fulfill, check)".into(),
                ));
            }
            let items = list.as_array().ok_or_else(|| {
                (
                    operation.clone(),
                    "must be a list of cmdlet names".to_string(),
                )
            })?;
            let mut cmdlets = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(c) if is_cmdlet_name(c) => cmdlets.push(c.to_string()),
                    _ => {
                        return Err((
                            operation.clone(),
                            format!("{item} is not a cmdlet name such as \"Get-Mailbox\""),
                        ))
                    }
                }
            }
            map.insert(operation.clone(), cmdlets);
        }
        Ok(GrantSettings(map))
    }

    pub fn for_operation(&self, operation: Operation) -> Option<&[String]> {
        self.0.get(operation.name()).map(Vec::as_slice)
    }
}

/// What the component declares for the job's operation.
#[derive(Debug, Clone)]
enum Declared {
    /// The job's component is not known yet: only the ceiling applies.
    NotYetKnown,
    NoManifest,
    Cmdlets(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Grants {
    operation: Operation,
    /// Write cmdlets the host allows (fulfill only): part of the ceiling.
    writes: Vec<String>,
    declared: Declared,
    /// From the connection's `Grants` setting; `None`: not narrowed.
    configured: Option<Vec<String>>,
    connection: String,
}

impl Grants {
    /// Export and check jobs: at most `Get-*`, `Select-Object`, `Measure-Object`.
    pub fn read_only(operation: Operation) -> Grants {
        Grants {
            operation,
            writes: Vec::new(),
            declared: Declared::NotYetKnown,
            configured: None,
            connection: String::new(),
        }
    }

    /// A fulfill job: at most the read-only set plus the given write cmdlets.
    pub fn fulfill(writes: &[&str]) -> Grants {
        Grants {
            writes: writes.iter().map(|s| s.to_string()).collect(),
            ..Grants::read_only(Operation::Fulfill)
        }
    }

    /// Narrows to what a connection's `Grants` setting allows.
    pub fn configured(mut self, connection: &str, settings: &GrantSettings) -> Grants {
        self.configured = settings
            .for_operation(self.operation)
            .map(<[String]>::to_vec);
        self.connection = connection.to_string();
        self
    }

    /// Narrows to what the component declares (the sandbox does this when
    /// it creates the job).
    pub fn declared_by(mut self, manifest: Option<&Manifest>) -> Grants {
        self.declared = match manifest {
            None => Declared::NoManifest,
            Some(m) => Declared::Cmdlets(
                m.declared(self.operation.name())
                    .map(<[String]>::to_vec)
                    .unwrap_or_default(),
            ),
        };
        self
    }

    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// `Err` says why the cmdlet is refused.
    pub fn check(&self, cmdlet: &str) -> Result<(), String> {
        let op = self.operation.name();
        let within_ceiling =
            is_read_only(cmdlet) || (self.operation.may_write() && contains(&self.writes, cmdlet));
        if !within_ceiling {
            return Err(format!("cmdlet '{cmdlet}' is not granted to a {op} job"));
        }
        match &self.declared {
            Declared::Cmdlets(declared) if !contains(declared, cmdlet) => {
                return Err(format!(
                    "cmdlet '{cmdlet}' is not granted: the component's manifest does not declare it for {op}"
                ))
            }
            Declared::NoManifest if self.configured.is_none() => {
                return Err(format!(
                    "cmdlet '{cmdlet}' is not granted: a component without an idconn-manifest section gets only what the setting Connections.{}.Grants.{op} lists, and it is not set",
                    self.connection
                ))
            }
            _ => {}
        }
        if let Some(configured) = &self.configured {
            if !contains(configured, cmdlet) {
                return Err(format!(
                    "cmdlet '{cmdlet}' is not granted by the setting Connections.{}.Grants.{op}",
                    self.connection
                ));
            }
        }
        Ok(())
    }
}

/// Problems with a manifest's declaration: an export or check declaring a
/// write cmdlet can never be given it, so such a component is refused.
pub fn check_declaration(manifest: &Manifest) -> Result<(), String> {
    for operation in [Operation::Export, Operation::Check] {
        if let Some(write) = manifest
            .declared(operation.name())
            .and_then(|cmdlets| cmdlets.iter().find(|c| !is_read_only(c)))
        {
            return Err(format!(
                "its manifest declares '{write}' for {}, which never runs anything but Get-*, Select-Object and Measure-Object",
                operation.name()
            ));
        }
    }
    Ok(())
}

fn contains(list: &[String], cmdlet: &str) -> bool {
    list.iter().any(|c| c.eq_ignore_ascii_case(cmdlet))
}

/// `Verb-Noun` made of ASCII letters and digits: a cmdlet, never a script.
pub fn is_cmdlet_name(name: &str) -> bool {
    let Some((verb, noun)) = name.split_once('-') else {
        return false;
    };
    let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric());
    name.len() <= 128 && word(verb) && word(noun)
}

fn is_read_only(cmdlet: &str) -> bool {
    let is_get = cmdlet
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("Get-"))
        && cmdlet.len() > 4
        && cmdlet[4..].chars().all(|c| c.is_ascii_alphanumeric());
    is_get || READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(cmdlet))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(grants: &[(&str, &[&str])]) -> Manifest {
        Manifest {
            name: "t".into(),
            version: "1".into(),
            grants: grants
                .iter()
                .map(|(op, c)| (op.to_string(), c.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn export_allows_reads_only() {
        let g = Grants::read_only(Operation::Export);
        assert!(g.check("Get-Mailbox").is_ok());
        assert!(g.check("get-mailboxdatabase").is_ok());
        assert!(g.check("Select-Object").is_ok());
        assert!(g.check("Measure-Object").is_ok());
        assert!(g.check("Set-Mailbox").is_err());
        assert!(g.check("Get-").is_err());
        assert!(g.check("Get-Mailbox; Remove-Mailbox").is_err());
        assert!(g.check("Invoke-Expression").is_err());
    }

    #[test]
    fn fulfill_allows_granted_writes() {
        let g = Grants::fulfill(&["Set-Mailbox"]);
        assert!(g.check("set-mailbox").is_ok());
        assert!(g.check("Get-Mailbox").is_ok());
        assert!(g.check("Remove-Mailbox").is_err());
    }

    #[test]
    fn effective_grants_are_declared_and_configured_and_ceiling() {
        let m = manifest(&[
            ("export", &["Get-Mailbox", "Select-Object"]),
            ("fulfill", &["Get-Mailbox", "Set-Mailbox", "Remove-Mailbox"]),
        ]);
        let export = Grants::read_only(Operation::Export).declared_by(Some(&m));
        assert!(export.check("Get-Mailbox").is_ok());
        let e = export.check("Get-User").unwrap_err();
        assert!(e.contains("manifest does not declare"), "{e}");

        let settings =
            GrantSettings::from_json(&serde_json::json!({"fulfill": ["Set-Mailbox"]})).unwrap();
        let fulfill = Grants::fulfill(&["Set-Mailbox"])
            .configured("X", &settings)
            .declared_by(Some(&m));
        assert!(fulfill.check("Set-Mailbox").is_ok());
        // Declared and within the ceiling, but not in the setting.
        let e = fulfill.check("Get-Mailbox").unwrap_err();
        assert!(e.contains("Connections.X.Grants.fulfill"), "{e}");
        // Declared, but beyond the host's ceiling.
        assert!(fulfill.check("Remove-Mailbox").is_err());
        // The setting does not narrow export.
        let export = Grants::read_only(Operation::Export)
            .configured("X", &settings)
            .declared_by(Some(&m));
        assert!(export.check("Get-Mailbox").is_ok());
    }

    #[test]
    fn without_a_manifest_only_what_the_operator_grants_runs() {
        let export = Grants::read_only(Operation::Export)
            .configured("X", &GrantSettings::default())
            .declared_by(None);
        for cmdlet in ["Get-User", "Get-Content", "Get-Credential", "Select-Object"] {
            let e = export.check(cmdlet).unwrap_err();
            assert!(e.contains("without an idconn-manifest"), "{e}");
            assert!(e.contains("Connections.X.Grants.export"), "{e}");
        }
        let settings = GrantSettings::from_json(&serde_json::json!({
            "export": ["Get-Mailbox", "Set-Mailbox"],
            "fulfill": ["Set-Mailbox"]
        }))
        .unwrap();
        let export = Grants::read_only(Operation::Export)
            .configured("X", &settings)
            .declared_by(None);
        assert!(export.check("Get-Mailbox").is_ok());
        assert!(export.check("Get-Content").is_err());
        // Granted, but beyond an export's ceiling.
        assert!(export.check("Set-Mailbox").is_err());
        let fulfill = Grants::fulfill(&["Set-Mailbox"])
            .configured("X", &settings)
            .declared_by(None);
        assert!(fulfill.check("Set-Mailbox").is_ok());
        assert!(fulfill.check("Get-Mailbox").is_err());
        let ungranted = Grants::fulfill(&["Set-Mailbox"]).declared_by(None);
        assert!(ungranted.check("Set-Mailbox").is_err());
    }

    #[test]
    fn a_write_cmdlet_declared_for_export_is_refused() {
        assert!(check_declaration(&manifest(&[("export", &["Get-Mailbox"])])).is_ok());
        let e = check_declaration(&manifest(&[("export", &["Set-Mailbox"])])).unwrap_err();
        assert!(e.contains("'Set-Mailbox' for export"), "{e}");
    }

    #[test]
    fn grant_settings_are_validated() {
        for (json, expected) in [
            (serde_json::json!([]), "must be an object"),
            (serde_json::json!({"delete": []}), "unknown operation"),
            (
                serde_json::json!({"export": "Get-Mailbox"}),
                "must be a list",
            ),
            (
                serde_json::json!({"export": ["Get-Mailbox | x"]}),
                "not a cmdlet name",
            ),
        ] {
            let (_, problem) = GrantSettings::from_json(&json).unwrap_err();
            assert!(problem.contains(expected), "{problem}");
        }
    }
}
