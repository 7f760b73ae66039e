//! An Exchange `/PowerShell/` endpoint simulator: the protocol layer
//! (`server`) over an in-memory Exchange organization (`exchange`).

pub mod backend;
pub mod exchange;
pub mod server;
