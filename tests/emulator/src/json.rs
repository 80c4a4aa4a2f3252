//! A tiny ordered JSON writer (responses keep the seed pages' field order, which miniserde's
//! BTreeMap-backed `Value` would not) plus helpers to read request JSON through miniserde.

use miniserde::json::Value;

/// A JSON value whose objects keep insertion order.
#[derive(Clone, Debug, PartialEq)]
pub enum J {
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    /// An empty object, to be filled with [`J::with`].
    pub fn obj() -> J {
        J::Obj(Vec::new())
    }

    /// Appends `key: value` to an object (no-op on other variants).
    pub fn with(mut self, key: &str, value: impl Into<J>) -> J {
        if let J::Obj(fields) = &mut self {
            fields.push((key.to_string(), value.into()));
        }
        self
    }

    /// Appends `key: value` only when `value` is `Some`.
    pub fn with_opt(self, key: &str, value: Option<impl Into<J>>) -> J {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// An array of strings.
    pub fn strs<S: AsRef<str>>(items: &[S]) -> J {
        J::Arr(
            items
                .iter()
                .map(|s| J::Str(s.as_ref().to_string()))
                .collect(),
        )
    }

    /// Compact serialisation.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(i) => out.push_str(&i.to_string()),
            J::Str(s) => write_str(s, out),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<&str> for J {
    fn from(s: &str) -> J {
        J::Str(s.to_string())
    }
}
impl From<String> for J {
    fn from(s: String) -> J {
        J::Str(s)
    }
}
impl From<&String> for J {
    fn from(s: &String) -> J {
        J::Str(s.clone())
    }
}
impl From<bool> for J {
    fn from(b: bool) -> J {
        J::Bool(b)
    }
}
impl From<i64> for J {
    fn from(i: i64) -> J {
        J::Int(i)
    }
}
impl From<u64> for J {
    fn from(i: u64) -> J {
        J::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}
impl From<u32> for J {
    fn from(i: u32) -> J {
        J::Int(i64::from(i))
    }
}
impl From<u16> for J {
    fn from(i: u16) -> J {
        J::Int(i64::from(i))
    }
}
impl From<Vec<J>> for J {
    fn from(v: Vec<J>) -> J {
        J::Arr(v)
    }
}

/// Parses request JSON tolerantly (any JSON value); `None` when it is not JSON.
pub fn parse(bytes: &[u8]) -> Option<Value> {
    let s = std::str::from_utf8(bytes).ok()?;
    miniserde::json::from_str::<Value>(s).ok()
}

/// The member `key` of an object value.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(o) => o.get(key),
        _ => None,
    }
}

/// The member `key` as text: strings as is, numbers and booleans printed.
pub fn get_text(v: &Value, key: &str) -> Option<String> {
    match get(v, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_ordered_and_escaped() {
        let j = J::obj()
            .with("b", "x\"y\\\n\u{1}")
            .with("a", 5i64)
            .with("c", J::strs(&["p", "q"]))
            .with_opt("d", None::<bool>)
            .with("e", J::Arr(vec![]));
        assert_eq!(
            j.to_json(),
            r#"{"b":"x\"y\\\n\u0001","a":5,"c":["p","q"],"e":[]}"#
        );
        assert!(parse(j.to_json().as_bytes()).is_some());
    }
}
