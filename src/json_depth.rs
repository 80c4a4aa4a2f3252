//! A nesting limit for JSON that comes from outside (socket lines, Adobe Pass bodies).
//!
//! miniserde parses, prints and drops values of any depth without recursion, but `Value::clone` is
//! the derived, recursive one. The protocol and the API parsers clone parts of what they receive
//! (the request id, the `raw` of every answer), on 256 KiB connection threads: a socket line of about
//! 2,200 nested `[` (4.4 KB) overflowed that stack and aborted the release daemon (found while writing
//! the fuzz harness, which reproduces it). Nothing legitimate nests deeply, so such input is refused
//! right after parsing.

use miniserde::json::Value;

/// Deepest nesting accepted (`{}` is 1). Adobe's deepest documented shape (profiles → map → profile
/// → attributes → attribute → value) is 6.
pub const MAX_DEPTH: usize = 64;

/// True when `v` nests arrays/objects more than `max` levels deep. Iterative: safe on any input.
pub fn deeper_than(v: &Value, max: usize) -> bool {
    let mut stack = vec![(v, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Array(_) | Value::Object(_) if depth >= max => return true,
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            Value::Object(o) => stack.extend(o.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniserde::json;

    fn nested(depth: usize) -> Value {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        json::from_str(&text).unwrap()
    }

    #[test]
    fn counts_containers() {
        assert!(!deeper_than(&json::from_str("1").unwrap(), 0));
        assert!(deeper_than(&json::from_str("[]").unwrap(), 0));
        assert!(!deeper_than(
            &json::from_str(r#"{"a":[{"b":null}]}"#).unwrap(),
            3
        ));
        assert!(deeper_than(
            &json::from_str(r#"{"a":[{"b":{}}]}"#).unwrap(),
            3
        ));
        assert!(!deeper_than(&nested(MAX_DEPTH), MAX_DEPTH));
        assert!(deeper_than(&nested(MAX_DEPTH + 1), MAX_DEPTH));
        // A million levels: no recursion here either.
        assert!(deeper_than(&nested(1_000_000), MAX_DEPTH));
    }
}
