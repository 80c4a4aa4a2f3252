//! Everything that talks to Adobe Pass: the REST API v2 client, DCR credentials, the client-side
//! throttle, wire types and errors. Knows nothing about sockets.
//!
//! - [`http`]: the one ureq agent (rustls/ring, Mozilla roots + `pass.ca_file`, timeouts, body cap);
//!   [`tls`] is its connector.
//! - [`throttle`]: Adobe's token bucket applied client-side, shared by every call.
//! - [`dcr`]: client credentials and access token lifecycle, persisted via [`crate::store`].
//! - [`api`]: [`Client`] and the typed calls; [`model`]: response types; [`error`]: [`PassError`].
//! - [`legacy`]: the v1 `/api/v1/authenticate` URL; [`form`]: percent-encoding.

pub mod api;
pub mod dcr;
pub mod error;
pub mod form;
pub mod http;
pub mod legacy;
pub mod model;
pub mod throttle;
pub mod tls;

pub use api::{Client, DeviceHeaders, PartnerStatus, SessionParams};
pub use error::{Action, EnhancedError, PassError, TransportKind};
pub use model::{
    ActionName, ActionType, AuthenticationRequest, Configuration, Decision, Decisions, Logout,
    Logouts, MediaToken, Mvpd, Profile, ProfileType, Profiles, ReasonType, Session, SessionInfo,
};
