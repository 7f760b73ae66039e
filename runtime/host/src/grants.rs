//! Which cmdlets a job may run. The host checks every pipeline before a
//! backend sees it; a refusal is `error::denied` to the guest and an audit
//! line for the operator.

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
}

/// Read-only cmdlets besides `Get-*`.
const READ_ONLY: &[&str] = &["Select-Object", "Measure-Object"];

/// The Exchange cmdlets the fulfill operation of the Exchange connector runs.
pub const EXCHANGE_WRITE_CMDLETS: &[&str] = &[
    "Enable-Mailbox",
    "Disable-Mailbox",
    "Set-Mailbox",
    "New-MoveRequest",
    "New-MailboxDatabase",
    "Set-MailboxDatabase",
    "Mount-Database",
    "Dismount-Database",
    "Remove-MailboxDatabase",
];

#[derive(Debug, Clone)]
pub struct Grants {
    operation: Operation,
    /// Write cmdlets granted (fulfill only).
    writes: Vec<String>,
}

impl Grants {
    /// Export and check jobs: `Get-*`, `Select-Object`, `Measure-Object`.
    pub fn read_only(operation: Operation) -> Grants {
        Grants {
            operation,
            writes: Vec::new(),
        }
    }

    /// A fulfill job: the read-only set plus the given write cmdlets.
    pub fn fulfill(writes: &[&str]) -> Grants {
        Grants {
            operation: Operation::Fulfill,
            writes: writes.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// `Err` says why the cmdlet is refused.
    pub fn check(&self, cmdlet: &str) -> Result<(), String> {
        if is_read_only(cmdlet) {
            return Ok(());
        }
        if self.operation == Operation::Fulfill
            && self.writes.iter().any(|w| w.eq_ignore_ascii_case(cmdlet))
        {
            return Ok(());
        }
        Err(format!(
            "cmdlet '{cmdlet}' is not granted to a {} job",
            self.operation.name()
        ))
    }
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
}
