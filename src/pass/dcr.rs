//! Dynamic Client Registration (spec §7.2): client credentials and the access token.
//!
//! - Register once with the software statement; keep `client_id`/`client_secret` in the store file
//!   `client` (0600) forever — they are bound to the user's profiles.
//! - Mint the access token with the stored credentials; keep it in the store file `token` until
//!   `expires_in` runs out; mint a new one ahead of expiry (when less than 10 % of its lifetime or
//!   5 min, whichever is smaller, is left) or after a 401.
//! - Never re-register to refresh. Re-register only when the API says the registration is bad
//!   (`invalid_client` from `/o/client/token`, or an enhanced error with action
//!   `application-registration`), or when the configured software statement / base URL is no longer
//!   the one the stored credentials were registered with. Each re-registration is logged as an error
//!   because it loses the user's profiles.
//!
//! One mutex serialises all of this, so concurrent callers that find the token stale mint it once.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use miniserde::json::{Object, Value};
use miniserde::{Deserialize, Serialize};

use super::api::Wire;
use super::error::{PassError, errors_from_body};
use super::form;
use super::http::{Body, Method, Request};
use super::model::{as_u64, str_field};
use crate::clock;
use crate::json_depth::{MAX_DEPTH, deeper_than};
use crate::secret::Secret;
use crate::store::{self, Store};

pub const CLIENT_FILE: &str = "client";
pub const TOKEN_FILE: &str = "token";

/// Refresh when less than this much of the token's life is left (or 10 % of it, if smaller).
const REFRESH_MARGIN_MS: u64 = 5 * 60 * 1000;
/// If the token answer has no usable `expires_in`, assume this (spec: always use `expires_in`;
/// a short guess just means an early refresh).
const FALLBACK_TOKEN_LIFETIME_MS: u64 = 10 * 60 * 1000;

#[derive(Serialize, Deserialize)]
struct ClientFile {
    client_id: String,
    client_secret: String,
    /// `client_id_issued_at` as the API sent it (epoch seconds), if it did.
    client_id_issued_at: Option<u64>,
    registered_at_ms: u64,
    /// What the credentials belong to: a different base URL or statement needs a new registration.
    base_url: String,
    statement_sha256: String,
}

#[derive(Serialize, Deserialize)]
struct TokenFile {
    access_token: String,
    expires_at_ms: u64,
    lifetime_ms: u64,
    /// The client the token was minted for.
    client_id: String,
}

#[derive(Clone)]
struct Creds {
    client_id: String,
    client_secret: Secret<String>,
}

#[derive(Clone)]
struct Token {
    access: Secret<String>,
    expires_at_ms: u64,
    lifetime_ms: u64,
    client_id: String,
}

/// The token a call used, so a 401 invalidates exactly that one (not a newer one another thread
/// already minted) and a re-registration replaces exactly that client.
#[derive(Clone)]
pub struct Bearer {
    pub token: Secret<String>,
    pub client_id: String,
}

#[derive(Default)]
struct State {
    creds: Option<Creds>,
    token: Option<Token>,
}

pub struct Dcr {
    base_url: String,
    statement: Secret<String>,
    statement_sha256: String,
    redirect_uri: Option<String>,
    store: Store,
    state: Mutex<State>,
}

/// True when a token expiring at `expires_at_ms` (lifetime `lifetime_ms`) should be replaced now.
pub fn needs_refresh(now_ms: u64, expires_at_ms: u64, lifetime_ms: u64) -> bool {
    let margin = (lifetime_ms / 10).min(REFRESH_MARGIN_MS);
    now_ms.saturating_add(margin) >= expires_at_ms
}

impl Dcr {
    /// Load stored credentials and token (reused across restarts).
    pub fn new(
        base_url: &str,
        statement: Secret<String>,
        redirect_uri: Option<String>,
        store: Store,
    ) -> Result<Dcr, PassError> {
        let statement_sha256 = store::hex(
            ring::digest::digest(&ring::digest::SHA256, statement.expose().as_bytes()).as_ref(),
        );
        let mut state = State::default();
        if let Some(c) = store.read::<ClientFile>(CLIENT_FILE)? {
            if c.base_url != base_url || c.statement_sha256 != statement_sha256 {
                log::warn!(
                    "dcr: stored client credentials belong to another base URL or software statement; \
                     a new registration will be made (the user will have to sign in again)"
                );
            } else if c.client_id.is_empty() || c.client_secret.is_empty() {
                log::warn!("dcr: stored client credentials are empty; registering anew");
            } else {
                log::debug!("dcr: reusing stored client {}", short(&c.client_id));
                state.creds = Some(Creds {
                    client_id: c.client_id,
                    client_secret: Secret::new(c.client_secret),
                });
            }
        }
        if let (Some(creds), Some(t)) = (&state.creds, store.read::<TokenFile>(TOKEN_FILE)?) {
            if t.client_id == creds.client_id && !t.access_token.is_empty() {
                state.token = Some(Token {
                    access: Secret::new(t.access_token),
                    expires_at_ms: t.expires_at_ms,
                    lifetime_ms: t.lifetime_ms,
                    client_id: t.client_id,
                });
            }
        }
        Ok(Dcr {
            base_url: base_url.to_owned(),
            statement,
            statement_sha256,
            redirect_uri,
            store,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A valid access token, registering and minting as needed.
    pub fn bearer(&self, wire: &Wire, deadline: Instant) -> Result<Bearer, PassError> {
        let mut st = self.lock();
        if let Some(t) = &st.token {
            if !needs_refresh(clock::now_ms(), t.expires_at_ms, t.lifetime_ms) {
                return Ok(Bearer {
                    token: t.access.clone(),
                    client_id: t.client_id.clone(),
                });
            }
            log::debug!("dcr: access token expires soon; minting a new one");
        }
        self.mint(&mut st, wire, deadline)
    }

    /// The API refused `used` (401): forget it so the next `bearer` mints a new one. A no-op when
    /// another caller already replaced it.
    pub fn token_rejected(&self, used: &Bearer) {
        let mut st = self.lock();
        if st.token.as_ref().is_some_and(|t| t.access == used.token) {
            log::info!("dcr: access token rejected (401); minting a new one");
            st.token = None;
        }
    }

    /// The API said the registration behind `used` is invalid: register anew (loses profiles).
    /// A no-op when another caller already did.
    pub fn registration_rejected(
        &self,
        used: &Bearer,
        why: &str,
        wire: &Wire,
        deadline: Instant,
    ) -> Result<(), PassError> {
        let mut st = self.lock();
        if st
            .creds
            .as_ref()
            .is_some_and(|c| c.client_id == used.client_id)
        {
            self.reregister(&mut st, why, wire, deadline)?;
        }
        Ok(())
    }

    fn reregister(
        &self,
        st: &mut State,
        why: &str,
        wire: &Wire,
        deadline: Instant,
    ) -> Result<(), PassError> {
        log::error!(
            "dcr: the API rejected this device's client registration ({why}); registering again — \
             the user's profiles are lost and they must sign in again"
        );
        st.creds = None;
        st.token = None;
        self.register(st, wire, deadline)
    }

    fn mint(&self, st: &mut State, wire: &Wire, deadline: Instant) -> Result<Bearer, PassError> {
        let mut reregistered = false;
        loop {
            if st.creds.is_none() {
                self.register(st, wire, deadline)?;
            }
            let Some(creds) = st.creds.clone() else {
                return Err(PassError::BadResponse {
                    status: 0,
                    reason: "registration gave no credentials".into(),
                });
            };
            let body = form::pairs([
                ("client_id", creds.client_id.as_str()),
                ("client_secret", creds.client_secret.expose().as_str()),
                ("grant_type", "client_credentials"),
            ]);
            let url = format!("{}/o/client/token", self.base_url);
            let resp = wire.exchange(
                &Request {
                    method: Method::Post,
                    url: &url,
                    headers: wire.dcr_headers(),
                    body: Body::Form(body),
                },
                deadline,
            )?;
            let json = parse_json(resp.status, &resp.body);
            if !(200..300).contains(&resp.status) {
                let errors = json.as_ref().map(errors_from_body).unwrap_or_default();
                let invalid_client = errors
                    .iter()
                    .any(|e| e.code.as_deref() == Some("invalid_client"));
                if invalid_client && !reregistered {
                    reregistered = true;
                    self.reregister(st, "invalid_client from /o/client/token", wire, deadline)?;
                    continue;
                }
                return Err(PassError::Api {
                    status: resp.status,
                    errors,
                });
            }
            let json = json?;
            let token = token_from(&json, &creds.client_id, clock::now_ms()).map_err(|reason| {
                PassError::BadResponse {
                    status: resp.status,
                    reason,
                }
            })?;
            log::debug!(
                "dcr: minted an access token for client {} (valid {} s)",
                short(&creds.client_id),
                token.lifetime_ms / 1000
            );
            let file = TokenFile {
                access_token: token.access.expose().clone(),
                expires_at_ms: token.expires_at_ms,
                lifetime_ms: token.lifetime_ms,
                client_id: token.client_id.clone(),
            };
            if let Err(e) = self.store.write(TOKEN_FILE, &file) {
                // Not fatal: the token lives in memory; a restart just mints another.
                log::warn!("dcr: cannot persist the access token: {e}");
            }
            let bearer = Bearer {
                token: token.access.clone(),
                client_id: token.client_id.clone(),
            };
            st.token = Some(token);
            return Ok(bearer);
        }
    }

    fn register(&self, st: &mut State, wire: &Wire, deadline: Instant) -> Result<(), PassError> {
        let mut o = Object::new();
        o.insert(
            "software_statement".into(),
            Value::String(self.statement.expose().clone()),
        );
        if let Some(r) = &self.redirect_uri {
            o.insert("redirect_uri".into(), Value::String(r.clone()));
        }
        let body = miniserde::json::to_string(&Value::Object(o));
        let url = format!("{}/o/client/register", self.base_url);
        let resp = wire.exchange(
            &Request {
                method: Method::Post,
                url: &url,
                headers: wire.dcr_headers(),
                body: Body::Json(body),
            },
            deadline,
        )?;
        let json = parse_json(resp.status, &resp.body);
        if !(200..300).contains(&resp.status) {
            return Err(PassError::Api {
                status: resp.status,
                errors: json.as_ref().map(errors_from_body).unwrap_or_default(),
            });
        }
        let json = json?;
        let bad = |reason: &str| PassError::BadResponse {
            status: resp.status,
            reason: reason.into(),
        };
        let Value::Object(o) = &json else {
            return Err(bad("registration answer is not a JSON object"));
        };
        let client_id = str_field(o, "client_id")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("registration answer has no client_id"))?;
        let client_secret = str_field(o, "client_secret")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("registration answer has no client_secret"))?;
        let file = ClientFile {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            client_id_issued_at: o.get("client_id_issued_at").and_then(as_u64),
            registered_at_ms: clock::now_ms(),
            base_url: self.base_url.clone(),
            statement_sha256: self.statement_sha256.clone(),
        };
        log::info!("dcr: registered as client {}", short(&client_id));
        if let Err(e) = self.store.write(CLIENT_FILE, &file) {
            // Keep going with the credentials in memory, but this is serious: after a restart the
            // device would register again and the user would lose their profiles.
            log::error!("dcr: cannot persist client credentials: {e}");
        }
        if let Err(e) = self.store.remove(TOKEN_FILE) {
            log::warn!("dcr: cannot remove the old access token: {e}");
        }
        st.creds = Some(Creds {
            client_id,
            client_secret: Secret::new(client_secret),
        });
        st.token = None;
        Ok(())
    }
}

/// Parse a response body as JSON; an empty or non-JSON body is `BadResponse` (callers decide
/// whether that matters: for error statuses it just means "no enhanced error").
pub fn parse_json(status: u16, body: &[u8]) -> Result<Value, PassError> {
    let bad = |reason: &str| PassError::BadResponse {
        status,
        reason: reason.into(),
    };
    let text = std::str::from_utf8(body).map_err(|_| bad("response body is not UTF-8"))?;
    if text.trim().is_empty() {
        return Err(bad("empty response body"));
    }
    let v: Value = miniserde::json::from_str(text)
        .map_err(|_| bad("response body is not valid JSON (truncated?)"))?;
    // The parsers clone parts of the body on 256 KiB threads and `Value::clone` recurses.
    if deeper_than(&v, MAX_DEPTH) {
        return Err(bad("response body nested too deeply"));
    }
    Ok(v)
}

fn token_from(json: &Value, client_id: &str, now_ms: u64) -> Result<Token, String> {
    let Value::Object(o) = json else {
        return Err("token answer is not a JSON object".into());
    };
    let access = str_field(o, "access_token")
        .filter(|s| !s.is_empty())
        .ok_or("token answer has no access_token")?;
    let lifetime_ms = match o.get("expires_in").and_then(as_u64) {
        Some(secs) if secs > 0 => secs.saturating_mul(1000),
        _ => {
            log::warn!("dcr: token answer has no usable expires_in; assuming 10 minutes");
            FALLBACK_TOKEN_LIFETIME_MS
        }
    };
    Ok(Token {
        access: Secret::new(access),
        expires_at_ms: now_ms.saturating_add(lifetime_ms),
        lifetime_ms,
        client_id: client_id.to_owned(),
    })
}

/// The first characters of an id, for logs.
fn short(id: &str) -> String {
    let head: String = id.chars().take(8).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin() {
        let h6 = 6 * 3600 * 1000;
        // 6 h token: refreshed in its last 5 minutes.
        assert!(!needs_refresh(0, h6, h6));
        assert!(!needs_refresh(h6 - REFRESH_MARGIN_MS - 1, h6, h6));
        assert!(needs_refresh(h6 - REFRESH_MARGIN_MS, h6, h6));
        // 60 s token: in its last 6 s (10 %), not on every call.
        assert!(!needs_refresh(53_999, 60_000, 60_000));
        assert!(needs_refresh(54_000, 60_000, 60_000));
        // Expired, and absurd values, never overflow.
        assert!(needs_refresh(u64::MAX, 1, u64::MAX));
        assert!(needs_refresh(10, 0, 0));
    }

    #[test]
    fn token_answer_shapes() {
        let j = |s: &str| miniserde::json::from_str::<Value>(s).unwrap();
        // The documented sample (201): expires_in seconds, created_at ms (ignored).
        let t = token_from(
            &j(r#"{"id":"x","access_token":"eyJ.a.b","created_at":1724087868000,"expires_in":21600,"token_type":"bearer"}"#),
            "c1",
            1_000,
        )
        .unwrap();
        assert_eq!(t.access.expose(), "eyJ.a.b");
        assert_eq!(t.lifetime_ms, 21_600_000);
        assert_eq!(t.expires_at_ms, 21_601_000);
        assert_eq!(t.client_id, "c1");
        // expires_in as a string; missing → fallback; no token → error.
        let t = token_from(&j(r#"{"access_token":"t","expires_in":"60"}"#), "c", 0).unwrap();
        assert_eq!(t.lifetime_ms, 60_000);
        let t = token_from(&j(r#"{"access_token":"t"}"#), "c", 0).unwrap();
        assert_eq!(t.lifetime_ms, FALLBACK_TOKEN_LIFETIME_MS);
        assert!(token_from(&j(r#"{"access_token":""}"#), "c", 0).is_err());
        assert!(token_from(&j("[]"), "c", 0).is_err());
    }

    #[test]
    fn body_parsing() {
        assert!(parse_json(200, br#"{"a":1}"#).is_ok());
        for bad in [&b""[..], b"  ", br#"{"a":"#, b"\xff", b"<html>429</html>"] {
            match parse_json(201, bad) {
                Err(PassError::BadResponse { status: 201, .. }) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn deeply_nested_bodies_are_refused() {
        // Regression (fuzz/regressions/pass_session): cloning this `raw` overflowed a 256 KiB stack.
        let deep = format!(
            r#"{{"actionName":"resume","x":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        match parse_json(200, deep.as_bytes()) {
            Err(PassError::BadResponse { reason, .. }) => assert!(reason.contains("nested")),
            other => panic!("{other:?}"),
        }
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse_json(200, ok.as_bytes()).is_ok());
    }

    #[test]
    fn secrets_never_in_debug_output() {
        let b = Bearer {
            token: Secret::new("tok-123".into()),
            client_id: "c".into(),
        };
        assert!(!format!("{:?}", b.token).contains("tok-123"));
    }
}
