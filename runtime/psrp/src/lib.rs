//! Exchange remote PowerShell on the wire: CLIXML, PSRP and WS-Management.
//!
//! The codec modules are sans-IO and serve both the client (the `idconn`
//! host) and the server side (the Exchange simulator).

pub mod budget;
pub mod client;
pub mod clixml;
mod command;
pub mod fragment;
pub mod gss;
pub mod krb5;
pub mod message;
pub mod sealing;
pub mod state;
pub mod untrusted;
pub mod wsman;

pub use command::{Command, Parameter};
