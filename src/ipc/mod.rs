//! The box-local interface: JSON-RPC 2.0 over a Unix stream socket, newline framed (CONTRACT §3).

pub mod client;
mod envelope;
pub mod peer;
pub mod protocol;
pub mod server;
