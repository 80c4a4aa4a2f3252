//! Reliability and security suite (issue 7): crash and power-cut safety, socket abuse, network chaos,
//! secrets and access. Every test prints a `FIGURES` line (run with `--nocapture`) that RELIABILITY.md
//! quotes.
//!
//! The short variants run in `cargo test`. `TVAUTH_LONG=1` turns each test into its long variant
//! (200 daemon kills, 2,000 writer kills, 10 min chaos, …); run them one at a time, e.g.
//! `TVAUTH_LONG=1 cargo test --release --test reliability sigkill -- --nocapture`.
//! `TVAUTH_SEED=N` replays a run's random choices (each test prints the seed it used).
//!
//! The heavy tests take [`serial`] so they do not measure each other on a 2-core box.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::*;
use miniserde::json::{self, Value};
use tvauth::ipc::client::{Client, ClientError};
use tvauth_emulator::{Chaos, Emulator, Fault, FaultKind, Options};

// ---------------------------------------------------------------------------------------------
// Shared helpers

fn long() -> bool {
    std::env::var("TVAUTH_LONG").is_ok_and(|v| v == "1")
}

static SERIAL: Mutex<()> = Mutex::new(());

/// One heavy test at a time (latency and memory figures on a shared 2-core machine).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// splitmix64: reproducible random choices from a printed seed.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn seeded(test: &str) -> Rng {
        let seed = std::env::var("TVAUTH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{test}: TVAUTH_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
    fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

/// VmRSS of `pid` in KiB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// Open file descriptors of `pid`: (unix sockets, other sockets, everything else).
fn fds(pid: u32) -> (usize, usize, usize) {
    let unix: std::collections::HashSet<String> =
        std::fs::read_to_string(format!("/proc/{pid}/net/unix"))
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(6).map(str::to_owned))
            .collect();
    let (mut u, mut s, mut other) = (0, 0, 0);
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        let t = target.to_string_lossy();
        match t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
            Some(inode) if unix.contains(inode) => u += 1,
            Some(_) => s += 1,
            None => other += 1,
        }
    }
    (u, s, other)
}

fn empty_box() -> String {
    format!("{}/tests/fixtures/boxes/empty", env!("CARGO_MANIFEST_DIR"))
}

/// Emulator without Adobe's throttle; token lifetime `token_ttl_secs`.
fn emulator(token_ttl_secs: u64, chaos: Option<Chaos>) -> Emulator {
    Emulator::start(Options {
        throttle: None,
        token_ttl_secs,
        chaos,
        ..Default::default()
    })
}

/// A daemon against `emu` with its own limiter raised (the emulator does not throttle either), on a
/// box without hardware identity (so only the state file keeps the fingerprint stable).
fn daemon_for(emu: &Emulator, top: &str, socket_extra: &str) -> Daemon {
    Daemon::prepare(
        Some((&emu.base_url(), &emu.ca_pem())),
        DaemonOpts {
            pass: "throttle_per_sec = 200\nthrottle_burst = 200\n".into(),
            top: top.into(),
            socket_extra: socket_extra.into(),
            env: vec![("TVAUTH_SYSROOT".into(), empty_box())],
            ..Default::default()
        },
    )
}

fn connect(socket: &Path, timeout: Duration) -> Result<Client, ClientError> {
    Client::connect(socket, timeout)
}

fn params(text: &str) -> Option<Value> {
    if text.is_empty() {
        None
    } else {
        Some(json::from_str(text).unwrap())
    }
}

/// One call on a fresh connection.
fn call_at(socket: &Path, timeout: Duration, method: &str, p: &str) -> Result<Value, ClientError> {
    connect(socket, timeout)?.call(method, params(p))
}

fn rpc_code(e: &ClientError) -> Option<i64> {
    match e {
        ClientError::Rpc(r) => Some(r.code),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// State files, checked from outside the daemon

/// What a look at `state_dir` right after a SIGKILL found.
#[derive(Default, Debug)]
struct Scan {
    /// Files whose header, checksum and JSON hold.
    valid: Vec<String>,
    /// Files that do not: the daemon must move them aside and say so.
    corrupt: Vec<String>,
    /// Temp files of a write the kill interrupted.
    temp: Vec<String>,
    /// `*.corrupt` files (earlier recoveries).
    aside: Vec<String>,
}

/// The store's envelope: `tvauth-state 1 <name> <sha256 hex>\n<json body>`.
fn state_file_ok(name: &str, bytes: &[u8]) -> Result<Value, String> {
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no header line")?;
    let head = std::str::from_utf8(&bytes[..nl]).map_err(|_| "header not UTF-8")?;
    let body = &bytes[nl + 1..];
    let sum = tvauth::store::hex(ring::digest::digest(&ring::digest::SHA256, body).as_ref());
    let want = format!("tvauth-state 1 {name} {sum}");
    if head != want {
        return Err(format!("header {head:?} != {want:?}"));
    }
    let body = std::str::from_utf8(body).map_err(|_| "body not UTF-8")?;
    json::from_str(body).map_err(|_| "body not JSON".into())
}

fn scan_state(dir: &Path) -> Scan {
    let mut scan = Scan::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return scan;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp.") {
            scan.temp.push(name);
        } else if name.ends_with(".corrupt") {
            scan.aside.push(name);
        } else {
            let Ok(bytes) = std::fs::read(e.path()) else {
                continue; // removed meanwhile (a logout while the daemon runs)
            };
            match state_file_ok(&name, &bytes) {
                Ok(_) => scan.valid.push(name),
                Err(why) => scan.corrupt.push(format!("{name}: {why}")),
            }
        }
    }
    scan.valid.sort();
    scan
}

/// A string field of a state file's body.
fn state_field(dir: &Path, file: &str, key: &str) -> Option<String> {
    let bytes = std::fs::read(dir.join(file)).ok()?;
    match state_file_ok(file, &bytes).ok()? {
        Value::Object(o) => match o.get(key)? {
            Value::String(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Crash and power-cut safety

/// Login / logout / token-refresh churn from a few client threads, against a daemon that is
/// SIGKILLed at random moments and restarted. After every restart: same fingerprint, still exactly
/// one registration at the emulator (the stored credentials were never lost), every state file
/// parses (or was moved aside with a warning), no temp file left behind, READY reached.
#[test]
fn sigkill_during_churn_loses_nothing() {
    let _g = serial();
    let kills = if long() { 200 } else { 20 };
    let mut rng = Rng::seeded("sigkill_during_churn_loses_nothing");
    // 4 s tokens: the daemon mints a new one every few seconds (and after each revoke below).
    let emu = Arc::new(emulator(4, None));
    let mut d = daemon_for(&emu, "log_level = \"info\"\n", "");
    d.start();
    let fp0 = s(&d.call("device.identifier", "").unwrap(), "fingerprint");
    // Register before the first kill. (A kill while the registration request itself is in flight
    // can cost a second registration: Adobe registered, the box never heard back. Nothing can make
    // that window atomic; what must hold is that credentials, once received, are never lost.)
    d.call("profile.get", r#"{"refresh":true}"#).unwrap();
    assert_eq!(emu.stats().registrations, 1);
    let client0 = state_field(&d.state, "client", "client_id").expect("client file");

    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let logins = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (socket, emu, stop, ops, logins) = (
                d.socket.clone(),
                emu.clone(),
                stop.clone(),
                ops.clone(),
                logins.clone(),
            );
            let mut rng = rng.fork();
            std::thread::spawn(move || {
                churn(&socket, &emu, &stop, &ops, &logins, &mut rng);
            })
        })
        .collect();

    let mut interrupted_writes = 0;
    let mut recovered = 0;
    let mut files_checked = 0;
    for k in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.range(50, 1500)));
        d.kill9();
        let scan = scan_state(&d.state);
        files_checked += scan.valid.len() + scan.corrupt.len();
        if !scan.temp.is_empty() {
            interrupted_writes += 1;
        }
        d.start();
        // Invariants, kill #k.
        let fp = s(&d.call("device.identifier", "").unwrap(), "fingerprint");
        assert_eq!(fp, fp0, "kill {k}: fingerprint changed");
        assert_eq!(
            emu.stats().registrations,
            1,
            "kill {k}: credentials lost (a second registration)\n{}",
            d.log_text()
        );
        assert_eq!(
            state_field(&d.state, "client", "client_id").as_deref(),
            Some(client0.as_str()),
            "kill {k}: client file"
        );
        for c in &scan.corrupt {
            recovered += 1;
            let name = c.split(':').next().unwrap();
            assert!(
                d.log_text().contains(&format!("{name} is corrupt")),
                "kill {k}: corrupt {c} not reported\n{}",
                d.log_text()
            );
            assert!(d.state.join(format!("{name}.corrupt")).exists());
        }
        let after = scan_state(&d.state);
        // (The new daemon's own temp files are writes in progress: the churn goes on.)
        let own = format!(".tmp.{}.", d.pid());
        let dead: Vec<_> = after.temp.iter().filter(|t| !t.contains(&own)).collect();
        assert!(
            dead.is_empty(),
            "kill {k}: temp files of the killed daemon left in state_dir after restart: {dead:?}"
        );
        assert!(
            after.corrupt.is_empty(),
            "kill {k}: {:?}\n{}",
            after.corrupt,
            d.log_text()
        );
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let st = emu.stats();
    assert_eq!(st.registrations, 1);
    assert_eq!(d.stop(), Some(0), "{}", d.log_text());
    eprintln!(
        "FIGURES sigkill_during_churn: kills={kills} restarts_ready={kills} socket_ops={} logins_completed={} \
         token_mints={} api_requests={} kills_mid_write={interrupted_writes} state_files_checked={files_checked} \
         corrupt_recovered={recovered} registrations={} fingerprint_changes=0",
        ops.load(Ordering::Relaxed),
        logins.load(Ordering::Relaxed),
        st.token_mints,
        st.requests,
        st.registrations,
    );
}

/// One churn client: logins (completed at the emulator, found by the poller — possibly after a
/// restart), TempPass logins, logouts, profile refreshes, forced token re-mints. Errors are expected
/// (the daemon is killed under it) and ignored.
fn churn(
    socket: &Path,
    emu: &Emulator,
    stop: &AtomicBool,
    ops: &AtomicU64,
    logins: &AtomicU64,
    rng: &mut Rng,
) {
    let t = Duration::from_secs(10);
    while !stop.load(Ordering::SeqCst) {
        let r = match rng.range(0, 10) {
            0..=2 => {
                let mvpd = ["Cablevision", "Dish"][rng.range(0, 2) as usize];
                let r = call_at(
                    socket,
                    t,
                    "session.create",
                    &format!("{{\"mvpd\":\"{mvpd}\"}}"),
                );
                if let Ok(Value::Object(o)) = &r {
                    if let Some(Value::String(code)) = o.get("code") {
                        if emu.complete_code(code, mvpd) {
                            logins.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                r
            }
            3 => call_at(socket, t, "session.create", r#"{"mvpd":"TempPass_TEST40"}"#),
            4 | 5 => call_at(socket, t, "auth.logout", ""),
            6 => call_at(socket, t, "profile.get", r#"{"refresh":true}"#),
            7 => {
                emu.revoke_tokens();
                call_at(socket, t, "profile.get", r#"{"refresh":true}"#)
            }
            8 => call_at(
                socket,
                t,
                "decision.authorize",
                r#"{"resources":["REF30-movie"]}"#,
            ),
            _ => call_at(socket, t, "auth.status", ""),
        };
        match r {
            Ok(_) | Err(ClientError::Rpc(_)) => {
                ops.fetch_add(1, Ordering::Relaxed);
            }
            // Daemon down or killed mid-call.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

const WRITER_ENV: &str = "TVAUTH_RELIAB_WRITER_DIR";
const WRITER_GEN_ENV: &str = "TVAUTH_RELIAB_WRITER_GEN";

/// Generation `g` of the big file: 1 MiB or 1.5 MiB, its generation in the first 8 bytes, then one
/// byte value. Any mix of two generations, or a prefix, differs from every `big(g)`.
fn big(g: u64) -> Vec<u8> {
    let len = if g % 2 == 0 { 1 << 20 } else { 3 << 19 };
    let mut v = g.to_le_bytes().to_vec();
    v.resize(len, b'A' + (g % 26) as u8);
    v
}

#[derive(miniserde::Serialize, miniserde::Deserialize, PartialEq, Debug)]
struct Doc {
    generation: u64,
    pad: String,
}

/// Generation `g` of the store document: 100 KiB or 200 KiB (the store caps files at 256 KiB).
fn doc(g: u64) -> Doc {
    let len = if g % 2 == 0 { 100 << 10 } else { 200 << 10 };
    Doc {
        generation: g,
        pad: char::from(b'a' + (g % 26) as u8).to_string().repeat(len),
    }
}

/// The child half of [`killed_writer_leaves_old_or_new_never_torn`]: does nothing in a normal run;
/// with `TVAUTH_RELIAB_WRITER_DIR` set it rewrites two files there forever until killed.
#[test]
fn atomic_write_child_process() {
    let Some(dir) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut g: u64 = std::env::var(WRITER_GEN_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let store = tvauth::store::Store::open(&dir).unwrap();
    loop {
        tvauth::store::write_atomic(&dir.join("big"), &big(g)).unwrap();
        store.write("doc", &doc(g)).unwrap();
        g += 1;
    }
}

/// A child process rewrites a 1–1.5 MiB file with `store::write_atomic` and a 100–200 KiB document
/// with `Store::write`, alternating contents, and is SIGKILLed at a random moment. Each time, both
/// files hold exactly one whole generation (never a mix, never a prefix), generations never go
/// back, and opening the store clears the interrupted write's temp file.
#[test]
fn killed_writer_leaves_old_or_new_never_torn() {
    let _g = serial();
    let kills = if long() { 2000 } else { 100 };
    let mut rng = Rng::seeded("killed_writer_leaves_old_or_new_never_torn");
    let dir = TempDir::new("writer");
    let state = dir.path().join("state");
    let store = tvauth::store::Store::open(&state).unwrap();
    tvauth::store::write_atomic(&state.join("big"), &big(0)).unwrap();
    store.write("doc", &doc(0)).unwrap();
    let (mut last_big, mut last_doc) = (0u64, 0u64);
    let mut mid_write = 0;
    let mut generations = 0;
    for k in 0..kills {
        let mut child = target_cmd(std::env::current_exe().unwrap())
            .args([
                "atomic_write_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, &state)
            .env(WRITER_GEN_ENV, (last_big.max(last_doc) + 1).to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.range(10, 200)));
        child.kill().unwrap();
        child.wait().unwrap();

        let bytes = std::fs::read(state.join("big")).unwrap();
        assert!(
            bytes.len() >= 8,
            "kill {k}: big file torn ({} bytes)",
            bytes.len()
        );
        let g = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        assert!(bytes == big(g), "kill {k}: big file torn (generation {g})");
        assert!(
            g >= last_big,
            "kill {k}: big file went back {last_big} -> {g}"
        );
        let tmp: Vec<_> = std::fs::read_dir(&state)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .collect();
        if !tmp.is_empty() {
            mid_write += 1;
        }
        // Reopening the store (what a restarted daemon does) clears the dead writer's temp files.
        let store = tvauth::store::Store::open(&state).unwrap();
        let left = std::fs::read_dir(&state)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .count();
        assert_eq!(left, 0, "kill {k}: temp files survive Store::open");
        let d: Doc = store
            .read("doc")
            .unwrap()
            .unwrap_or_else(|| panic!("kill {k}: doc torn or missing"));
        assert!(d == doc(d.generation), "kill {k}: doc torn");
        assert!(d.generation >= last_doc, "kill {k}: doc went back");
        generations += g.max(d.generation) - last_big.max(last_doc);
        last_big = g;
        last_doc = d.generation;
    }
    eprintln!(
        "FIGURES killed_writer: kills={kills} generations_written={generations} kills_mid_write={mid_write} \
         torn=0 lost_committed=0 bytes_per_generation=1-1.5MiB+100-200KiB"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Socket abuse

/// What the well-behaved clients saw.
#[derive(Default)]
struct GoodStats {
    calls: u64,
    busy_retries: u64,
    max_ms: u128,
    failures: Vec<String>,
    started: Option<Instant>,
}

/// A well-behaved UI: one call every 50 ms on a fresh connection (retrying once, 100 ms later, on the
/// -32000 busy answer) or on its long-lived connection; each answer must come within 3 s.
///
/// The bound tells a served client from a starved one (starved = waiting out the whole abuse phase,
/// 8 s or 120 s, or refused); it is not a speed target, which lives in `cargo bench`. It was 1 s
/// until a slower VM (80 µs socket round trips instead of 10) once answered in 1,005 ms under the
/// abuse with both cores saturated.
fn good_client(socket: &Path, stop: &AtomicBool, fresh: bool, out: &Mutex<GoodStats>) {
    let limit = Duration::from_secs(3);
    let mut kept: Option<Client> = None;
    let methods = ["agent.version", "auth.status", "device.identifier"];
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let m = methods[i % methods.len()];
        i += 1;
        let t0 = Instant::now();
        let mut busy = 0;
        let mut connect_ms = 0;
        let r = loop {
            let r = if fresh {
                let c0 = Instant::now();
                let c = connect(socket, limit);
                connect_ms = c0.elapsed().as_millis();
                c.and_then(|mut c| c.call(m, None))
            } else {
                if kept.is_none() {
                    kept = connect(socket, limit).ok();
                }
                match kept.as_mut() {
                    Some(c) => c.call(m, None),
                    None => call_at(socket, limit, m, ""),
                }
            };
            match &r {
                Err(e) if rpc_code(e) == Some(-32000) && busy == 0 => {
                    // One retry, after a short pause, on the busy answer (a real UI does the same).
                    busy += 1;
                    kept = None;
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => break r,
            }
        };
        let ms = t0.elapsed().as_millis();
        let mut o = out.lock().unwrap();
        o.calls += 1;
        o.busy_retries += busy;
        o.max_ms = o.max_ms.max(ms);
        if let Err(e) = &r {
            o.failures
                .push(format!("{m}: {e} after {ms} ms (connect {connect_ms} ms)"));
            kept = None;
        } else if ms > limit.as_millis() {
            let at = o.started.map_or(0, |t| t.elapsed().as_millis());
            o.failures.push(format!(
                "{m} ({}): answered after {ms} ms (connect {connect_ms} ms), {at} ms into the test",
                if fresh {
                    "fresh connection"
                } else {
                    "kept connection"
                },
            ));
        }
        drop(o);
        std::thread::sleep(Duration::from_millis(if fresh { 50 } else { 20 }));
    }
}

fn raw_connect(socket: &Path) -> Option<UnixStream> {
    let s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(10))).ok()?;
    Some(s)
}

/// Read one `\n`-terminated line (or what came before EOF / timeout).
fn read_one_line(s: &mut UnixStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while let Ok(1) = s.read(&mut b) {
        out.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The malformed requests of the memory phase, cycled.
fn malformed(i: usize) -> Vec<u8> {
    match i % 8 {
        0 => b"{not json\n".to_vec(),
        1 => b"\xff\xfe\xfd{\"jsonrpc\":\"2.0\"}\n".to_vec(),
        2 => b"[]\n".to_vec(),
        3 => format!("{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"no.such\"}}\n").into_bytes(),
        4 => format!("{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"session.get\",\"params\":{{\"code\":7}}}}\n")
            .into_bytes(),
        5 if i % 256 == 5 => {
            // deep nesting, 20k levels (one line in 256)
            let mut v = "[".repeat(20_000).into_bytes();
            v.push(b'\n');
            v
        }
        5 => b"[[[[{\"a\":[1,2,{}]}]]],\n".to_vec(),
        6 => format!("{{\"jsonrpc\":\"2.0\",\"id\":\"{}\",\"method\":1}}\n", "x".repeat(i % 1000))
            .into_bytes(),
        _ => b"{\"jsonrpc\":\"2.0\",\"id\":[],\"method\":\"agent.version\",\"params\":{\"a\":\"\\ud800\"}}\n".to_vec(),
    }
}

/// Send `count` malformed requests pipelined over `conns` connections, reading every answer.
/// Returns the answers read.
fn flood_malformed(socket: &Path, conns: usize, count: usize, offset: usize) -> u64 {
    let per = count / conns;
    let handles: Vec<_> = (0..conns)
        .map(|c| {
            let socket = socket.to_path_buf();
            std::thread::spawn(move || {
                let s = raw_connect(&socket).expect("connect");
                let mut w = s.try_clone().unwrap();
                let writer = std::thread::spawn(move || {
                    let mut batch = Vec::new();
                    for i in 0..per {
                        batch.extend(malformed(offset + c * per + i));
                        if batch.len() > 64 * 1024 {
                            w.write_all(&batch).unwrap();
                            batch.clear();
                        }
                    }
                    w.write_all(&batch).unwrap();
                });
                let mut r = std::io::BufReader::new(s);
                let mut answers = 0u64;
                let mut line = String::new();
                while answers < per as u64 {
                    line.clear();
                    match std::io::BufRead::read_line(&mut r, &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            assert!(line.contains("\"error\""), "{line}");
                            answers += 1;
                        }
                    }
                }
                writer.join().unwrap();
                answers
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

/// 1,000 connection attempts released at once, each sending one request: how each ended.
fn thousand_at_once(socket: &Path) -> BTreeMap<&'static str, u64> {
    let n = 1000;
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let crowd: Vec<_> = (0..n)
        .map(|_| {
            let (socket, barrier) = (socket.to_path_buf(), barrier.clone());
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    barrier.wait();
                    let Some(mut s) = raw_connect(&socket) else {
                        return "flood: connect failed";
                    };
                    let _ = s.write_all(
                        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.version\"}\n",
                    );
                    let line = read_one_line(&mut s);
                    if line.contains("\"result\"") {
                        "flood: answered"
                    } else if line.contains("-32000") {
                        "flood: busy"
                    } else {
                        assert!(line.is_empty(), "{line}");
                        "flood: closed (evicted)"
                    }
                })
                .unwrap()
        })
        .collect();
    let mut out = BTreeMap::new();
    for c in crowd {
        *out.entry(c.join().unwrap()).or_default() += 1;
    }
    out
}

const ABUSER_ENV: &str = "TVAUTH_RELIAB_ABUSER_SOCKET";

/// The abusive app, as its own process (the daemon limits each peer process to half the slots):
/// does nothing in a normal run; with `TVAUTH_RELIAB_ABUSER_SOCKET` set it abuses that socket for
/// `TVAUTH_RELIAB_ABUSE_SECS` and prints `ABUSE <kind>=<count>;…`. `TVAUTH_ABUSE_ONLY=flood,half,…`
/// narrows the kinds (diagnosis).
#[test]
fn socket_abuser_child_process() {
    let Some(socket) = std::env::var_os(ABUSER_ENV) else {
        return;
    };
    let secs = std::env::var("TVAUTH_RELIAB_ABUSE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let counts = abuse(Path::new(&socket), Duration::from_secs(secs));
    let line: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("ABUSE {}", line.join(";"));
}

/// Every kind of abuse at once for `abuse_for`: 1,000 connections at once (every 3 s), slow writers,
/// half lines, invalid UTF-8 lines, 10 MB lines, rapid connect/close. Returns what was tried.
fn abuse(socket: &Path, abuse_for: Duration) -> BTreeMap<&'static str, u64> {
    let socket = socket.to_path_buf();
    let until = Instant::now() + abuse_for;
    let busy_time = move || Instant::now() < until;
    let inputs = Arc::new(Mutex::new(BTreeMap::<&'static str, u64>::new()));
    let count = |inputs: &Mutex<BTreeMap<&'static str, u64>>, k: &'static str| {
        *inputs.lock().unwrap().entry(k).or_default() += 1;
    };
    let mut abusers = Vec::new();
    let only = std::env::var("TVAUTH_ABUSE_ONLY").unwrap_or_default();
    let on = |k: &str| only.is_empty() || only.split(',').any(|o| o == k);
    if on("flood") {
        // 1,000 connection attempts at once, every 3 s.
        let (socket, inputs) = (socket.clone(), inputs.clone());
        abusers.push(std::thread::spawn(move || {
            while busy_time() {
                for (k, n) in thousand_at_once(&socket) {
                    *inputs.lock().unwrap().entry(k).or_default() += n;
                }
                std::thread::sleep(Duration::from_secs(3));
            }
        }));
    }
    for i in 0..if on("slow") { 20 } else { 0 } {
        // Slow writers: one byte every 50 ms (half finish within the 2 s line timeout, half not).
        let (socket, inputs) = (socket.clone(), inputs.clone());
        abusers.push(std::thread::spawn(move || {
            while busy_time() {
                let Some(mut s) = raw_connect(&socket) else {
                    continue;
                };
                let pad = if i % 2 == 0 { 0 } else { 40 };
                let req = format!(
                    "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.version\",\"p\":\"{}\"}}\n",
                    "x".repeat(pad)
                );
                for b in req.as_bytes() {
                    if s.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                count(&inputs, "slow writer");
            }
        }));
    }
    for _ in 0..if on("half") { 50 } else { 0 } {
        // Half lines, then silence: dropped by the line timeout (or evicted to make room).
        let (socket, inputs) = (socket.clone(), inputs.clone());
        abusers.push(std::thread::spawn(move || {
            while busy_time() {
                let Some(mut s) = raw_connect(&socket) else {
                    continue;
                };
                let _ = s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"meth");
                let rest = read_one_line(&mut s);
                assert!(rest.is_empty() || rest.contains("-32000"), "{rest}");
                count(&inputs, "half line");
            }
        }));
    }
    for t in 0..if on("utf8") { 4 } else { 0 } {
        // Invalid UTF-8 lines: a -32700 each, the connection stays usable.
        let (socket, inputs) = (socket.clone(), inputs.clone());
        abusers.push(std::thread::spawn(move || {
            let mut s = raw_connect(&socket).unwrap();
            let mut i = 0;
            while busy_time() {
                let mut line: Vec<u8> = (0..64)
                    .map(|k| (0x80 + (i * 7 + k + t) % 0x7f) as u8)
                    .collect();
                line.push(b'\n');
                let _ = s.write_all(&line);
                let answer = read_one_line(&mut s);
                if !answer.contains("-32700") {
                    // Refused or evicted while the server was full: come back.
                    assert!(answer.is_empty() || answer.contains("-32000"), "{answer}");
                    std::thread::sleep(Duration::from_millis(20));
                    s = raw_connect(&socket).unwrap();
                    continue;
                }
                count(&inputs, "invalid UTF-8 line");
                i += 1;
            }
        }));
    }
    for _ in 0..if on("huge") { 4 } else { 0 } {
        // 10 MB lines: an error, then the connection is closed.
        let (socket, inputs) = (socket.clone(), inputs.clone());
        abusers.push(std::thread::spawn(move || {
            let chunk = vec![b'a'; 1 << 20];
            while busy_time() {
                let Some(mut s) = raw_connect(&socket) else {
                    continue;
                };
                for _ in 0..10 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                }
                let answer = read_one_line(&mut s);
                assert!(
                    answer.is_empty() || answer.contains("-32600") || answer.contains("-32000"),
                    "{answer}"
                );
                count(&inputs, "10 MB line");
            }
        }));
    }
    if on("rapid") {
        // Rapid connect/close.
        let (socket, inputs) = (socket.clone(), inputs.clone());
        abusers.push(std::thread::spawn(move || {
            while busy_time() {
                drop(UnixStream::connect(&socket));
                count(&inputs, "connect+close");
            }
        }));
    }
    for a in abusers {
        a.join().unwrap();
    }
    inputs.lock().unwrap().clone()
}

/// 1,000 connections at once, slow writers, half lines, invalid UTF-8, 10 MB lines, rapid
/// connect/close and a subscriber that never reads (while logins publish notifications), then 100k
/// malformed requests: well-behaved clients keep getting answers within 3 s (one immediate retry on
/// the -32000 busy answer allowed), memory does not grow, no descriptor or thread is leaked.
#[test]
fn socket_abuse_keeps_good_clients_served() {
    if emulated("its latency and RSS bounds would measure qemu's translator, not the daemon") {
        return;
    }
    let _g = serial();
    let scale = if long() { 10 } else { 1 };
    let emu = Arc::new(emulator(21_600, None));
    let mut d = daemon_for(&emu, "log_level = \"info\"\n", "line_timeout_secs = 2\n");
    d.start();
    let pid = d.pid();
    let socket = d.socket.clone();
    // Warm-up: registration, a token, the HTTPS pool, a subscriber, each method once.
    d.call("session.create", r#"{"mvpd":"Cablevision"}"#)
        .unwrap();
    let mut sub = d.client();
    sub.call("events.subscribe", None).unwrap();
    drop(sub);
    assert!(wait_until(Duration::from_secs(5), || fds(pid).0 == 1));
    let (fd_unix0, fd_sock0, fd_other0) = fds(pid);
    let threads0 = thread_count(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let good = Arc::new(Mutex::new(GoodStats {
        started: Some(Instant::now()),
        ..Default::default()
    }));
    let mut bg = Vec::new();
    for fresh in [true, false] {
        let (socket, stop, good) = (socket.clone(), stop.clone(), good.clone());
        bg.push(std::thread::spawn(move || {
            good_client(&socket, &stop, fresh, &good)
        }));
    }
    // Notifications: a login flow creating sessions (each new code is an auth.changed).
    let published = Arc::new(AtomicU64::new(0));
    let stop_logins = Arc::new(AtomicBool::new(false));
    let logins = {
        let (socket, stop, published) = (socket.clone(), stop_logins.clone(), published.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if call_at(
                    &socket,
                    Duration::from_secs(10),
                    "session.create",
                    r#"{"mvpd":"Dish"}"#,
                )
                .is_ok()
                {
                    published.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // Subscribers that never read.
    let mut deaf = Vec::new();
    for _ in 0..3 {
        let mut s = raw_connect(&socket).unwrap();
        s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"events.subscribe\"}\n")
            .unwrap();
        deaf.push(s);
    }

    // The abusive app runs as another process for a while; the good clients run throughout.
    let abuse_secs = if long() { 120 } else { 8 };
    let t_start = Instant::now();
    let abuser = target_cmd(std::env::current_exe().unwrap())
        .args([
            "socket_abuser_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ABUSER_ENV, &socket)
        .env("TVAUTH_RELIAB_ABUSE_SECS", abuse_secs.to_string())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&abuser.stdout).into_owned();
    assert!(abuser.status.success(), "abuser process failed: {report}");
    let inputs = report
        .lines()
        .find_map(|l| l.split_once("ABUSE ").map(|(_, r)| r))
        .expect("abuser report")
        .to_owned();
    eprintln!("phase abuse done at {:?}", t_start.elapsed());

    // Malformed requests in rounds of 10k over 4 connections: VmRSS, sampled after each round once the
    // connections are closed, must stay within 2 MiB of the highest of 6 warm-up rounds. (glibc's
    // per-thread arenas make single samples swing by ~2-3 MiB with no trend; a leak of 21 bytes per
    // request would exceed the bound in the short run, of 2 bytes in the long one.)
    // The login flows stop here: their HTTPS calls' buffers would blur the samples. Each sample is
    // the lowest of 5 readings 20 ms apart once the flood's connections are gone.
    stop_logins.store(true, Ordering::SeqCst);
    logins.join().unwrap();
    let rss_at_rest = |pid| {
        // Each connection is 3 descriptors (reader, writer, the table's handle); at most the 3 deaf
        // subscribers and 2 good clients stay open.
        assert!(
            wait_until(Duration::from_secs(10), || fds(pid).0 <= fd_unix0 + 3 * 5),
            "unix fds {:?} (baseline {fd_unix0}), threads {}",
            fds(pid),
            thread_count(pid)
        );
        (0..5)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(20));
                rss_kb(pid)
            })
            .min()
            .unwrap()
    };
    let mut rss_warm = 0;
    for r in 0..6 {
        assert_eq!(flood_malformed(&socket, 4, 10_000, r * 10_000), 10_000);
        rss_warm = rss_warm.max(rss_at_rest(pid));
    }
    let rounds = 10 * scale;
    let mut rss_max = 0;
    let mut rss_last = 0;
    let mut rss_series = Vec::new();
    for r in 0..rounds {
        assert_eq!(
            flood_malformed(&socket, 4, 10_000, (6 + r) * 10_000),
            10_000
        );
        rss_last = rss_at_rest(pid);
        rss_max = rss_max.max(rss_last);
        rss_series.push(rss_last);
    }
    let total = rounds * 10_000;
    eprintln!("phase malformed done at {:?}", t_start.elapsed());

    stop.store(true, Ordering::SeqCst);
    for t in bg {
        t.join().unwrap();
    }
    // The deaf subscribers: still open (dropped only once their queue overflows).
    let mut deaf_dropped = 0;
    for s in &mut deaf {
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    deaf_dropped += 1;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    drop(deaf);

    // No descriptor or thread left behind.
    let settled = wait_until(Duration::from_secs(15), || {
        let (u, _, o) = fds(pid);
        u <= fd_unix0 && o <= fd_other0 && thread_count(pid) <= threads0
    });
    let (fd_unix1, fd_sock1, fd_other1) = fds(pid);
    let threads1 = thread_count(pid);
    assert!(
        settled,
        "fds unix {fd_unix0}->{fd_unix1}, other {fd_other0}->{fd_other1}, threads {threads0}->{threads1}"
    );
    assert!(
        fd_sock1 <= fd_sock0 + 4,
        "HTTPS sockets {fd_sock0}->{fd_sock1}"
    );
    let g = good.lock().unwrap();
    assert!(g.failures.is_empty(), "good clients: {:?}", g.failures);
    assert!(g.calls > 20, "good clients made {} calls", g.calls);
    // A leak grows with the requests: bounded over the warm-up peak, 4 MiB catches one of 42 bytes
    // per malformed request in the short run (100k) and of 4 bytes in the long one (1M). Nothing
    // finer: readings swing by up to 6 MiB with no trend (glibc returning or keeping freed heap). A
    // check that the lowest reading did not rise from the first half of the rounds to the second
    // failed on 2026-12-02 with no growth at all (max never above the warm-up peak): one early
    // reading of 12.4 MiB, then nothing under 14.0 ([18652, 18652, 12380, 14708, 16272, 15900,
    // 16288, 14064, 14004, 17448] KiB, the machine running a CI job besides).
    let grew = rss_max.saturating_sub(rss_warm);
    assert!(
        grew <= 4096,
        "VmRSS grew {grew} KiB over {total} malformed requests (warm-up max {rss_warm} KiB, then {rss_series:?})"
    );
    assert_eq!(d.stop(), Some(0));
    eprintln!(
        "FIGURES socket_abuse: abuse_secs={abuse_secs} abuser_inputs={inputs} malformed_requests={} (+60000 warm-up) \
         notifications_published={} deaf_subscribers_dropped={deaf_dropped}/3 good_calls={} \
         good_busy_retries={} good_max_ms={} rss_kb_warm_max={rss_warm} rss_kb_max={rss_max} \
         rss_kb_last={rss_last} fds_unix={fd_unix0}->{fd_unix1} fds_other={fd_other0}->{fd_other1} \
         fds_https={fd_sock0}->{fd_sock1} threads={threads0}->{threads1}",
        total,
        published.load(Ordering::Relaxed),
        g.calls,
        g.busy_retries,
        g.max_ms
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Network chaos soak

/// Socket calls of the chaos soak: counts, errors by code, the slowest answer, and anything that
/// was not an answer in time.
#[derive(Default)]
struct Calls {
    n: u64,
    errors: BTreeMap<i64, u64>,
    max_ms: u128,
    bad: Vec<String>,
}

/// One timed call; a JSON-RPC error is an answer, anything else (no answer, closed, garbage) or an
/// answer later than `limit` is recorded as bad.
fn timed(
    socket: &Path,
    limit: Duration,
    calls: &Mutex<Calls>,
    method: &str,
    p: &str,
) -> Result<Value, i64> {
    let t0 = Instant::now();
    let r = call_at(socket, limit + Duration::from_secs(10), method, p);
    let ms = t0.elapsed().as_millis();
    let mut c = calls.lock().unwrap();
    c.n += 1;
    c.max_ms = c.max_ms.max(ms);
    if ms > limit.as_millis() {
        c.bad.push(format!("{method} {p}: answered after {ms} ms"));
    }
    match r {
        Ok(v) => Ok(v),
        Err(ClientError::Rpc(e)) => {
            *c.errors.entry(e.code).or_default() += 1;
            if e.message.is_empty() || !(-32004..=-32001).contains(&e.code) && e.code != -32602 {
                c.bad.push(format!(
                    "{method} {p}: unclear error {} {:?}",
                    e.code, e.message
                ));
            }
            Err(e.code)
        }
        Err(e) => {
            c.bad
                .push(format!("{method} {p}: no answer: {e} after {ms} ms"));
            Err(0)
        }
    }
}

/// Login flows until `until`: create a session, complete it on the "second screen", wait for the
/// agent to find the profile, log out. Each flow must end authenticated, unauthenticated or with a
/// clear error; a flow still pending 60 s after its code was completed is stuck.
fn chaos_flows(
    socket: &Path,
    emu: &Emulator,
    until: Instant,
    limit: Duration,
    calls: &Mutex<Calls>,
    (outcomes, stuck): (&Mutex<BTreeMap<String, u64>>, &Mutex<Vec<String>>),
    rng: &mut Rng,
) {
    let outcome = |k: String| *outcomes.lock().unwrap().entry(k).or_default() += 1;
    while Instant::now() < until {
        let state = timed(socket, limit, calls, "auth.status", "")
            .map(|v| s(&v, "state"))
            .unwrap_or_default();
        if state == "authenticated" {
            let _ = timed(
                socket,
                limit,
                calls,
                "decision.authorize",
                r#"{"resources":["REF30-movie"]}"#,
            );
            match timed(socket, limit, calls, "auth.logout", "") {
                Ok(_) => outcome("logout: ok".into()),
                Err(code) => outcome(format!("logout: error {code}")),
            }
            continue;
        }
        let mvpd = ["Cablevision", "Dish", "TempPass_TEST40"][rng.range(0, 3) as usize];
        let session = match timed(
            socket,
            limit,
            calls,
            "session.create",
            &format!("{{\"mvpd\":\"{mvpd}\"}}"),
        ) {
            Ok(v) => v,
            Err(code) => {
                outcome(format!("login: error {code}"));
                continue;
            }
        };
        let action = s(&session, "actionName");
        if action == "authorize" {
            // Entitled at once (TempPass): authenticated if the profile could be fetched.
            let st = timed(socket, limit, calls, "auth.status", "").map(|v| s(&v, "state"));
            outcome(format!(
                "login (authorize): {}",
                st.unwrap_or_else(|c| format!("error {c}"))
            ));
            continue;
        }
        let code = s(&session, "code");
        if !emu.complete_code(&code, mvpd) {
            outcome("login: code unknown upstream".into());
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let end = loop {
            match timed(socket, limit, calls, "auth.status", "") {
                Ok(v)
                    if ["authenticated", "unauthenticated"].contains(&s(&v, "state").as_str()) =>
                {
                    break s(&v, "state");
                }
                Ok(v) if Instant::now() > deadline => {
                    // Stuck is "the API has the profile, the agent still says pending". A logout
                    // the agent gave up on (stalled past timeout_secs) can still be carried out
                    // upstream later and remove the profile this login just created: then the
                    // code honestly reads "not completed" until it expires.
                    if upstream_has_profile(socket, mvpd) {
                        stuck
                            .lock()
                            .unwrap()
                            .push(format!("code {code} ({mvpd}): {}", json::to_string(&v)));
                        break "STUCK pending".to_owned();
                    }
                    break "pending: profile removed upstream by a late logout".to_owned();
                }
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        };
        outcome(format!("login: {end}"));
    }
}

/// Whether the API (not the agent's cache) has a profile for `mvpd`, asked until chaos lets an
/// answer through.
fn upstream_has_profile(socket: &Path, mvpd: &str) -> bool {
    for _ in 0..50 {
        let p = format!("{{\"mvpd\":\"{mvpd}\",\"refresh\":true}}");
        if let Ok(v) = call_at(socket, Duration::from_secs(20), "profile.get", &p) {
            return has(get(&v, "profiles"), mvpd);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true // never answered: count it as stuck
}

/// The emulator in chaos mode (random 5xx, 401, truncated and cut bodies, resets, stalls shorter
/// and longer than `timeout_secs`, 429s, plus 429 bursts) while two daemons run login flows and
/// other clients read: no crash, no stuck flow, every socket call answered within
/// `timeout_secs` + 2 s, RSS flat.
#[test]
fn network_chaos_soak() {
    if emulated("its RSS and latency bounds would measure qemu's translator, not the daemon") {
        return;
    }
    let _g = serial();
    let secs = if long() { 600 } else { 30 };
    let mut rng = Rng::seeded("network_chaos_soak");
    let mut kinds = FaultKind::chaos_defaults();
    kinds.push(FaultKind::Stall { ms: 1_500 });
    kinds.push(FaultKind::Stall { ms: 7_000 });
    let emu = Arc::new(emulator(
        21_600,
        Some(Chaos {
            seed: rng.next(),
            probability: 0.2,
            kinds,
        }),
    ));
    // timeout_secs = 5 (common config): every call must be answered within 7 s.
    let limit = Duration::from_secs(5 + 2);
    let mut daemons: Vec<Daemon> = (0..2)
        .map(|_| daemon_for(&emu, "log_level = \"info\"\n", ""))
        .collect();
    for d in &mut daemons {
        d.start();
    }
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(secs);
    let calls = Arc::new(Mutex::new(Calls::default()));
    let outcomes = Arc::new(Mutex::new(BTreeMap::new()));
    let stuck = Arc::new(Mutex::new(Vec::new()));
    let notifications = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for d in &daemons {
        let socket = d.socket.clone();
        {
            let (socket, emu, calls, outcomes, stuck) = (
                socket.clone(),
                emu.clone(),
                calls.clone(),
                outcomes.clone(),
                stuck.clone(),
            );
            let mut rng = rng.fork();
            threads.push(std::thread::spawn(move || {
                chaos_flows(
                    &socket,
                    &emu,
                    until,
                    limit,
                    &calls,
                    (&outcomes, &stuck),
                    &mut rng,
                )
            }));
        }
        {
            // A player/UI reading state and asking for decisions meanwhile.
            let (socket, calls) = (socket.clone(), calls.clone());
            threads.push(std::thread::spawn(move || {
                let reads = [
                    ("auth.status", ""),
                    ("profile.get", r#"{"refresh":true}"#),
                    ("providers.list", ""),
                    (
                        "decision.preauthorize",
                        r#"{"resources":["a","b"],"mvpd":"Cablevision"}"#,
                    ),
                    ("session.get", r#"{"code":"NOPE000"}"#),
                ];
                let mut i = 0;
                while Instant::now() < until {
                    let (m, p) = reads[i % reads.len()];
                    let _ = timed(&socket, limit, &calls, m, p);
                    i += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }));
        }
        {
            // A subscriber that reads.
            let (socket, n) = (socket.clone(), notifications.clone());
            threads.push(std::thread::spawn(move || {
                let mut c = connect(&socket, Duration::from_secs(5)).unwrap();
                c.call("events.subscribe", None).unwrap();
                c.set_timeout(Some(Duration::from_millis(500))).unwrap();
                while Instant::now() < until {
                    if c.next_notification().is_ok() {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    // 429 bursts every 5 s; RSS sampled every second.
    let pids: Vec<u32> = daemons.iter().map(Daemon::pid).collect();
    let mut bursts = 0;
    let mut samples: Vec<(Duration, Vec<u64>)> = Vec::new();
    while Instant::now() < until {
        std::thread::sleep(Duration::from_secs(1));
        samples.push((t0.elapsed(), pids.iter().map(|&p| rss_kb(p)).collect()));
        if samples.len() % 5 == 0 {
            emu.inject(Fault::on(
                "/api/v2/",
                FaultKind::TooManyRequests {
                    retry_after_secs: Some(1),
                },
                8,
            ));
            bursts += 1;
        }
        for d in &mut daemons {
            let alive = d.child.as_mut().unwrap().try_wait().unwrap().is_none();
            assert!(alive, "daemon died\n{}", d.log_text());
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    emu.set_chaos(None);
    let st = emu.stats();
    // RSS flat: the last quarter's peak within 2 MiB of the peak after warm-up (5 s to a quarter of
    // the run, at least to 15 s).
    let quarter = Duration::from_secs(secs / 4);
    let mut rss_figs = Vec::new();
    for (k, d) in daemons.iter().enumerate() {
        let warm = samples
            .iter()
            .filter(|(t, _)| {
                *t >= Duration::from_secs(5) && *t <= quarter.max(Duration::from_secs(15))
            })
            .map(|(_, r)| r[k])
            .max()
            .unwrap();
        let late = samples
            .iter()
            .filter(|(t, _)| *t >= Duration::from_secs(secs) - quarter)
            .map(|(_, r)| r[k])
            .max()
            .unwrap();
        assert!(
            late <= warm + 2048,
            "daemon {k}: RSS {warm} KiB after warm-up, {late} KiB at the end\n{}",
            d.log_text()
        );
        rss_figs.push(format!("{warm}->{late}"));
    }
    let c = calls.lock().unwrap();
    let o = outcomes.lock().unwrap();
    assert!(c.bad.is_empty(), "{:#?}", c.bad);
    for what in stuck.lock().unwrap().iter() {
        let code = what.split_whitespace().nth(1).unwrap_or("?");
        for d in &daemons {
            let log = d.log_text();
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(code)).collect();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "STUCK {what}\nlines with the code:\n{}\nlog tail (newest first):\n{}",
                lines.join("\n"),
                tail.join("\n")
            );
        }
    }
    assert!(!o.keys().any(|k| k.contains("STUCK")), "{o:?}");
    assert!(
        o.keys().any(|k| k == "login: authenticated"),
        "no login succeeded: {o:?}"
    );
    for d in &mut daemons {
        assert_eq!(d.stop(), Some(0), "{}", d.log_text());
    }
    eprintln!(
        "FIGURES network_chaos: secs={secs} daemons=2 socket_calls={} max_call_ms={} (limit {}) \
         errors_by_code={:?} flows={o:?} notifications={} api_requests={} faults_injected={} \
         throttled_429={} bursts_429={bursts} registrations={} rss_kb={rss_figs:?}",
        c.n,
        c.max_ms,
        limit.as_millis(),
        c.errors,
        notifications.load(Ordering::Relaxed),
        st.requests,
        st.faults,
        st.throttled,
        st.registrations,
    );
}

/// Regression (found by reading the chaos soak's slowest calls): a socket call that makes several
/// API calls (session answer `authorize` → profile fetch; auto-resumes) gave each its own
/// `timeout_secs`, so it could take twice as long or more. Now one socket call has one deadline.
#[test]
fn a_socket_call_has_one_deadline() {
    let emu = emulator(21_600, None);
    let mut d = daemon_for(&emu, "log_level = \"info\"\n", "");
    d.start();
    d.call("providers.list", "").unwrap(); // register + token outside the measured call
    // TempPass answers `authorize`, after which the agent fetches the profile: 4 s + a stall past
    // the 5 s timeout used to answer after ~9 s.
    emu.inject(Fault::on(
        "/api/v2/REF30/sessions",
        FaultKind::Stall { ms: 4_000 },
        1,
    ));
    emu.inject(Fault::on(
        "/api/v2/REF30/profiles",
        FaultKind::Stall { ms: 8_000 },
        1,
    ));
    let t0 = Instant::now();
    let r = call_at(
        &d.socket,
        Duration::from_secs(30),
        "session.create",
        r#"{"mvpd":"TempPass_TEST40"}"#,
    );
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(5 + 2),
        "answered after {took:?}: {:?}",
        r.map(|v| json::to_string(&v))
    );
    // The session answer is still returned; the profile just could not be fetched in time.
    assert_eq!(s(&r.unwrap(), "actionName"), "authorize");
}

// ---------------------------------------------------------------------------------------------
// 4. Secrets and access

const STATEMENT: &str = "eyJ0ZXN0Ijoic3RhdGVtZW50In0.c2lnbmVk.dGVzdA"; // tests/common's config

/// Every secret the emulator saw: the software statement, each client secret, each access token
/// (and its random signature part, in case a log printed a token cut short).
fn secrets_seen(emu: &Emulator) -> Vec<String> {
    let mut out = vec![STATEMENT.to_owned()];
    for r in emu.requests() {
        if r.path == "/o/client/token" {
            out.extend(
                r.form()
                    .into_iter()
                    .filter(|(k, _)| k == "client_secret")
                    .map(|(_, v)| v),
            );
        }
        if let Some(token) = r
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
        {
            out.push(token.to_owned());
            if let Some(sig) = token.rsplit('.').next() {
                out.push(sig.to_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// At `log_level = "trace"`, over registration, token mints and refreshes (3 s tokens, a revoked
/// token, a registration the API rejects), a second-screen login, decisions, failing calls and a
/// logout, no secret appears in the daemon's stderr, in a socket answer or in `config check`.
#[test]
fn trace_logs_hold_no_secret() {
    let emu = emulator(3, None);
    let mut d = daemon_for(&emu, "log_level = \"trace\"\n", "");
    d.start();
    let mut answers = Vec::new();
    let mut keep = |r: Result<Value, ClientError>| match r {
        Ok(v) => answers.push(json::to_string(&v)),
        Err(e) => answers.push(e.to_string()),
    };
    keep(d.call("providers.list", ""));
    let session = d
        .call("session.create", r#"{"mvpd":"Cablevision"}"#)
        .unwrap();
    assert!(emu.complete_code(&s(&session, "code"), "Cablevision"));
    keep(Ok(session));
    assert!(wait_until(Duration::from_secs(20), || s(
        &d.call("auth.status", "").unwrap(),
        "state"
    ) == "authenticated"));
    keep(d.call("decision.authorize", r#"{"resources":["REF30-movie"]}"#));
    // Token refreshes: 3 s tokens are replaced ahead of expiry.
    assert!(wait_until(Duration::from_secs(30), || {
        let _ = d.call("profile.get", r#"{"refresh":true}"#);
        emu.stats().token_mints >= 4
    }));
    // A revoked token (401 → new token), broken token answers, a rejected registration.
    emu.revoke_tokens();
    keep(d.call("profile.get", r#"{"refresh":true}"#));
    emu.inject(Fault::on("/o/client/token", FaultKind::TruncatedJson, 1));
    emu.revoke_tokens();
    keep(d.call("profile.get", r#"{"refresh":true}"#));
    keep(d.call("profile.get", r#"{"refresh":true}"#));
    emu.invalidate_client();
    keep(d.call("profile.get", r#"{"refresh":true}"#));
    keep(d.call("session.get", r#"{"code":"NOPE000"}"#));
    keep(d.call("auth.logout", ""));
    assert!(
        emu.stats().registrations >= 2,
        "the re-registration path ran"
    );
    let out = d.cli(&["config", "check"]);
    answers.push(String::from_utf8_lossy(&out.stdout).into_owned());
    assert_eq!(d.stop(), Some(0));

    let log = d.log_text();
    assert!(log.contains("[DEBUG]"), "trace level was on:\n{log}");
    assert!(log.contains("dcr: registered"), "{log}");
    // The state files hold the real values too: they must be among what we look for.
    let mut secrets = secrets_seen(&emu);
    for (file, key) in [("client", "client_secret"), ("token", "access_token")] {
        if let Some(v) = state_field(&d.state, file, key) {
            assert!(secrets.contains(&v), "{file}.{key} not seen upstream");
        }
    }
    secrets.retain(|s| s.len() >= 16);
    let tokens = emu
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert!(secrets.len() >= 8, "{secrets:?}");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "secret in the log: {secret}"
        );
        for a in &answers {
            assert!(!a.contains(secret.as_str()), "secret in an answer: {a}");
        }
    }
    eprintln!(
        "FIGURES secrets: log_lines={} log_bytes={} secrets_checked={} (the statement, every client \
         secret, {tokens} access tokens and their signature parts) registrations={} token_mints={} leaks=0",
        log.lines().count(),
        log.len(),
        secrets.len(),
        emu.stats().registrations,
        emu.stats().token_mints
    );
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// `tvauth call agent.version` as another user; (exit code, stdout + stderr).
fn call_as(socket: &Path, uid: u32, gid: u32) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt;
    let out = tvauth_cmd()
        .args(["call", "agent.version", "--socket"])
        .arg(socket)
        .env("TVAUTH_CONFIG", "/nonexistent-so-defaults")
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// State dir 0700, every state file 0600 (credentials and tokens included), the socket's mode as
/// configured, and the peer checks (uid or gid listed; changed by SIGHUP) enforced for real
/// processes of other users.
#[test]
fn files_are_private_and_peers_are_checked() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run clients under other uids");
        return;
    }
    let emu = emulator(21_600, None);
    let mut d = daemon_for(
        &emu,
        "log_level = \"info\"\n",
        "allowed_uids = [0]\nallowed_gids = [4242]\n",
    );
    let cfg = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, cfg.replace("mode = 0o600", "mode = 0o666")).unwrap();
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d.start();
    std::fs::set_permissions(
        d.socket.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let session = d
        .call("session.create", r#"{"mvpd":"Cablevision"}"#)
        .unwrap();
    assert!(emu.complete_code(&s(&session, "code"), "Cablevision"));
    assert!(wait_until(Duration::from_secs(20), || s(
        &d.call("auth.status", "").unwrap(),
        "state"
    ) == "authenticated"));
    d.call("session.create", r#"{"mvpd":"Dish"}"#).unwrap(); // a pending code too

    assert_eq!(mode_of(&d.state), 0o700, "state dir");
    let mut files = Vec::new();
    for e in std::fs::read_dir(&d.state).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue; // a temp file renamed meanwhile
        };
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        files.push(name);
    }
    files.sort();
    for f in ["client", "identity", "pending", "profile", "token"] {
        assert!(files.iter().any(|n| n == f), "{f} in {files:?}");
    }
    assert_eq!(mode_of(&d.socket), 0o666, "socket mode as configured");

    // Peer checks: uid listed (root), gid listed (4242), neither (65534:65534).
    let (code, out) = call_as(&d.socket, 65534, 65534);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("-32005"), "{out}");
    let (code, out) = call_as(&d.socket, 65534, 4242);
    assert_eq!(code, Some(0), "allowed by gid: {out}");
    assert_eq!(
        s(&d.call("agent.version", "").unwrap(), "version"),
        env!("CARGO_PKG_VERSION")
    );
    // SIGHUP with the gid removed: that peer is refused from then on.
    let cfg = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        cfg.replace("allowed_gids = [4242]", "allowed_gids = []"),
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    // (Reload ends with READY=1: consume it so the restart below waits for its own.)
    assert!(d.wait_notify("READY=1", Duration::from_secs(10)));
    assert!(wait_until(Duration::from_secs(10), || d
        .log_text()
        .contains("configuration reloaded")));
    let (code, out) = call_as(&d.socket, 65534, 4242);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("-32005"), "{out}");

    // Socket mode 0660 (owner root): the kernel refuses other users before any peer check.
    assert_eq!(d.stop(), Some(0));
    let cfg = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        cfg.replace("mode = 0o666", "mode = 0o660")
            .replace("allowed_uids = [0]\n", ""),
    )
    .unwrap();
    d.start();
    assert_eq!(mode_of(&d.socket), 0o660);
    let (code, out) = call_as(&d.socket, 65534, 65534);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.to_lowercase().contains("permission denied"), "{out}");
    let refused = d.log_text().matches("refusing peer").count();
    eprintln!(
        "FIGURES access: state_files={} all_0600=yes state_dir=0700 socket_modes=0666,0660 \
         peer_refusals_logged={refused} refused_by_mode=1 allowed_by_uid=yes allowed_by_gid=yes",
        files.len()
    );
}

/// The clock-before-build hint on the real binary: the daemon runs under `faketime` at 1971 (before
/// this build and before the emulator certificate's notBefore); an API call fails with -32002 and a
/// reason that blames the clock.
#[test]
fn clock_before_build_is_blamed_on_the_clock() {
    if emulated(
        "faketime cannot wrap a foreign-architecture binary (the clock hint is unit-tested with an injected clock)",
    ) {
        return;
    }
    if Command::new("faketime").arg("--version").output().is_err() {
        eprintln!("skipped: faketime not installed (apt-get install faketime)");
        return;
    }
    let emu = emulator(21_600, None);
    let mut d = daemon_for(&emu, "log_level = \"info\"\n", "");
    d.runner = vec!["faketime".into(), "1971-01-01 00:00:00".into()];
    // Only the wall clock: timeouts and the limiter use the monotonic clock.
    d.env
        .push(("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()));
    d.start();
    let e = match d.call("providers.list", "").unwrap_err() {
        ClientError::Rpc(e) => e,
        other => panic!("{other}"),
    };
    assert_eq!(e.code, -32002, "{}", e.message);
    let reason = s(e.data.as_ref().unwrap(), "reason");
    assert!(
        reason.contains("system clock is before this build (clock says 1971-01-01"),
        "{reason}"
    );
    assert!(reason.contains("set the time"), "{reason}");
    // Local methods still work.
    d.call("device.identifier", "").unwrap();
    eprintln!("FIGURES clock: faketime=1971-01-01 code=-32002 reason={reason:?}");
}

/// Regression (found by the socket-abuse test: `auth.status` took over 1 s while logins ran): the
/// state files were written — two fsyncs each — while holding the state lock, so every status call
/// waited for the disk. On a box's flash an fsync can take hundreds of ms. Here `strace` makes each
/// fsync of the daemon take 300 ms while logins run: `auth.status` must still answer at once.
#[test]
fn status_answers_while_the_disk_is_slow() {
    if emulated("strace cannot wrap a foreign-architecture binary") {
        return;
    }
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("skipped: strace not installed");
        return;
    }
    let emu = emulator(21_600, None);
    let mut d = daemon_for(&emu, "log_level = \"info\"\n", "");
    d.runner = [
        "strace",
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "--seccomp-bpf",
        "-e",
        "trace=fsync",
    ]
    .into_iter()
    .chain(["-e", "inject=fsync:delay_exit=300000"])
    .map(str::to_owned)
    .collect();
    d.start();
    d.call("providers.list", "").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let logins = {
        let (socket, stop) = (d.socket.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                call_at(
                    &socket,
                    Duration::from_secs(30),
                    "session.create",
                    r#"{"mvpd":"Dish"}"#,
                )
                .unwrap();
                n += 1;
            }
            n
        })
    };
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let t0 = Instant::now();
        d.call("auth.status", "").unwrap();
        slowest = slowest.max(t0.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let n = logins.join().unwrap();
    assert!(n >= 2, "logins ran meanwhile ({n})");
    assert!(
        slowest < Duration::from_millis(250),
        "auth.status took {slowest:?} while state files were written"
    );
}

/// Regression (found by the socket-abuse test): one process could take every connection slot —
/// with answered-but-open connections (protected for 1 s) or with connections that never send a
/// whole line — and lock every other app out. Now a peer process holds at most half the slots, and
/// a connection without a whole line after 100 ms is the first to make room.
#[test]
fn one_app_cannot_lock_the_others_out() {
    let mut d = Daemon::prepare(
        None,
        DaemonOpts {
            socket_extra: "max_connections = 4\n".into(),
            top: "log_level = \"info\"\n".into(),
            ..Default::default()
        },
    );
    d.start();
    let other_app = |d: &Daemon| {
        let out = d.cli(&["call", "agent.version"]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Four connections that each got an answer and stay open (idle < 1 s): only two are ours.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..4 {
        let mut c = d.client();
        match c.call("agent.version", None) {
            Ok(_) => held.push(c),
            Err(e) if rpc_code(&e) == Some(-32000) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((held.len(), refused), (2, 2));
    let (code, err) = other_app(&d);
    assert_eq!(code, Some(0), "another app is served: {err}");
    drop(held);
    // Connections that never send a whole line (beyond our two slots they are refused at once):
    // after 100 ms they make room, even for their own process at its limit.
    let silent: Vec<_> = (0..4).map(|_| d.raw()).collect();
    let half: Vec<_> = (0..2)
        .map(|_| {
            let mut s = d.raw();
            let _ = s.write_all(b"{\"jsonrpc\":"); // refused ones: EPIPE
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let (code, err) = other_app(&d);
    assert_eq!(code, Some(0), "{err}");
    let v = d.call("agent.version", "").unwrap(); // evicts one of our silent connections
    assert_eq!(s(&v, "version"), env!("CARGO_PKG_VERSION"));
    drop((silent, half));
}

/// The power-cut half of crash safety, which no SIGKILL can show: the syscalls of real writes (the
/// writer child under `strace`) are, for every write, temp file created 0600 → data fsynced →
/// renamed over the target → directory fsynced, before the next write starts. After a power cut
/// the target therefore holds the old or the new content, and the rename itself is durable.
#[test]
fn atomic_write_syscalls_are_power_cut_safe() {
    if emulated("strace cannot wrap a foreign-architecture binary") {
        return;
    }
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("skipped: strace not installed");
        return;
    }
    let dir = TempDir::new("strace-writer");
    let state = dir.path().join("state");
    let trace = dir.path().join("trace.txt");
    let mut child = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=openat,fsync,fdatasync,rename,renameat,renameat2",
        ])
        .arg("-o")
        .arg(&trace)
        .arg(std::env::current_exe().unwrap())
        .args([
            "atomic_write_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_ENV, &state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&trace).is_ok_and(|t| t.matches("rename").count() >= 6)
    }));
    let text = std::fs::read_to_string(&trace).unwrap();
    // Kill the writer itself (its pid is in its temp file names), then strace: killing strace alone
    // can leave the traced writer running.
    let writer_pid = text.lines().find_map(|l| {
        l.split(".tmp.")
            .nth(1)?
            .split('.')
            .next()?
            .parse::<i32>()
            .ok()
    });
    if let Some(pid) = writer_pid {
        // SAFETY: kill(2) with the pid of the child we started (through strace).
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let dir_s = state.to_string_lossy().into_owned();
    // (tmp fd, tmp fsynced, renamed, dir fd, dir fsynced)
    let mut tmp_fd: Option<String> = None;
    let (mut tmp_synced, mut renamed, mut dir_fd) = (false, false, None::<String>);
    let mut complete = 0;
    let mut violations = Vec::new();
    let ret = |l: &str| l.rsplit("= ").next().unwrap_or("").trim().to_owned();
    for l in text.lines() {
        if l.contains("openat(") && l.contains(".tmp.") && l.contains(&dir_s) {
            if tmp_fd.is_some() && !(renamed && dir_fd.is_some() && tmp_synced) {
                violations.push(format!("new write before the last one was durable: {l}"));
            }
            if !l.contains("O_CREAT") || !l.contains("0600") {
                violations.push(format!("temp file not created 0600: {l}"));
            }
            tmp_fd = Some(ret(l));
            (tmp_synced, renamed, dir_fd) = (false, false, None);
        } else if l.contains("fsync(") || l.contains("fdatasync(") {
            let fd = l
                .split('(')
                .nth(1)
                .and_then(|r| r.split(')').next())
                .unwrap_or("");
            if tmp_fd.as_deref() == Some(fd) && !renamed {
                tmp_synced = true;
            } else if renamed && dir_fd.as_deref() == Some(fd) {
                complete += 1;
                tmp_fd = None;
            }
        } else if l.contains("rename") && l.contains(".tmp.") && l.contains(&dir_s) {
            if !tmp_synced {
                violations.push(format!("renamed before the data was fsynced: {l}"));
            }
            renamed = true;
        } else if renamed && l.contains("openat(") && l.contains(&format!("\"{dir_s}\"")) {
            dir_fd = Some(ret(l));
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(
        complete >= 5,
        "only {complete} complete writes traced:\n{text}"
    );
    eprintln!("FIGURES syscall_order: writes_traced={complete} violations=0");
}

/// Under cross testing (`TVAUTH_TEST_RUNNER=qemu-…`) the host-level measurements of a few tests
/// (syscall traces, wrappers, RSS, latency) would measure the emulator, not the daemon: those tests
/// say so and skip; every functional test still runs on the target architecture.
fn emulated(why: &str) -> bool {
    match std::env::var("TVAUTH_TEST_RUNNER") {
        Ok(runner) if !runner.is_empty() => {
            eprintln!("skipped under {runner}: {why}");
            true
        }
        _ => false,
    }
}
