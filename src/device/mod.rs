//! The device side of every Adobe Pass request: X-Device-Info facts and the AP-Device-Identifier
//! fingerprint. Collection takes the filesystem root as a parameter so tests use fixture trees.

pub mod facts;
pub mod identity;
pub mod info;

pub use facts::{Facts, Interface};
pub use identity::Identity;
pub use info::DeviceInfo;
