//! `--move-when-listing DB=MAILBOX:TARGET`: a test hook that moves a
//! mailbox at a chosen point of an export, without sleeps. When a
//! `Get-Mailbox -Database DB` pipeline starts (DB by name, GUID or DN), MAILBOX (any identity
//! Get-Mailbox accepts) is moved to database TARGET at once, as if the
//! Mailbox Replication Service completed a move at that moment (homeMDB and
//! WhenChanged change, moves.rs). Each hook fires once.

use super::model::{now_seconds, Directory};
use anyhow::{bail, Context};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct MoveHook {
    pub database: String,
    pub mailbox: String,
    pub target: String,
    fired: AtomicBool,
}

impl Clone for MoveHook {
    fn clone(&self) -> Self {
        MoveHook {
            database: self.database.clone(),
            mailbox: self.mailbox.clone(),
            target: self.target.clone(),
            fired: AtomicBool::new(self.fired.load(Ordering::SeqCst)),
        }
    }
}

impl PartialEq for MoveHook {
    fn eq(&self, other: &Self) -> bool {
        (&self.database, &self.mailbox, &self.target)
            == (&other.database, &other.mailbox, &other.target)
    }
}

impl MoveHook {
    /// Parses `DB=MAILBOX:TARGET`.
    pub fn parse(text: &str) -> anyhow::Result<MoveHook> {
        let (database, rest) = text.split_once('=').context("expected DB=MAILBOX:TARGET")?;
        let (mailbox, target) = rest
            .rsplit_once(':')
            .context("expected DB=MAILBOX:TARGET")?;
        if [database, mailbox, target]
            .iter()
            .any(|s| s.trim().is_empty())
        {
            bail!("expected DB=MAILBOX:TARGET, each part non-empty");
        }
        Ok(MoveHook {
            database: database.trim().to_string(),
            mailbox: mailbox.trim().to_string(),
            target: target.trim().to_string(),
            fired: AtomicBool::new(false),
        })
    }

    /// Marks the hook fired; false when it already was.
    pub fn take(&self) -> bool {
        !self.fired.swap(true, Ordering::SeqCst)
    }

    /// Moves the mailbox; returns whether the directory changed.
    pub fn apply(&self, dir: &mut Directory) -> bool {
        let Some(&target) = dir.find_databases(&self.target, false).first() else {
            tracing::warn!("move hook: no database {}", self.target);
            return false;
        };
        let users = dir.find_users(&self.mailbox, false);
        let Some(user) = users.first().and_then(|id| dir.users.get(id)).cloned() else {
            tracing::warn!("move hook: no user {}", self.mailbox);
            return false;
        };
        let mut updated = (*user).clone();
        let Some(mailbox) = updated.mailbox.as_mut() else {
            return false;
        };
        mailbox.database = target;
        updated.when_changed = now_seconds();
        dir.users.insert(updated.id, Arc::new(updated));
        true
    }
}
