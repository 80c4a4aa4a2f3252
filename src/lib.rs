//! tvauth: the device side of Adobe Pass (TV Everywhere) authentication for Linux set-top boxes.
//!
//! The binary (`src/main.rs`) is a thin dispatcher over this library so that integration tests and
//! benchmarks use the same modules. See README.md and CONTRACT.md for the interfaces.

#![forbid(unsafe_op_in_unsafe_fn)]
// Input from the network, files and the socket must never panic the daemon; tests may unwrap.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod agent;
pub mod bounded_read;
pub mod cli;
mod cli_login;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod device;
pub mod ipc;
pub mod json_depth;
pub mod logging;
pub mod notify;
pub mod pass;
#[cfg(feature = "qr")]
mod qr;
pub mod secret;
pub mod store;
