//! An HTTPS emulator of the Adobe Pass REST API v2 and Dynamic Client Registration, for tvauth's
//! tests, README quick start and benchmarks. Dev-only: never part of the shipped binary.
//!
//! It generates a test CA at start, serves HTTP/1.1 over rustls on `127.0.0.1` (and `::1` when
//! possible) with keep-alive, answers the seed pages' samples verbatim, keeps Adobe-like state
//! (client registrations, tokens, codes, profiles per device), throttles like Adobe (token bucket,
//! bare HTML 429) and injects faults on demand. Every request is recorded for assertions.
//!
//! ```no_run
//! use tvauth_emulator::{Emulator, Fault, FaultKind, Options};
//! let emu = Emulator::start(Options::default());
//! emu.write_ca(std::path::Path::new("/tmp/ca.pem")).unwrap();
//! emu.inject(Fault::on("/api/v2/", FaultKind::server_error(503), 1));
//! println!("{}", emu.base_url());
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

mod api;
mod certs;
mod faults;
mod form;
mod http;
mod ids;
mod json;
mod model;
mod server;
mod throttle;

pub use faults::{Chaos, Fault, FaultKind};
pub use model::seed;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Emulator settings. `Default` is Adobe-like: throttle 1/s burst 10, 30 min codes, 6 h tokens.
#[derive(Clone, Debug)]
pub struct Options {
    /// Token bucket `(per second, burst)` per client (X-Forwarded-For, else peer IP); `None`
    /// disables throttling.
    pub throttle: Option<(u32, u32)>,
    /// Answer with the seed pages' fixed codes, session ids and `notBefore`/`notAfter`.
    pub seed_times: bool,
    /// Lifetime of an authentication code (session).
    pub code_ttl_ms: u64,
    /// Lifetime of a profile after the second-screen login.
    pub profile_ttl_ms: u64,
    /// `expires_in` of minted access tokens (they stop working after it).
    pub token_ttl_secs: u64,
    /// When false, partner SSO answers `configuration_fallback`.
    pub partner_sso_enabled: bool,
    /// MVPDs under degradation: sessions for them answer `authorize`/`degraded`.
    pub degraded_mvpds: Vec<String>,
    /// Random faults for soak tests.
    pub chaos: Option<Chaos>,
    /// Port to bind on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// MVPD used when a flow needs one and none was given (second-screen login, partner fallback).
    pub default_mvpd: String,
    /// Socket read timeout: an idle keep-alive connection is closed after it.
    pub read_timeout: Duration,
    /// Time allowed to receive one whole request once its first byte arrived.
    pub request_timeout: Duration,
    /// Request line + headers limit (431 above).
    pub max_header_bytes: usize,
    /// Request body limit (413 above).
    pub max_body_bytes: usize,
    /// Recorded requests kept (oldest dropped first).
    pub max_recorded: usize,
    /// Upper bound of a `FaultKind::Stall`.
    pub max_stall: Duration,
    /// Concurrent connections; more are closed at once.
    pub max_connections: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            throttle: Some((1, 10)),
            seed_times: false,
            code_ttl_ms: 30 * 60 * 1000,
            profile_ttl_ms: 24 * 3600 * 1000,
            token_ttl_secs: 21_600,
            partner_sso_enabled: true,
            degraded_mvpds: Vec::new(),
            chaos: None,
            port: 0,
            default_mvpd: "Cablevision".to_string(),
            read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
            max_recorded: 10_000,
            max_stall: Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

/// One request as received. Header names are lower-case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name`, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body decoded as `application/x-www-form-urlencoded`, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        form::parse(&self.body_str())
    }

    /// The query decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form::parse(&self.query)
    }
}

/// Counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received (control paths `/_emulator/*` excluded).
    pub requests: u64,
    /// Successful `POST /o/client/register`.
    pub registrations: u64,
    /// Successful `POST /o/client/token`.
    pub token_mints: u64,
    /// Completed TLS handshakes (one per connection).
    pub handshakes: u64,
    /// 429 responses sent (throttle and injected).
    pub throttled: u64,
    /// Injected faults applied (queue and chaos).
    pub faults: u64,
    /// TLS handshakes that failed (e.g. a client that does not trust the CA).
    pub handshake_failures: u64,
    /// TCP connections accepted.
    pub connections: u64,
}

impl Stats {
    /// The stats as a JSON object (what `GET /_emulator/stats` answers).
    pub fn to_json(&self) -> String {
        json::J::obj()
            .with("requests", self.requests)
            .with("registrations", self.registrations)
            .with("token_mints", self.token_mints)
            .with("handshakes", self.handshakes)
            .with("throttled", self.throttled)
            .with("faults", self.faults)
            .with("handshake_failures", self.handshake_failures)
            .with("connections", self.connections)
            .to_json()
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub registrations: AtomicU64,
    pub token_mints: AtomicU64,
    pub handshakes: AtomicU64,
    pub throttled: AtomicU64,
    pub faults: AtomicU64,
    pub handshake_failures: AtomicU64,
    pub connections: AtomicU64,
}

/// Locks, recovering from a poisoned mutex (a panicking test thread must not wedge the server).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the server threads and the [`Emulator`] handle.
pub(crate) struct Shared {
    pub opts: Options,
    pub model: Mutex<model::Model>,
    pub faults: Mutex<faults::Faults>,
    pub throttle: Mutex<throttle::Throttle>,
    pub recorded: Mutex<VecDeque<Recorded>>,
    pub stats: Counters,
    stopped: AtomicBool,
    stop_lock: Mutex<()>,
    stop_cv: Condvar,
    /// Clones of open connections' sockets, to shut them down on drop.
    pub conns: Mutex<Vec<(u64, TcpStream)>>,
    pub handles: Mutex<Vec<JoinHandle<()>>>,
    pub next_conn: AtomicU64,
}

impl Shared {
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        let _g = lock(&self.stop_lock);
        self.stopped.store(true, Ordering::SeqCst);
        self.stop_cv.notify_all();
    }

    /// Sleeps `d`, waking early when the emulator stops.
    pub fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut g = lock(&self.stop_lock);
        while !self.is_stopped() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            g = match self.stop_cv.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    pub fn stats(&self) -> Stats {
        let c = &self.stats;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            requests: l(&c.requests),
            registrations: l(&c.registrations),
            token_mints: l(&c.token_mints),
            handshakes: l(&c.handshakes),
            throttled: l(&c.throttled),
            faults: l(&c.faults),
            handshake_failures: l(&c.handshake_failures),
            connections: l(&c.connections),
        }
    }

    pub fn record(&self, req: &http::Request) {
        let mut rec = lock(&self.recorded);
        while rec.len() >= self.opts.max_recorded.max(1) {
            rec.pop_front();
        }
        rec.push_back(Recorded {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
        });
    }
}

/// A running emulator. Dropping it stops the server threads.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    listen_addrs: Vec<SocketAddr>,
    ca_pem: String,
    ca_der: Vec<u8>,
    accept_threads: Vec<JoinHandle<()>>,
}

impl Emulator {
    /// Starts the emulator; panics if it cannot (tests only — see [`Emulator::try_start`]).
    pub fn start(opts: Options) -> Emulator {
        match Emulator::try_start(opts) {
            Ok(e) => e,
            Err(e) => panic!("tvauth-emulator: cannot start: {e}"),
        }
    }

    /// Starts the emulator: generates the CA, binds, spawns the accept threads.
    pub fn try_start(opts: Options) -> std::io::Result<Emulator> {
        let certs = certs::generate().map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(("127.0.0.1", opts.port))?;
        let addr = listener.local_addr()?;
        let mut listeners = vec![listener];
        // `localhost` may resolve to ::1 first; serve it too when the host has IPv6 loopback.
        if let Ok(l6) = TcpListener::bind(("::1", addr.port())) {
            listeners.push(l6);
        }
        let cfg = model::Cfg {
            seed_times: opts.seed_times,
            code_ttl_ms: opts.code_ttl_ms,
            profile_ttl_ms: opts.profile_ttl_ms,
            token_ttl_secs: opts.token_ttl_secs,
            partner_sso_enabled: opts.partner_sso_enabled,
            degraded_mvpds: opts.degraded_mvpds.clone(),
            default_mvpd: opts.default_mvpd.clone(),
        };
        let shared = Arc::new(Shared {
            model: Mutex::new(model::Model::new(cfg)),
            faults: Mutex::new(faults::Faults::new(opts.chaos.clone())),
            throttle: Mutex::new(throttle::Throttle::new(opts.throttle)),
            recorded: Mutex::new(VecDeque::new()),
            stats: Counters::default(),
            stopped: AtomicBool::new(false),
            stop_lock: Mutex::new(()),
            stop_cv: Condvar::new(),
            conns: Mutex::new(Vec::new()),
            handles: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(0),
            opts,
        });
        let mut listen_addrs = Vec::new();
        let mut accept_threads = Vec::new();
        for l in listeners {
            listen_addrs.push(l.local_addr()?);
            let sh = Arc::clone(&shared);
            let tls = Arc::clone(&certs.server);
            accept_threads.push(
                std::thread::Builder::new()
                    .name("emulator-accept".into())
                    .spawn(move || server::accept_loop(&l, &sh, &tls))?,
            );
        }
        Ok(Emulator {
            shared,
            addr,
            listen_addrs,
            ca_pem: certs.ca_pem,
            ca_der: certs.ca_der,
            accept_threads,
        })
    }

    /// `https://localhost:<port>` (the certificate is valid for `localhost`, `127.0.0.1`, `::1`).
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The IPv4 address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The test CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// The test CA certificate, DER.
    pub fn ca_der(&self) -> Vec<u8> {
        self.ca_der.clone()
    }

    /// Writes the CA PEM to `path` (e.g. for `pass.ca_file`).
    pub fn write_ca(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.ca_pem.as_bytes())
    }

    /// Every request received so far (bounded by `Options::max_recorded`), oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.recorded).iter().cloned().collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.recorded).clear();
    }

    /// Queues a fault for the next matching requests.
    pub fn inject(&self, f: Fault) {
        lock(&self.shared.faults).push(f);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Turns chaos mode on (or off with `None`).
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        lock(&self.shared.faults).set_chaos(chaos);
    }

    /// The second-screen login for `code` with `mvpd` (the session's own mvpd wins if it has
    /// one): the device's profile appears on the next poll. False for an unknown or dead code.
    pub fn complete_code(&self, code: &str, mvpd: &str) -> bool {
        lock(&self.shared.model).complete_any(code, mvpd, ids::now_ms())
    }

    /// Invalidates every access token (API calls get 401 until a new token is minted).
    pub fn revoke_tokens(&self) {
        lock(&self.shared.model).revoke_tokens();
    }

    /// Invalidates every client registration: token minting answers `invalid_client`, calls
    /// with existing tokens 401 `invalid_access_token_client_application`.
    pub fn invalidate_client(&self) {
        lock(&self.shared.model).invalidate_clients();
    }

    /// Deletes every profile (as if they had all expired).
    pub fn clear_profiles(&self) {
        lock(&self.shared.model).clear_profiles();
    }

    pub fn set_degraded_mvpds(&self, mvpds: Vec<String>) {
        lock(&self.shared.model).cfg.degraded_mvpds = mvpds;
    }

    pub fn set_partner_sso_enabled(&self, enabled: bool) {
        lock(&self.shared.model).cfg.partner_sso_enabled = enabled;
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Changes the throttle (`None` disables it); buckets start full again.
    pub fn set_throttle(&self, t: Option<(u32, u32)>) {
        lock(&self.shared.throttle).set(t);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.stop();
        for a in &self.listen_addrs {
            // Wake the blocking accept() so its loop sees the stop flag.
            let _ = TcpStream::connect_timeout(a, Duration::from_secs(1));
        }
        for (_, s) in lock(&self.shared.conns).iter() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        for t in self.accept_threads.drain(..) {
            let _ = t.join();
        }
        let handles: Vec<_> = lock(&self.shared.handles).drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
    }
}

/// Where the client's throttle bucket is keyed: first X-Forwarded-For entry, else the peer IP.
pub(crate) fn client_key(req: &http::Request, peer: IpAddr) -> String {
    req.header("x-forwarded-for")
        .and_then(|x| x.split(',').next())
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map_or_else(|| peer.to_string(), str::to_string)
}
