//! Who may connect and which cmdlets exist in their session. As in
//! Exchange's RBAC-trimmed runspace, a cmdlet a user is not granted does
//! not exist for them (CommandNotFoundException).

use super::text::{eq_ci, like_ci};
use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::Path;

/// One entry of the `--users` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub name: String,
    pub password: String,
    /// Exchange role group names (see [`role_cmdlets`]).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Cmdlet names or wildcard patterns (`Get-*`), added to the roles'.
    #[serde(default)]
    pub cmdlets: Vec<String>,
}

/// Cmdlets every session has, whatever the roles (PowerShell core).
const CORE: &[&str] = &["Select-Object", "Measure-Object"];

/// The cmdlet patterns of the role groups the simulator knows.
pub fn role_cmdlets(role: &str) -> Option<&'static [&'static str]> {
    const ROLES: &[(&str, &[&str])] = &[
        ("Organization Management", &["*"]),
        ("View-Only Organization Management", &["Get-*"]),
        (
            "Recipient Management",
            &[
                "Get-*",
                "Enable-Mailbox",
                "Disable-Mailbox",
                "Set-Mailbox",
                "New-MoveRequest",
                "Remove-MoveRequest",
            ],
        ),
        (
            "Server Management",
            &[
                "Get-*",
                "*-MailboxDatabase",
                "Mount-Database",
                "Dismount-Database",
            ],
        ),
    ];
    ROLES
        .iter()
        .find(|(name, _)| eq_ci(name, role))
        .map(|(_, cmdlets)| *cmdlets)
}

#[derive(Debug, Clone)]
struct Grant {
    name: String,
    password: String,
    patterns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct UserStore {
    grants: Vec<Grant>,
    /// Without authentication every caller has every cmdlet.
    open: bool,
}

impl UserStore {
    /// No authentication (`--auth none`): everything is allowed.
    pub fn open() -> Self {
        UserStore {
            grants: Vec::new(),
            open: true,
        }
    }

    /// The users of `--auth basic` without `--users`: `admin`/`admin`
    /// (Organization Management) and `reader`/`reader` (View-Only).
    pub fn default_basic() -> Self {
        Self::from_entries(vec![
            UserEntry {
                name: "admin".into(),
                password: "admin".into(),
                roles: vec!["Organization Management".into()],
                cmdlets: Vec::new(),
            },
            UserEntry {
                name: "reader".into(),
                password: "reader".into(),
                roles: vec!["View-Only Organization Management".into()],
                cmdlets: Vec::new(),
            },
        ])
        .unwrap_or_else(|_| Self::open())
    }

    pub fn from_entries(entries: Vec<UserEntry>) -> anyhow::Result<Self> {
        let mut grants = Vec::new();
        for entry in entries {
            let mut patterns = entry.cmdlets.clone();
            for role in &entry.roles {
                let Some(cmdlets) = role_cmdlets(role) else {
                    bail!(
                        "user '{}': unknown role '{role}' (known: Organization Management, View-Only Organization Management, Recipient Management, Server Management)",
                        entry.name
                    );
                };
                patterns.extend(cmdlets.iter().map(|c| c.to_string()));
            }
            grants.push(Grant {
                name: entry.name,
                password: entry.password,
                patterns,
            });
        }
        Ok(UserStore {
            grants,
            open: false,
        })
    }

    /// Reads a JSON list of [`UserEntry`].
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the users file {}", path.display()))?;
        let entries: Vec<UserEntry> = serde_json::from_str(&text).with_context(|| {
            format!(
                "parsing the users file {}: expected a JSON list of {{\"name\", \"password\", \"roles\": [..], \"cmdlets\": [..]}}",
                path.display()
            )
        })?;
        Self::from_entries(entries)
    }

    /// The canonical user name when the password is right.
    pub fn authenticate(&self, user: &str, password: &str) -> Option<String> {
        let grant = self.grants.iter().find(|g| eq_ci(&g.name, user))?;
        constant_time_eq(grant.password.as_bytes(), password.as_bytes()).then(|| grant.name.clone())
    }

    pub fn may_run(&self, user: &str, cmdlet: &str) -> bool {
        if self.open || CORE.iter().any(|c| eq_ci(c, cmdlet)) {
            return true;
        }
        self.grants
            .iter()
            .find(|g| eq_ci(&g.name, user))
            .is_some_and(|g| g.patterns.iter().any(|p| like_ci(p, cmdlet)))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_gets_only_reads() {
        let store = UserStore::default_basic();
        assert_eq!(
            store.authenticate("READER", "reader").as_deref(),
            Some("reader")
        );
        assert_eq!(store.authenticate("reader", "wrong"), None);
        assert!(store.may_run("reader", "get-mailbox"));
        assert!(store.may_run("reader", "Select-Object"));
        assert!(!store.may_run("reader", "Set-Mailbox"));
        assert!(store.may_run("admin", "Set-Mailbox"));
        assert!(!store.may_run("nobody", "Get-Mailbox"));
    }

    #[test]
    fn unknown_role_is_refused() {
        let err = UserStore::from_entries(vec![UserEntry {
            name: "x".into(),
            password: "y".into(),
            roles: vec!["Wizards".into()],
            cmdlets: vec![],
        }])
        .unwrap_err();
        assert!(err.to_string().contains("unknown role 'Wizards'"));
    }
}
