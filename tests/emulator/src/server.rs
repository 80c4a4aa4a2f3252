//! The network side: accept loop, one thread per TLS connection, keep-alive request loop, and
//! the per-request pipeline (record → fault → throttle → API).

use crate::api::{self, Ctx};
use crate::faults::FaultKind;
use crate::http::{self, ReadError, Response};
use crate::json::J;
use crate::{Shared, client_key, ids, lock};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Handshake round trips allowed before giving up on a client.
const MAX_HANDSHAKE_ROUNDS: usize = 64;
/// Oversized-body faults are capped here.
const MAX_OVERSIZE: usize = 64 * 1024 * 1024;

/// What to do with the connection after handling one request.
enum Outcome {
    Respond(Response),
    /// Announce the full Content-Length, send only `keep` bytes, close.
    CutBody {
        resp: Response,
        keep: usize,
    },
    /// RST the connection, no response.
    Reset,
}

pub fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, tls: &Arc<ServerConfig>) {
    for conn in listener.incoming() {
        if shared.is_stopped() {
            return;
        }
        let Ok(tcp) = conn else {
            // EMFILE and friends: back off instead of spinning.
            shared.sleep(Duration::from_millis(50));
            continue;
        };
        shared.stats.connections.fetch_add(1, Ordering::Relaxed);
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        {
            let mut conns = lock(&shared.conns);
            if conns.len() >= shared.opts.max_connections {
                continue; // dropping `tcp` closes it
            }
            if let Ok(clone) = tcp.try_clone() {
                conns.push((id, clone));
            }
        }
        let sh = Arc::clone(shared);
        let cfg = Arc::clone(tls);
        let spawned = std::thread::Builder::new()
            .name("emulator-conn".into())
            .stack_size(512 * 1024)
            .spawn(move || {
                serve(&sh, cfg, tcp);
                lock(&sh.conns).retain(|(i, _)| *i != id);
            });
        let mut handles = lock(&shared.handles);
        handles.retain(|h| !h.is_finished());
        match spawned {
            Ok(h) => handles.push(h),
            Err(_) => lock(&shared.conns).retain(|(i, _)| *i != id),
        }
    }
}

fn serve(shared: &Shared, tls: Arc<ServerConfig>, tcp: TcpStream) {
    let peer = tcp
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
    let _ = tcp.set_read_timeout(Some(shared.opts.read_timeout));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(10)));
    let _ = tcp.set_nodelay(true);
    let Ok(conn) = ServerConnection::new(tls) else {
        return;
    };
    let mut s = StreamOwned::new(conn, tcp);
    let mut rounds = 0;
    while s.conn.is_handshaking() {
        rounds += 1;
        if rounds > MAX_HANDSHAKE_ROUNDS
            || shared.is_stopped()
            || s.conn.complete_io(&mut s.sock).is_err()
        {
            shared
                .stats
                .handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    shared.stats.handshakes.fetch_add(1, Ordering::Relaxed);
    let limits = http::Limits {
        max_head: shared.opts.max_header_bytes,
        max_body: shared.opts.max_body_bytes,
        request_time: shared.opts.request_timeout,
    };
    let mut buf = Vec::new();
    loop {
        let req = match http::read_request(&mut s, &mut buf, &limits) {
            Ok(r) => r,
            Err(ReadError::Closed | ReadError::Io) => break,
            Err(e) => {
                let (status, msg) = match e {
                    ReadError::HeadTooLarge => (431, "request head too large"),
                    ReadError::BodyTooLarge => (413, "request body too large"),
                    ReadError::Malformed(m) => (400, m),
                    ReadError::Closed | ReadError::Io => (400, "bad request"),
                };
                let resp = Response::new(status, "text/plain", msg.as_bytes().to_vec());
                let _ = http::write_response(&mut s, &resp, true);
                break;
            }
        };
        let keep_alive = req.keep_alive();
        match process(shared, &req, peer) {
            Outcome::Respond(resp) => {
                let close = !keep_alive || resp.close || shared.is_stopped();
                if http::write_response(&mut s, &resp, close).is_err() || close {
                    break;
                }
            }
            Outcome::CutBody { resp, keep } => {
                let _ = http::write_head(&mut s, &resp, resp.body.len(), false);
                let _ = s.write_all(&resp.body[..keep.min(resp.body.len())]);
                let _ = s.flush();
                let _ = s.sock.shutdown(Shutdown::Both);
                return;
            }
            Outcome::Reset => {
                reset(&s.sock);
                return;
            }
        }
    }
    s.conn.send_close_notify();
    let _ = s.flush();
}

/// Makes the kernel answer with RST when the socket is closed (SO_LINGER 0), then shuts the
/// read side so the peer's next read fails at once.
fn reset(sock: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `sock` is an open socket for the duration of the call and `linger` is a valid,
    // correctly sized option value.
    let _ = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

/// Paths a browser (another device in reality) opens: not throttled, no token.
fn is_browser_path(path: &str) -> bool {
    path.starts_with("/api/v2/authenticate/") || path.starts_with("/adobe-services/")
}

fn process(shared: &Shared, req: &http::Request, peer: IpAddr) -> Outcome {
    if req.path.starts_with("/_emulator/") {
        return Outcome::Respond(control(shared, req));
    }
    shared.record(req);
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    let fault = lock(&shared.faults).take(&req.path);
    let Some(fault) = fault else {
        return Outcome::Respond(normal(shared, req, peer));
    };
    shared.stats.faults.fetch_add(1, Ordering::Relaxed);
    match fault {
        FaultKind::TooManyRequests { retry_after_secs } => {
            shared.stats.throttled.fetch_add(1, Ordering::Relaxed);
            let mut r = api::too_many_requests();
            if let Some(s) = retry_after_secs {
                r = r.header("Retry-After", &s.to_string());
            }
            Outcome::Respond(r)
        }
        FaultKind::ServerError {
            status,
            code,
            action,
        } => Outcome::Respond(api::error(status, &action, &code, "Injected server error.")),
        FaultKind::ServerErrorWrapped {
            status,
            code,
            action,
        } => {
            let body = J::obj().with(
                "errors",
                J::Arr(vec![api::enhanced(
                    status,
                    &action,
                    &code,
                    "Injected server error.",
                )]),
            );
            Outcome::Respond(api::json_response(status, &body))
        }
        FaultKind::Unauthorized => Outcome::Respond(api::unauthorized()),
        FaultKind::TruncatedJson => {
            let mut r = normal(shared, req, peer);
            let half = r.body.len() / 2;
            r.body.truncate(half);
            Outcome::Respond(r)
        }
        FaultKind::CloseEarly => {
            let resp = normal(shared, req, peer);
            let keep = resp.body.len() / 2;
            Outcome::CutBody { resp, keep }
        }
        FaultKind::Stall { ms } => {
            shared.sleep(Duration::from_millis(ms).min(shared.opts.max_stall));
            if shared.is_stopped() {
                return Outcome::Reset;
            }
            Outcome::Respond(normal(shared, req, peer))
        }
        FaultKind::Oversized { bytes } => {
            let n = bytes.clamp(16, MAX_OVERSIZE);
            let mut body = Vec::with_capacity(n);
            body.extend_from_slice(b"{\"padding\":\"");
            body.resize(n - 2, b'x');
            body.extend_from_slice(b"\"}");
            Outcome::Respond(Response::new(200, "application/json;charset=UTF-8", body))
        }
        FaultKind::Reset => Outcome::Reset,
        FaultKind::Custom {
            status,
            content_type,
            headers,
            body,
        } => {
            let mut r = Response::new(status, &content_type, body);
            for (k, v) in headers {
                r = r.header(&k, &v);
            }
            Outcome::Respond(r)
        }
    }
}

/// Throttle, then the API.
fn normal(shared: &Shared, req: &http::Request, peer: IpAddr) -> Response {
    if !is_browser_path(&req.path)
        && !lock(&shared.throttle).admit(&client_key(req, peer), Instant::now())
    {
        shared.stats.throttled.fetch_add(1, Ordering::Relaxed);
        return api::too_many_requests();
    }
    let ctx = Ctx {
        req,
        peer,
        now: ids::now_ms(),
    };
    api::handle(shared, &ctx)
}

/// `/_emulator/*`: for a separate process (benchmarks, README quick start).
fn control(shared: &Shared, req: &http::Request) -> Response {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/_emulator/stats") => Response::new(
            200,
            "application/json",
            shared.stats().to_json().into_bytes(),
        ),
        ("POST" | "GET", "/_emulator/complete") => {
            let q = crate::form::parse(&req.query);
            let code = crate::form::value(&q, "code").unwrap_or_default();
            let mvpd = crate::form::value(&q, "mvpd").unwrap_or("Cablevision");
            let ok = lock(&shared.model).complete_any(code, mvpd, ids::now_ms());
            Response::new(
                if ok { 200 } else { 404 },
                "application/json",
                J::obj().with("completed", ok).to_json().into_bytes(),
            )
        }
        _ => Response::new(404, "text/plain", b"unknown control path".to_vec()),
    }
}
