//! The one HTTP agent of the process: ureq 3 over [`super::tls`], keep-alive pool reused by every
//! call, timeouts from `pass.timeout_secs`, non-2xx statuses read as data (so enhanced-error bodies
//! are never lost), bodies capped at 1 MiB, no redirects followed (the API never redirects a device
//! call, and following one could carry the bearer token elsewhere), a stable `User-Agent`.
//!
//! Logging: ureq logs request/response *headers* at debug with every header outside a short
//! non-sensitive list redacted (`Authorization` is never shown), and the path+query only at trace —
//! we never put a secret in a URL. But ureq-proto 0.7 hex-dumps every byte *received* (status line,
//! headers and body) at trace under the `ureq_proto` target, which includes DCR answers carrying the
//! client secret and the access token. The daemon's logger caps other crates at info
//! ([`crate::logging::max_level_for`]); `tests/pass_logging.rs` proves both the leak and the cap.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::CertificateError;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Connector, TcpConnector};

use super::error::{PassError, TransportKind};
use super::tls::{self, TlsConnector, WallClock};
use crate::clock;
use crate::config::PassConfig;

/// Largest response body read (Adobe's answers are a few KiB).
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request body with its content type.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    /// `application/x-www-form-urlencoded` (already encoded).
    Form(String),
    /// `application/json;charset=utf-8`.
    Json(String),
}

/// One HTTP exchange. Headers are sent in the given order, after `Content-Type` (if a body).
pub struct Request<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: Vec<(&'static str, &'a str)>,
    pub body: Body,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// A `Retry-After` in seconds, if the server sent one.
    pub retry_after: Option<Duration>,
}

pub struct Http {
    agent: ureq::Agent,
    now: WallClock,
}

impl Http {
    /// `Err` is a problem with `pass.ca_file` (the only fallible input).
    pub fn new(cfg: &PassConfig, user_agent: &str, now: WallClock) -> Result<Http, String> {
        let roots = tls::root_store(cfg.ca_file.as_deref())?;
        let tls_config = tls::client_config(roots, now)?;
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Config only accepts https base URLs; plain http is left to hand-built test configs.
            .https_only(cfg.base_url.starts_with("https://"))
            .proxy(None)
            .max_redirects(0)
            .user_agent(user_agent)
            .accept("application/json")
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout))
            .timeout_per_read(Some(timeout))
            .build();
        let connector = ().chain(TcpConnector::default()).chain(TlsConnector::new(tls_config));
        Ok(Http {
            agent: ureq::Agent::with_parts(config, connector, DnsResolver::default()),
            now,
        })
    }

    /// Send `req`, finishing by `deadline`. Any status is an `Ok(Response)`; transport failures are
    /// `Transport`, an unreadable or oversized body is `BadResponse`.
    pub fn send(&self, req: &Request<'_>, deadline: Instant) -> Result<Response, PassError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(PassError::Transport {
                kind: TransportKind::Timeout,
                reason: "no time left for the request".into(),
            });
        }
        let started = Instant::now();
        let result = match req.method {
            Method::Get => {
                let mut b = self.agent.get(req.url);
                for (k, v) in &req.headers {
                    b = b.header(*k, *v);
                }
                b.config().timeout_global(Some(remaining)).build().call()
            }
            Method::Post => {
                let mut b = self.agent.post(req.url);
                let content_type = match &req.body {
                    Body::None | Body::Form(_) => "application/x-www-form-urlencoded",
                    Body::Json(_) => "application/json;charset=utf-8",
                };
                b = b.header("Content-Type", content_type);
                for (k, v) in &req.headers {
                    b = b.header(*k, *v);
                }
                let b = b.config().timeout_global(Some(remaining)).build();
                match &req.body {
                    Body::None => b.send(&[][..]),
                    Body::Form(s) | Body::Json(s) => b.send(s.as_bytes()),
                }
            }
        };
        let mut resp = result.map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec();
        let body = match body {
            Ok(b) => b,
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Err(PassError::BadResponse {
                    status,
                    reason: "response body larger than 1 MiB".into(),
                });
            }
            Err(e) => {
                let (kind, reason) = classify(&e, (self.now)());
                return Err(if kind == TransportKind::Timeout {
                    PassError::Transport { kind, reason }
                } else {
                    PassError::BadResponse {
                        status,
                        reason: format!("response body cut short: {reason}"),
                    }
                });
            }
        };
        log::debug!(
            "{} {} → {status} ({} bytes, {} ms)",
            req.method.as_str(),
            path_of(req.url),
            body.len(),
            started.elapsed().as_millis()
        );
        Ok(Response {
            status,
            body,
            retry_after,
        })
    }

    fn transport_error(&self, e: &ureq::Error) -> PassError {
        let (kind, reason) = classify(e, (self.now)());
        PassError::Transport { kind, reason }
    }
}

/// ureq's resolver, except that a failed lookup (an `io::Error` from getaddrinfo, e.g. "Name or
/// service not known") is reported as `HostNotFound`, so it is classified as a DNS failure.
#[derive(Debug, Default)]
struct DnsResolver(DefaultResolver);

impl Resolver for DnsResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        self.0.resolve(uri, config, timeout).map_err(|e| match e {
            ureq::Error::Io(io) => {
                log::debug!("dns: {io}");
                ureq::Error::HostNotFound
            }
            other => other,
        })
    }
}

/// The path of a URL without scheme, host or query (for logs).
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    path.split('?').next().unwrap_or(path)
}

/// `Retry-After: <seconds>` (HTTP-dates are ignored: the 1 s minimum applies).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().map(Duration::from_secs)
}

/// Map a ureq error to a transport kind and a short lowercase reason. `now` is the box clock, used
/// to blame certificate validity failures on a clock set before this build.
pub fn classify(e: &ureq::Error, now: SystemTime) -> (TransportKind, String) {
    use std::io::ErrorKind as K;
    match e {
        ureq::Error::HostNotFound => (TransportKind::Dns, "host not found".into()),
        ureq::Error::Timeout(ureq::Timeout::Resolve) => {
            (TransportKind::Dns, "host name lookup timed out".into())
        }
        ureq::Error::Timeout(t) => (TransportKind::Timeout, format!("timed out ({t})")),
        ureq::Error::Rustls(r) => (TransportKind::Tls, tls_reason(r, now)),
        ureq::Error::Tls(s) => (TransportKind::Tls, (*s).to_owned()),
        ureq::Error::ConnectionFailed => (TransportKind::Connect, "connection failed".into()),
        ureq::Error::Io(io) => match io.kind() {
            K::ConnectionRefused => (TransportKind::Connect, "connection refused".into()),
            K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown | K::AddrNotAvailable => {
                (TransportKind::Connect, format!("unreachable: {io}"))
            }
            K::TimedOut | K::WouldBlock => (TransportKind::Timeout, "timed out".into()),
            K::UnexpectedEof => (TransportKind::Io, "connection closed by the server".into()),
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
                (TransportKind::Io, "connection reset".into())
            }
            _ => (TransportKind::Io, io.to_string()),
        },
        ureq::Error::Protocol(p) => (TransportKind::Io, format!("bad http from server: {p}")),
        other => (TransportKind::Io, other.to_string()),
    }
}

fn tls_reason(e: &rustls::Error, now: SystemTime) -> String {
    let rustls::Error::InvalidCertificate(ce) = e else {
        return format!("tls: {e}");
    };
    let validity = matches!(
        ce,
        CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. }
    );
    if validity && clock::clock_is_before_build(now) {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        return format!(
            "system clock is before this build (clock says {}, built {}); set the time (NTP)",
            ymd(secs),
            ymd(clock::BUILD_EPOCH_SECS)
        );
    }
    match ce {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "server certificate expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "server certificate not yet valid".into()
        }
        CertificateError::UnknownIssuer => {
            "untrusted server certificate (unknown issuer; see pass.ca_file)".into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "server certificate is not valid for this host".into()
        }
        _ => format!("bad server certificate: {e}"),
    }
}

/// `YYYY-MM-DD` of a Unix time (UTC), without a date crate (Howard Hinnant's civil_from_days).
fn ymd(secs: u64) -> String {
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::UnixTime;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn cert_error(ce: CertificateError) -> ureq::Error {
        ureq::Error::Rustls(rustls::Error::InvalidCertificate(ce))
    }

    /// The clock hint, with the box time injected: a validity failure while the clock is before the
    /// build blames the clock; the same failure with a sane clock blames the certificate.
    #[test]
    fn clock_hint_for_validity_errors_only_when_clock_is_wrong() {
        let wrong = at(86_400 * 365); // 1971-01-01
        let right = SystemTime::now();
        for ce in [
            CertificateError::NotValidYet,
            CertificateError::Expired,
            CertificateError::NotValidYetContext {
                time: UnixTime::since_unix_epoch(Duration::from_secs(86_400 * 365)),
                not_before: UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)),
            },
            CertificateError::ExpiredContext {
                time: UnixTime::since_unix_epoch(Duration::from_secs(86_400 * 365)),
                not_after: UnixTime::since_unix_epoch(Duration::from_secs(1)),
            },
        ] {
            let (kind, reason) = classify(&cert_error(ce.clone()), wrong);
            assert_eq!(kind, TransportKind::Tls);
            assert!(
                reason.starts_with(
                    "system clock is before this build (clock says 1971-01-01, built "
                ),
                "{reason}"
            );
            assert!(reason.ends_with("); set the time (NTP)"), "{reason}");
            let (_, reason) = classify(&cert_error(ce), right);
            assert!(!reason.contains("clock"), "{reason}");
            assert!(reason.starts_with("server certificate"), "{reason}");
        }
        // An untrusted certificate is never blamed on the clock.
        let (kind, reason) = classify(&cert_error(CertificateError::UnknownIssuer), wrong);
        assert_eq!(kind, TransportKind::Tls);
        assert!(reason.contains("untrusted"), "{reason}");
    }

    #[test]
    fn transport_kinds() {
        use std::io::{Error, ErrorKind};
        let now = SystemTime::now();
        let cases = [
            (ureq::Error::HostNotFound, TransportKind::Dns),
            (
                ureq::Error::Timeout(ureq::Timeout::Resolve),
                TransportKind::Dns,
            ),
            (
                ureq::Error::Timeout(ureq::Timeout::Global),
                TransportKind::Timeout,
            ),
            (
                ureq::Error::Timeout(ureq::Timeout::Connect),
                TransportKind::Timeout,
            ),
            (
                ureq::Error::Io(Error::from(ErrorKind::ConnectionRefused)),
                TransportKind::Connect,
            ),
            (
                ureq::Error::Io(Error::from(ErrorKind::NetworkUnreachable)),
                TransportKind::Connect,
            ),
            (
                ureq::Error::Io(Error::from(ErrorKind::TimedOut)),
                TransportKind::Timeout,
            ),
            (
                ureq::Error::Io(Error::from(ErrorKind::ConnectionReset)),
                TransportKind::Io,
            ),
            (
                ureq::Error::Io(Error::from(ErrorKind::UnexpectedEof)),
                TransportKind::Io,
            ),
            (ureq::Error::Tls("x"), TransportKind::Tls),
            (ureq::Error::ConnectionFailed, TransportKind::Connect),
            (
                ureq::Error::Rustls(rustls::Error::HandshakeNotComplete),
                TransportKind::Tls,
            ),
        ];
        for (e, kind) in cases {
            let (k, reason) = classify(&e, now);
            assert_eq!(k, kind, "{e}: {reason}");
            assert!(!reason.is_empty());
        }
    }

    #[test]
    fn dates_and_retry_after() {
        assert_eq!(ymd(0), "1970-01-01");
        assert_eq!(ymd(86_400 * 365), "1971-01-01");
        assert_eq!(ymd(951_782_400), "2000-02-29");
        assert_eq!(ymd(1_733_735_289), "2024-12-09");
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        for bad in [
            "",
            "-1",
            "1.5",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "99999999999",
        ] {
            assert_eq!(parse_retry_after(bad), None, "{bad}");
        }
        assert_eq!(path_of("https://h:1/api/v2/x?redirectUrl=y"), "/api/v2/x");
        assert_eq!(path_of("https://h"), "/");
    }
}
