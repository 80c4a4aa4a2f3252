//! The stateful part of the emulated Adobe Pass backend: DCR clients and tokens, authentication
//! sessions (codes), and profiles per (client registration, device).

use crate::ids;
use std::collections::{BTreeMap, HashMap};

/// The seed pages' fixed values, used when `Options::seed_times` is set.
pub mod seed {
    pub const NOT_BEFORE: &str = "1733735289035";
    pub const NOT_AFTER: &str = "1733737089035";
    pub const CODE: &str = "8ER640M";
    pub const SESSION_ID: &str = "1b614390-6610-4d14-9421-6565f6e75958";
    pub const PARTNER_PROFILE_SESSION_ID: &str = "83c046be-ea4b-4581-b5f2-13e56e69dee9";
    pub const PARTNER_DEGRADED_SESSION_ID: &str = "14d4f239-e3b1-4a4a-b8b3-6395b968a260";
    pub const FALLBACK_CODE: &str = "OKTWW2W";
    pub const FALLBACK_SESSION_ID: &str = "748f0b9e-a2ae-46d5-acd9-4b4e6d71add7";
    pub const MISSING_CODE: &str = "SB7ZRIO";
    pub const MISSING_SESSION_ID: &str = "1476173f-5088-43b8-b7c3-8cf3a185de0a";
    pub const SAML_REQUEST: &str = "PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRG....";
}

/// Prefix Adobe gives degraded profiles' `userID`.
pub const DEGRADED_USER_PREFIX: &str = "95cf93bcd183214a";

/// Bounds on the state kept, so soak tests stay in constant memory.
const MAX_SESSIONS: usize = 10_000;
const MAX_TOKENS: usize = 10_000;
const MAX_CLIENTS: usize = 10_000;

/// One MVPD of the configuration answer.
#[derive(Clone, Debug)]
pub struct Mvpd {
    pub id: String,
    pub display_name: String,
    pub temp_pass: bool,
    pub proxy: bool,
}

/// The built-in MVPD list (configuration API), Cablevision and TempPass_TEST40 among them.
pub fn builtin_mvpds() -> Vec<Mvpd> {
    let m = |id: &str, name: &str, temp_pass: bool, proxy: bool| Mvpd {
        id: id.into(),
        display_name: name.into(),
        temp_pass,
        proxy,
    };
    vec![
        m("Cablevision", "Optimum", false, false),
        m("Comcast_SSO", "Xfinity", false, false),
        m("Charter_Direct", "Spectrum", false, false),
        m("Dish", "DISH", false, false),
        m("Verizon", "Verizon Fios", false, true),
        m("TempPass_TEST40", "TempPass 40 minutes", true, false),
    ]
}

/// Settings the backend consults (runtime-changeable through the hooks).
#[derive(Clone, Debug)]
pub struct Cfg {
    pub seed_times: bool,
    pub code_ttl_ms: u64,
    pub profile_ttl_ms: u64,
    pub token_ttl_secs: u64,
    pub partner_sso_enabled: bool,
    pub degraded_mvpds: Vec<String>,
    pub default_mvpd: String,
}

#[derive(Clone, Debug)]
pub struct Client {
    pub secret: String,
    pub valid: bool,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub client_id: String,
    pub expires_ms: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Session {
    pub code: String,
    pub sp: String,
    pub client_id: String,
    pub device: String,
    pub device_info: Option<String>,
    pub user_agent: Option<String>,
    pub peer: String,
    pub mvpd: Option<String>,
    pub domain: Option<String>,
    pub redirect: Option<String>,
    pub session_id: String,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub shown_not_before: String,
    pub shown_not_after: String,
    pub superseded: bool,
    /// The MVPD the user logged in with on the second screen.
    pub completed: Option<String>,
}

impl Session {
    /// Parameters still missing, named as the seed names them.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.mvpd.is_none() {
            m.push("mvpd");
        }
        if self.domain.is_none() {
            m.push("domain");
        }
        if self.redirect.is_none() {
            m.push("redirectUrl");
        }
        m
    }
}

/// Why a session/code cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeError {
    /// Never issued (or for another service provider): `invalid_parameter_code`.
    Unknown,
    /// Expired or replaced by a newer code: `invalid_authentication_session`.
    Dead,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub mvpd: String,
    pub not_before: u64,
    pub not_after: u64,
    pub issuer: String,
    /// `regular` | `degraded` | `temporary` | `appleSSO`.
    pub kind: &'static str,
    pub user_id: String,
}

impl Profile {
    /// The session `reasonType` for an already authenticated device.
    pub fn reason(&self) -> &'static str {
        match self.kind {
            "degraded" => "degraded",
            "temporary" => "temporary",
            "appleSSO" => "authenticatedSSO",
            _ => "authenticated",
        }
    }
}

/// Result of checking a bearer token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Valid {
        client_id: String,
    },
    /// Missing, unknown, revoked or expired.
    Invalid,
    /// The token's client registration was invalidated.
    ClientInvalid,
}

/// The backend's state.
#[derive(Debug)]
pub struct Model {
    pub cfg: Cfg,
    pub mvpds: Vec<Mvpd>,
    clients: HashMap<String, Client>,
    tokens: HashMap<String, Token>,
    sessions: HashMap<String, Session>,
    profiles: HashMap<(String, String), BTreeMap<String, Profile>>,
    first_code_issued: bool,
}

impl Model {
    pub fn new(cfg: Cfg) -> Self {
        Model {
            cfg,
            mvpds: builtin_mvpds(),
            clients: HashMap::new(),
            tokens: HashMap::new(),
            sessions: HashMap::new(),
            profiles: HashMap::new(),
            first_code_issued: false,
        }
    }

    // ---- DCR ----

    /// Registers a client; returns (client_id, client_secret).
    pub fn register(&mut self) -> (String, String) {
        if self.clients.len() >= MAX_CLIENTS {
            self.clients.retain(|_, c| c.valid);
        }
        let id = ids::uuid();
        let secret = ids::uuid();
        self.clients.insert(
            id.clone(),
            Client {
                secret: secret.clone(),
                valid: true,
            },
        );
        (id, secret)
    }

    /// Mints a token for valid credentials; `None` means `invalid_client`.
    pub fn mint(&mut self, client_id: &str, secret: &str, now: u64) -> Option<String> {
        let c = self.clients.get(client_id)?;
        if !c.valid || c.secret != secret {
            return None;
        }
        if self.tokens.len() >= MAX_TOKENS {
            self.tokens.retain(|_, t| t.expires_ms > now);
            if self.tokens.len() >= MAX_TOKENS {
                self.tokens.clear();
            }
        }
        let token = fake_jwt(client_id, now, self.cfg.token_ttl_secs);
        self.tokens.insert(
            token.clone(),
            Token {
                client_id: client_id.to_string(),
                expires_ms: now.saturating_add(self.cfg.token_ttl_secs.saturating_mul(1000)),
            },
        );
        Some(token)
    }

    pub fn check_token(&self, token: Option<&str>, now: u64) -> TokenCheck {
        let Some(t) = token.and_then(|t| self.tokens.get(t)) else {
            return TokenCheck::Invalid;
        };
        if t.expires_ms <= now {
            return TokenCheck::Invalid;
        }
        match self.clients.get(&t.client_id) {
            Some(c) if c.valid => TokenCheck::Valid {
                client_id: t.client_id.clone(),
            },
            _ => TokenCheck::ClientInvalid,
        }
    }

    pub fn revoke_tokens(&mut self) {
        self.tokens.clear();
    }

    /// Marks every registration invalid (token minting then answers `invalid_client`).
    pub fn invalidate_clients(&mut self) {
        self.clients.values_mut().for_each(|c| c.valid = false);
    }

    // ---- MVPDs ----

    pub fn is_degraded(&self, mvpd: &str) -> bool {
        self.cfg.degraded_mvpds.iter().any(|m| m == mvpd)
    }

    pub fn is_known_mvpd(&self, mvpd: &str) -> bool {
        self.mvpds.iter().any(|m| m.id == mvpd) || self.is_degraded(mvpd)
    }

    pub fn is_temp_pass(&self, mvpd: &str) -> bool {
        self.mvpds.iter().any(|m| m.id == mvpd && m.temp_pass)
    }

    // ---- sessions ----

    fn next_code(&mut self, seed_code: &str) -> String {
        if self.cfg.seed_times {
            return seed_code.to_string();
        }
        if !self.first_code_issued {
            self.first_code_issued = true;
            if !self.sessions.contains_key(seed::CODE) {
                return seed::CODE.to_string();
            }
        }
        loop {
            let c = ids::code();
            if !self.sessions.contains_key(&c) {
                return c;
            }
        }
    }

    /// Starts a session with a fresh code; older codes of the same device stop working.
    pub fn new_session(
        &mut self,
        mut s: Session,
        seed_code: &str,
        seed_session_id: &str,
        now: u64,
    ) -> Session {
        if self.sessions.len() >= MAX_SESSIONS {
            self.sessions
                .retain(|_, x| x.expires_ms > now && !x.superseded);
            if self.sessions.len() >= MAX_SESSIONS {
                self.sessions.clear();
            }
        }
        for other in self.sessions.values_mut() {
            if other.client_id == s.client_id && other.device == s.device {
                other.superseded = true;
            }
        }
        s.code = self.next_code(seed_code);
        s.session_id = self.session_id(seed_session_id);
        s.created_ms = now;
        s.expires_ms = now.saturating_add(self.cfg.code_ttl_ms);
        if self.cfg.seed_times {
            s.shown_not_before = seed::NOT_BEFORE.into();
            s.shown_not_after = seed::NOT_AFTER.into();
        } else {
            s.shown_not_before = now.to_string();
            s.shown_not_after = s.expires_ms.to_string();
        }
        self.sessions.insert(s.code.clone(), s.clone());
        s
    }

    /// A session id: the seed's in seed mode, else random.
    pub fn session_id(&self, seed_session_id: &str) -> String {
        if self.cfg.seed_times {
            seed_session_id.to_string()
        } else {
            ids::uuid()
        }
    }

    /// A live session for `code` under service provider `sp`.
    pub fn session(&self, sp: &str, code: &str, now: u64) -> Result<&Session, CodeError> {
        let s = self
            .sessions
            .get(code)
            .filter(|s| s.sp == sp)
            .ok_or(CodeError::Unknown)?;
        if s.superseded || s.expires_ms <= now {
            return Err(CodeError::Dead);
        }
        Ok(s)
    }

    pub fn session_mut(
        &mut self,
        sp: &str,
        code: &str,
        now: u64,
    ) -> Result<&mut Session, CodeError> {
        self.session(sp, code, now)?;
        self.sessions.get_mut(code).ok_or(CodeError::Unknown)
    }

    /// The second-screen login: the code's user is now authenticated with `mvpd` (the session's
    /// own mvpd wins when it has one). False when the code is unknown or dead.
    pub fn complete(
        &mut self,
        code: &str,
        mvpd: Option<&str>,
        now: u64,
    ) -> Result<String, CodeError> {
        let s = self.sessions.get(code).ok_or(CodeError::Unknown)?;
        if s.superseded || s.expires_ms <= now {
            return Err(CodeError::Dead);
        }
        let chosen = s
            .mvpd
            .clone()
            .or_else(|| mvpd.map(str::to_string))
            .unwrap_or_else(|| self.cfg.default_mvpd.clone());
        let (client, device) = (s.client_id.clone(), s.device.clone());
        if let Some(s) = self.sessions.get_mut(code) {
            s.completed = Some(chosen.clone());
            if s.mvpd.is_none() {
                s.mvpd = Some(chosen.clone());
            }
        }
        self.add_profile(&client, &device, &chosen, "regular", now);
        Ok(chosen)
    }

    /// Completes a code without checking its service provider (library hook).
    pub fn complete_any(&mut self, code: &str, mvpd: &str, now: u64) -> bool {
        let forced = self.sessions.get_mut(code).map(|s| {
            if s.mvpd.is_none() {
                s.mvpd = Some(mvpd.to_string());
            }
        });
        forced.is_some() && self.complete(code, Some(mvpd), now).is_ok()
    }

    // ---- profiles ----

    pub fn add_profile(
        &mut self,
        client: &str,
        device: &str,
        mvpd: &str,
        kind: &'static str,
        now: u64,
    ) -> Profile {
        let user_id = match kind {
            "degraded" => format!(
                "{DEGRADED_USER_PREFIX}{}",
                ids::digest_hex(&format!("{device}/{mvpd}"), 16)
            ),
            _ => ids::digest_hex(&format!("{device}/{mvpd}/user"), 24),
        };
        let issuer = match kind {
            "degraded" | "temporary" => "Adobe".to_string(),
            "appleSSO" => "Apple".to_string(),
            _ => mvpd.to_string(),
        };
        let p = Profile {
            mvpd: mvpd.to_string(),
            not_before: now,
            not_after: now.saturating_add(self.cfg.profile_ttl_ms),
            issuer,
            kind,
            user_id,
        };
        if self.profiles.len() >= MAX_SESSIONS {
            self.profiles.clear();
        }
        self.profiles
            .entry((client.to_string(), device.to_string()))
            .or_default()
            .insert(mvpd.to_string(), p.clone());
        p
    }

    /// Valid profiles of a device under a client registration, by mvpd.
    pub fn profiles(&self, client: &str, device: &str, now: u64) -> Vec<Profile> {
        self.profiles
            .get(&(client.to_string(), device.to_string()))
            .map(|m| {
                m.values()
                    .filter(|p| p.not_before <= now && now < p.not_after)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn profile(&self, client: &str, device: &str, mvpd: &str, now: u64) -> Option<Profile> {
        self.profiles(client, device, now)
            .into_iter()
            .find(|p| p.mvpd == mvpd)
    }

    /// Deletes the profile; returns it if it was valid.
    pub fn remove_profile(
        &mut self,
        client: &str,
        device: &str,
        mvpd: &str,
        now: u64,
    ) -> Option<Profile> {
        let valid = self.profile(client, device, mvpd, now);
        if let Some(m) = self
            .profiles
            .get_mut(&(client.to_string(), device.to_string()))
        {
            m.remove(mvpd);
        }
        valid
    }

    pub fn clear_profiles(&mut self) {
        self.profiles.clear();
    }
}

/// An opaque access token shaped like Adobe's (a JWT with the sample's claims, fake signature).
fn fake_jwt(client_id: &str, now_ms: u64, ttl_secs: u64) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let iat = now_ms / 1000;
    let header = b64.encode(br#"{"alg":"RS256"}"#);
    let payload = b64.encode(format!(
        r#"{{"sub":"{client_id}","nbf":{iat},"iss":"auth.adobe.com","scopes":"api:client:v2","exp":{},"iat":{iat},"jti":"{}"}}"#,
        iat.saturating_add(ttl_secs),
        ids::uuid()
    ));
    let sig = b64.encode(ids::bytes(64));
    format!("{header}.{payload}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(seed: bool) -> Model {
        Model::new(Cfg {
            seed_times: seed,
            code_ttl_ms: 1000,
            profile_ttl_ms: 5000,
            token_ttl_secs: 10,
            partner_sso_enabled: true,
            degraded_mvpds: vec![],
            default_mvpd: "Cablevision".into(),
        })
    }

    #[test]
    fn tokens_and_clients() {
        let mut m = model(false);
        let (id, secret) = m.register();
        assert!(m.mint(&id, "wrong", 0).is_none());
        let t = m.mint(&id, &secret, 0).unwrap();
        assert_eq!(
            m.check_token(Some(&t), 1),
            TokenCheck::Valid {
                client_id: id.clone()
            }
        );
        assert_eq!(m.check_token(Some(&t), 10_000), TokenCheck::Invalid);
        assert_eq!(m.check_token(None, 1), TokenCheck::Invalid);
        m.invalidate_clients();
        assert_eq!(m.check_token(Some(&t), 1), TokenCheck::ClientInvalid);
        assert!(m.mint(&id, &secret, 0).is_none());
    }

    #[test]
    fn codes_expire_and_supersede() {
        let mut m = model(false);
        let base = Session {
            sp: "REF30".into(),
            client_id: "c".into(),
            device: "d".into(),
            ..Session::default()
        };
        let a = m.new_session(base.clone(), seed::CODE, seed::SESSION_ID, 0);
        assert_eq!(a.code, seed::CODE, "the first code is the seed's");
        assert!(m.session("REF30", &a.code, 10).is_ok());
        assert_eq!(
            m.session("OTHER", &a.code, 10).unwrap_err(),
            CodeError::Unknown
        );
        assert_eq!(
            m.session("REF30", &a.code, 1000).unwrap_err(),
            CodeError::Dead
        );
        let b = m.new_session(base, seed::CODE, seed::SESSION_ID, 0);
        assert_ne!(a.code, b.code);
        assert_ne!(a.session_id, b.session_id);
        assert_eq!(
            m.session("REF30", &a.code, 10).unwrap_err(),
            CodeError::Dead
        );
        assert_eq!(
            m.complete(&b.code, Some("Dish"), 10),
            Ok("Dish".to_string())
        );
        assert_eq!(m.profiles("c", "d", 10).len(), 1);
        assert!(m.profiles("c", "other", 10).is_empty());
        assert!(m.profiles("c", "d", 5010).is_empty(), "profiles expire");
        assert!(m.remove_profile("c", "d", "Dish", 10).is_some());
        assert!(m.remove_profile("c", "d", "Dish", 10).is_none());
    }
}
