//! A small, bounded HTTP/1.1 reader and writer: request line + headers up to a size limit,
//! Content-Length or chunked bodies up to a size limit, an overall deadline per request once
//! its first byte arrived, keep-alive unless the client asks otherwise.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// At most this many header lines per request.
const MAX_HEADERS: usize = 100;

pub struct Limits {
    pub max_head: usize,
    pub max_body: usize,
    /// Time allowed to receive one whole request after its first byte.
    pub request_time: Duration,
}

/// A parsed request. Header names are lower-cased.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub http10: bool,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection should stay open after the response.
    pub fn keep_alive(&self) -> bool {
        let conn = self
            .header("connection")
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if self.http10 {
            conn.contains("keep-alive")
        } else {
            !conn.contains("close")
        }
    }
}

#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or went idle past the read timeout) between requests.
    Closed,
    /// Broken connection or a timeout mid-request.
    Io,
    /// Request line + headers over the limit (431).
    HeadTooLarge,
    /// Body over the limit (413).
    BodyTooLarge,
    /// Not HTTP/1.x we understand (400).
    Malformed(&'static str),
}

struct Reader<'a, S> {
    s: &'a mut S,
    buf: &'a mut Vec<u8>,
    deadline: Option<Instant>,
    limits: &'a Limits,
}

impl<S: Read + Write> Reader<'_, S> {
    /// Reads more bytes into the buffer; `Ok(false)` on end of stream.
    fn fill(&mut self) -> Result<bool, ReadError> {
        if let Some(d) = self.deadline {
            if Instant::now() > d {
                return Err(ReadError::Io);
            }
        }
        let mut tmp = [0u8; 16 * 1024];
        match self.s.read(&mut tmp) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                if self.deadline.is_none() {
                    self.deadline = Some(Instant::now() + self.limits.request_time);
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(_) if self.buf.is_empty() => Err(ReadError::Closed),
            Err(_) => Err(ReadError::Io),
        }
    }

    /// Ensures at least `n` buffered bytes.
    fn need(&mut self, n: usize) -> Result<(), ReadError> {
        while self.buf.len() < n {
            if !self.fill()? {
                return Err(ReadError::Malformed("connection closed mid-request"));
            }
        }
        Ok(())
    }

    /// One CRLF-terminated line (without the CRLF), at most `max` bytes.
    fn line(&mut self, max: usize) -> Result<String, ReadError> {
        loop {
            if let Some(i) = find(self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > max {
                return Err(ReadError::Malformed("line too long"));
            }
            if !self.fill()? {
                return Err(ReadError::Malformed("connection closed mid-request"));
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request from `s`; `buf` carries bytes already received beyond the previous one.
pub fn read_request<S: Read + Write>(
    s: &mut S,
    buf: &mut Vec<u8>,
    limits: &Limits,
) -> Result<Request, ReadError> {
    let deadline = if buf.is_empty() {
        None
    } else {
        Some(Instant::now() + limits.request_time)
    };
    let mut r = Reader {
        s,
        buf,
        deadline,
        limits,
    };
    // Tolerate stray CRLFs between keep-alive requests (RFC 9112 §2.2).
    let head_end = loop {
        while r.buf.starts_with(b"\r\n") {
            r.buf.drain(..2);
        }
        if let Some(i) = find(r.buf, b"\r\n\r\n") {
            break i;
        }
        if r.buf.len() > limits.max_head {
            return Err(ReadError::HeadTooLarge);
        }
        if !r.fill()? {
            return Err(if r.buf.is_empty() {
                ReadError::Closed
            } else {
                ReadError::Malformed("connection closed mid-request")
            });
        }
    };
    if head_end > limits.max_head {
        return Err(ReadError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&r.buf[..head_end])
        .map_err(|_| ReadError::Malformed("request head is not UTF-8"))?
        .to_string();
    r.buf.drain(..head_end + 4);

    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed("bad request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ReadError::Malformed("bad method"));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(ReadError::Malformed("unsupported HTTP version")),
    };
    if !target.starts_with('/') {
        return Err(ReadError::Malformed("bad request target"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() >= MAX_HEADERS {
            return Err(ReadError::HeadTooLarge);
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Malformed("bad header line"));
        };
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(ReadError::Malformed("bad header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut req = Request {
        method: method.to_string(),
        path,
        query,
        http10,
        headers,
        body: Vec::new(),
    };

    let chunked = match req.header("transfer-encoding") {
        None => false,
        Some(te) => {
            if te
                .rsplit(',')
                .next()
                .map(str::trim)
                .map(str::to_ascii_lowercase)
                != Some("chunked".to_string())
            {
                return Err(ReadError::Malformed("unsupported transfer-encoding"));
            }
            true
        }
    };
    let length = if chunked {
        None
    } else {
        let mut length = None;
        for (k, v) in &req.headers {
            if k == "content-length" {
                let n: u64 = v
                    .parse()
                    .map_err(|_| ReadError::Malformed("bad content-length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(ReadError::Malformed("conflicting content-length"));
                }
                length = Some(n);
            }
        }
        Some(length.unwrap_or(0))
    };
    if let Some(n) = length {
        if n > limits.max_body as u64 {
            return Err(ReadError::BodyTooLarge);
        }
    }
    let wants_body = chunked || length.is_some_and(|n| n > 0);
    if wants_body
        && req
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        && r.buf.is_empty()
    {
        r.s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .and_then(|()| r.s.flush())
            .map_err(|_| ReadError::Io)?;
    }
    match length {
        Some(n) => {
            let n = usize::try_from(n).map_err(|_| ReadError::BodyTooLarge)?;
            r.need(n)?;
            req.body = r.buf.drain(..n).collect();
        }
        None => {
            let mut body = Vec::new();
            loop {
                let size_line = r.line(1024)?;
                let size_hex = size_line.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size_hex, 16)
                    .map_err(|_| ReadError::Malformed("bad chunk size"))?;
                if size == 0 {
                    for _ in 0..=MAX_HEADERS {
                        if r.line(8 * 1024)?.is_empty() {
                            req.body = body;
                            return Ok(req);
                        }
                    }
                    return Err(ReadError::HeadTooLarge);
                }
                if body.len().saturating_add(size) > limits.max_body {
                    return Err(ReadError::BodyTooLarge);
                }
                r.need(size + 2)?;
                if &r.buf[size..size + 2] != b"\r\n" {
                    return Err(ReadError::Malformed("bad chunk terminator"));
                }
                body.extend_from_slice(&r.buf[..size]);
                r.buf.drain(..size + 2);
            }
        }
    }
    Ok(req)
}

/// A response to write.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body,
            close: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Writes the status line and headers, announcing `content_length` body bytes.
pub fn write_head<W: Write>(
    w: &mut W,
    resp: &Response,
    content_length: usize,
    close: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {content_length}\r\n"));
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())
}

/// Writes a whole response.
pub fn write_response<W: Write>(w: &mut W, resp: &Response, close: bool) -> io::Result<()> {
    write_head(w, resp, resp.body.len(), close)?;
    w.write_all(&resp.body)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    struct Duplex(Cursor<Vec<u8>>, Vec<u8>);
    impl Read for Duplex {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.0.read(b)
        }
    }
    impl Write for Duplex {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.1.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn limits() -> Limits {
        Limits {
            max_head: 1024,
            max_body: 64,
            request_time: Duration::from_secs(5),
        }
    }

    fn read_all(input: &[u8]) -> Vec<Result<Request, ReadError>> {
        let mut d = Duplex(Cursor::new(input.to_vec()), Vec::new());
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let r = read_request(&mut d, &mut buf, &limits());
            let stop = r.is_err();
            out.push(r);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn pipelined_keep_alive_and_chunked() {
        let input = b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\
GET /b HTTP/1.1\r\nConnection: close\r\n\r\n\
POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
        let out = read_all(input);
        assert_eq!(out.len(), 4);
        let a = out[0].as_ref().unwrap();
        assert_eq!(
            (a.method.as_str(), a.path.as_str(), a.query.as_str()),
            ("POST", "/a", "x=1")
        );
        assert_eq!(a.body, b"abc");
        assert!(a.keep_alive());
        assert!(!out[1].as_ref().unwrap().keep_alive());
        assert_eq!(out[2].as_ref().unwrap().body, b"abcde");
        assert!(matches!(out[3], Err(ReadError::Closed)));
    }

    #[test]
    fn limits_and_garbage() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2000));
        assert!(matches!(
            read_all(big.as_bytes())[0],
            Err(ReadError::HeadTooLarge)
        ));
        let body = b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n";
        assert!(matches!(read_all(body)[0], Err(ReadError::BodyTooLarge)));
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n";
        assert!(matches!(read_all(chunked)[0], Err(ReadError::BodyTooLarge)));
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET / HTTP/2\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
            b"GET / HTT",
        ] {
            assert!(
                matches!(read_all(bad)[0], Err(ReadError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn expect_continue_is_answered() {
        let mut d = Duplex(
            Cursor::new(
                b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            ),
            Vec::new(),
        );
        // The body arrives in the same read here, so no 100 is needed.
        let mut buf = Vec::new();
        let r = read_request(&mut d, &mut buf, &limits()).unwrap();
        assert_eq!(r.body, b"ok");
    }
}
