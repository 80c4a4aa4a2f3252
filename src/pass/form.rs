//! Percent-encoding for form bodies (`application/x-www-form-urlencoded`), query strings and path
//! segments. Every value is encoded exactly once (spec §10 #30): `https://adobe.com` becomes
//! `https%3A%2F%2Fadobe.com`, never `https%253A…`.

/// Encode `s` keeping only RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) as they are.
/// A space becomes `%20`, which form decoders and URL decoders both read as a space.
pub fn encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// `k1=v1&k2=v2…` in the given order, each key and value encoded once.
pub fn pairs<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in fields {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_body_is_encoded_once() {
        // Seed 000 sample 1 body, byte for byte.
        assert_eq!(
            pairs([
                ("mvpd", "Cablevision"),
                ("domainName", "adobe.com"),
                ("redirectUrl", "https://adobe.com"),
            ]),
            "mvpd=Cablevision&domainName=adobe.com&redirectUrl=https%3A%2F%2Fadobe.com"
        );
    }

    #[test]
    fn already_encoded_input_is_not_decoded_first() {
        // A literal `%` is data; encoding it once gives %25, and only once.
        assert_eq!(encode("a%3Ab"), "a%253Ab");
        assert_eq!(encode("a b&c=d+é"), "a%20b%26c%3Dd%2B%C3%A9");
        assert_eq!(encode("~-._AZaz09"), "~-._AZaz09");
        assert_eq!(pairs([]), "");
    }
}
