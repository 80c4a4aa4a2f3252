//! The Unix-socket server: accept loop, peer checks, one reader thread per connection, limits.
//!
//! - Lines are at most [`MAX_LINE`] bytes; longer → error, then close.
//! - A started line must complete within `socket.line_timeout_secs` (slow or stalled writers are dropped); an
//!   idle connection with nothing pending blocks in `read` with no timeout, so an idle daemon never
//!   wakes up.
//! - At most `max_connections` at once, and at most half of them (see [`per_peer_limit`]) held by one
//!   peer process, so one misbehaving app next to ours cannot take every slot. A new client evicts a
//!   connection with no call in flight that has not sent a whole line within [`FIRST_LINE_GRACE`] of
//!   connecting (half lines, slow writers, silent connects), else the longest-idle one idle ≥
//!   [`EVICT_AFTER`] — one of its own when it is at its per-peer limit; if there is none it gets a
//!   "busy" error. So idle or stalled connections never lock out a new client for long.
//! - Responses are written by the reader in request order; notifications for subscribers go through a
//!   bounded queue and a small writer thread, and a subscriber whose queue is full is dropped.
//! - Pipelined requests get their answers in one write: the answer to a request the handler calls
//!   quick ([`Handler::is_quick`]) waits while the next request is already buffered; before and
//!   after anything else, before reading more and at [`FLUSH_BYTES`], the answers so far are written.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use miniserde::json::Value;

use super::peer::Peer;
use super::protocol::{self, FORBIDDEN, Incoming, MAX_LINE, Params, Request, RpcError};
use crate::config::SocketConfig;

/// How long a response write may block on a client that does not read.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection idle this long may be closed to make room for a new client.
pub const EVICT_AFTER: Duration = Duration::from_secs(1);
/// A connection that has not sent one whole line this long after connecting may be closed to make room.
/// Real clients write their request right after connecting; without this a burst of connections
/// that never finish a line (tests/reliability.rs: 50 half lines) locked every client out for
/// [`EVICT_AFTER`].
pub const FIRST_LINE_GRACE: Duration = Duration::from_millis(100);
/// Notifications queued for one subscriber before it is considered too slow and dropped.
pub const SUBSCRIBER_QUEUE: usize = 64;
const THREAD_STACK: usize = 256 * 1024;
/// Bytes asked of each `read` of a connection.
const READ_CHUNK: usize = 4096;
/// Line buffer capacity kept while a connection is idle.
const KEEP_BUFFER: usize = 16 * 1024;
/// Answers held for one write at most (pipelined requests, see the module notes).
const FLUSH_BYTES: usize = 16 * 1024;
/// Capacity of the held-answers buffer kept between writes.
const KEEP_PENDING: usize = 4 * 1024;
/// JSON-RPC server error: too many connections and none could be evicted.
pub const BUSY: i64 = -32000;

/// What the server needs from the agent.
pub trait Handler: Send + Sync + 'static {
    fn call(&self, method: &str, params: Params, peer: &Peer) -> Result<Reply, RpcError>;

    /// `method` answers from memory, without I/O or waiting: the answers to requests before it may
    /// be held back and written together with its own.
    fn is_quick(&self, _method: &str) -> bool {
        false
    }
}

/// A method's result.
pub enum Reply {
    Value(Value),
    /// Already serialized (with miniserde) JSON, e.g. an answer the handler keeps cached.
    Json(Arc<str>),
}

impl From<Value> for Reply {
    fn from(v: Value) -> Reply {
        Reply::Value(v)
    }
}

/// Peer access lists, swappable on reload.
#[derive(Clone, Default)]
struct Access {
    uids: Vec<u32>,
    gids: Vec<u32>,
}

struct Conn {
    stream: UnixStream,
    activity: Arc<Activity>,
    /// The peer process (SO_PEERCRED at accept).
    pid: i32,
    subscriber: Option<SyncSender<Arc<str>>>,
}

/// What a connection's thread records on every request and eviction reads. Atomics owned by the
/// connection, so the request path never takes the server-wide `conns` lock (which every
/// connection thread used to take three times per request: `cargo bench --bench agent`).
struct Activity {
    busy: AtomicBool,
    /// Milliseconds since `Shared::epoch`.
    last_active: AtomicU64,
    /// At least one whole line was received.
    used: AtomicBool,
}

impl Activity {
    /// A whole line was received (and answered): the connection is in use.
    fn touch(&self, shared: &Shared) {
        self.last_active
            .store(shared.elapsed_ms(), Ordering::Relaxed);
        self.used.store(true, Ordering::Relaxed);
    }

    /// A call starts (the line was just `touch`ed) or ends (activity again, after a call that may
    /// have taken long).
    fn set_busy(&self, shared: &Shared, busy: bool) {
        self.busy.store(busy, Ordering::Relaxed);
        if !busy {
            self.touch(shared);
        }
    }
}

struct Shared {
    handler: Arc<dyn Handler>,
    conns: Mutex<HashMap<u64, Conn>>,
    next_id: AtomicU64,
    in_flight: AtomicUsize,
    stopping: AtomicBool,
    access: Mutex<Access>,
    max_connections: usize,
    line_deadline: Duration,
    /// Origin of `Activity::last_active`.
    epoch: Instant,
    /// Refusal warnings, rate-limited: a connection flood must not become a log flood.
    refused_busy: Mutex<LogLimit>,
    refused_peer: Mutex<LogLimit>,
}

impl Shared {
    fn new(handler: Arc<dyn Handler>, cfg: &SocketConfig) -> Shared {
        Shared {
            handler,
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            access: Mutex::new(Access {
                uids: cfg.allowed_uids.clone(),
                gids: cfg.allowed_gids.clone(),
            }),
            max_connections: cfg.max_connections,
            line_deadline: Duration::from_secs(cfg.line_timeout_secs),
            epoch: Instant::now(),
            refused_busy: Mutex::new(LogLimit::default()),
            refused_peer: Mutex::new(LogLimit::default()),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// How often a kind of refusal is logged at most; the ones in between are counted and reported
/// with the next line. (Before, every refused connection logged a line: a flood of 1,000 connects
/// wrote 1,000 lines, and formatting them slowed the accept loop enough to delay every client behind
/// it by ~1 s — tests/reliability.rs.)
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct LogLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    /// `Some(n)` when a line is due now (`n` refusals were not logged since the last one).
    fn due(&mut self, now: Instant) -> Option<u64> {
        let due = match self.last {
            None => true,
            Some(t) => now.duration_since(t) >= REFUSAL_LOG_EVERY,
        };
        if !due {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

fn also(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} more refused since the last report)")
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps inconsistent; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Publishes notifications to every subscribed connection. Cheap to clone.
#[derive(Clone)]
pub struct Events {
    shared: Arc<Shared>,
}

impl Events {
    /// Queue `line` for every subscriber; a subscriber whose queue is full is disconnected.
    pub fn publish(&self, line: &str) {
        let line: Arc<str> = Arc::from(line);
        let mut conns = lock(&self.shared.conns);
        let mut dead = Vec::new();
        for (id, c) in conns.iter() {
            if let Some(tx) = &c.subscriber {
                match tx.try_send(line.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        log::warn!("connection {id}: subscriber too slow, dropping it");
                        dead.push(*id);
                    }
                    Err(TrySendError::Disconnected(_)) => dead.push(*id),
                }
            }
        }
        for id in dead {
            if let Some(c) = conns.remove(&id) {
                let _ = c.stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    pub fn subscribers(&self) -> usize {
        lock(&self.shared.conns)
            .values()
            .filter(|c| c.subscriber.is_some())
            .count()
    }
}

pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    shared: Arc<Shared>,
}

/// Controls a running [`Server::run`] from another thread (signals, reload).
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl Control {
    /// Stop accepting; `run` then drains and returns.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept(): a connection to ourselves.
        let _ = UnixStream::connect(&self.path);
    }

    /// Swap the peer access lists (config reload); applies to new connections.
    pub fn set_access(&self, uids: Vec<u32>, gids: Vec<u32>) {
        *lock(&self.shared.access) = Access { uids, gids };
    }
}

#[derive(Debug)]
pub enum BindError {
    /// Another daemon answers on the socket path.
    InUse(PathBuf),
    /// The path exists and is not a socket; we do not delete other files.
    NotASocket(PathBuf),
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::InUse(p) => write!(f, "{}: another tvauth daemon is running", p.display()),
            BindError::NotASocket(p) => write!(f, "{}: exists and is not a socket", p.display()),
            BindError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for BindError {}

impl Server {
    /// Bind `cfg.path` with `cfg.mode`, removing a stale socket file only when nobody answers on it.
    pub fn bind(cfg: &SocketConfig, handler: Arc<dyn Handler>) -> Result<Server, BindError> {
        let path = cfg.path.clone();
        let ioerr = |e| BindError::Io(path.clone(), e);
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(BindError::NotASocket(path));
            }
            match UnixStream::connect(&path) {
                Ok(_) => return Err(BindError::InUse(path)),
                Err(_) => {
                    log::info!("removing stale socket {}", path.display());
                    std::fs::remove_file(&path).map_err(ioerr)?;
                }
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(ioerr)?;
        }
        let listener = bind_private(&path).map_err(ioerr)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(cfg.mode))
            .map_err(ioerr)?;
        let shared = Arc::new(Shared::new(handler, cfg));
        Ok(Server {
            listener,
            path,
            shared,
        })
    }

    pub fn events(&self) -> Events {
        Events {
            shared: self.shared.clone(),
        }
    }

    pub fn control(&self) -> Control {
        Control {
            shared: self.shared.clone(),
            path: self.path.clone(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accept until stopped. Then wait (up to `drain`) for calls in flight, close every connection and
    /// remove the socket file.
    pub fn run(self, drain: Duration) {
        for stream in self.listener.incoming() {
            if self.shared.stopping.load(Ordering::SeqCst) {
                break;
            }
            match stream {
                Ok(s) => self.admit(s),
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    log::warn!("accept: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let _ = std::fs::remove_file(&self.path);
        let deadline = Instant::now() + drain;
        while self.shared.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = self.shared.in_flight.load(Ordering::SeqCst);
        if left > 0 {
            log::warn!("shutting down with {left} call(s) still in flight");
        }
        for (_, c) in lock(&self.shared.conns).drain() {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn admit(&self, stream: UnixStream) {
        let peer = match Peer::of(&stream) {
            Ok(p) => p,
            Err(e) => {
                log::warn!("peer credentials unavailable: {e}; refusing");
                return;
            }
        };
        let access = lock(&self.shared.access).clone();
        if !peer.allowed(&access.uids, &access.gids) {
            if let Some(n) = lock(&self.shared.refused_peer).due(Instant::now()) {
                log::warn!(
                    "refusing peer pid {} uid {} gid {}: not in allowed_uids/allowed_gids{}",
                    peer.pid,
                    peer.uid,
                    peer.gid,
                    also(n)
                );
            }
            refuse(stream, FORBIDDEN, "peer not allowed");
            return;
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = {
            let mut conns = lock(&self.shared.conns);
            let max = self.shared.max_connections;
            let now_ms = self.shared.elapsed_ms();
            let held = conns.values().filter(|c| c.pid == peer.pid).count();
            // A peer at its limit can only replace one of its own connections (before this, one
            // process flooding the socket locked every other app out: tests/reliability.rs).
            let room = if held >= per_peer_limit(max) {
                evict_one(&mut conns, now_ms, Some(peer.pid))
            } else {
                conns.len() < max || evict_one(&mut conns, now_ms, None)
            };
            if !room {
                drop(conns);
                if let Some(n) = lock(&self.shared.refused_busy).due(Instant::now()) {
                    log::warn!(
                        "refusing connection from pid {}: {held} of its own, {max} in all{}",
                        peer.pid,
                        also(n)
                    );
                }
                refuse(stream, BUSY, "server busy: too many connections");
                return;
            }
            let Ok(handle) = stream.try_clone() else {
                return;
            };
            let activity = Arc::new(Activity {
                busy: AtomicBool::new(false),
                last_active: AtomicU64::new(self.shared.elapsed_ms()),
                used: AtomicBool::new(false),
            });
            conns.insert(
                id,
                Conn {
                    stream: handle,
                    activity: activity.clone(),
                    pid: peer.pid,
                    subscriber: None,
                },
            );
            activity
        };
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("conn-{id}"))
            .stack_size(THREAD_STACK)
            .spawn(move || {
                serve(&shared, id, stream, &peer, &activity);
                lock(&shared.conns).remove(&id);
            });
        if let Err(e) = spawned {
            log::error!("cannot start a connection thread: {e}");
            lock(&self.shared.conns).remove(&id);
        }
    }
}

/// Bind with a umask that keeps the socket private until its mode is set explicitly.
fn bind_private(path: &Path) -> io::Result<UnixListener> {
    // SAFETY: umask only swaps the process file-creation mask; no memory is involved. It runs before
    // any thread that creates files exists (the daemon binds first).
    let old = unsafe { libc::umask(0o177) };
    let r = UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    r
}

fn refuse(mut stream: UnixStream, code: i64, message: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ =
        stream.write_all(protocol::failure(Value::Null, &RpcError::new(code, message)).as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Most connections one peer process may hold: half of `max_connections` (at least 1).
pub fn per_peer_limit(max_connections: usize) -> usize {
    (max_connections / 2).max(1)
}

/// Close one evictable connection (of peer `pid` only, when given) to make room: not busy, and idle
/// ≥ EVICT_AFTER, or never used and idle ≥ FIRST_LINE_GRACE.
fn evict_one(conns: &mut HashMap<u64, Conn>, now_ms: u64, pid: Option<i32>) -> bool {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let last = |c: &Conn| c.activity.last_active.load(Ordering::Relaxed);
    let used = |c: &Conn| c.activity.used.load(Ordering::Relaxed);
    let victim = conns
        .iter()
        .filter(|(_, c)| {
            let idle = now_ms.saturating_sub(last(c));
            (pid.is_none() || pid == Some(c.pid))
                && !c.activity.busy.load(Ordering::Relaxed)
                && (idle >= ms(EVICT_AFTER) || (!used(c) && idle >= ms(FIRST_LINE_GRACE)))
        })
        // Never-used connections first, then non-subscribers, each longest idle first.
        .min_by_key(|(_, c)| (used(c), c.subscriber.is_some(), last(c)))
        .map(|(id, _)| *id);
    match victim.and_then(|id| conns.remove(&id).map(|c| (id, c))) {
        Some((id, c)) => {
            log::debug!("connection {id}: closed to make room (idle)");
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
            true
        }
        None => false,
    }
}

/// Writes lines to one client; shared by the reader (responses) and a subscriber's notifier.
struct Writer(Mutex<UnixStream>);

impl Writer {
    fn send(&self, line: &str) -> io::Result<()> {
        let mut s = lock(&self.0);
        s.write_all(line.as_bytes())
    }
}

/// One connection's identity and outputs, passed down the request path.
struct Ctx<'a> {
    shared: &'a Arc<Shared>,
    id: u64,
    peer: &'a Peer,
    writer: &'a Arc<Writer>,
    activity: &'a Activity,
}

fn serve(shared: &Arc<Shared>, id: u64, mut stream: UnixStream, peer: &Peer, activity: &Activity) {
    let writer = match stream.try_clone() {
        Ok(w) => {
            let _ = w.set_write_timeout(Some(WRITE_TIMEOUT));
            Arc::new(Writer(Mutex::new(w)))
        }
        Err(_) => return,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut scanned = 0;
    let mut line_started: Option<Instant> = None;
    let mut timeout_set = false;
    // On the heap, allocated once: not a chunk array on every connection thread's stack, and no
    // per-read zeroing (growing the line buffer by `resize` cost ~25k instructions per read).
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut out = Pending::default();
    let cx = Ctx {
        shared,
        id,
        peer,
        writer: &writer,
        activity,
    };
    // Where the next line ends, when that is already known (found while handling the one before).
    let mut next_end: Option<usize> = None;
    loop {
        let found = next_end.take().or_else(|| {
            buf[scanned..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|p| scanned + p)
        });
        if let Some(end) = found {
            // The next request is already here when another newline follows.
            let next = buf[end + 1..].iter().position(|&b| b == b'\n');
            let mut keep_going = handle_line(&cx, &buf[..end], &mut out);
            if keep_going && (next.is_none() || out.text.len() >= FLUSH_BYTES) {
                keep_going = out.flush(&cx);
            }
            buf.drain(..=end);
            if buf.is_empty() && buf.capacity() > KEEP_BUFFER {
                buf.shrink_to(KEEP_BUFFER); // a long line is not kept for the connection's life
            }
            next_end = next;
            scanned = 0;
            // A partial line left behind gets its deadline when the reader next waits for it.
            line_started = None;
            if !keep_going {
                break;
            }
            continue;
        }
        scanned = buf.len();
        if buf.len() > MAX_LINE {
            let e = RpcError::new(
                protocol::INVALID_REQUEST,
                format!("invalid request: line longer than {MAX_LINE} bytes"),
            );
            let _ = writer.send(&protocol::failure(Value::Null, &e));
            log::debug!("connection {id}: oversized line, closing");
            linger_discard(&mut stream);
            break;
        }
        if !buf.is_empty() && line_started.is_none() {
            line_started = Some(Instant::now());
        }
        // Only a started line has a deadline; an idle connection blocks without one.
        let timeout = match line_started {
            Some(t) => match shared.line_deadline.checked_sub(t.elapsed()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    log::debug!("connection {id}: line not finished in time, closing");
                    break;
                }
            },
            None => None,
        };
        if timeout.is_some() || timeout_set {
            if stream.set_read_timeout(timeout).is_err() {
                break;
            }
            timeout_set = timeout.is_some();
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                if line_started.is_none() {
                    line_started = Some(Instant::now());
                }
                buf.extend_from_slice(&chunk[..n.min(READ_CHUNK)]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                log::debug!("connection {id}: line not finished in time, closing");
                break;
            }
            Err(_) => break,
        }
    }
    // Answers not written yet (the write failed): no longer in flight.
    out.drop_unsent(shared);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Answers waiting to be written together. Each counts as a call in flight until written, so a
/// graceful stop waits for it as for a call still running.
#[derive(Default)]
struct Pending {
    text: String,
    lines: usize,
}

impl Pending {
    fn push(&mut self, answer: &str) {
        self.text.push_str(answer);
        self.lines += 1;
    }

    /// Write what is held; false when the connection must close.
    fn flush(&mut self, cx: &Ctx<'_>) -> bool {
        if self.lines == 0 {
            return true;
        }
        let ok = cx.writer.send(&self.text).is_ok();
        cx.shared.in_flight.fetch_sub(self.lines, Ordering::SeqCst);
        self.lines = 0;
        self.text.clear();
        // Ordinary batches (16 status answers) are ~1 KiB; a big one is not kept for the
        // connection's life.
        if self.text.capacity() > KEEP_PENDING {
            self.text.shrink_to(KEEP_PENDING);
        }
        ok
    }

    fn drop_unsent(&mut self, shared: &Shared) {
        shared.in_flight.fetch_sub(self.lines, Ordering::SeqCst);
        self.lines = 0;
    }
}

/// Closing a socket with unread input makes the kernel send a reset, which can destroy the error we
/// just wrote before the client reads it. So: stop writing, then swallow what the client is still
/// sending — bounded in bytes and time — before the caller closes.
fn linger_discard(stream: &mut UnixStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 8192];
    let mut left: usize = 16 * MAX_LINE;
    let until = Instant::now() + Duration::from_secs(1);
    while left > 0 && Instant::now() < until {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Process one line, its answer going to `out`; false when the connection must close.
fn handle_line(cx: &Ctx<'_>, line: &[u8], out: &mut Pending) -> bool {
    let shared = cx.shared;
    let parsed = protocol::parse_line(line);
    let quick = match &parsed {
        Incoming::Empty => return true,
        Incoming::Single(Ok(r)) => shared.handler.is_quick(&r.method),
        Incoming::Single(Err(_)) => true,
        Incoming::Batch(_) => false,
    };
    cx.activity.touch(shared);
    // Answers held so far go out before anything that may take time.
    if !quick && !out.flush(cx) {
        return false;
    }
    // Counted until the answer is written, so a graceful stop never closes a socket under a reply.
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    let answer = match parsed {
        Incoming::Empty => None,
        Incoming::Single(r) => answer(cx, r),
        Incoming::Batch(items) => {
            let answers: Vec<String> = items.into_iter().filter_map(|r| answer(cx, r)).collect();
            (!answers.is_empty()).then(|| protocol::batch(&answers))
        }
    };
    match answer {
        Some(text) => out.push(&text),
        None => {
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
    // Only quick answers wait for company. A slow one gains nothing by waiting, and the answer to
    // `events.subscribe` must reach the client before the notifications its writer thread may
    // already be sending.
    quick || out.flush(cx)
}

fn answer(cx: &Ctx<'_>, parsed: Result<Request, (Value, RpcError)>) -> Option<String> {
    let req = match parsed {
        Ok(r) => r,
        Err((rid, e)) => return Some(protocol::failure(rid, &e)),
    };
    let result = if req.method == "events.subscribe" {
        subscribe(cx.shared, cx.id, req.params, cx.writer).map(Reply::Value)
    } else {
        cx.activity.set_busy(cx.shared, true);
        let r = cx.shared.handler.call(&req.method, req.params, cx.peer);
        cx.activity.set_busy(cx.shared, false);
        r
    };
    let rid = req.id?;
    Some(match result {
        Ok(Reply::Value(v)) => protocol::success(rid, v),
        Ok(Reply::Json(j)) => protocol::success_json(rid, &j),
        Err(e) => protocol::failure(rid, &e),
    })
}

fn subscribe(
    shared: &Arc<Shared>,
    id: u64,
    params: Params,
    writer: &Arc<Writer>,
) -> Result<Value, RpcError> {
    params.finish()?;
    let mut conns = lock(&shared.conns);
    let Some(conn) = conns.get_mut(&id) else {
        return Err(RpcError::new(protocol::INTERNAL_ERROR, "connection closed"));
    };
    if conn.subscriber.is_none() {
        let (tx, rx) = mpsc::sync_channel::<Arc<str>>(SUBSCRIBER_QUEUE);
        let w = writer.clone();
        std::thread::Builder::new()
            .name(format!("events-{id}"))
            .stack_size(64 * 1024)
            .spawn(move || {
                for line in rx {
                    if w.send(&line).is_err() {
                        let _ = lock(&w.0).shutdown(std::net::Shutdown::Both);
                        break;
                    }
                }
            })
            .map_err(|e| {
                RpcError::new(protocol::INTERNAL_ERROR, format!("cannot subscribe: {e}"))
            })?;
        conn.subscriber = Some(tx);
    }
    Ok(protocol::obj([("subscribed", Value::Bool(true))]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(busy: bool, last_active: u64, subscriber: bool) -> (Conn, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let subscriber = subscriber.then(|| mpsc::sync_channel(1).0);
        let activity = Arc::new(Activity {
            busy: AtomicBool::new(busy),
            last_active: AtomicU64::new(last_active),
            used: AtomicBool::new(true),
        });
        let c = Conn {
            stream: ours,
            activity,
            pid: 7,
            subscriber,
        };
        (c, theirs)
    }

    /// Eviction reads the connections' own activity records: only an idle (≥ EVICT_AFTER), not busy
    /// connection goes, plain clients before subscribers, the longest idle first.
    #[test]
    fn eviction_picks_the_longest_idle_plain_connection() {
        let now = 10_000;
        let mut conns = HashMap::new();
        let mut peers = Vec::new();
        for (id, (busy, last, sub)) in [
            (1, (true, 0, false)),      // busy: never evicted
            (2, (false, 9_500, false)), // idle only 500 ms
            (3, (false, 2_000, false)), // idle 8 s
            (4, (false, 1_000, false)), // idle 9 s: the victim
            (5, (false, 0, true)),      // subscriber, idle longest: kept while others can go
        ] {
            let (c, peer) = conn(busy, last, sub);
            conns.insert(id, c);
            peers.push(peer);
        }
        assert!(evict_one(&mut conns, now, None));
        assert!(!conns.contains_key(&4));
        assert!(evict_one(&mut conns, now, None));
        assert!(!conns.contains_key(&3));
        assert!(evict_one(&mut conns, now, None));
        assert!(!conns.contains_key(&5));
        // Left: the busy one and the recently active one.
        assert!(!evict_one(&mut conns, now, None));
        assert_eq!(conns.len(), 2);
        // The record is what the connection's thread updates.
        conns[&2].activity.last_active.store(0, Ordering::Relaxed);
        assert!(evict_one(&mut conns, now, None));
        assert!(!conns.contains_key(&2));
    }

    #[test]
    fn refusal_logs_are_rate_limited_and_counted() {
        let mut l = LogLimit::default();
        let t0 = Instant::now();
        assert_eq!(l.due(t0), Some(0), "the first one is logged");
        for _ in 0..999 {
            assert_eq!(l.due(t0 + Duration::from_secs(1)), None);
        }
        assert_eq!(l.due(t0 + REFUSAL_LOG_EVERY), Some(999));
        assert_eq!(l.due(t0 + REFUSAL_LOG_EVERY), None);
        assert_eq!(also(0), "");
        assert_eq!(also(3), " (3 more refused since the last report)");
    }

    #[test]
    fn one_peer_gets_half_the_slots() {
        assert_eq!(per_peer_limit(32), 16);
        assert_eq!(per_peer_limit(3), 1);
        assert_eq!(per_peer_limit(1), 1);
    }

    /// `quick` answers at once; `slow` first records what the client had received by then.
    struct Fake {
        client: Mutex<UnixStream>,
        seen_before_slow: Mutex<String>,
    }

    impl Handler for Fake {
        fn call(&self, method: &str, params: Params, _: &Peer) -> Result<Reply, RpcError> {
            params.finish()?;
            if method == "slow" {
                *lock(&self.seen_before_slow) = read_available(&lock(&self.client));
            }
            Ok(Reply::Json(Arc::from(format!("\"{method}\""))))
        }

        fn is_quick(&self, method: &str) -> bool {
            method == "quick"
        }
    }

    fn read_available(s: &UnixStream) -> String {
        s.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let _ = (&mut &*s).read_to_end(&mut got);
        String::from_utf8(got).unwrap()
    }

    fn req(id: u32, method: &str) -> String {
        format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\"}}")
    }

    /// Pipelined quick answers are held and written together; answers held go out before a slow
    /// call starts; each held answer counts as in flight until it is written.
    #[test]
    fn answers_are_coalesced_but_never_held_behind_a_slow_call() {
        let (ours, client) = UnixStream::pair().unwrap();
        let fake = Arc::new(Fake {
            client: Mutex::new(client.try_clone().unwrap()),
            seen_before_slow: Mutex::new(String::new()),
        });
        let shared = Arc::new(Shared::new(
            fake.clone(),
            &crate::config::Config::defaults().socket,
        ));
        let activity = Activity {
            busy: AtomicBool::new(false),
            last_active: AtomicU64::new(0),
            used: AtomicBool::new(false),
        };
        let writer = Arc::new(Writer(Mutex::new(ours)));
        let peer = Peer {
            pid: 1,
            uid: 0,
            gid: 0,
            groups: vec![],
        };
        let cx = Ctx {
            shared: &shared,
            id: 1,
            peer: &peer,
            writer: &writer,
            activity: &activity,
        };
        let mut out = Pending::default();
        for id in 1..=3 {
            assert!(handle_line(&cx, req(id, "quick").as_bytes(), &mut out));
        }
        assert_eq!(read_available(&client), "", "quick answers are held");
        assert_eq!((out.lines, shared.in_flight.load(Ordering::SeqCst)), (3, 3));
        assert!(activity.used.load(Ordering::Relaxed));

        assert!(handle_line(&cx, req(4, "slow").as_bytes(), &mut out));
        let held = |ids: std::ops::RangeInclusive<u32>| -> String {
            ids.map(|i| {
                let m = if i == 4 { "slow" } else { "quick" };
                format!("{{\"id\":{i},\"jsonrpc\":\"2.0\",\"result\":\"{m}\"}}\n")
            })
            .collect()
        };
        assert_eq!(
            *lock(&fake.seen_before_slow),
            held(1..=3),
            "written before the slow call"
        );
        assert_eq!(
            read_available(&client),
            held(4..=4),
            "and its own answer right after"
        );
        assert_eq!((out.lines, shared.in_flight.load(Ordering::SeqCst)), (0, 0));

        // A notification (no id) has no answer and is not left in flight; a failed write closes.
        assert!(handle_line(
            &cx,
            b"{\"jsonrpc\":\"2.0\",\"method\":\"quick\"}",
            &mut out
        ));
        assert_eq!((out.lines, shared.in_flight.load(Ordering::SeqCst)), (0, 0));
        assert!(handle_line(&cx, req(5, "quick").as_bytes(), &mut out));
        drop(client);
        lock(&fake.client)
            .shutdown(std::net::Shutdown::Both)
            .unwrap();
        assert!(!out.flush(&cx));
        assert_eq!(shared.in_flight.load(Ordering::SeqCst), 0);
    }
}
