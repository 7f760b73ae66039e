//! Which cmdlets a job may run. The host checks every pipeline before a
//! backend sees it; a refusal is `error::denied` to the guest and an audit
//! line for the operator.
//!
//! A cmdlet runs only if
//! - the component declares it for the job's operation (its manifest;
//!   a component without a manifest declares what the connection's
//!   `Grants` setting lists for the operation, and nothing else), AND
//! - its verb is a read verb of PowerShell's approved verbs (`READ_VERBS`),
//!   OR the operator approved it: listed in `Connections.<id>.Grants.<op>`,
//!   or the connection pins the component (`ComponentSha256`), which
//!   approves everything the pinned bytes declare.
//!
//! Export and check jobs never write, whoever approves it: they run read
//! verbs only, and a manifest declaring anything else for them is refused
//! at load. The host knows no connector's cmdlets: what fulfill may write is
//! what the component declares and the operator approved.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::manifest::Manifest;

/// The kind of job.
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

/// Verbs of PowerShell's approved verbs that only read ("Approved Verbs for
/// PowerShell Commands", learn.microsoft.com/powershell/scripting/developer/
/// cmdlet/approved-verbs-for-windows-powershell-commands): common Get,
/// Find, Search, Select, Watch; communications Read; data Compare;
/// diagnostic Measure, Resolve, Test, Trace. A connector needs no approval
/// to run these (it must still declare them).
pub const READ_VERBS: &[&str] = &[
    "Get", "Find", "Search", "Select", "Read", "Compare", "Resolve", "Test", "Measure", "Trace",
    "Watch",
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
    /// The job's component is not known yet.
    NotYetKnown,
    NoManifest,
    Cmdlets(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Grants {
    operation: Operation,
    declared: Declared,
    /// From the connection's `Grants` setting for the operation.
    approved: Option<Vec<String>>,
    /// The connection's `ComponentSha256`, if set.
    pin: Option<String>,
    /// The job's component is the pinned one: all it declares is approved.
    pinned: bool,
    connection: String,
}

impl Grants {
    /// A job of `operation`, before the connection and the component narrow it.
    pub fn new(operation: Operation) -> Grants {
        Grants {
            operation,
            declared: Declared::NotYetKnown,
            approved: None,
            pin: None,
            pinned: false,
            connection: String::new(),
        }
    }

    /// A job of `operation` on `conn`: what its `Grants` setting approves
    /// and its `ComponentSha256` pin.
    pub fn for_connection(operation: Operation, conn: &crate::settings::Connection) -> Grants {
        Grants::new(operation)
            .configured(&conn.id, &conn.grants)
            .pinned_to(conn.component_sha256.as_deref())
    }

    /// What the connection's `Grants` setting approves, and its pin.
    pub fn configured(mut self, connection: &str, settings: &GrantSettings) -> Grants {
        self.approved = settings
            .for_operation(self.operation)
            .map(<[String]>::to_vec);
        self.connection = connection.to_string();
        self
    }

    /// The connection's `ComponentSha256`: a component with these bytes has
    /// everything it declares approved.
    pub fn pinned_to(mut self, sha256: Option<&str>) -> Grants {
        self.pin = sha256.map(str::to_ascii_lowercase);
        self
    }

    /// What the job's component declares (the sandbox does this when it
    /// creates the job), and whether it is the pinned one.
    pub fn declared_by(mut self, manifest: Option<&Manifest>, sha256: &str) -> Grants {
        self.declared = match manifest {
            None => Declared::NoManifest,
            Some(m) => Declared::Cmdlets(
                m.declared(self.operation.name())
                    .map(<[String]>::to_vec)
                    .unwrap_or_default(),
            ),
        };
        self.pinned = self
            .pin
            .as_deref()
            .is_some_and(|pin| pin.eq_ignore_ascii_case(sha256));
        self
    }

    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// `Err` says why the cmdlet is refused.
    pub fn check(&self, cmdlet: &str) -> Result<(), String> {
        let op = self.operation.name();
        let id = &self.connection;
        let reads = is_read_only(cmdlet);
        if !reads && !self.operation.may_write() {
            return Err(format!(
                "cmdlet '{cmdlet}' is not granted to a {op} job, which runs read verbs only ({})",
                READ_VERBS.join(", ")
            ));
        }
        match &self.declared {
            Declared::Cmdlets(declared) if !contains(declared, cmdlet) => {
                return Err(format!(
                    "cmdlet '{cmdlet}' is not granted: the component's manifest does not declare it for {op}"
                ))
            }
            Declared::NoManifest => {
                return match &self.approved {
                    Some(approved) if contains(approved, cmdlet) => Ok(()),
                    Some(_) => Err(format!(
                        "cmdlet '{cmdlet}' is not granted by the setting Connections.{id}.Grants.{op}"
                    )),
                    None => Err(format!(
                        "cmdlet '{cmdlet}' is not granted: a component without an idconn-manifest section gets only what the setting Connections.{id}.Grants.{op} lists, and it is not set"
                    )),
                }
            }
            _ => {}
        }
        let approved =
            reads || self.pinned || self.approved.as_ref().is_some_and(|a| contains(a, cmdlet));
        if !approved {
            return Err(format!(
                "cmdlet '{cmdlet}' is declared by the component for {op} but not approved by the operator: list it in the setting Connections.{id}.Grants.{op}, or pin this component with Connections.{id}.ComponentSha256"
            ));
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
                "its manifest declares '{write}' for {}, which never runs anything but read verbs ({})",
                operation.name(),
                READ_VERBS.join(", ")
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

/// A cmdlet whose verb only reads.
pub fn is_read_only(cmdlet: &str) -> bool {
    is_cmdlet_name(cmdlet)
        && cmdlet
            .split_once('-')
            .is_some_and(|(verb, _)| READ_VERBS.iter().any(|r| r.eq_ignore_ascii_case(verb)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Sample cmdlet names: a read verb, a write verb, neither tied to a product.
    const READ: &str = "Get-Widget";
    const WRITE: &str = "Set-Widget";

    fn manifest(grants: &[(&str, &[&str])]) -> Manifest {
        Manifest {
            contract: "0.3.0".into(),
            name: "t".into(),
            version: "1".into(),
            entities: vec!["widget".into()],
            grants: grants
                .iter()
                .map(|(op, c)| (op.to_string(), c.iter().map(|s| s.to_string()).collect()))
                .collect(),
            configuration_name: None,
            retryable_errors: Vec::new(),
        }
    }

    fn settings(json: serde_json::Value) -> GrantSettings {
        GrantSettings::from_json(&json).unwrap()
    }

    #[test]
    fn read_verbs_are_the_generic_list() {
        for read in [
            "Get-Widget",
            "get-widget",
            "Select-Object",
            "Measure-Object",
            "Test-Widget",
            "Find-Widget",
        ] {
            assert!(is_read_only(read), "{read}");
        }
        for other in [
            "Set-Widget",
            "Remove-Widget",
            "Invoke-Expression",
            "Get-",
            "Get-Widget; Remove-Widget",
        ] {
            assert!(!is_read_only(other), "{other}");
        }
    }

    #[test]
    fn a_declared_read_runs_without_approval_and_an_undeclared_one_never() {
        let m = manifest(&[("export", &[READ, "Select-Object"])]);
        let export = Grants::new(Operation::Export)
            .configured("X", &GrantSettings::default())
            .declared_by(Some(&m), "aa");
        assert!(export.check(READ).is_ok());
        assert!(export.check("select-object").is_ok());
        let e = export.check("Get-Other").unwrap_err();
        assert!(e.contains("manifest does not declare"), "{e}");
    }

    #[test]
    fn a_declared_write_runs_only_once_the_operator_approves_it() {
        let m = manifest(&[("fulfill", &[READ, WRITE, "Remove-Widget"])]);
        // Declared, not approved: refused, and the fix is named.
        let fulfill = Grants::new(Operation::Fulfill)
            .configured("X", &GrantSettings::default())
            .declared_by(Some(&m), "aa");
        assert!(fulfill.check(READ).is_ok());
        let e = fulfill.check(WRITE).unwrap_err();
        assert!(e.contains("not approved by the operator"), "{e}");
        assert!(e.contains("Connections.X.Grants.fulfill"), "{e}");
        assert!(e.contains("Connections.X.ComponentSha256"), "{e}");
        // Approved in Grants: that one runs, the other declared write not.
        let approved = settings(serde_json::json!({"fulfill": [WRITE]}));
        let fulfill = Grants::new(Operation::Fulfill)
            .configured("X", &approved)
            .declared_by(Some(&m), "aa");
        assert!(fulfill.check(WRITE).is_ok());
        assert!(fulfill.check(READ).is_ok());
        assert!(fulfill.check("Remove-Widget").is_err());
        // Approved but not declared: still refused.
        let undeclared = manifest(&[("fulfill", &[READ])]);
        let fulfill = Grants::new(Operation::Fulfill)
            .configured("X", &approved)
            .declared_by(Some(&undeclared), "aa");
        let e = fulfill.check(WRITE).unwrap_err();
        assert!(e.contains("manifest does not declare"), "{e}");
    }

    #[test]
    fn pinning_the_component_approves_what_it_declares() {
        let m = manifest(&[("fulfill", &[WRITE])]);
        let pinned = Grants::new(Operation::Fulfill)
            .configured("X", &GrantSettings::default())
            .pinned_to(Some("ABCD"))
            .declared_by(Some(&m), "abcd");
        assert!(pinned.check(WRITE).is_ok());
        assert!(pinned.check("Remove-Widget").is_err());
        // Other bytes than the pinned ones approve nothing.
        let other = Grants::new(Operation::Fulfill)
            .pinned_to(Some("abcd"))
            .declared_by(Some(&m), "ef01");
        assert!(other.check(WRITE).is_err());
    }

    #[test]
    fn export_and_check_never_write_whoever_approves_it() {
        let m = manifest(&[("export", &[READ]), ("check", &[READ])]);
        let approved = settings(serde_json::json!({"export": [WRITE], "check": [WRITE]}));
        for op in [Operation::Export, Operation::Check] {
            let g = Grants::new(op)
                .configured("X", &approved)
                .pinned_to(Some("aa"))
                .declared_by(Some(&m), "aa");
            let e = g.check(WRITE).unwrap_err();
            assert!(e.contains("read verbs only"), "{e}");
        }
    }

    #[test]
    fn without_a_manifest_only_what_the_operator_grants_runs() {
        let export = Grants::new(Operation::Export)
            .configured("X", &GrantSettings::default())
            .declared_by(None, "aa");
        for cmdlet in [READ, "Get-Content", "Get-Credential", "Select-Object"] {
            let e = export.check(cmdlet).unwrap_err();
            assert!(e.contains("without an idconn-manifest"), "{e}");
            assert!(e.contains("Connections.X.Grants.export"), "{e}");
        }
        let granted = settings(serde_json::json!({
            "export": [READ, WRITE],
            "fulfill": [WRITE]
        }));
        let export = Grants::new(Operation::Export)
            .configured("X", &granted)
            .declared_by(None, "aa");
        assert!(export.check(READ).is_ok());
        assert!(export.check("Get-Content").is_err());
        // Granted, but an export never writes.
        assert!(export.check(WRITE).is_err());
        let fulfill = Grants::new(Operation::Fulfill)
            .configured("X", &granted)
            .declared_by(None, "aa");
        assert!(fulfill.check(WRITE).is_ok());
        assert!(fulfill.check(READ).is_err());
        let ungranted = Grants::new(Operation::Fulfill).declared_by(None, "aa");
        assert!(ungranted.check(WRITE).is_err());
    }

    #[test]
    fn a_write_cmdlet_declared_for_export_is_refused() {
        assert!(check_declaration(&manifest(&[("export", &[READ])])).is_ok());
        let e = check_declaration(&manifest(&[("export", &[WRITE])])).unwrap_err();
        assert!(e.contains("'Set-Widget' for export"), "{e}");
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
