//! `--state FILE`: the directory as JSON, so a demo can fulfill, restart the
//! simulator, then export. Written atomically (temp file + rename) after
//! every change.

use super::model::{AdUser, Directory, MailboxDatabase, Server};
use super::moves::MoveRequest;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateFile {
    format: u32,
    utc_offset_minutes: i32,
    next_id: u64,
    servers: Vec<Server>,
    databases: Vec<Arc<MailboxDatabase>>,
    users: Vec<Arc<AdUser>>,
    /// Absent from files written before move requests were modelled.
    #[serde(default)]
    move_requests: Vec<MoveRequest>,
}

pub fn load(path: &Path) -> anyhow::Result<Option<Directory>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("reading the state file {}", path.display()))
        }
    };
    let state: StateFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "parsing the state file {} (delete it to start from a seeded directory)",
            path.display()
        )
    })?;
    if state.format != FORMAT {
        bail!(
            "state file {} has format {}, this simulator reads format {FORMAT}",
            path.display(),
            state.format
        );
    }
    Ok(Some(Directory {
        utc_offset_minutes: state.utc_offset_minutes,
        servers: state.servers,
        databases: state.databases.into_iter().map(|d| (d.id, d)).collect(),
        users: state.users.into_iter().map(|u| (u.id, u)).collect(),
        next_id: state.next_id,
        move_requests: state
            .move_requests
            .into_iter()
            .map(|r| (r.user, r))
            .collect(),
    }))
}

pub fn save(path: &Path, dir: &Directory) -> anyhow::Result<()> {
    let state = StateFile {
        format: FORMAT,
        utc_offset_minutes: dir.utc_offset_minutes,
        next_id: dir.next_id,
        servers: dir.servers.clone(),
        databases: dir.databases.values().cloned().collect(),
        users: dir.users.values().cloned().collect(),
        move_requests: dir.move_requests.values().cloned().collect(),
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(parent)
        .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
    {
        let mut writer = std::io::BufWriter::new(temp.as_file_mut());
        serde_json::to_writer(&mut writer, &state).context("serializing the directory")?;
        writer.flush().context("writing the state file")?;
    }
    temp.as_file()
        .sync_all()
        .context("syncing the state file")?;
    temp.persist(path)
        .with_context(|| format!("replacing the state file {}", path.display()))?;
    Ok(())
}
