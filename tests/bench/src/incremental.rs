//! Issue 17: what an incremental export costs the server next to a complete
//! one, from the simulator's own counters (`--stats-file`: objects
//! materialized, by cmdlet): a complete export of 100,000 mailboxes, 100
//! mailboxes changed (`Set-Mailbox -DisplayName`, through the PSRP client),
//! then an incremental export with the complete one's cookie.

use std::path::Path;

use anyhow::{bail, Context};
use idconn_psrp::client::{Auth, ClientConfig, RunspacePool, Secret};
use idconn_psrp::clixml::Value;
use idconn_psrp::Command;

use crate::export::{self, Tools, PASSWORD, USER};

pub const MAILBOXES: u64 = 100_000;
pub const CHANGES: usize = 100;

pub struct IncrementalFigures {
    pub complete_objects: u64,
    pub incremental_objects: u64,
}

/// Every object the simulator materialized so far, all cmdlets together.
fn materialized(stats: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(stats)
        .with_context(|| format!("the simulator wrote no {}", stats.display()))?;
    // `{"objects_materialized": {"Get-Mailbox": N, ...}}`: the numbers after
    // the key, summed (no JSON crate in this benchmark).
    let Some((_, counts)) = text.split_once("objects_materialized") else {
        bail!("no objects_materialized in {text:?}");
    };
    Ok(counts
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum())
}

/// The `Alias` column of an exported mailbox CSV, first `n` rows (quoted
/// fields hold commas: quotas read `49.5 GB (53,150,220,928 bytes)`).
fn aliases(csv: &Path, n: usize) -> anyhow::Result<Vec<String>> {
    let mut reader = csv::Reader::from_path(csv)?;
    let column = reader
        .headers()?
        .iter()
        .position(|h| h == "Alias")
        .context("no Alias column")?;
    let mut out = Vec::with_capacity(n);
    for record in reader.records() {
        if let Some(alias) = record?.get(column).filter(|a| !a.is_empty()) {
            out.push(alias.to_string());
        }
        if out.len() == n {
            break;
        }
    }
    Ok(out)
}

async fn change(url: &str, aliases: &[String]) -> anyhow::Result<()> {
    let mut config = ClientConfig::new(
        url,
        Auth::Basic {
            username: USER.into(),
            password: Secret::new(PASSWORD),
        },
    );
    config.allow_unencrypted = true;
    let pool = RunspacePool::open(config).await?;
    for (i, alias) in aliases.iter().enumerate() {
        let command = Command::new("Set-Mailbox")
            .param("Identity", Value::String(alias.clone()))
            .param("DisplayName", Value::String(format!("Changed {i}")));
        let mut pipeline = pool.invoke(vec![command]).await?;
        while pipeline.next_batch(16).await?.is_some() {}
        // A non-terminating error (e.g. an identity not found) changes
        // nothing: the figure would then not be about 100 changes.
        if let Some(error) = pipeline.errors().first() {
            bail!("Set-Mailbox {alias} failed: {}", error.message);
        }
    }
    pool.close().await?;
    Ok(())
}

pub fn measure(tools: &Tools, cache: &Path, scratch: &Path) -> anyhow::Result<IncrementalFigures> {
    let stats = scratch.join("incremental-stats.json");
    let simulator = export::basic_simulator(
        tools,
        MAILBOXES,
        20,
        &["--stats-file".to_string(), stats.display().to_string()],
        &scratch.join("exchange-sim-incremental.log"),
    )
    .context("the simulator does not take --stats-file yet")?;
    let dir = scratch.join("incremental");
    let settings = export::write_settings(&dir, &simulator.url, cache, false)?;
    crate::progress("incremental: complete export");
    let complete = export::idconn_export_in(tools, &settings, &dir, MAILBOXES, false)?;
    let after_complete = materialized(&stats)?;
    crate::progress(&format!("incremental: changing {CHANGES} mailboxes"));
    let names = aliases(&complete.mailboxes_csv, CHANGES)?;
    if names.len() < CHANGES {
        bail!("only {} aliases in the complete export", names.len());
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(change(&simulator.url, &names))?;
    let before_incremental = materialized(&stats)?;
    crate::progress("incremental: incremental export");
    let incremental = export::idconn_export_in(tools, &settings, &dir, MAILBOXES, true)?;
    let after_incremental = materialized(&stats)?;
    // The changed mailboxes must be in the incremental export, or the
    // figure measures an export that missed them.
    let rows = std::fs::read_to_string(&incremental.mailboxes_csv)?
        .lines()
        .count()
        .saturating_sub(1);
    if rows < CHANGES {
        bail!("the incremental export has {rows} mailbox rows, fewer than the {CHANGES} changed");
    }
    Ok(IncrementalFigures {
        complete_objects: after_complete,
        incremental_objects: after_incremental.saturating_sub(before_incremental),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.json");
        std::fs::write(
            &file,
            r#"{"objects_materialized": {"Get-Mailbox": 100000, "Get-MailboxDatabase": 20}}"#,
        )
        .unwrap();
        assert_eq!(materialized(&file).unwrap(), 100_020);
    }
}
