//! The idconn host: runs identity connectors as sandboxed WebAssembly
//! components. See ARCHITECTURE.md for the picture.

pub mod agent;
pub mod allocator;
pub mod backend;
pub mod bindings;
pub mod cache;
mod caplog;
pub mod compile;
pub mod fulfill;
pub mod golden;
pub mod grants;
mod host_api;
pub mod inspect;
pub mod jobs;
pub mod limits;
pub mod manifest;
pub mod manifest_tool;
pub mod orders;
pub mod progress;
pub mod record;
mod redact;
pub mod registry;
pub mod report;
pub mod runtime;
pub mod sandbox;
pub mod secrets;
pub mod settings;
mod staging;
pub mod stall;
pub mod stats;
pub mod testkit;
mod wasi_guard;
