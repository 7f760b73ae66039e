//! The shells of one job: one per pipeline running at once, up to
//! `Connections.<id>.MaxParallelPipelines`.
//!
//! Why a shell per pipeline rather than one shell whose runspace pool has
//! several runspaces: Exchange counts remote PowerShell *sessions* against
//! PowerShellMaxConcurrency ("the maximum number of remote PowerShell
//! sessions that a remote PowerShell user can have open at the same time",
//! MicrosoftDocs/office-docs-powershell
//! exchange/exchange-ps/exchange/Set-ThrottlingPolicy.md), so N shells are
//! N of that budget and the setting's default stays well inside it; each
//! shell is a WinRM shell with its own HTTP connection, so the long-poll
//! Receives of one pipeline never queue behind another's (the client's
//! session sends one request at a time); and the client opens its pools
//! with one runspace (MS-PSRP 2.2.2.1 INIT_RUNSPACEPOOL, MaxRunspaces 1),
//! on which a server runs one pipeline at a time.
//!
//! A shell is lent to a pipeline output and comes back when the output is
//! dropped or its pipeline ended (all read, or failed). A shell a failed
//! call left in an unknown state is `broken`: the next `invoke` deletes it
//! (transient.rs) and a new one is opened when needed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use idconn_psrp::client::RunspacePool;

/// What a shell's borrower and the pool share.
#[derive(Debug, Default)]
pub(super) struct ShellState {
    busy: AtomicBool,
    broken: AtomicBool,
}

impl ShellState {
    /// A call on this shell failed in a way that leaves the session's
    /// state unknown: it is replaced before the next pipeline.
    pub(super) fn mark_broken(&self) {
        self.broken.store(true, Ordering::SeqCst);
    }
}

/// The shell a pipeline output holds; gives it back when dropped.
#[derive(Debug)]
pub(super) struct Lease(Arc<ShellState>);

impl Lease {
    pub(super) fn state(&self) -> &ShellState {
        &self.0
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::SeqCst);
    }
}

pub(super) struct Shell {
    pub(super) pool: RunspacePool,
    pub(super) state: Arc<ShellState>,
}

impl Shell {
    pub(super) fn new(pool: RunspacePool) -> Shell {
        Shell {
            pool,
            state: Arc::default(),
        }
    }

    fn is_free(&self) -> bool {
        !self.state.busy.load(Ordering::SeqCst) && !self.state.broken.load(Ordering::SeqCst)
    }

    fn is_broken(&self) -> bool {
        self.state.broken.load(Ordering::SeqCst)
    }

    /// Lends the shell to a pipeline.
    pub(super) fn lease(&self) -> Lease {
        self.state.busy.store(true, Ordering::SeqCst);
        Lease(self.state.clone())
    }
}

/// The open shells and how many may be.
pub(super) struct Shells {
    pub(super) open: Vec<Shell>,
    pub(super) max: usize,
}

/// Where the next pipeline runs.
pub(super) enum Slot {
    /// An open shell no pipeline uses (its index).
    Free(usize),
    /// None is free, but one more may be opened.
    New,
    /// `max` pipelines are running.
    Full,
}

impl Shells {
    pub(super) fn new(first: RunspacePool, max: usize) -> Shells {
        Shells {
            open: vec![Shell::new(first)],
            max: max.max(1),
        }
    }

    pub(super) fn slot(&self) -> Slot {
        if let Some(index) = self.open.iter().position(Shell::is_free) {
            return Slot::Free(index);
        }
        if self.open.len() < self.max {
            Slot::New
        } else {
            Slot::Full
        }
    }

    /// Takes out the broken shells, to be deleted (a pipeline still
    /// holding one fails on its next call, as it would have anyway).
    pub(super) fn take_broken(&mut self) -> Vec<Shell> {
        let (broken, kept) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(Shell::is_broken);
        self.open = kept;
        broken
    }

    pub(super) fn take_all(&mut self) -> Vec<Shell> {
        std::mem::take(&mut self.open)
    }
}
