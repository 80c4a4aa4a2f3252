//! The usual request line, `{"jsonrpc":"2.0","id":…,"method":"…","params":{…}}`, parsed straight
//! into its parts with miniserde instead of through a JSON object tree.
//!
//! Why: building the envelope as a `Value` (a map node, a string per key) and taking it apart again
//! was a third of the daemon's instructions per request in `cargo bench --bench agent`
//! (callgrind). This path only ever *accepts*: any other shape — a batch, an unknown member, a
//! wrong type, a bad id, `jsonrpc` not `"2.0"` — makes it give up, and the line goes through
//! [`super::protocol::parse_line`]'s general path, which produces the exact JSON-RPC error. So it
//! can only change speed, never an answer (see the differential test in `protocol`).

use miniserde::de::{Deserialize, Map, Visitor};
use miniserde::json::{self, Number, Value};
use miniserde::make_place;

use super::protocol::{Params, Request};

/// The request in `text` (already trimmed), when it is a valid single request of the usual shape.
pub fn request(text: &str) -> Option<Request> {
    if !text.starts_with('{') {
        return None;
    }
    let e: Envelope = json::from_str(text).ok()?;
    match &e.id {
        None
        | Some(Value::Null | Value::String(_) | Value::Number(Number::U64(_) | Number::I64(_))) => {
        }
        Some(_) => return None,
    }
    let params = match e.params {
        None | Some(Value::Null) => Params::default(),
        Some(Value::Object(p)) => Params::from_object(p),
        Some(Value::Array(a)) if a.is_empty() => Params::default(),
        Some(_) => return None,
    };
    Some(Request {
        id: e.id,
        method: e.method,
        params,
    })
}

struct Envelope {
    id: Option<Value>,
    method: String,
    params: Option<Value>,
}

make_place!(Place);

impl Deserialize for Envelope {
    fn begin(out: &mut Option<Self>) -> &mut dyn Visitor {
        Place::new(out)
    }
}

impl Visitor for Place<Envelope> {
    fn map(&mut self) -> miniserde::Result<Box<dyn Map + '_>> {
        Ok(Box::new(Members {
            jsonrpc: None,
            id: None,
            method: None,
            params: None,
            out: &mut self.out,
        }))
    }
}

struct Members<'a> {
    jsonrpc: Option<String>,
    /// `Some(Value::Null)` for `"id":null`, `None` when absent (a notification).
    id: Option<Value>,
    method: Option<String>,
    params: Option<Value>,
    out: &'a mut Option<Envelope>,
}

impl Map for Members<'_> {
    fn key(&mut self, k: &str) -> miniserde::Result<&mut dyn Visitor> {
        // A repeated member overwrites, as it does in a JSON object.
        match k {
            "jsonrpc" => Ok(String::begin(&mut self.jsonrpc)),
            "id" => Ok(Value::begin(&mut self.id)),
            "method" => Ok(String::begin(&mut self.method)),
            "params" => Ok(Value::begin(&mut self.params)),
            _ => Err(miniserde::Error),
        }
    }

    fn finish(&mut self) -> miniserde::Result<()> {
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err(miniserde::Error);
        }
        let method = self.method.take().ok_or(miniserde::Error)?;
        *self.out = Some(Envelope {
            id: self.id.take(),
            method,
            params: self.params.take(),
        });
        Ok(())
    }
}
