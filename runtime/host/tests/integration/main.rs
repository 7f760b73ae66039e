//! The host's integration tests, in one binary: each test file used to be its
//! own crate and linked its own copy of wasmtime, which cost CI minutes of
//! linking and gigabytes of disk.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

mod agent;
mod concurrent;
mod contract_versions;
mod exchange_replay;
mod hostile_grants;
mod hotswap;
mod sandbox;
mod sandbox_holes;
mod settings;
mod testkit;
