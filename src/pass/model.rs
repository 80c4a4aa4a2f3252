//! Wire types of REST API v2 answers, parsed tolerantly from `miniserde::json::Value` (spec §10):
//! timestamps as strings or numbers become `u64` milliseconds, `domain` becomes `domainName`, unknown
//! enum values are kept as strings (the enums have an `Other`), extra fields are ignored and missing
//! optional fields are fine. Where the CONTRACT passes an object through "as the API returns it" the
//! raw `Value` is kept (with timestamps normalised to integers).

use miniserde::json::{Array, Number, Object, Value};

use super::error::{EnhancedError, item_errors};

// ---------------------------------------------------------------------------------------- helpers

/// A string field (`None` when absent or not a string).
pub(crate) fn str_field(o: &Object, key: &str) -> Option<String> {
    match o.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// A non-negative integer given as a JSON number or a string of digits (sessions send timestamps as
/// strings, profiles as numbers: spec §10 #15).
pub(crate) fn int_field(o: &Object, key: &str) -> Option<u64> {
    o.get(key).and_then(as_u64)
}

pub(crate) fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(Number::U64(n)) => Some(*n),
        Value::Number(Number::I64(n)) => u64::try_from(*n).ok(),
        Value::Number(Number::F64(f)) if f.is_finite() && *f >= 0.0 && *f < 1.8e19 => {
            Some(*f as u64)
        }
        Value::String(s) => {
            let t = s.trim();
            if !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

fn bool_field(o: &Object, key: &str) -> Option<bool> {
    match o.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The strings of an array field; non-strings are skipped.
fn str_list(o: &Object, key: &str) -> Vec<String> {
    match o.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        // Tolerate a single string where a list is documented.
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Object, String> {
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(format!("{what}: not a JSON object")),
    }
}

/// Create-session's `missingParameters` says `domain` where the request field is `domainName`
/// (spec §10 #9): report the name the caller has to send.
fn parameter_name(name: String) -> String {
    if name == "domain" {
        "domainName".to_owned()
    } else {
        name
    }
}

fn u64_value(n: u64) -> Value {
    Value::Number(Number::U64(n))
}

fn string_value(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// Rewrite `notBefore`/`notAfter` of `o` as integers when they parse (strings of ms → numbers).
fn normalise_times(o: &mut Object) {
    for key in ["notBefore", "notAfter"] {
        if let Some(n) = o.get(key).and_then(as_u64) {
            o.insert(key.to_owned(), u64_value(n));
        }
    }
}

// ---------------------------------------------------------------------------------------- enums

/// `actionName` of a session answer (spec §2.1, §2.2, §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionName {
    Authenticate,
    Resume,
    Authorize,
    Retry,
    PartnerProfile,
    Other,
}

impl ActionName {
    pub fn parse(s: &str) -> ActionName {
        match s {
            "authenticate" => ActionName::Authenticate,
            "resume" => ActionName::Resume,
            "authorize" => ActionName::Authorize,
            "retry" => ActionName::Retry,
            "partner_profile" => ActionName::PartnerProfile,
            _ => ActionName::Other,
        }
    }
}

/// `actionType`: how to follow `url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionType {
    Interactive,
    Direct,
    Other,
}

impl ActionType {
    pub fn parse(s: &str) -> ActionType {
        match s {
            "interactive" => ActionType::Interactive,
            "direct" => ActionType::Direct,
            _ => ActionType::Other,
        }
    }
}

/// `reasonType`: why that action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonType {
    None,
    Authenticated,
    Temporary,
    Degraded,
    AuthenticatedSso,
    PfsFallback,
    ConfigurationFallback,
    MissingParametersFallback,
    Other,
}

impl ReasonType {
    pub fn parse(s: &str) -> ReasonType {
        match s {
            "none" => ReasonType::None,
            "authenticated" => ReasonType::Authenticated,
            "temporary" => ReasonType::Temporary,
            "degraded" => ReasonType::Degraded,
            "authenticatedSSO" => ReasonType::AuthenticatedSso,
            "pfs_fallback" => ReasonType::PfsFallback,
            "configuration_fallback" => ReasonType::ConfigurationFallback,
            "missing_parameters_fallback" => ReasonType::MissingParametersFallback,
            _ => ReasonType::Other,
        }
    }
}

/// Profile `type` (spec §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileType {
    Regular,
    Degraded,
    Temporary,
    AppleSso,
    PlatformSso,
    ServiceTokenSso,
    Other,
}

impl ProfileType {
    pub fn parse(s: &str) -> ProfileType {
        match s {
            "regular" => ProfileType::Regular,
            "degraded" => ProfileType::Degraded,
            "temporary" => ProfileType::Temporary,
            "appleSSO" => ProfileType::AppleSso,
            "platformSSO" => ProfileType::PlatformSso,
            "serviceTokenSSO" => ProfileType::ServiceTokenSso,
            _ => ProfileType::Other,
        }
    }
}

// ---------------------------------------------------------------------------------------- sessions

/// Partner SSO: what to send to the partner (spec §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationRequest {
    pub type_: String,
    pub request: String,
    pub attributes_names: Vec<String>,
}

/// The answer of create/resume session and partner SSO.
#[derive(Debug, Clone)]
pub struct Session {
    pub action_name: String,
    pub action_type: String,
    pub reason_type: String,
    pub session_id: String,
    pub service_provider: String,
    /// Usually relative (`/api/v2/authenticate/REF30/8ER640M`): see `Client::full_url`.
    pub url: Option<String>,
    pub code: Option<String>,
    pub mvpd: Option<String>,
    /// Names as the request must spell them (`domain` → `domainName`).
    pub missing_parameters: Vec<String>,
    pub not_before: Option<u64>,
    pub not_after: Option<u64>,
    pub authentication_request: Option<AuthenticationRequest>,
    pub raw: Value,
}

impl Session {
    /// `actionName` is the one field nothing can be done without; everything else is tolerated.
    pub fn from_value(v: &Value) -> Result<Session, String> {
        let o = object(v, "session")?;
        let action_name = str_field(o, "actionName").ok_or("session: no actionName")?;
        let authentication_request = match o.get("authenticationRequest") {
            Some(Value::Object(ar)) => Some(AuthenticationRequest {
                type_: str_field(ar, "type").unwrap_or_default(),
                request: str_field(ar, "request").unwrap_or_default(),
                attributes_names: str_list(ar, "attributesNames"),
            }),
            _ => None,
        };
        Ok(Session {
            action_name,
            action_type: str_field(o, "actionType").unwrap_or_default(),
            reason_type: str_field(o, "reasonType").unwrap_or_default(),
            session_id: str_field(o, "sessionId").unwrap_or_default(),
            service_provider: str_field(o, "serviceProvider").unwrap_or_default(),
            url: str_field(o, "url").filter(|s| !s.is_empty()),
            code: str_field(o, "code").filter(|s| !s.is_empty()),
            mvpd: str_field(o, "mvpd").filter(|s| !s.is_empty()),
            missing_parameters: str_list(o, "missingParameters")
                .into_iter()
                .map(parameter_name)
                .collect(),
            not_before: int_field(o, "notBefore"),
            not_after: int_field(o, "notAfter"),
            authentication_request,
            raw: v.clone(),
        })
    }

    pub fn action(&self) -> ActionName {
        ActionName::parse(&self.action_name)
    }

    pub fn action_type_kind(&self) -> ActionType {
        ActionType::parse(&self.action_type)
    }

    pub fn reason(&self) -> ReasonType {
        ReasonType::parse(&self.reason_type)
    }

    /// The CONTRACT's "Session" object; absent keys are left out.
    pub fn to_json(&self, full_url: Option<String>) -> Value {
        let mut o = Object::new();
        o.insert("actionName".into(), string_value(&self.action_name));
        o.insert("actionType".into(), string_value(&self.action_type));
        o.insert("reasonType".into(), string_value(&self.reason_type));
        o.insert("sessionId".into(), string_value(&self.session_id));
        o.insert(
            "serviceProvider".into(),
            string_value(&self.service_provider),
        );
        for (key, val) in [
            ("url", &self.url),
            ("code", &self.code),
            ("mvpd", &self.mvpd),
        ] {
            if let Some(s) = val {
                o.insert(key.into(), string_value(s));
            }
        }
        if !self.missing_parameters.is_empty() {
            o.insert(
                "missingParameters".into(),
                Value::Array(
                    self.missing_parameters
                        .iter()
                        .map(|s| string_value(s))
                        .collect(),
                ),
            );
        }
        for (key, val) in [("notBefore", self.not_before), ("notAfter", self.not_after)] {
            if let Some(n) = val {
                o.insert(key.into(), u64_value(n));
            }
        }
        if let Some(ar) = &self.authentication_request {
            let mut a = Object::new();
            a.insert("type".into(), string_value(&ar.type_));
            a.insert("request".into(), string_value(&ar.request));
            a.insert(
                "attributesNames".into(),
                Value::Array(
                    ar.attributes_names
                        .iter()
                        .map(|s| string_value(s))
                        .collect(),
                ),
            );
            o.insert("authenticationRequest".into(), Value::Object(a));
        }
        if let Some(u) = full_url {
            o.insert("fullUrl".into(), Value::String(u));
        }
        Value::Object(o)
    }
}

/// Retrieve-session answer (spec §2.3).
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// As received, except a `domain` key is renamed `domainName` (spec §10 #9).
    pub existing_parameters: Object,
    pub missing_parameters: Vec<String>,
    /// Adobe's normalised view of the device, as received.
    pub device: Option<Value>,
    pub not_before: Option<u64>,
    pub not_after: Option<u64>,
    pub raw: Value,
}

impl SessionInfo {
    pub fn from_value(v: &Value) -> Result<SessionInfo, String> {
        let o = object(v, "session")?;
        let mut existing_parameters = match o.get("existingParameters") {
            Some(Value::Object(e)) => e.clone(),
            _ => Object::new(),
        };
        if !existing_parameters.contains_key("domainName") {
            if let Some(d) = existing_parameters.remove("domain") {
                existing_parameters.insert("domainName".into(), d);
            }
        }
        Ok(SessionInfo {
            existing_parameters,
            missing_parameters: str_list(o, "missingParameters")
                .into_iter()
                .map(parameter_name)
                .collect(),
            device: o
                .get("device")
                .filter(|d| !matches!(d, Value::Null))
                .cloned(),
            not_before: int_field(o, "notBefore"),
            not_after: int_field(o, "notAfter"),
            raw: v.clone(),
        })
    }

    /// `{ existingParameters, missingParameters, device?, notBefore, notAfter }`, timestamps as
    /// integers; absent timestamps are left out.
    pub fn to_json(&self) -> Value {
        let mut o = Object::new();
        o.insert(
            "existingParameters".into(),
            Value::Object(self.existing_parameters.clone()),
        );
        o.insert(
            "missingParameters".into(),
            Value::Array(
                self.missing_parameters
                    .iter()
                    .map(|s| string_value(s))
                    .collect(),
            ),
        );
        if let Some(d) = &self.device {
            o.insert("device".into(), d.clone());
        }
        for (key, val) in [("notBefore", self.not_before), ("notAfter", self.not_after)] {
            if let Some(n) = val {
                o.insert(key.into(), u64_value(n));
            }
        }
        Value::Object(o)
    }
}

// ---------------------------------------------------------------------------------------- profiles

/// One MVPD's authentication profile (spec §3.2).
#[derive(Debug, Clone)]
pub struct Profile {
    /// 0 when absent.
    pub not_before: u64,
    /// 0 when absent, which makes a profile without `notAfter` already expired.
    pub not_after: u64,
    pub issuer: String,
    pub type_: String,
    /// The profile as received, with `notBefore`/`notAfter` as integers.
    pub raw: Value,
}

impl Profile {
    pub fn kind(&self) -> ProfileType {
        ProfileType::parse(&self.type_)
    }

    /// The `attributes` map (`{name: {value, state}}`), if any.
    pub fn attributes(&self) -> Option<&Object> {
        match &self.raw {
            Value::Object(o) => match o.get("attributes") {
                Some(Value::Object(a)) => Some(a),
                _ => None,
            },
            _ => None,
        }
    }
}

/// `{"profiles": {"<mvpd>": profile}}`; an empty map means "none (yet)".
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    pub profiles: Vec<(String, Profile)>,
}

impl Profiles {
    pub fn from_value(v: &Value) -> Result<Profiles, String> {
        let o = object(v, "profiles")?;
        let map = match o.get("profiles") {
            Some(Value::Object(m)) => m,
            None | Some(Value::Null) => return Ok(Profiles::default()),
            Some(_) => return Err("profiles: `profiles` is not an object".into()),
        };
        let mut profiles = Vec::with_capacity(map.len());
        for (mvpd, p) in map.iter() {
            let Value::Object(po) = p else { continue };
            let mut raw = po.clone();
            normalise_times(&mut raw);
            profiles.push((
                mvpd.clone(),
                Profile {
                    not_before: int_field(po, "notBefore").unwrap_or(0),
                    not_after: int_field(po, "notAfter").unwrap_or(0),
                    issuer: str_field(po, "issuer").unwrap_or_default(),
                    type_: str_field(po, "type").unwrap_or_default(),
                    raw: Value::Object(raw),
                },
            ));
        }
        Ok(Profiles { profiles })
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    pub fn get(&self, mvpd: &str) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|(m, _)| m == mvpd)
            .map(|(_, p)| p)
    }

    /// `{"profiles":{"<mvpd>": profile as the API returns it}}`.
    pub fn to_json(&self) -> Value {
        let map: Object = self
            .profiles
            .iter()
            .map(|(m, p)| (m.clone(), p.raw.clone()))
            .collect();
        let mut o = Object::new();
        o.insert("profiles".into(), Value::Object(map));
        Value::Object(o)
    }
}

// ---------------------------------------------------------------------------------------- configuration

/// One entry of `requestor.mvpds` (spec §4.4); the rest stays in `raw`.
#[derive(Debug, Clone)]
pub struct Mvpd {
    pub id: String,
    pub display_name: Option<String>,
    pub logo_url: Option<String>,
    pub is_temp_pass: bool,
    pub is_proxy: bool,
    pub raw: Value,
}

#[derive(Debug, Clone)]
pub struct Configuration {
    /// `requestor.mvpds` as received.
    pub mvpds: Vec<Value>,
    pub raw: Value,
}

impl Configuration {
    pub fn from_value(v: &Value) -> Result<Configuration, String> {
        let o = object(v, "configuration")?;
        // Documented under `requestor`; tolerate a top-level list too.
        let list = match o.get("requestor") {
            Some(Value::Object(r)) => r.get("mvpds"),
            _ => None,
        }
        .or_else(|| o.get("mvpds"));
        let mvpds = match list {
            Some(Value::Array(a)) => a
                .iter()
                .filter(|m| matches!(m, Value::Object(_)))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        Ok(Configuration {
            mvpds,
            raw: v.clone(),
        })
    }

    /// Typed view of `mvpds` (entries without an `id` are skipped).
    pub fn mvpd_list(&self) -> Vec<Mvpd> {
        self.mvpds
            .iter()
            .filter_map(|m| {
                let Value::Object(o) = m else { return None };
                Some(Mvpd {
                    id: str_field(o, "id")?,
                    display_name: str_field(o, "displayName"),
                    logo_url: str_field(o, "logoUrl"),
                    is_temp_pass: bool_field(o, "isTempPass").unwrap_or(false),
                    is_proxy: bool_field(o, "isProxy").unwrap_or(false),
                    raw: m.clone(),
                })
            })
            .collect()
    }

    /// `requestor.domains[].name`: the domain names the programmer registered.
    pub fn domains(&self) -> Vec<String> {
        let Value::Object(o) = &self.raw else {
            return Vec::new();
        };
        let Some(Value::Object(r)) = o.get("requestor") else {
            return Vec::new();
        };
        match r.get("domains") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|d| match d {
                    Value::Object(d) => str_field(d, "name"),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------- decisions

/// The media token of an authorize decision.
#[derive(Debug, Clone)]
pub struct MediaToken {
    pub serialized_token: String,
    pub not_before: Option<u64>,
    pub not_after: Option<u64>,
}

/// Typed view of one decision (spec §4.1).
#[derive(Debug, Clone)]
pub struct Decision {
    pub resource: String,
    pub service_provider: Option<String>,
    pub mvpd: Option<String>,
    pub authorized: bool,
    pub source: Option<String>,
    pub token: Option<MediaToken>,
    pub not_before: Option<u64>,
    pub not_after: Option<u64>,
    pub error: Option<EnhancedError>,
}

#[derive(Debug, Clone)]
pub struct Decisions {
    /// The items as received, timestamps (also the token's) as integers.
    pub decisions: Vec<Value>,
    pub raw: Value,
}

impl Decisions {
    pub fn from_value(v: &Value) -> Result<Decisions, String> {
        let o = object(v, "decisions")?;
        let decisions = match o.get("decisions") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|d| match d {
                    Value::Object(d) => {
                        let mut d = d.clone();
                        normalise_times(&mut d);
                        if let Some(Value::Object(t)) = d.get_mut("token") {
                            normalise_times(t);
                        }
                        Some(Value::Object(d))
                    }
                    _ => None,
                })
                .collect(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err("decisions: `decisions` is not an array".into()),
        };
        Ok(Decisions {
            decisions,
            raw: v.clone(),
        })
    }

    /// `{"decisions":[…]}` for the socket.
    pub fn to_json(&self) -> Value {
        let mut o = Object::new();
        o.insert(
            "decisions".into(),
            Value::Array(self.decisions.iter().cloned().collect::<Array>()),
        );
        Value::Object(o)
    }

    /// Item-level errors (a 200 can carry denials and `retry` items).
    pub fn errors(&self) -> Vec<EnhancedError> {
        item_errors(&self.raw)
    }

    pub fn items(&self) -> Vec<Decision> {
        self.decisions
            .iter()
            .filter_map(|d| {
                let Value::Object(o) = d else { return None };
                let token = match o.get("token") {
                    Some(Value::Object(t)) => Some(MediaToken {
                        serialized_token: str_field(t, "serializedToken").unwrap_or_default(),
                        not_before: int_field(t, "notBefore"),
                        not_after: int_field(t, "notAfter"),
                    }),
                    _ => None,
                };
                let error = match o.get("error") {
                    Some(Value::Object(e)) => Some(EnhancedError::from_object(e)),
                    _ => None,
                };
                Some(Decision {
                    resource: str_field(o, "resource").unwrap_or_default(),
                    service_provider: str_field(o, "serviceProvider"),
                    mvpd: str_field(o, "mvpd"),
                    authorized: bool_field(o, "authorized").unwrap_or(false),
                    source: str_field(o, "source"),
                    token,
                    not_before: int_field(o, "notBefore"),
                    not_after: int_field(o, "notAfter"),
                    error,
                })
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------- logout

/// One MVPD's logout instruction (spec §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logout {
    pub mvpd: String,
    /// `logout`, `partner_logout`, `complete`, `invalid`, or something newer.
    pub action_name: String,
    pub action_type: String,
    /// May be relative.
    pub url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Logouts {
    /// The `logouts` object as received.
    pub raw: Value,
}

impl Logouts {
    pub fn from_value(v: &Value) -> Result<Logouts, String> {
        let o = object(v, "logout")?;
        match o.get("logouts") {
            Some(Value::Object(l)) => Ok(Logouts {
                raw: Value::Object(l.clone()),
            }),
            None | Some(Value::Null) => Ok(Logouts {
                raw: Value::Object(Object::new()),
            }),
            Some(_) => Err("logout: `logouts` is not an object".into()),
        }
    }

    pub fn items(&self) -> Vec<Logout> {
        let Value::Object(o) = &self.raw else {
            return Vec::new();
        };
        o.iter()
            .filter_map(|(key, v)| {
                let Value::Object(l) = v else { return None };
                Some(Logout {
                    mvpd: str_field(l, "mvpd").unwrap_or_else(|| key.clone()),
                    action_name: str_field(l, "actionName").unwrap_or_default(),
                    action_type: str_field(l, "actionType").unwrap_or_default(),
                    url: str_field(l, "url"),
                })
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
