//! [`PassError`]: everything that can go wrong talking to Adobe Pass, and [`EnhancedError`], Adobe's
//! error object (spec §6) normalised from whichever envelope the API used.
//!
//! Display strings are short, lowercase and never contain a secret: transport reasons come from our
//! own wording plus the TLS/IO cause; API errors show the status and the enhanced codes only.

use std::fmt;

use miniserde::json::{Object, Value};

use super::model::{int_field, str_field};
use crate::store::StoreError;

/// What the API said went wrong, one object of spec §6.1. Every field is kept as received (`raw`);
/// the typed fields are conveniences and are `None` when absent or not a string.
#[derive(Debug, Clone)]
pub struct EnhancedError {
    pub action: Option<String>,
    /// The `status` field; may differ from the HTTP status (spec §6.1).
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub details: Option<String>,
    pub help_url: Option<String>,
    pub trace: Option<String>,
    /// The object as the API sent it (for the socket's `errors` array).
    pub raw: Value,
}

/// The remedy an [`EnhancedError`] asks for (spec §6.2). Unknown values are kept as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Configuration,
    ApplicationRegistration,
    Authentication,
    Authorization,
    Retry,
    Other,
}

impl EnhancedError {
    /// From one JSON object. OAuth-style DCR errors (`{"error":"invalid_client"}`) put the code in
    /// `error`; that becomes `code`.
    pub fn from_object(o: &Object) -> EnhancedError {
        let code = str_field(o, "code").or_else(|| str_field(o, "error"));
        EnhancedError {
            action: str_field(o, "action"),
            status: int_field(o, "status").and_then(|s| u16::try_from(s).ok()),
            code,
            message: str_field(o, "message").or_else(|| str_field(o, "error_description")),
            details: text_field(o, "details"),
            help_url: str_field(o, "helpUrl"),
            trace: str_field(o, "trace"),
            raw: Value::Object(o.clone()),
        }
    }

    pub fn action_kind(&self) -> Action {
        match self.action.as_deref() {
            Some("none") => Action::None,
            Some("configuration") => Action::Configuration,
            Some("application-registration") => Action::ApplicationRegistration,
            Some("authentication") => Action::Authentication,
            Some("authorization") => Action::Authorization,
            Some("retry") => Action::Retry,
            _ => Action::Other,
        }
    }
}

/// `details` is documented as text, but partners put anything there; keep non-strings as JSON.
fn text_field(o: &Object, key: &str) -> Option<String> {
    match o.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(miniserde::json::to_string(other)),
    }
}

/// Every enhanced error in a response body, whichever envelope carries it (spec §6.1, §10 #21):
/// a flat top-level object, the 2024 `{"errors":[…]}` wrapper, `{"error":{…}}`, an OAuth
/// `{"error":"code"}`, or item-level `error` objects inside arrays/maps (decisions, profiles).
pub fn errors_from_body(body: &Value) -> Vec<EnhancedError> {
    let Value::Object(o) = body else {
        return Vec::new();
    };
    if let Some(Value::Array(items)) = o.get("errors") {
        return items
            .iter()
            .filter_map(|i| match i {
                Value::Object(io) => Some(EnhancedError::from_object(io)),
                _ => None,
            })
            .collect();
    }
    if o.contains_key("code") || o.contains_key("action") {
        return vec![EnhancedError::from_object(o)];
    }
    match o.get("error") {
        Some(Value::Object(eo)) => return vec![EnhancedError::from_object(eo)],
        Some(Value::String(_)) => return vec![EnhancedError::from_object(o)],
        _ => {}
    }
    item_errors(body)
}

/// Item-level `error` objects one level down: in arrays (`decisions: [{…, error}]`) and maps
/// (`profiles: {mvpd: {…, error}}`). Used for 2xx bodies too, where they are not a failure.
pub fn item_errors(body: &Value) -> Vec<EnhancedError> {
    let Value::Object(o) = body else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut take = |item: &Value| {
        if let Value::Object(io) = item {
            if let Some(Value::Object(eo)) = io.get("error") {
                out.push(EnhancedError::from_object(eo));
            }
        }
    };
    for v in o.values() {
        match v {
            Value::Array(items) => items.iter().for_each(&mut take),
            Value::Object(map) => map.values().for_each(&mut take),
            _ => {}
        }
    }
    out
}

/// How a request failed to reach the API or get an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The host name did not resolve.
    Dns,
    /// TCP connect failed (refused, unreachable).
    Connect,
    /// The TLS handshake failed (untrusted or expired certificate, wrong host, alert).
    Tls,
    /// A connect, read or whole-call timeout fired.
    Timeout,
    /// Any other socket or HTTP framing failure.
    Io,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Dns => "dns",
            TransportKind::Connect => "connect",
            TransportKind::Tls => "tls",
            TransportKind::Timeout => "timeout",
            TransportKind::Io => "io",
        })
    }
}

/// The one error type of the `pass` boundary.
#[derive(Debug)]
pub enum PassError {
    /// The API answered with a non-2xx status (not 429). `errors` holds every enhanced error the body
    /// carried, whichever envelope (empty when the body was not JSON, e.g. an HTML 500).
    Api {
        status: u16,
        errors: Vec<EnhancedError>,
    },
    /// The API could not be reached or did not answer in time.
    Transport { kind: TransportKind, reason: String },
    /// The API answered 429, or the client-side limiter could not fit the call within its deadline.
    /// `retry_after_ms` is how long to wait before trying again.
    Throttled { retry_after_ms: u64 },
    /// The configuration lacks what this needs (config key names, e.g. `pass.service_provider`).
    NotConfigured { missing: Vec<&'static str> },
    /// A 2xx answer that is not what the API documents: not JSON, truncated, a required field
    /// missing, or a body over the size cap.
    BadResponse { status: u16, reason: String },
    /// The state directory could not be read or written.
    Store(StoreError),
}

impl PassError {
    /// The first enhanced error with this action, if the API sent one.
    pub fn has_action(&self, action: Action) -> bool {
        match self {
            PassError::Api { errors, .. } => errors.iter().any(|e| e.action_kind() == action),
            _ => false,
        }
    }

    /// The HTTP status of an API answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            PassError::Api { status, .. } | PassError::BadResponse { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for PassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PassError::Api { status, errors } => {
                write!(f, "api error {status}")?;
                let codes: Vec<&str> = errors.iter().filter_map(|e| e.code.as_deref()).collect();
                if !codes.is_empty() {
                    write!(f, ": {}", codes.join(", "))?;
                }
                Ok(())
            }
            PassError::Transport { kind, reason } => write!(f, "{kind} error: {reason}"),
            PassError::Throttled { retry_after_ms } => {
                write!(f, "throttled: retry after {retry_after_ms} ms")
            }
            PassError::NotConfigured { missing } => {
                write!(f, "not configured: {}", missing.join(", "))
            }
            PassError::BadResponse { status, reason } => {
                write!(f, "bad response ({status}): {reason}")
            }
            PassError::Store(e) => write!(f, "state: {e}"),
        }
    }
}

impl std::error::Error for PassError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PassError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for PassError {
    fn from(e: StoreError) -> Self {
        PassError::Store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        miniserde::json::from_str(s).unwrap()
    }

    const FLAT: &str = r#"{"action":"none","status":400,"code":"invalid_parameter_service_provider",
        "message":"The service provider parameter value is missing or invalid.",
        "details":"more","helpUrl":"https://experienceleague.adobe.com/x","trace":"8bcb17f9-b172-47d2-86d9-3eb146f93e1b"}"#;

    #[test]
    fn flat_object() {
        let errs = errors_from_body(&parse(FLAT));
        assert_eq!(errs.len(), 1);
        let e = &errs[0];
        assert_eq!(e.action.as_deref(), Some("none"));
        assert_eq!(e.action_kind(), Action::None);
        assert_eq!(e.status, Some(400));
        assert_eq!(
            e.code.as_deref(),
            Some("invalid_parameter_service_provider")
        );
        assert_eq!(
            e.message.as_deref(),
            Some("The service provider parameter value is missing or invalid.")
        );
        assert_eq!(e.details.as_deref(), Some("more"));
        assert_eq!(
            e.help_url.as_deref(),
            Some("https://experienceleague.adobe.com/x")
        );
        assert_eq!(
            e.trace.as_deref(),
            Some("8bcb17f9-b172-47d2-86d9-3eb146f93e1b")
        );
        // raw is the object as received
        assert_eq!(
            miniserde::json::to_string(&e.raw),
            miniserde::json::to_string(&parse(FLAT))
        );
    }

    #[test]
    fn errors_wrapper() {
        let body = parse(
            r#"{"errors":[{"code":"unknown_integration","message":"m1","helpUrl":"h","action":"configuration"},
                          {"code":"invalid_mvpd_response","message":"m2","action":"retry","extra":[1,2]}]}"#,
        );
        let errs = errors_from_body(&body);
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].code.as_deref(), Some("unknown_integration"));
        assert_eq!(errs[0].action_kind(), Action::Configuration);
        assert_eq!(errs[1].action_kind(), Action::Retry);
        assert_eq!(errs[1].status, None);
        assert!(miniserde::json::to_string(&errs[1].raw).contains("\"extra\":[1,2]"));
    }

    #[test]
    fn item_level_errors() {
        // Decision deny: 200/403 with the error inside each item.
        let body = parse(
            r#"{"decisions":[{"resource":"REF30","serviceProvider":"REF30","mvpd":"Cablevision","authorized":true,"source":"mvpd"},
              {"resource":"REF31","authorized":false,"source":"mvpd",
               "error":{"action":"retry","status":403,"code":"network_received_error","message":"m","details":{"mvpd":"x"},"trace":"t"}}]}"#,
        );
        let errs = errors_from_body(&body);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].code.as_deref(), Some("network_received_error"));
        assert_eq!(errs[0].status, Some(403));
        assert_eq!(errs[0].details.as_deref(), Some(r#"{"mvpd":"x"}"#));
        // Top-level `error` object, and profile-map items.
        let errs = errors_from_body(&parse(
            r#"{"error":{"code":"c","action":"authentication"}}"#,
        ));
        assert_eq!(errs[0].action_kind(), Action::Authentication);
        let errs = item_errors(&parse(
            r#"{"profiles":{"Cablevision":{"error":{"code":"temporary_access_duration_limit_exceeded"}}}}"#,
        ));
        assert_eq!(
            errs[0].code.as_deref(),
            Some("temporary_access_duration_limit_exceeded")
        );
    }

    #[test]
    fn oauth_dcr_error_and_junk() {
        let errs = errors_from_body(&parse(r#"{"error":"invalid_client"}"#));
        assert_eq!(errs[0].code.as_deref(), Some("invalid_client"));
        assert_eq!(errs[0].action_kind(), Action::Other);
        for junk in [
            r#"[]"#,
            r#""x""#,
            r#"{}"#,
            r#"{"errors":"no"}"#,
            "null",
            "12",
        ] {
            assert!(errors_from_body(&parse(junk)).is_empty(), "{junk}");
        }
        // Unknown action values are tolerated.
        let errs = errors_from_body(&parse(r#"{"action":"reboot-the-moon","code":"x"}"#));
        assert_eq!(errs[0].action_kind(), Action::Other);
        assert_eq!(errs[0].action.as_deref(), Some("reboot-the-moon"));
    }

    #[test]
    fn display_is_short_and_lowercase() {
        let e = PassError::Api {
            status: 400,
            errors: errors_from_body(&parse(FLAT)),
        };
        assert_eq!(
            e.to_string(),
            "api error 400: invalid_parameter_service_provider"
        );
        assert_eq!(
            PassError::Throttled {
                retry_after_ms: 1000
            }
            .to_string(),
            "throttled: retry after 1000 ms"
        );
        assert_eq!(
            PassError::NotConfigured {
                missing: vec!["pass.service_provider", "pass.software_statement"]
            }
            .to_string(),
            "not configured: pass.service_provider, pass.software_statement"
        );
        assert_eq!(
            PassError::Transport {
                kind: TransportKind::Timeout,
                reason: "no answer within 15 s".into()
            }
            .to_string(),
            "timeout error: no answer within 15 s"
        );
    }
}
