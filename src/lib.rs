//! tvauth: the device side of Adobe Pass (TV Everywhere) authentication for Linux set-top boxes.
//!
//! The binary (`src/main.rs`) is a thin dispatcher over this library so that integration tests and
//! benchmarks use the same modules. See README.md and CONTRACT.md for the interfaces.

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod clock;
pub mod config;
pub mod device;
pub mod pass;
pub mod secret;
pub mod store;
