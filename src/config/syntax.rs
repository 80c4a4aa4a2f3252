//! TOML (v1.1, as the `toml` crate we used before reads it) as the configuration file needs it: the document becomes a flat list of
//! `dotted.key = value` entries, each with its line, and errors carry the line and the key.
//!
//! Why not the `toml` crate: with serde it was 190 KB of the 2.1 MB binary, and every byte of text
//! is resident (the kernel maps code 64 KiB around each fault). Our schema is two levels of scalars
//! and integer lists, so a flat parser is all it takes. The whole TOML 1.1 grammar is accepted
//! except date-times, which no key takes (a clear error); unit tests and a property test hold it to
//! the `toml` crate's reading of the same documents.
//!
//! No recursion without a bound: arrays and inline tables nest at most [`MAX_NESTING`] deep, so a
//! SIGHUP reload fits the daemon's small signal-thread stack whatever the file holds; key paths are
//! at most [`MAX_PATH`] segments, so the work per key is bounded too.

use std::collections::HashSet;

/// Deepest nesting of arrays and inline tables; the schema needs 1 (`allowed_uids = [..]`).
pub const MAX_NESTING: usize = 8;
/// Longest key path (table, dotted key and enclosing inline tables); the schema needs 2. The
/// redefinition checks cost the square of it per key, so it is bounded: without the bound a 16 KB
/// file of one 8,000-segment key took 21 s and 3.5 GB (the toml crate stops at 80 segments).
pub const MAX_PATH: usize = 8;

/// A value. Tables are entries of their own (`[socket]` or `socket = {..}`), so that a table
/// nobody asked for is reported like any unknown key.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Value>),
    Table,
}

impl Value {
    /// What the value is, for "expected a string, found an integer".
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
            Value::Table => "a table",
        }
    }
}

/// `path = value` on `line` (1-based); the path is the table's segments then the key's.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: Vec<String>,
    pub value: Value,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    /// The dotted key whose value (or definition) is wrong, when the parser had read it.
    pub key: Option<String>,
    pub message: String,
}

/// The path as it would be written: segments that are not bare keys are quoted.
pub fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for (i, s) in path.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if !s.is_empty() && s.bytes().all(is_bare) {
            out.push_str(s);
        } else {
            out.push_str(&quote(s));
        }
    }
    out
}

/// `s` as a TOML basic string (quotes, backslashes and control characters escaped).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parse a whole document. Headers and inline tables come out as [`Value::Table`] entries, in
/// document order with the key/value entries.
pub fn parse(text: &str) -> Result<Vec<Entry>, SyntaxError> {
    let mut p = Parser {
        text,
        b: text.as_bytes(),
        i: 0,
        line: 1,
        key: None,
        in_array: 0,
        out: Vec::new(),
        defs: Definitions::default(),
    };
    p.document()?;
    Ok(p.out)
}

fn is_bare(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// What TOML forbids defining twice, by path.
#[derive(Default)]
struct Definitions {
    /// Keys holding a value.
    values: HashSet<Vec<String>>,
    /// Inline tables: closed once written, nothing can be added under them.
    sealed: HashSet<Vec<String>>,
    /// Every table, explicit or implied by a longer path.
    tables: HashSet<Vec<String>>,
    /// Tables named by a `[header]`.
    headers: HashSet<Vec<String>>,
    /// Tables created by dotted keys (`a.b = 1` creates `a`).
    dotted: HashSet<Vec<String>>,
}

impl Definitions {
    fn closed(&self, path: &[String]) -> bool {
        self.values.contains(path) || self.sealed.contains(path)
    }

    /// `path` or a prefix of it holds a value, so nothing can be defined there.
    fn check_open(&self, path: &[String]) -> Result<(), String> {
        if (1..path.len()).any(|n| self.closed(&path[..n])) {
            return Err("is under a key that already holds a value".into());
        }
        if self.closed(path) {
            return Err("is defined twice".into());
        }
        Ok(())
    }

    fn header(&mut self, path: &[String]) -> Result<(), String> {
        self.check_open(path)?;
        if self.headers.contains(path) || self.dotted.contains(path) {
            return Err("is defined twice".into());
        }
        self.headers.insert(path.to_vec());
        self.imply(path);
        Ok(())
    }

    /// `path`, written under a table `table_len` segments long, is about to get a value.
    fn check_value(&self, path: &[String], table_len: usize) -> Result<(), String> {
        self.check_open(path)?;
        if self.tables.contains(path) {
            return Err("is already defined as a table".into());
        }
        // Dotted keys may extend the tables they create, not one a header created.
        if (table_len + 1..path.len()).any(|n| self.headers.contains(&path[..n])) {
            return Err("extends a table defined by a [header]".into());
        }
        Ok(())
    }

    fn value(
        &mut self,
        path: &[String],
        table_len: usize,
        inline_table: bool,
    ) -> Result<(), String> {
        self.check_value(path, table_len)?;
        for n in table_len + 1..path.len() {
            self.dotted.insert(path[..n].to_vec());
        }
        self.imply(&path[..path.len() - 1]);
        if !inline_table {
            self.values.insert(path.to_vec());
        }
        Ok(())
    }

    fn imply(&mut self, path: &[String]) {
        for n in 1..=path.len() {
            self.tables.insert(path[..n].to_vec());
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    line: usize,
    /// The key whose value is being read, for errors.
    key: Option<String>,
    /// Arrays being read (tables inside them are checked, not entered).
    in_array: usize,
    out: Vec<Entry>,
    defs: Definitions,
}

type Res<T> = Result<T, SyntaxError>;

impl Parser<'_> {
    fn err<T>(&self, message: impl Into<String>) -> Res<T> {
        Err(SyntaxError {
            line: self.line,
            key: self.key.clone(),
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn at(&self, s: &str) -> bool {
        self.b[self.i..].starts_with(s.as_bytes())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// A newline (`\n` or `\r\n`) if one is next.
    fn newline(&mut self) -> Res<bool> {
        match self.peek() {
            Some(b'\n') => {
                self.i += 1;
                self.line += 1;
                Ok(true)
            }
            Some(b'\r') if self.b.get(self.i + 1) == Some(&b'\n') => {
                self.i += 2;
                self.line += 1;
                Ok(true)
            }
            Some(b'\r') => self.err("carriage return without a line feed"),
            _ => Ok(false),
        }
    }

    /// A `#` comment up to (not including) the end of the line.
    fn comment(&mut self) -> Res<()> {
        if self.peek() != Some(b'#') {
            return Ok(());
        }
        let end = self.b[self.i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(self.b.len(), |n| self.i + n);
        let body = &self.text[self.i..end];
        let body = body.strip_suffix('\r').unwrap_or(body);
        if body.chars().any(|c| c != '\t' && c.is_ascii_control()) {
            return self.err("control character in a comment");
        }
        self.i += body.len();
        Ok(())
    }

    /// Spaces, then an optional comment, then the end of the line or of the document.
    fn end_of_line(&mut self, what: &str) -> Res<()> {
        self.ws();
        self.comment()?;
        if self.i == self.b.len() || self.newline()? {
            return Ok(());
        }
        self.err(format!("expected the end of the line after {what}"))
    }

    /// Whitespace, newlines and comments (inside arrays).
    fn blank(&mut self) -> Res<()> {
        loop {
            self.ws();
            self.comment()?;
            if !self.newline()? {
                return Ok(());
            }
        }
    }

    fn document(&mut self) -> Res<()> {
        if self.at("\u{feff}") {
            self.i += 3;
        }
        let mut table: Vec<String> = Vec::new();
        loop {
            self.blank()?;
            match self.peek() {
                None => return Ok(()),
                Some(b'[') => {
                    self.key = None;
                    self.i += 1;
                    let array = self.peek() == Some(b'[');
                    if array {
                        self.i += 1;
                    }
                    self.ws();
                    table = self.key_path()?;
                    self.key = Some(dotted(&table));
                    self.path_bound(&table)?;
                    self.ws();
                    let close = if array { "]]" } else { "]" };
                    if !self.at(close) {
                        return self.err(format!("expected `{close}` after the table name"));
                    }
                    self.i += close.len();
                    if array {
                        return self.err("arrays of tables (`[[..]]`) are not used by any key");
                    }
                    if let Err(m) = self.defs.header(&table) {
                        return self.err(format!("table {m}"));
                    }
                    self.out.push(Entry {
                        path: table.clone(),
                        value: Value::Table,
                        line: self.line,
                    });
                    self.end_of_line("the table header")?;
                }
                Some(_) => {
                    self.key = None;
                    self.key_value(&table, 0)?;
                    self.end_of_line("the value")?;
                }
            }
        }
    }

    /// `key = value` under `table`; `depth` counts the enclosing inline tables.
    fn key_value(&mut self, table: &[String], depth: usize) -> Res<()> {
        let mut path = table.to_vec();
        path.extend(self.key_path()?);
        // Inside an array the error is about the array's key, not a key of a table in it.
        if self.in_array == 0 {
            self.key = Some(dotted(&path));
        }
        self.path_bound(&path)?;
        let line = self.line;
        self.ws();
        if self.peek() != Some(b'=') {
            return self.err("expected `=` after the key");
        }
        self.i += 1;
        self.ws();
        let inline_table = self.peek() == Some(b'{');
        // Checked before the value is read, so the error has the key's line.
        if let Err(m) = self.defs.value(&path, table.len(), inline_table) {
            return self.err(format!("key {m}"));
        }
        if inline_table {
            self.out.push(Entry {
                path: path.clone(),
                value: Value::Table,
                line,
            });
            self.inline_table(&path, depth + 1, true)?;
            self.defs.sealed.insert(path);
        } else {
            let value = self.value(depth)?;
            self.out.push(Entry { path, value, line });
        }
        Ok(())
    }

    fn path_bound(&self, path: &[String]) -> Res<()> {
        if path.len() > MAX_PATH {
            return self.err(format!(
                "nested more than {MAX_PATH} levels deep (a key path of {} segments)",
                path.len()
            ));
        }
        Ok(())
    }

    /// `a."b c".'d'`: one or more segments.
    fn key_path(&mut self) -> Res<Vec<String>> {
        let mut path = Vec::new();
        loop {
            let seg = match self.peek() {
                Some(b'"') => {
                    if self.at("\"\"\"") {
                        return self.err("a key cannot be a multi-line string");
                    }
                    self.basic_string()?
                }
                Some(b'\'') => {
                    if self.at("'''") {
                        return self.err("a key cannot be a multi-line string");
                    }
                    self.literal_string()?
                }
                Some(c) if is_bare(c) => {
                    let start = self.i;
                    while self.peek().is_some_and(is_bare) {
                        self.i += 1;
                    }
                    self.text[start..self.i].to_owned()
                }
                _ => return self.err("expected a key"),
            };
            path.push(seg);
            self.ws();
            if self.peek() != Some(b'.') {
                return Ok(path);
            }
            self.i += 1;
            self.ws();
        }
    }

    fn value(&mut self, depth: usize) -> Res<Value> {
        match self.peek() {
            Some(b'"') if self.at("\"\"\"") => self.multiline_basic().map(Value::Str),
            Some(b'"') => self.basic_string().map(Value::Str),
            Some(b'\'') if self.at("'''") => self.multiline_literal().map(Value::Str),
            Some(b'\'') => self.literal_string().map(Value::Str),
            Some(b'[') => self.array(depth + 1),
            Some(b'{') => {
                // Inside an array: checked, but no key of ours takes a table in an array.
                self.inline_table(&[], depth + 1, false)?;
                Ok(Value::Table)
            }
            Some(c) if c.is_ascii_alphanumeric() || c == b'+' || c == b'-' => self.scalar(),
            _ => self.err("expected a value"),
        }
    }

    fn nest(&self, depth: usize) -> Res<()> {
        if depth > MAX_NESTING {
            return self.err(format!("nested more than {MAX_NESTING} levels deep"));
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Res<Value> {
        self.nest(depth)?;
        self.i += 1; // [
        self.in_array += 1;
        let items = self.array_items(depth)?;
        self.in_array -= 1;
        Ok(Value::Array(items))
    }

    fn array_items(&mut self, depth: usize) -> Res<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            self.blank()?;
            if self.peek() == Some(b']') {
                self.i += 1;
                return Ok(items);
            }
            items.push(self.value(depth)?);
            self.blank()?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(items);
                }
                _ => return self.err("expected `,` or `]` in the array"),
            }
        }
    }

    /// `{ k = v, .. }`, newlines, comments and a trailing comma allowed (TOML 1.1). With `emit`,
    /// its keys become entries under `path`; without (a table inside an array), it is only checked.
    fn inline_table(&mut self, path: &[String], depth: usize, emit: bool) -> Res<()> {
        self.nest(depth)?;
        self.i += 1; // {
        let outer_key = self.key.clone();
        let saved = (!emit).then(|| (std::mem::take(&mut self.defs), self.out.len()));
        loop {
            self.blank()?;
            if self.peek() == Some(b'}') {
                self.i += 1;
                break;
            }
            self.key_value(path, depth)?;
            self.key = outer_key.clone();
            self.blank()?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                _ => return self.err("expected `,` or `}` in the inline table"),
            }
        }
        if let Some((defs, len)) = saved {
            self.defs = defs;
            self.out.truncate(len);
        }
        Ok(())
    }

    fn basic_string(&mut self) -> Res<String> {
        self.i += 1; // "
        let mut s = String::new();
        loop {
            let Some(c) = self.text[self.i..].chars().next() else {
                return self.err("unterminated string");
            };
            match c {
                '"' => {
                    self.i += 1;
                    return Ok(s);
                }
                '\\' => self.escape(&mut s)?,
                '\n' | '\r' => return self.err("unterminated string (newline in a string)"),
                c if c != '\t' && c.is_ascii_control() => {
                    return self.err("control character in a string (write it as \\uXXXX)");
                }
                c => {
                    s.push(c);
                    self.i += c.len_utf8();
                }
            }
        }
    }

    fn multiline_basic(&mut self) -> Res<String> {
        self.i += 3;
        self.newline()?; // a newline right after the opening quotes is not part of the string
        let mut s = String::new();
        loop {
            let Some(c) = self.text[self.i..].chars().next() else {
                return self.err("unterminated multi-line string");
            };
            match c {
                '"' if self.at("\"\"\"") => return self.close_quotes(b'"', s),
                '\\' => {
                    // A backslash ending a line swallows the newline and the blanks after it.
                    let rest = &self.b[self.i + 1..];
                    let blanks = rest
                        .iter()
                        .take_while(|c| matches!(c, b' ' | b'\t'))
                        .count();
                    if matches!(rest.get(blanks), Some(b'\n' | b'\r')) {
                        self.i += 1 + blanks;
                        while self.newline()? {
                            self.ws();
                        }
                    } else {
                        self.escape(&mut s)?;
                    }
                }
                '\n' | '\r' => {
                    // Kept as written (`\r\n` stays), as the toml crate does.
                    let start = self.i;
                    self.newline()?;
                    s.push_str(&self.text[start..self.i]);
                }
                c if c != '\t' && c.is_ascii_control() => {
                    return self.err("control character in a string (write it as \\uXXXX)");
                }
                c => {
                    s.push(c);
                    self.i += c.len_utf8();
                }
            }
        }
    }

    /// At a run of 3 or more closing quotes: up to two of them belong to the string.
    fn close_quotes(&mut self, q: u8, mut s: String) -> Res<String> {
        let run = self.b[self.i..].iter().take_while(|&&c| c == q).count();
        if run > 5 {
            return self.err("too many quotes at the end of a multi-line string");
        }
        for _ in 3..run {
            s.push(q as char);
        }
        self.i += run;
        Ok(s)
    }

    fn literal_string(&mut self) -> Res<String> {
        self.i += 1; // '
        let start = self.i;
        loop {
            let Some(c) = self.text[self.i..].chars().next() else {
                return self.err("unterminated string");
            };
            match c {
                '\'' => {
                    let s = self.text[start..self.i].to_owned();
                    self.i += 1;
                    return Ok(s);
                }
                '\n' | '\r' => return self.err("unterminated string (newline in a string)"),
                c if c != '\t' && c.is_ascii_control() => {
                    return self.err("control character in a string");
                }
                c => self.i += c.len_utf8(),
            }
        }
    }

    fn multiline_literal(&mut self) -> Res<String> {
        self.i += 3;
        self.newline()?;
        let mut s = String::new();
        loop {
            let Some(c) = self.text[self.i..].chars().next() else {
                return self.err("unterminated multi-line string");
            };
            match c {
                '\'' if self.at("'''") => return self.close_quotes(b'\'', s),
                '\n' | '\r' => {
                    // Kept as written (`\r\n` stays), as the toml crate does.
                    let start = self.i;
                    self.newline()?;
                    s.push_str(&self.text[start..self.i]);
                }
                c if c != '\t' && c.is_ascii_control() => {
                    return self.err("control character in a string");
                }
                c => {
                    s.push(c);
                    self.i += c.len_utf8();
                }
            }
        }
    }

    /// At a backslash in a basic string.
    fn escape(&mut self, s: &mut String) -> Res<()> {
        let c = self.b.get(self.i + 1).copied();
        self.i += 2;
        let plain = match c {
            Some(b'b') => '\u{8}',
            Some(b't') => '\t',
            Some(b'n') => '\n',
            Some(b'f') => '\u{c}',
            Some(b'r') => '\r',
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'e') => '\u{1b}',
            Some(b'x') => return self.unicode(2, s),
            Some(b'u') => return self.unicode(4, s),
            Some(b'U') => return self.unicode(8, s),
            _ => {
                self.i -= 1;
                return self.err("invalid escape in a string");
            }
        };
        s.push(plain);
        Ok(())
    }

    fn unicode(&mut self, digits: usize, s: &mut String) -> Res<()> {
        let hex = self.b.get(self.i..self.i + digits).unwrap_or_default();
        let code = (hex.len() == digits && hex.iter().all(u8::is_ascii_hexdigit))
            .then(|| std::str::from_utf8(hex).ok())
            .flatten()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32);
        match code {
            Some(c) => {
                s.push(c);
                self.i += digits;
                Ok(())
            }
            None => self.err("invalid \\u escape (not a Unicode scalar value)"),
        }
    }

    /// Booleans, integers, floats; date-times are recognised only to be refused.
    fn scalar(&mut self) -> Res<Value> {
        let start = self.i;
        while self.peek().is_some_and(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'+' | b'-' | b'.' | b':')
        }) {
            self.i += 1;
        }
        let tok = &self.text[start..self.i];
        let date = tok.len() >= 5
            && tok.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && tok.as_bytes()[4] == b'-';
        if date || tok.contains(':') {
            return self.err("date-times are not used by any key");
        }
        match tok {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            "inf" | "+inf" => return Ok(Value::Float(f64::INFINITY)),
            "-inf" => return Ok(Value::Float(f64::NEG_INFINITY)),
            "nan" | "+nan" | "-nan" => return Ok(Value::Float(f64::NAN)),
            _ => {}
        }
        match number(tok) {
            Ok(v) => Ok(v),
            Err(m) => self.err(format!("`{tok}` {m}")),
        }
    }
}

/// Digits of `radix`, with single underscores only between digits.
fn digits(s: &str, radix: u32) -> Option<String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.iter().enumerate().all(|(i, &c)| {
            if c == b'_' {
                i > 0 && i + 1 < b.len() && b[i - 1] != b'_' && b[i + 1] != b'_'
            } else {
                (c as char).is_digit(radix)
            }
        });
    ok.then(|| s.replace('_', ""))
}

fn number(tok: &str) -> Result<Value, &'static str> {
    const BAD: &str = "is not a valid value";
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = tok.strip_prefix(prefix) {
            let d = digits(rest, radix).ok_or(BAD)?;
            return i64::from_str_radix(&d, radix)
                .map(Value::Int)
                .map_err(|_| "is out of range for a 64-bit integer");
        }
    }
    let unsigned = tok.strip_prefix(['+', '-']).unwrap_or(tok);
    // Split off the exponent, then the fraction: `int[.frac][e[+-]exp]`.
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(n) => (&unsigned[..n], Some(&unsigned[n + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let int = digits(int, 10).ok_or(BAD)?;
    if int.len() > 1 && int.starts_with('0') {
        return Err("has a leading zero (write octal as 0o..)");
    }
    if frac.is_none() && exp.is_none() {
        let sign = if tok.starts_with('-') { "-" } else { "" };
        return format!("{sign}{int}")
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| "is out of range for a 64-bit integer");
    }
    let mut f = format!("{}{int}", if tok.starts_with('-') { "-" } else { "" });
    if let Some(frac) = frac {
        f.push('.');
        f.push_str(&digits(frac, 10).ok_or(BAD)?);
    }
    if let Some(exp) = exp {
        let digits_part = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        f.push('e');
        if exp.starts_with('-') {
            f.push('-');
        }
        f.push_str(&digits(digits_part, 10).ok_or(BAD)?);
    }
    match f.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Value::Float(v)),
        Ok(_) => Err("is out of range for a 64-bit float"),
        Err(_) => Err(BAD),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> (String, Value) {
        let e = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
        let e = e.into_iter().next_back().unwrap();
        (dotted(&e.path), e.value)
    }

    fn fails(text: &str) -> SyntaxError {
        parse(text).expect_err(text)
    }

    #[test]
    fn strings() {
        for (text, want) in [
            (r#"k = "a\tb\n\"\\\u00e9\U0001F600""#, "a\tb\n\"\\é😀"),
            (r#"k = "\e[0m\x41""#, "\u{1b}[0mA"),
            ("k = 'C:\\path\\\"'", "C:\\path\\\""),
            ("k = \"\"\"\nline1\nline2\"\"\"", "line1\nline2"),
            ("k = \"\"\"a \\\n    b\"\"\"", "a b"),
            ("k = \"\"\"\"quoted\"\"\"\"", "\"quoted\""),
            ("k = '''\n x\\y '''", " x\\y "),
            ("k = ''''a'''''", "'a''"),
            ("k = \"\"", ""),
            ("k = \"tab\there\"", "tab\there"),
        ] {
            assert_eq!(one(text), ("k".into(), Value::Str(want.into())), "{text}");
        }
        for text in [
            "k = \"open",
            "k = \"a\nb\"",
            r#"k = "\q""#,
            r#"k = "\uD800""#,
            r#"k = "\u12""#,
            "k = 'x",
            "k = \"\u{1}\"",
            "k = \"\"\"open",
            "k = \"\"\"x\"\"\"\"\"\"",
        ] {
            assert_eq!(fails(text).key.as_deref(), Some("k"), "{text}");
        }
    }

    #[test]
    fn numbers() {
        for (text, want) in [
            ("1_000", 1000),
            ("+7", 7),
            ("-42", -42),
            ("0", 0),
            ("0o660", 0o660),
            ("0xDEAD_beef", 0xdead_beef),
            ("0b1010", 10),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(one(&format!("k = {text}")).1, Value::Int(want), "{text}");
        }
        for (text, want) in [("1.5", 1.5), ("-2e3", -2000.0), ("6.626e-34", 6.626e-34)] {
            assert_eq!(one(&format!("k = {text}")).1, Value::Float(want), "{text}");
        }
        assert!(matches!(one("k = nan").1, Value::Float(f) if f.is_nan()));
        assert_eq!(one("k = true").1, Value::Bool(true));
        for text in [
            "0660",
            "1__0",
            "_1",
            "1_",
            "0x",
            "-0x1",
            "9223372036854775808",
            "1.",
            ".5",
            "1e",
            "tru",
            "0o8",
            "1.2.3",
        ] {
            let e = fails(&format!("k = {text}"));
            assert_eq!(e.key.as_deref(), Some("k"), "{text}: {e:?}");
        }
        let e = fails("[a]\nwhen = 1979-05-27T07:32:00Z");
        assert_eq!((e.line, e.key.as_deref()), (2, Some("a.when")));
        assert!(e.message.contains("date-times"), "{e:?}");
    }

    #[test]
    fn tables_keys_and_lines() {
        let text = "\u{feff}# top\nstate_dir = \"/s\" # trailing\n\n[socket] # c\r\nmode = 0o600\n\
                    allowed_uids = [\n  1, # one\n  2,\n]\n[\"pass\"]\nbase . 'url' = \"https://x\"\n\
                    [device]\nt = { a = 1, b.c = [ ] }\n";
        let got: Vec<(String, Value, usize)> = parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (dotted(&e.path), e.value, e.line))
            .collect();
        let s = |v: &str| Value::Str(v.into());
        assert_eq!(
            got,
            vec![
                ("state_dir".into(), s("/s"), 2),
                ("socket".into(), Value::Table, 4),
                ("socket.mode".into(), Value::Int(0o600), 5),
                (
                    "socket.allowed_uids".into(),
                    Value::Array(vec![Value::Int(1), Value::Int(2)]),
                    6
                ),
                ("pass".into(), Value::Table, 10),
                ("pass.base.url".into(), s("https://x"), 11),
                ("device".into(), Value::Table, 12),
                ("device.t".into(), Value::Table, 13),
                ("device.t.a".into(), Value::Int(1), 13),
                ("device.t.b.c".into(), Value::Array(vec![]), 13),
            ]
        );
        assert_eq!(dotted(&["a.b".into(), "c".into()]), "\"a.b\".c");
    }

    #[test]
    fn redefinitions_are_refused() {
        for (text, line) in [
            ("a = 1\na = 2", 2),
            ("[t]\n[t]", 2),
            ("a = 1\n[a]", 2),
            ("a.b = 1\n[a]", 2),
            ("[a]\nb = 1\n[a.b]", 3),
            ("a = 1\na.b = 2", 2),
            ("a.b = 1\na = 2", 2),
            ("a = {b = 1}\na.c = 2", 2),
            ("a = {b = 1}\n[a]", 2),
            ("[a]\nb.c = 1\n[a.b]", 3),
            ("a = {b = 1, b = 2}", 1),
        ] {
            let e = fails(text);
            assert_eq!(e.line, line, "{text}: {e:?}");
            assert!(
                e.message.contains("defined") || e.message.contains("value"),
                "{e:?}"
            );
        }
        // Legal: a super-table after its sub-table, sub-tables of dotted tables, tables in arrays.
        for text in [
            "[a.b]\nx = 1\n[a]\ny = 2",
            "[a]\nb.c = 1\n[a.b.d]",
            "k = [{a = 1}, {a = 2}]",
            "a.b = 1\na.c = 2",
        ] {
            parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        }
    }

    #[test]
    fn syntax_errors_have_lines() {
        for (text, line) in [
            ("[socket]\npath = \n", 2),
            ("a = 1 b = 2", 1),
            ("\n\n[[a]]", 3),
            ("[a", 1),
            ("x = [1 2]", 1),
            ("x = [1,\n\n", 3),
            ("= 1", 1),
            ("a = 1\r", 1),
            ("# \u{7f}", 1),
            ("x = {a = 1", 1),
        ] {
            assert_eq!(fails(text).line, line, "{text:?}");
        }
    }

    #[test]
    fn nesting_is_bounded_without_deep_recursion() {
        let ok = format!(
            "x = {}1{}",
            "[".repeat(MAX_NESTING),
            "]".repeat(MAX_NESTING)
        );
        parse(&ok).unwrap();
        for text in [
            format!("a = 1\nx = {}", "[".repeat(10_000)),
            format!("a = 1\nx = {}", "{ y = ".repeat(10_000)),
            format!("a = 1\nx = [{}]", "{ y = [".repeat(10_000)),
        ] {
            let e = fails(&text);
            assert_eq!(e.line, 2);
            assert!(e.message.contains("nested more than 8"), "{e:?}");
        }
        // Key paths are bounded too (their checks cost the square of the length): 8,000 segments
        // took 21 s and 3.5 GB before the bound.
        let key = vec!["b"; 8000].join(".");
        for text in [
            format!("{key} = 1"),
            format!("[{key}]"),
            format!("[{}]\n{} = 1", ["t"; 4].join("."), ["k"; 5].join(".")),
            format!("a = {}1{}", "{ b = ".repeat(8), "}".repeat(8)),
        ] {
            let e = fails(&text);
            assert!(e.message.contains("nested more than 8"), "{e:?}");
        }
        parse(&format!(
            "[{}]\n{} = 1",
            ["t"; 4].join("."),
            ["k"; 4].join(".")
        ))
        .unwrap();
    }

    /// Review findings (2026-12-02), each checked against the toml crate.
    #[test]
    fn review_cases() {
        // A redefinition is reported on the key's line, not where its value ends.
        for text in [
            "a = 1\na = [\n1,\n2,\n]",
            "a = 1\na = \"\"\"\nx\n\"\"\"",
            "a = {b = 1}\na.c = [\n1\n]",
        ] {
            assert_eq!(fails(text).line, 2, "{text:?}");
        }
        // CRLF inside multi-line strings is kept.
        assert_eq!(
            one("k = \"\"\"\r\na\r\nb\"\"\"").1,
            Value::Str("a\r\nb".into())
        );
        assert_eq!(one("k = '''\r\na\r\nb'''").1, Value::Str("a\r\nb".into()));
        // Floats out of range are refused, not infinite.
        for text in ["k = 1e400", "k = -1e400", "k = 1.7976931348623159e308"] {
            assert!(fails(text).message.contains("out of range"), "{text}");
        }
        // An error in a table inside an array names the array's key.
        let e = fails("k = [ {a = 1,\na = 2} ]");
        assert_eq!((e.key.as_deref(), e.line), (Some("k"), 2), "{e:?}");
    }

    /// Our reading of generated documents against the `toml` crate's: the same verdict, and for
    /// accepted documents the same keys and values. Keys come from a tiny vocabulary, so
    /// redefinitions (which both must refuse) are frequent.
    mod against_toml {
        use super::super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        fn conv(v: &toml::Value) -> Value {
            match v {
                toml::Value::String(s) => Value::Str(s.clone()),
                toml::Value::Integer(n) => Value::Int(*n),
                toml::Value::Float(f) => Value::Float(*f),
                toml::Value::Boolean(b) => Value::Bool(*b),
                toml::Value::Array(a) => Value::Array(a.iter().map(conv).collect()),
                toml::Value::Table(_) => Value::Table,
                toml::Value::Datetime(d) => panic!("not generated: {d}"),
            }
        }

        fn flatten(t: &toml::Table, prefix: &[String], out: &mut Vec<(Vec<String>, Value)>) {
            for (k, v) in t {
                let mut path = prefix.to_vec();
                path.push(k.clone());
                match v {
                    toml::Value::Table(sub) => flatten(sub, &path, out),
                    v => out.push((path, conv(v))),
                }
            }
        }

        fn segment() -> impl Strategy<Value = String> {
            prop_oneof![
                6 => "[ab]",
                1 => Just("\"a\"".to_owned()),
                1 => Just("'b'".to_owned()),
                1 => Just("\"x.y\\u00e9\"".to_owned()),
                1 => Just("1-_".to_owned()),
            ]
        }

        fn key() -> impl Strategy<Value = String> {
            (
                vec(segment(), 1..3),
                prop_oneof![Just("."), Just(" . "), Just(".\t")],
            )
                .prop_map(|(segs, dot)| segs.join(dot))
        }

        fn text() -> impl Strategy<Value = String> {
            "[a-z\"'\\\\\n\t é😀\u{1}\u{7f}#=\\[\\]{},.]{0,8}"
        }

        fn basic(s: &str) -> String {
            let mut out = String::from("\"");
            for (i, c) in s.chars().enumerate() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' if i % 2 == 0 => out.push_str("\\n"),
                    c if c.is_control() && c != '\n' => {
                        out.push_str(&format!("\\u{:04x}", c as u32))
                    }
                    'é' => out.push_str("\\U000000E9"),
                    'a' if i % 3 == 0 => out.push_str("\\x61"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }

        fn string() -> impl Strategy<Value = String> {
            (text(), 0..6usize, 0..3usize).prop_map(|(s, form, tail)| {
                let plain: String = s
                    .chars()
                    .filter(|c| !c.is_control() || *c == '\t')
                    .collect();
                match form {
                    // Single-line basic: no raw newline.
                    0 | 1 | 5 => basic(&s.replace('\n', "\\n")),
                    2 => format!("'{}'", plain.replace('\'', "")),
                    3 => {
                        // Multi-line basic: raw newlines, line-ending backslashes, closing quotes.
                        let body = basic(&s);
                        let body = body[1..body.len() - 1].replace('\n', "\\\n  \n");
                        let nl = if tail == 1 { "\r\n" } else { "\n" };
                        let body = body.replace('\n', nl);
                        format!("\"\"\"{nl}{body}{}\"\"\"", "\"".repeat(tail))
                    }
                    _ => format!(
                        "'''{}{}'''",
                        plain
                            .replace('\'', "")
                            .replace('\t', if tail == 1 { "\r\n" } else { "\n" }),
                        "'".repeat(tail)
                    ),
                }
            })
        }

        fn number() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                (0i64..100_000).prop_map(|n| format!("+{n}")),
                (0u32..0o7777).prop_map(|n| format!("0o{n:o}")),
                any::<u32>().prop_map(|n| format!("0x{n:X}")),
                (0u8..=255).prop_map(|n| format!("0b{n:b}")),
                Just("1_000_000".to_owned()),
                Just("-0".to_owned()),
                Just("3.14_15".to_owned()),
                Just("-2e-3".to_owned()),
                Just("6E+2".to_owned()),
                Just("-inf".to_owned()),
                Just("0.0".to_owned()),
                (-1000.0f64..1000.0).prop_map(|f| format!("{f:?}")),
                Just("true".to_owned()),
                Just("false".to_owned()),
            ]
        }

        fn value() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![3 => number(), 3 => string()];
            leaf.prop_recursive(3, 12, 4, |inner| {
                prop_oneof![
                    (vec(inner.clone(), 0..4), 0..3usize).prop_map(|(items, style)| match style {
                        0 => format!("[{}]", items.join(", ")),
                        1 => format!("[\n  {},\n]", items.join(", # c\n  ")),
                        _ => format!("[ {} ]", items.join(" ,")),
                    }),
                    (vec((key(), inner), 0..3), any::<bool>()).prop_map(|(kv, multi)| {
                        let kv: Vec<String> =
                            kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                        if multi {
                            format!("{{\n  {},\n}}", kv.join(",\n  "))
                        } else {
                            format!("{{ {} }}", kv.join(", "))
                        }
                    }),
                ]
            })
        }

        fn document() -> impl Strategy<Value = String> {
            let line = prop_oneof![
                1 => key().prop_map(|k| format!("[{k}]")),
                4 => (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
                1 => Just("# comment [x] = \"y\"".to_owned()),
                1 => Just(String::new()),
            ];
            vec((line, any::<bool>(), any::<bool>()), 0..8).prop_map(|lines| {
                let mut out = String::new();
                for (l, comment, crlf) in lines {
                    out.push_str(&l);
                    if comment {
                        out.push_str(" # note");
                    }
                    out.push_str(if crlf { "\r\n" } else { "\n" });
                }
                out
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 2000,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn same_reading_as_the_toml_crate(doc in document()) {
                let theirs = doc.parse::<toml::Table>();
                let ours = parse(&doc);
                match (theirs, ours) {
                    (Ok(t), Ok(entries)) => {
                        let mut want = Vec::new();
                        flatten(&t, &[], &mut want);
                        want.sort_by(|a, b| a.0.cmp(&b.0));
                        let mut got: Vec<(Vec<String>, Value)> = entries
                            .into_iter()
                            .filter(|e| e.value != Value::Table)
                            .map(|e| (e.path, e.value))
                            .collect();
                        got.sort_by(|a, b| a.0.cmp(&b.0));
                        prop_assert_eq!(got, want, "{}", doc);
                    }
                    (Err(e), Ok(_)) => prop_assert!(false, "we accept, toml refuses: {e}\n{doc}"),
                    // Paths deeper than MAX_PATH are ours to refuse (no key is that deep).
                    (Ok(_), Err(e)) if e.message.starts_with("nested more than") => {}
                    (Ok(_), Err(e)) => prop_assert!(false, "toml accepts, we refuse: {e:?}\n{doc}"),
                    (Err(_), Err(_)) => {}
                }
            }
        }
    }
}
