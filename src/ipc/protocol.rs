//! JSON-RPC 2.0 wire types for the socket (CONTRACT §3): request parsing with the spec's error codes,
//! typed access to params, and response/notification encoding. No I/O here.

use std::fmt;

use miniserde::json::{self, Array, Number, Object, Value};

use crate::json_depth;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// The API answered with an error.
pub const API_ERROR: i64 = -32001;
/// The API could not be reached.
pub const UNREACHABLE: i64 = -32002;
/// The agent is not configured for this.
pub const NOT_CONFIGURED: i64 = -32003;
/// Throttled by the API or by the agent's own limiter.
pub const THROTTLED: i64 = -32004;
/// The peer may not use the socket.
pub const FORBIDDEN: i64 = -32005;

/// Longest accepted request line, without its `\n`.
pub const MAX_LINE: usize = 64 * 1024;
/// Most requests in one batch array.
pub const MAX_BATCH: usize = 64;

/// A JSON-RPC error object. `Display` is the message (what the CLI prints).
#[derive(Clone)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(data);
        self
    }

    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }

    fn to_value(&self) -> Value {
        let mut o = Object::new();
        o.insert("code".into(), Value::Number(Number::I64(self.code)));
        o.insert("message".into(), Value::String(self.message.clone()));
        if let Some(d) = &self.data {
            o.insert("data".into(), d.clone());
        }
        Value::Object(o)
    }
}

impl fmt::Debug for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RpcError({} {}", self.code, self.message)?;
        if let Some(d) = &self.data {
            write!(f, " {}", json::to_string(d))?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// One parsed call. `id` is `None` for a notification (no response is sent).
pub struct Request {
    pub id: Option<Value>,
    pub method: String,
    pub params: Params,
}

/// What one line turned into.
pub enum Incoming {
    /// Nothing to do (blank line).
    Empty,
    Single(Result<Request, (Value, RpcError)>),
    /// A batch; each element parsed on its own. Errors carry the id to answer with.
    Batch(Vec<Result<Request, (Value, RpcError)>>),
}

/// Parse one line (without the trailing newline).
pub fn parse_line(line: &[u8]) -> Incoming {
    let Ok(text) = std::str::from_utf8(line) else {
        return Incoming::Single(Err((
            Value::Null,
            RpcError::new(PARSE_ERROR, "parse error: invalid UTF-8"),
        )));
    };
    let text = text.trim();
    if text.is_empty() {
        return Incoming::Empty;
    }
    // The common case without a JSON tree; anything it does not accept is handled below.
    if let Some(r) = super::envelope::request(text) {
        return Incoming::Single(Ok(r));
    }
    general(text)
}

/// Every line, valid or not, through a `Value`: the reference for [`super::envelope`].
fn general(text: &str) -> Incoming {
    let value: Value = match json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            return Incoming::Single(Err((
                Value::Null,
                RpcError::new(PARSE_ERROR, "parse error: invalid JSON"),
            )));
        }
    };
    // Refused before anything clones it: `Value::clone` recurses (see `json_depth`).
    if json_depth::deeper_than(&value, json_depth::MAX_DEPTH) {
        return Incoming::Single(Err((
            Value::Null,
            RpcError::new(INVALID_REQUEST, "invalid request: nested too deeply"),
        )));
    }
    match value {
        Value::Array(items) if items.is_empty() => Incoming::Single(Err((
            Value::Null,
            RpcError::new(INVALID_REQUEST, "invalid request: empty batch"),
        ))),
        Value::Array(items) if items.len() > MAX_BATCH => Incoming::Single(Err((
            Value::Null,
            RpcError::new(
                INVALID_REQUEST,
                format!("invalid request: batch larger than {MAX_BATCH}"),
            ),
        ))),
        Value::Array(items) => Incoming::Batch(items.into_iter().map(request_from).collect()),
        other => Incoming::Single(request_from(other)),
    }
}

fn request_from(v: Value) -> Result<Request, (Value, RpcError)> {
    let Value::Object(mut o) = v else {
        return Err((
            Value::Null,
            RpcError::new(INVALID_REQUEST, "invalid request: not an object"),
        ));
    };
    let id = o.remove("id");
    let echo = id.clone().unwrap_or(Value::Null);
    let bad = |m: &str| {
        (
            echo.clone(),
            RpcError::new(INVALID_REQUEST, format!("invalid request: {m}")),
        )
    };
    match &id {
        None
        | Some(Value::Null | Value::String(_) | Value::Number(Number::U64(_) | Number::I64(_))) => {
        }
        Some(_) => {
            return Err((
                Value::Null,
                RpcError::new(INVALID_REQUEST, "invalid request: bad id"),
            ));
        }
    }
    match o.get("jsonrpc") {
        Some(Value::String(s)) if s == "2.0" => {}
        _ => return Err(bad("jsonrpc must be \"2.0\"")),
    }
    let method = match o.remove("method") {
        Some(Value::String(m)) => m,
        _ => return Err(bad("method must be a string")),
    };
    let params = match o.remove("params") {
        None | Some(Value::Null) => Params::default(),
        Some(Value::Object(p)) => Params(p),
        Some(Value::Array(a)) if a.is_empty() => Params::default(),
        Some(_) => {
            return Err((
                echo,
                RpcError::invalid_params("invalid params: must be an object"),
            ));
        }
    };
    if let Some(k) = o.keys().find(|k| *k != "jsonrpc") {
        return Err(bad(&format!("unexpected member `{k}`")));
    }
    Ok(Request { id, method, params })
}

/// Named parameters with typed, validating accessors. Every key must be consumed: [`Params::finish`]
/// rejects leftovers so a typo (`mvdp`) is an error, not silently ignored.
#[derive(Default)]
pub struct Params(Object);

impl Params {
    pub fn from_object(o: Object) -> Params {
        Params(o)
    }

    /// An optional string; `null` and `""` count as absent.
    pub fn opt_str(&mut self, key: &str) -> Result<Option<String>, RpcError> {
        match self.0.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) if s.len() > 4096 => Err(RpcError::invalid_params(format!(
                "invalid params: `{key}` is too long"
            ))),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(RpcError::invalid_params(format!(
                "invalid params: `{key}` must be a string"
            ))),
        }
    }

    pub fn req_str(&mut self, key: &str) -> Result<String, RpcError> {
        self.opt_str(key)?
            .ok_or_else(|| RpcError::invalid_params(format!("invalid params: `{key}` is required")))
    }

    pub fn opt_bool(&mut self, key: &str) -> Result<Option<bool>, RpcError> {
        match self.0.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(RpcError::invalid_params(format!(
                "invalid params: `{key}` must be a boolean"
            ))),
        }
    }

    /// A required non-empty array of non-empty strings (at most `max`).
    pub fn req_str_list(&mut self, key: &str, max: usize) -> Result<Vec<String>, RpcError> {
        let bad = || {
            RpcError::invalid_params(format!(
                "invalid params: `{key}` must be a non-empty array of strings"
            ))
        };
        let Some(Value::Array(items)) = self.0.remove(key) else {
            return Err(bad());
        };
        if items.is_empty() || items.len() > max {
            return Err(RpcError::invalid_params(format!(
                "invalid params: `{key}` must hold 1 to {max} items"
            )));
        }
        items
            .into_iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() && s.len() <= 4096 => Ok(s),
                _ => Err(bad()),
            })
            .collect()
    }

    /// Reject any key not consumed by an accessor.
    pub fn finish(self) -> Result<(), RpcError> {
        match self.0.keys().next() {
            Some(k) => Err(RpcError::invalid_params(format!(
                "invalid params: unknown parameter `{k}`"
            ))),
            None => Ok(()),
        }
    }
}

// The envelopes below are the exact bytes miniserde writes for the envelope object (its keys come
// out sorted: "error" < "id" < "jsonrpc" < "method" < "params" < "result"), assembled around the
// serialized members instead of building, serializing and dropping an envelope object per answer:
// that was the largest single cost of a request in `cargo bench --bench agent` (callgrind).

/// `{"id":…,"jsonrpc":"2.0","result":…}` as one line with `\n`.
pub fn success(id: Value, result: Value) -> String {
    success_json(id, &json::to_string(&result))
}

/// [`success`] with the result already serialized (by miniserde: a cached answer).
pub fn success_json(id: Value, result: &str) -> String {
    join(&[
        "{\"id\":",
        &json::to_string(&id),
        ",\"jsonrpc\":\"2.0\",\"result\":",
        result,
        "}\n",
    ])
}

/// `{"error":{…},"id":…,"jsonrpc":"2.0"}` as one line with `\n`.
pub fn failure(id: Value, err: &RpcError) -> String {
    join(&[
        "{\"error\":",
        &json::to_string(&err.to_value()),
        ",\"id\":",
        &json::to_string(&id),
        ",\"jsonrpc\":\"2.0\"}\n",
    ])
}

/// `{"jsonrpc":"2.0","method":…,"params":…}` as one line with `\n`.
pub fn notification(method: &str, params: Value) -> String {
    join(&[
        "{\"jsonrpc\":\"2.0\",\"method\":",
        &json::to_string(method),
        ",\"params\":",
        &json::to_string(&params),
        "}\n",
    ])
}

fn join(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// A batch answer: the element lines (each already `\n`-terminated) joined into one array line.
pub fn batch(elements: &[String]) -> String {
    let mut s = String::from("[");
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(e.trim_end());
    }
    s.push_str("]\n");
    s
}

/// Small builders for result objects.
pub fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut o = Object::new();
    for (k, v) in pairs {
        o.insert(k.to_owned(), v);
    }
    Value::Object(o)
}

pub fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

pub fn uint(n: u64) -> Value {
    Value::Number(Number::U64(n))
}

pub fn strings<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|s| Value::String(s.into()))
            .collect::<Array>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(line: &str) -> Result<Request, (Value, RpcError)> {
        match parse_line(line.as_bytes()) {
            Incoming::Single(r) => r,
            _ => panic!("not single: {line}"),
        }
    }

    fn err_code(line: &str) -> (String, i64) {
        let (id, e) = single(line).err().unwrap();
        (json::to_string(&id), e.code)
    }

    #[test]
    fn parses_a_request() {
        let r =
            single(r#"{"jsonrpc":"2.0","id":7,"method":"session.create","params":{"mvpd":"X"}}"#)
                .ok()
                .unwrap();
        assert_eq!(json::to_string(&r.id.unwrap()), "7");
        assert_eq!(r.method, "session.create");
        let mut p = r.params;
        assert_eq!(p.opt_str("mvpd").unwrap().as_deref(), Some("X"));
        p.finish().unwrap();
        let r = single(r#"{"jsonrpc":"2.0","method":"agent.version"}"#)
            .ok()
            .unwrap();
        assert!(r.id.is_none(), "notification");
        let r = single(r#"{"jsonrpc":"2.0","id":"a","method":"agent.version","params":[]}"#)
            .ok()
            .unwrap();
        assert_eq!(json::to_string(&r.id.unwrap()), "\"a\"");
    }

    fn describe(i: Incoming) -> String {
        fn one(r: Result<Request, (Value, RpcError)>) -> String {
            match r {
                Ok(r) => format!(
                    "ok id={} method={} params={}",
                    r.id.map_or("absent".into(), |v| json::to_string(&v)),
                    r.method,
                    json::to_string(&Value::Object(r.params.0))
                ),
                Err((id, e)) => format!("err id={} {e:?}", json::to_string(&id)),
            }
        }
        match i {
            Incoming::Empty => "empty".into(),
            Incoming::Single(r) => one(r),
            Incoming::Batch(items) => items.into_iter().map(one).collect::<Vec<_>>().join(" | "),
        }
    }

    /// The fast path for the usual request shape (`envelope`) never changes an answer: every
    /// combination of valid and invalid members parses exactly as through the general path.
    #[test]
    fn the_envelope_fast_path_agrees_with_the_general_path() {
        let ids = ["", "null", "1", "-1", "\"x\"", "1.5", "true", "{}", "[]"];
        let versions = ["", "\"2.0\"", "\"1.0\"", "2", "null"];
        let methods = ["", "\"auth.status\"", "5", "null", "\"a\\u0062\""];
        let params = ["", "null", "{}", "{\"a\":1}", "[]", "[1]", "\"p\""];
        let extras = ["", "\"x\":1", "\"a\":[2]"];
        let mut lines = vec![
            r#"{"jsonrpc":"2.0","id":1,"method":"auth.status"}"#.to_string(),
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"m"}"#.into(),
            r#"{"jsonrpc":"1.0","jsonrpc":"2.0","method":"m"}"#.into(),
            r#"{"jsonrpc":"2.0","method":"m","method":7}"#.into(),
            r#"{"jsonrp\u0063":"2.0","method":"m"}"#.into(),
            r#"{"jsonrpc":"2.0","method":"m"} x"#.into(),
            r#"{"jsonrpc":"2.0","method":"m""#.into(),
            r#"[{"jsonrpc":"2.0","id":1,"method":"a"}]"#.into(),
            "{}".into(),
            "{".into(),
            "7".into(),
            r#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"m"}"#.into(),
        ];
        for id in ids {
            for v in versions {
                for m in methods {
                    for p in params {
                        for x in extras {
                            let members: Vec<String> =
                                [("id", id), ("jsonrpc", v), ("method", m), ("params", p)]
                                    .iter()
                                    .filter(|(_, val)| !val.is_empty())
                                    .map(|(k, val)| format!("\"{k}\":{val}"))
                                    .chain((!x.is_empty()).then(|| x.to_string()))
                                    .collect();
                            lines.push(format!("{{{}}}", members.join(",")));
                            let mut rev = members.clone();
                            rev.reverse();
                            lines.push(format!(" {{ {} }} ", rev.join(" , ")));
                        }
                    }
                }
            }
        }
        let mut fast = 0;
        for line in &lines {
            let text = line.trim();
            if super::super::envelope::request(text).is_some() {
                fast += 1;
            }
            assert_eq!(
                describe(parse_line(line.as_bytes())),
                describe(general(text)),
                "{line}"
            );
        }
        // The usual shape does take the fast path.
        assert!(fast > 100, "{fast}");
        assert!(super::super::envelope::request(lines[0].as_str()).is_some());
    }

    #[test]
    fn malformed_inputs_get_the_prescribed_codes() {
        assert_eq!(err_code("{"), ("null".into(), PARSE_ERROR));
        assert_eq!(err_code("not json"), ("null".into(), PARSE_ERROR));
        assert_eq!(err_code("42"), ("null".into(), INVALID_REQUEST));
        assert_eq!(
            err_code(r#"{"id":1,"method":"x"}"#),
            ("1".into(), INVALID_REQUEST)
        );
        assert_eq!(
            err_code(r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#),
            ("1".into(), INVALID_REQUEST)
        );
        assert_eq!(
            err_code(r#"{"jsonrpc":"2.0","id":2,"method":5}"#),
            ("2".into(), INVALID_REQUEST)
        );
        assert_eq!(
            err_code(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#),
            ("null".into(), INVALID_REQUEST)
        );
        assert_eq!(
            err_code(r#"{"jsonrpc":"2.0","id":3,"method":"x","params":"p"}"#),
            ("3".into(), INVALID_PARAMS)
        );
        assert_eq!(
            err_code(r#"{"jsonrpc":"2.0","id":3,"method":"x","extra":1}"#),
            ("3".into(), INVALID_REQUEST)
        );
        assert_eq!(err_code("[]"), ("null".into(), INVALID_REQUEST));
        match parse_line(b"\xff\xfe") {
            Incoming::Single(Err((_, e))) => assert_eq!(e.code, PARSE_ERROR),
            _ => panic!(),
        }
        assert!(matches!(parse_line(b"   "), Incoming::Empty));
    }

    #[test]
    fn batches() {
        let Incoming::Batch(items) = parse_line(
            br#"[{"jsonrpc":"2.0","id":1,"method":"a"}, 5, {"jsonrpc":"2.0","method":"n"}]"#,
        ) else {
            panic!()
        };
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_err() && items[2].is_ok());
        let big = format!(
            "[{}]",
            vec![r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#; MAX_BATCH + 1].join(",")
        );
        assert!(matches!(
            parse_line(big.as_bytes()),
            Incoming::Single(Err(_))
        ));
    }

    #[test]
    fn deep_nesting_is_refused_on_a_connection_stack() {
        // Regression (fuzz/regressions/rpc_request): `"id":[[[…` was cloned before its type was
        // checked; the recursion overflowed the 256 KiB connection thread and aborted the daemon.
        let depth = (MAX_LINE - 64) / 2;
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":{}{},"method":"x"}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let code = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || match parse_line(line.as_bytes()) {
                Incoming::Single(Err((id, e))) => {
                    assert!(matches!(id, Value::Null));
                    e.code
                }
                _ => panic!("accepted"),
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(code, INVALID_REQUEST);
    }

    #[test]
    fn params_are_validated() {
        let mut p = Params(
            match json::from_str::<Value>(r#"{"a":1,"b":"x","c":[],"d":true,"e":["r"]}"#).unwrap() {
                Value::Object(o) => o,
                _ => unreachable!(),
            },
        );
        assert_eq!(p.opt_str("a").unwrap_err().code, INVALID_PARAMS);
        assert_eq!(p.req_str("b").unwrap(), "x");
        assert_eq!(p.req_str_list("c", 5).unwrap_err().code, INVALID_PARAMS);
        assert_eq!(p.opt_bool("d").unwrap(), Some(true));
        assert_eq!(p.req_str_list("e", 5).unwrap(), vec!["r"]);
        assert_eq!(p.req_str("missing").unwrap_err().code, INVALID_PARAMS);
        p.finish().unwrap();
        let mut p = Params::default();
        p.0.insert("typo".into(), Value::Null);
        assert!(p.finish().unwrap_err().message.contains("typo"));
    }

    /// The assembled envelopes are byte for byte what serializing the whole object gives.
    #[test]
    fn envelopes_match_serializing_the_object() {
        fn line(pairs: Vec<(&str, Value)>) -> String {
            let mut o = Object::new();
            for (k, v) in pairs {
                o.insert(k.into(), v);
            }
            let mut s = json::to_string(&Value::Object(o));
            s.push('\n');
            s
        }
        let ids = [
            Value::Null,
            uint(0),
            Value::Number(Number::I64(-7)),
            string("a \"quoted\"\n\u{1}é id"),
        ];
        let result = obj([
            ("state", string("authenticated")),
            ("nested", obj([("list", strings(["x", "\\y"]))])),
        ]);
        let err = RpcError::new(API_ERROR, "bad \"thing\"").with_data(obj([("status", uint(400))]));
        for id in ids {
            assert_eq!(
                success(id.clone(), result.clone()),
                line(vec![
                    ("jsonrpc", string("2.0")),
                    ("id", id.clone()),
                    ("result", result.clone())
                ])
            );
            assert_eq!(
                failure(id.clone(), &err),
                line(vec![
                    ("jsonrpc", string("2.0")),
                    ("id", id.clone()),
                    ("error", err.to_value())
                ])
            );
        }
        assert_eq!(
            notification("auth.\"changed\"", result.clone()),
            line(vec![
                ("jsonrpc", string("2.0")),
                ("method", string("auth.\"changed\"")),
                ("params", result)
            ])
        );
    }

    #[test]
    fn encodes_responses() {
        assert_eq!(
            success(uint(1), obj([("version", string("1.0.0"))])),
            "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{\"version\":\"1.0.0\"}}\n"
        );
        let e =
            RpcError::new(THROTTLED, "throttled").with_data(obj([("retryAfterMs", uint(1000))]));
        assert_eq!(
            failure(Value::Null, &e),
            "{\"error\":{\"code\":-32004,\"data\":{\"retryAfterMs\":1000},\"message\":\"throttled\"},\"id\":null,\"jsonrpc\":\"2.0\"}\n"
        );
        assert_eq!(
            batch(&["{\"a\":1}\n".into(), "{\"b\":2}\n".into()]),
            "[{\"a\":1},{\"b\":2}]\n"
        );
        assert!(
            notification("auth.changed", obj([("state", string("pending"))]))
                .contains("\"method\":\"auth.changed\"")
        );
    }
}
