//! How much of what a server sent the client may hold at once.
//!
//! The server is not trusted (with Basic there is no server authentication
//! at all), and the host's PSRP client parses all it sends outside the
//! component's sandbox. One budget per session covers the bytes of
//! half-received messages and the decoded objects not yet handed to the
//! caller, across every pipeline of the session: whatever the server sends,
//! the client holds at most this much of it (plus the envelope being read,
//! itself capped).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The default budget (48 MiB; the worst attacks then peak near 200 MiB of
/// RSS in all): far above what an export needs (a mailbox is about
/// 10 KiB of CLIXML, a Receive at most 512 KB) and low enough that the
/// client stays well under 256 MiB whatever the server sends.
pub const DEFAULT_MAX_SERVER_DATA: usize = 48 * 1024 * 1024;

/// The budget would be exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server sent more data than the client holds at once ({} MiB)", .limit / (1024 * 1024))]
pub struct OverBudget {
    pub limit: usize,
}

#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// A budget that never runs out (codec tests, the simulator).
    pub fn unlimited() -> Arc<Budget> {
        Budget::new(usize::MAX)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// What may still be charged.
    pub fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.used())
    }

    fn take(&self, bytes: usize) -> Result<(), OverBudget> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .map(|_| ())
            .map_err(|_| OverBudget { limit: self.limit })
    }

    /// Charges `bytes`, released when the returned [`Charge`] is dropped.
    pub fn charge(self: &Arc<Self>, bytes: usize) -> Result<Charge, OverBudget> {
        self.take(bytes)?;
        Ok(Charge {
            budget: Some(self.clone()),
            amount: bytes,
        })
    }
}

/// Bytes held against a [`Budget`] until dropped.
#[derive(Debug, Default)]
pub struct Charge {
    budget: Option<Arc<Budget>>,
    amount: usize,
}

impl Charge {
    /// Charges `bytes` more to the same budget.
    pub fn grow(&mut self, bytes: usize) -> Result<(), OverBudget> {
        if let Some(budget) = &self.budget {
            budget.take(bytes)?;
        }
        self.amount += bytes;
        Ok(())
    }

    pub fn amount(&self) -> usize {
        self.amount
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.used.fetch_sub(self.amount, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_released_when_dropped() {
        let budget = Budget::new(100);
        let mut a = budget.charge(60).unwrap();
        assert_eq!(budget.charge(41).unwrap_err(), OverBudget { limit: 100 });
        assert!(a.grow(41).is_err());
        a.grow(40).unwrap();
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 0);
        let _b = budget.charge(100).unwrap();
    }
}
