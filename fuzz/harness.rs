//! One function per fuzz target: raw bytes in, the product code run as production runs it, a panic when
//! an invariant breaks. Shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) and the proptest
//! mirror (`tests/props.rs`), so both check exactly the same things.
//!
//! Stack sizes are the production ones: socket calls (and the upstream calls and answer parsing they
//! trigger) run on connection threads of 256 KiB, a SIGHUP reload parses the configuration on the
//! 64 KiB signal thread. A recursion that fits the fuzzer's 8 MiB main stack but not those is a crash.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use miniserde::json::{self, Number, Object, Value};

use tvauth::agent::{Agent, rpc_error};
use tvauth::config::{Config, HARDWARE_TYPES, OS_FAMILIES, OS_NAMES, OS_VENDORS};
use tvauth::device::facts::{MAX_VALUE_CHARS, sanitize};
use tvauth::device::{DeviceInfo, Facts, Identity};
use tvauth::ipc::peer::Peer;
use tvauth::ipc::protocol::{self, Incoming, Params, RpcError};
use tvauth::ipc::server::Handler;
use tvauth::pass::dcr::parse_json;
use tvauth::pass::error::{errors_from_body, item_errors};
use tvauth::pass::{
    Configuration, Decisions, EnhancedError, Logouts, PassError, Profiles, Session, SessionInfo,
};
use tvauth::store::Store;

/// Debug and sanitizer builds need several times the stack of the optimised release binary for the
/// same recursion: ASan made toml's bounded 80-level recursion overflow 64 KiB, while the release
/// daemon survives any nesting on that thread (checked with SIGHUP, see README). The including crate
/// says by how much its build inflates frames (`STACK_FACTOR`: the fuzz targets, ASan + optimised;
/// tests/props.rs, unoptimised), so only recursion that grows with the input (like the `Value::clone`
/// one, which aborted the release daemon) is reported.
const BUILD_FACTOR: usize = super::STACK_FACTOR;
/// `ipc::server::THREAD_STACK`: connection threads (socket calls, upstream answers) and the poller.
pub const CONN_STACK: usize = 256 * 1024 * BUILD_FACTOR;
/// `daemon.rs` signal thread: SIGHUP re-reads and parses the configuration there.
pub const SIGNAL_STACK: usize = 64 * 1024 * BUILD_FACTOR;

type Job = (fn(&[u8]), Vec<u8>);

/// A long-lived thread with a given stack size that runs one job at a time (spawning a thread per
/// input costs more than most targets do).
struct Worker {
    stack: usize,
    jobs: Sender<Job>,
    done: Receiver<()>,
}

fn spawn_worker(stack: usize) -> Worker {
    let (jobs, job_rx) = channel::<Job>();
    let (done_tx, done) = channel();
    std::thread::Builder::new()
        .name(format!("harness-{}k", stack / 1024))
        .stack_size(stack)
        .spawn(move || {
            for (f, data) in job_rx {
                f(&data);
                if done_tx.send(()).is_err() {
                    return;
                }
            }
        })
        .expect("spawn harness thread");
    Worker { stack, jobs, done }
}

/// Run `f(data)` on a thread with `stack` bytes of stack and wait for it. A panic there (its message
/// is printed by the panic hook; under libFuzzer the hook aborts) is re-raised here.
pub fn on_stack(stack: usize, f: fn(&[u8]), data: &[u8]) {
    static WORKERS: Mutex<Vec<Worker>> = Mutex::new(Vec::new());
    let mut workers = WORKERS.lock().unwrap_or_else(|p| p.into_inner());
    let i = match workers.iter().position(|w| w.stack == stack) {
        Some(i) => i,
        None => {
            workers.push(spawn_worker(stack));
            workers.len() - 1
        }
    };
    let w = &workers[i];
    if w.jobs.send((f, data.to_vec())).is_ok() && w.done.recv().is_ok() {
        return;
    }
    // The job panicked and took the worker with it; the next call starts a new one.
    workers.remove(i);
    drop(workers);
    panic!("fuzz target panicked on its {} KiB thread", stack / 1024);
}

// ------------------------------------------------------------------------------------------ helpers

/// A socket answer line must be exactly one line of JSON that parses back to an object.
fn check_line(line: &str) -> Object {
    assert!(line.ends_with('\n'), "answer not newline-terminated");
    let body = &line[..line.len() - 1];
    assert!(!body.contains('\n'), "answer spans lines: {body:?}");
    match json::from_str::<Value>(body) {
        Ok(Value::Object(o)) => o,
        _ => panic!("answer is not a JSON object: {body:?}"),
    }
}

fn check_failure(id: Value, e: &RpcError) {
    assert!(!e.message.is_empty(), "empty error message");
    let o = check_line(&protocol::failure(id, e));
    assert!(matches!(o.get("error"), Some(Value::Object(_))));
}

fn check_success(id: Value, v: Value) {
    let o = check_line(&protocol::success(id, v));
    assert!(o.contains_key("result"));
}

/// Our output is valid JSON: re-encoded and parsed again it is the same value. Floats only within
/// rounding: miniserde's float parsing is not exact in the last digit (`2.9999999999999993e47` comes
/// back as `…97e47`), harmless for values passed through.
fn roundtrip(v: &Value) -> String {
    let text = json::to_string(v);
    let back: Value = json::from_str(&text).unwrap_or_else(|_| panic!("not valid JSON: {text}"));
    assert!(same_json(v, &back), "changed by a round trip: {text}");
    text
}

/// Structural equality, floats within a relative 1e-12. Iterative (inputs nest up to the limit).
fn same_json(a: &Value, b: &Value) -> bool {
    let mut stack = vec![(a, b)];
    while let Some((a, b)) = stack.pop() {
        match (a, b) {
            (Value::Null, Value::Null) => {}
            (Value::Bool(x), Value::Bool(y)) if x == y => {}
            (Value::String(x), Value::String(y)) if x == y => {}
            (Value::Number(x), Value::Number(y)) => {
                // Integers by value: `-0` parses as I64(0) but prints as `0`, which reads back U64.
                let int = |n: &Number| match n {
                    Number::U64(n) => Some(i128::from(*n)),
                    Number::I64(n) => Some(i128::from(*n)),
                    Number::F64(_) => None,
                };
                let ok = match (x, y, int(x), int(y)) {
                    (_, _, Some(a), Some(b)) => a == b,
                    (Number::F64(a), Number::F64(b), _, _) => {
                        (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
                    }
                    _ => false,
                };
                if !ok {
                    return false;
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                stack.extend(x.iter().zip(y.iter()));
            }
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for ((kx, vx), (ky, vy)) in x.iter().zip(y.iter()) {
                    if kx != ky {
                        return false;
                    }
                    stack.push((vx, vy));
                }
            }
            _ => return false,
        }
    }
    true
}

fn is_scalar_id(v: &Value) -> bool {
    matches!(
        v,
        Value::Null | Value::String(_) | Value::Number(Number::U64(_) | Number::I64(_))
    )
}

fn str_at<'a>(o: &'a Object, key: &str) -> Option<&'a str> {
    match o.get(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

// ------------------------------------------------------------------------------------- rpc_request

/// `parse_line` + every `Params` accessor on whatever keys the request carries.
pub fn rpc_request(data: &[u8]) {
    on_stack(CONN_STACK, rpc_request_inner, data);
}

fn rpc_request_inner(data: &[u8]) {
    // What a plain JSON parser makes of the line: the reference for the error codes.
    let reference: Option<Option<Value>> = std::str::from_utf8(data).ok().map(|t| {
        let t = t.trim();
        if t.is_empty() {
            None
        } else {
            json::from_str::<Value>(t).ok()
        }
    });
    match protocol::parse_line(data) {
        Incoming::Empty => assert!(
            matches!(reference, Some(None)),
            "non-blank line read as empty"
        ),
        Incoming::Single(r) => {
            if let Err((_, e)) = &r {
                let parses = matches!(reference, Some(Some(_)));
                assert_eq!(
                    e.code == protocol::PARSE_ERROR,
                    !parses,
                    "parse error iff not JSON: {e:?}"
                );
            }
            let keys = match &reference {
                Some(Some(v)) => param_keys(v),
                _ => Vec::new(),
            };
            check_request(r, keys);
        }
        Incoming::Batch(items) => {
            let Some(Some(Value::Array(raw))) = &reference else {
                panic!("a batch from something that is not a JSON array")
            };
            assert!((1..=protocol::MAX_BATCH).contains(&items.len()));
            assert_eq!(items.len(), raw.len());
            for (r, v) in items.into_iter().zip(raw.iter()) {
                check_request(r, param_keys(v));
            }
        }
    }
}

/// The `params` keys of one request object, as a plain parser sees them.
fn param_keys(v: &Value) -> Vec<String> {
    match v {
        Value::Object(o) => match o.get("params") {
            Some(Value::Object(p)) => p.keys().cloned().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn check_request(r: Result<protocol::Request, (Value, RpcError)>, keys: Vec<String>) {
    match r {
        Err((id, e)) => {
            assert!(
                [
                    protocol::PARSE_ERROR,
                    protocol::INVALID_REQUEST,
                    protocol::INVALID_PARAMS
                ]
                .contains(&e.code),
                "unexpected code {e:?}"
            );
            assert!(is_scalar_id(&id), "error echoes a non-scalar id");
            check_failure(id, &e);
        }
        Ok(req) => {
            if let Some(id) = &req.id {
                assert!(is_scalar_id(id), "accepted a non-scalar id");
            }
            let id = req.id.clone().unwrap_or(Value::Null);
            let mut p = req.params;
            // With an odd number of keys the last one is left over, and finish() must name it.
            let keep = keys.len() % 2 == 1;
            let consumed = if keep { keys.len() - 1 } else { keys.len() };
            for k in &keys[..consumed] {
                // The key's bytes pick the accessor, so every key can reach every accessor.
                let pick = k
                    .bytes()
                    .fold(0usize, |a, b| a.wrapping_add(usize::from(b)));
                check_accessor(&mut p, k, pick);
            }
            match p.finish() {
                Ok(()) => assert!(!keep, "finish accepted a leftover key"),
                Err(e) => {
                    assert!(keep, "finish refused with every key consumed: {e:?}");
                    assert_eq!(e.code, protocol::INVALID_PARAMS);
                    assert!(e.message.contains(keys[consumed].as_str()));
                }
            }
            check_success(id, protocol::string(req.method));
        }
    }
}

/// Consume `key` with the accessor picked by `n`, checking what each accessor promises.
fn check_accessor(p: &mut Params, key: &str, n: usize) {
    match n % 4 {
        0 => match p.opt_str(key) {
            Ok(Some(s)) => assert!(!s.is_empty() && s.len() <= 4096),
            Ok(None) => {}
            Err(e) => assert_eq!(e.code, protocol::INVALID_PARAMS),
        },
        1 => match p.req_str(key) {
            Ok(s) => assert!(!s.is_empty() && s.len() <= 4096),
            Err(e) => assert_eq!(e.code, protocol::INVALID_PARAMS),
        },
        2 => match p.opt_bool(key) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.code, protocol::INVALID_PARAMS),
        },
        _ => match p.req_str_list(key, 8) {
            Ok(v) => {
                assert!((1..=8).contains(&v.len()));
                assert!(v.iter().all(|s| !s.is_empty() && s.len() <= 4096));
            }
            Err(e) => assert_eq!(e.code, protocol::INVALID_PARAMS),
        },
    }
}

// ------------------------------------------------------------------------------------ rpc_dispatch

/// Every method the agent answers, plus names it must refuse.
pub const METHODS: &[&str] = &[
    "agent.version",
    "device.info",
    "device.identifier",
    "auth.status",
    "session.create",
    "session.resume",
    "session.get",
    "session.partner",
    "auth.logout",
    "profile.get",
    "providers.list",
    "decision.authorize",
    "decision.preauthorize",
    "legacy.authenticate_url",
    "events.subscribe",
    "",
    "agent.version ",
    "AGENT.VERSION",
];

/// The real agent with a private state dir and no Adobe Pass credentials: it can never reach the
/// network, so every input is answered from validation, local state or "not configured".
pub fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        let dir = scratch_dir("agent");
        let state = dir.join("state");
        let root = dir.join("root");
        std::fs::create_dir_all(&root).expect("fixture root");
        let text = format!(
            "state_dir = {state:?}\n[pass]\ndomain_name = \"adobe.com\"\nredirect_url = \"https://adobe.com\"\n"
        );
        let cfg = Config::parse(&text, None).expect("harness config");
        assert!(!cfg.pass_missing().is_empty(), "the harness must not have credentials");
        let store = Store::open(&cfg.state_dir).expect("state dir");
        let device = DeviceInfo::from_facts(Facts::default(), &cfg.device);
        let identity = Identity::derive(&root, &cfg.device);
        Agent::new(cfg, store, device, identity)
    })
}

/// A per-process scratch directory (tmpfs when there is one: the fuzzers write to it a lot).
pub fn scratch_dir(tag: &str) -> PathBuf {
    let base = Path::new("/dev/shm");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    // Directories of processes that are gone (earlier test and fuzz runs) are removed.
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("tvauth-fuzz-")
                .and_then(|r| r.rsplit('-').next());
            if pid.is_some_and(|p| !Path::new("/proc").join(p).exists()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let d = base.join(format!("tvauth-fuzz-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Byte 0 picks the method; the rest is the params (JSON; anything but an object means none).
pub fn rpc_dispatch(data: &[u8]) {
    on_stack(CONN_STACK, rpc_dispatch_inner, data);
}

fn rpc_dispatch_inner(data: &[u8]) {
    let agent = agent();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(sel) % METHODS.len()];
    let params = match std::str::from_utf8(rest).ok().map(json::from_str::<Value>) {
        Some(Ok(Value::Object(o))) => Params::from_object(o),
        _ => Params::default(),
    };
    let peer = Peer {
        pid: 1,
        uid: 1000,
        gid: 1000,
        groups: vec![1000],
    };
    match agent.call(method, params, &peer) {
        Ok(reply) => {
            // Cached answers come pre-serialized; parse them back so both forms are checked alike.
            let v = match reply {
                tvauth::ipc::server::Reply::Value(v) => v,
                tvauth::ipc::server::Reply::Json(text) => {
                    miniserde::json::from_str(&text).expect("cached reply is valid JSON")
                }
            };
            if method == "legacy.authenticate_url" {
                let Value::Object(o) = &v else {
                    panic!("legacy url result")
                };
                let url = str_at(o, "url").expect("url");
                assert!(
                    url.starts_with("https://api.auth.adobe.com/api/v1/authenticate?reg_code=")
                );
                assert!(
                    url.bytes().all(|b| b.is_ascii_graphic()),
                    "url not percent-encoded: {url:?}"
                );
                assert!(url.ends_with("&redirect_url=https%3A%2F%2Fadobe.com"));
            }
            check_success(Value::Null, v);
        }
        Err(e) => {
            assert!(
                [
                    protocol::METHOD_NOT_FOUND,
                    protocol::INVALID_PARAMS,
                    protocol::NOT_CONFIGURED
                ]
                .contains(&e.code),
                "{method}: unexpected {e:?}"
            );
            check_failure(Value::Null, &e);
        }
    }
}

// --------------------------------------------------------------------------------- pass responses

/// A response body as the client parses it (`pass::dcr::parse_json`, UTF-8 + JSON).
fn body(data: &[u8]) -> Option<Value> {
    parse_json(200, data).ok()
}

/// Sessions: create/resume/partner answers and retrieve-session answers.
pub fn pass_session(data: &[u8]) {
    on_stack(CONN_STACK, pass_session_inner, data);
}

fn pass_session_inner(data: &[u8]) {
    let Some(v) = body(data) else { return };
    if let Ok(s) = Session::from_value(&v) {
        let _ = (s.action(), s.action_type_kind(), s.reason());
        assert!(!s.missing_parameters.iter().any(|m| m == "domain"));
        for f in [&s.url, &s.code, &s.mvpd] {
            assert!(f.as_deref() != Some(""), "empty optional kept");
        }
        let full = s
            .url
            .as_deref()
            .map(|u| tvauth::pass::api::full_url("https://sp.auth.adobe.com", u));
        if let Some(f) = &full {
            let lower = f.to_ascii_lowercase();
            assert!(lower.starts_with("https://") || lower.starts_with("http://"));
        }
        let text = roundtrip(&s.to_json(full));
        let Ok(Value::Object(o)) = json::from_str::<Value>(&text) else {
            panic!("session json")
        };
        assert_eq!(str_at(&o, "actionName"), Some(s.action_name.as_str()));
        for k in ["notBefore", "notAfter"] {
            assert!(matches!(
                o.get(k),
                None | Some(Value::Number(Number::U64(_)))
            ));
        }
    }
    if let Ok(i) = SessionInfo::from_value(&v) {
        assert!(
            !i.existing_parameters.contains_key("domain")
                || i.existing_parameters.contains_key("domainName")
        );
        assert!(!i.missing_parameters.iter().any(|m| m == "domain"));
        roundtrip(&i.to_json());
    }
    check_errors(&v, 400);
}

/// Profiles (all, by mvpd, by code) and logout answers.
pub fn pass_profiles(data: &[u8]) {
    on_stack(CONN_STACK, pass_profiles_inner, data);
}

fn pass_profiles_inner(data: &[u8]) {
    let Some(v) = body(data) else { return };
    if let Ok(p) = Profiles::from_value(&v) {
        for (mvpd, prof) in &p.profiles {
            let _ = (prof.kind(), prof.attributes());
            assert!(p.get(mvpd).is_some());
            let Value::Object(raw) = &prof.raw else {
                panic!("profile raw is not an object")
            };
            // Timestamps the typed view understood are integers in what the socket passes on.
            for (k, typed) in [("notBefore", prof.not_before), ("notAfter", prof.not_after)] {
                match raw.get(k) {
                    Some(Value::Number(Number::U64(n))) => assert_eq!(*n, typed, "{k}"),
                    _ => assert_eq!(typed, 0, "{k}: typed value not normalised in raw"),
                }
            }
        }
        roundtrip(&p.to_json());
    }
    if let Ok(l) = Logouts::from_value(&v) {
        for item in l.items() {
            let _ = (item.mvpd.len(), item.url);
        }
        roundtrip(&l.raw);
    }
    for e in item_errors(&v) {
        check_enhanced(&e);
    }
    check_errors(&v, 403);
}

/// Authorize / preauthorize decisions, including item-level errors on a 200.
pub fn pass_decisions(data: &[u8]) {
    on_stack(CONN_STACK, pass_decisions_inner, data);
}

fn pass_decisions_inner(data: &[u8]) {
    let Some(v) = body(data) else { return };
    if let Ok(d) = Decisions::from_value(&v) {
        let items = d.items();
        assert_eq!(
            items.len(),
            d.decisions.len(),
            "every kept decision is an object"
        );
        for (item, raw) in items.iter().zip(&d.decisions) {
            let Value::Object(o) = raw else {
                panic!("decision raw")
            };
            if let (Some(n), Some(Value::Number(Number::U64(r)))) =
                (item.not_after, o.get("notAfter"))
            {
                assert_eq!(n, *r);
            }
            if let Some(e) = &item.error {
                check_enhanced(e);
            }
        }
        for e in d.errors() {
            check_enhanced(&e);
        }
        roundtrip(&d.to_json());
    }
    check_errors(&v, 403);
}

/// Error bodies in every envelope: flat, `errors[]`, `error{}`, OAuth `error: "code"`, item level.
pub fn pass_errors(data: &[u8]) {
    on_stack(CONN_STACK, pass_errors_inner, data);
}

fn pass_errors_inner(data: &[u8]) {
    let Some(v) = body(data) else { return };
    // The status the body claims, when it claims one, also drives the HTTP status we fake.
    let status = match &v {
        Value::Object(o) => match o.get("status") {
            Some(Value::Number(Number::U64(n))) => u16::try_from(*n).unwrap_or(400),
            _ => 400,
        },
        _ => 400,
    };
    check_errors(&v, status);
}

/// `errors_from_body` → `PassError::Api` → the socket error, as the agent builds it.
fn check_errors(v: &Value, status: u16) {
    let errors = errors_from_body(v);
    for e in &errors {
        check_enhanced(e);
    }
    let n = errors.len();
    let api = PassError::Api { status, errors };
    let shown = api.to_string();
    assert!(shown.starts_with("api error "));
    let rpc = rpc_error(api);
    assert_eq!(rpc.code, protocol::API_ERROR);
    let line = protocol::failure(Value::Null, &rpc);
    let o = check_line(&line);
    let Some(Value::Object(err)) = o.get("error") else {
        panic!("error member")
    };
    let Some(Value::Object(data)) = err.get("data") else {
        panic!("error data")
    };
    match data.get("errors") {
        Some(Value::Array(a)) => assert_eq!(a.len(), n),
        _ => panic!("errors array"),
    }
}

fn check_enhanced(e: &EnhancedError) {
    assert!(matches!(e.raw, Value::Object(_)), "enhanced error raw");
    let _ = e.action_kind();
    roundtrip(&e.raw);
}

/// `GET /configuration`: the MVPD list for `providers.list`.
pub fn pass_configuration(data: &[u8]) {
    on_stack(CONN_STACK, pass_configuration_inner, data);
}

fn pass_configuration_inner(data: &[u8]) {
    let Some(v) = body(data) else { return };
    if let Ok(c) = Configuration::from_value(&v) {
        assert!(c.mvpds.iter().all(|m| matches!(m, Value::Object(_))));
        let list = c.mvpd_list();
        assert!(list.len() <= c.mvpds.len());
        for m in &list {
            let Value::Object(o) = &m.raw else {
                panic!("mvpd raw")
            };
            assert_eq!(str_at(o, "id"), Some(m.id.as_str()));
        }
        let _ = c.domains();
        c.mvpds.iter().for_each(|m| {
            roundtrip(m);
        });
    }
    check_errors(&v, 500);
}

// ------------------------------------------------------------------------------------ config_parse

/// `Config::parse` on the signal thread's stack; an accepted file is in range and its masked dump
/// is a fixed point (dump → parse → dump is the same text).
pub fn config_parse(data: &[u8]) {
    on_stack(SIGNAL_STACK, config_parse_inner, data);
}

fn config_parse_inner(data: &[u8]) {
    // Config::from_file reads with read_to_string: only UTF-8 reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, None) {
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("<defaults>"), "{shown}");
        }
        Ok(c) => {
            check_config(&c);
            let dump = c.to_masked_toml();
            let again = Config::parse(&dump, None)
                .unwrap_or_else(|e| panic!("masked dump does not parse: {e}\n{dump}"));
            check_config(&again);
            assert_eq!(again.to_masked_toml(), dump, "dump is not a fixed point");
        }
    }
}

fn check_config(c: &Config) {
    assert!(c.socket.mode <= 0o777);
    assert!((1..=1024).contains(&c.socket.max_connections));
    assert!((1..=300).contains(&c.socket.line_timeout_secs));
    assert!((1..=300).contains(&c.pass.timeout_secs));
    assert!((3..=600).contains(&c.pass.poll_interval_secs));
    assert!((1..=10_000).contains(&c.pass.throttle_per_sec));
    assert!((1..=10_000).contains(&c.pass.throttle_burst));
    for u in [&c.pass.base_url, &c.pass.legacy_base_url] {
        assert!(u.starts_with("https://") && !u.ends_with('/'), "{u}");
    }
    let d = &c.device;
    for (v, allowed) in [
        (&d.primary_hardware_type, HARDWARE_TYPES),
        (&d.os_name, OS_NAMES),
        (&d.os_family, OS_FAMILIES),
        (&d.os_vendor, OS_VENDORS),
    ] {
        if let Some(v) = v {
            assert!(allowed.contains(&v.as_str()), "{v}");
        }
    }
}

// ------------------------------------------------------------------------------------- device_info

/// Keys of X-Device-Info that must always be there.
pub const REQUIRED_KEYS: &[&str] = &[
    "primaryHardwareType",
    "model",
    "version",
    "manufacturer",
    "osName",
    "osFamily",
    "osVersion",
    "connectionType",
];

/// Where each raw field is written under the fixture root (None: a config override instead).
const DEVICE_FILES: &[&str] = &[
    "proc/device-tree/model",
    "proc/device-tree/compatible",
    "sys/class/dmi/id/sys_vendor",
    "sys/class/dmi/id/product_name",
    "sys/class/dmi/id/product_version",
    "etc/os-release",
    "proc/sys/kernel/osrelease",
    "proc/sys/kernel/hostname",
    "proc/cpuinfo",
    "proc/meminfo",
    "proc/net/route",
    "proc/device-tree/serial-number",
    "etc/machine-id",
];
const OVERRIDES: usize = 11;

/// Split `data` into fields, each a 2-byte little-endian length then that many bytes (clamped).
pub fn fields(mut data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let len = match data {
            [a, b, rest @ ..] => {
                data = rest;
                usize::from(u16::from_le_bytes([*a, *b]))
            }
            _ => {
                data = &[];
                0
            }
        };
        let len = len.min(data.len());
        out.push(&data[..len]);
        data = &data[len..];
    }
    out
}

/// Inverse of [`fields`] (for building inputs: seeds and proptest).
pub fn join_fields(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        let len = p.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&p[..len]);
    }
    out
}

/// Hostile device facts: the raw fields are written as the files the collector reads (empty field =
/// file absent), the rest become `[device]` overrides (lossy UTF-8, as a DeviceConfig built in code
/// could carry anything), then the real `DeviceInfo::collect` and `Identity::derive` run on that root.
pub fn device_info(data: &[u8]) {
    let root = device_root();
    let f = fields(data, DEVICE_FILES.len() + OVERRIDES + 1);
    for (rel, bytes) in DEVICE_FILES.iter().zip(&f) {
        let p = root.join(rel);
        if bytes.is_empty() {
            let _ = std::fs::remove_file(&p);
        } else {
            std::fs::write(&p, bytes).expect("write fact");
        }
        check_sanitized(sanitize(bytes).as_deref());
    }
    let o = &f[DEVICE_FILES.len()..];
    let s = |i: usize| (!o[i].is_empty()).then(|| String::from_utf8_lossy(o[i]).into_owned());
    let mut cfg = tvauth::config::DeviceConfig {
        primary_hardware_type: s(0),
        model: s(1),
        manufacturer: s(2),
        vendor: s(3),
        version: s(4),
        os_name: s(5),
        os_family: s(6),
        os_vendor: s(7),
        os_version: s(8),
        connection_type: s(9),
        application_id: s(10),
        identity_file: None,
    };
    // One flag byte: a wireless primary interface, and a config that pins the restricted values.
    let flags = o[OVERRIDES].first().copied().unwrap_or(0);
    let wireless = root.join("sys/class/net/wlan0/wireless");
    if flags & 1 == 1 {
        let _ = std::fs::create_dir_all(&wireless);
    } else {
        let _ = std::fs::remove_dir(&wireless);
    }
    if flags & 2 == 2 {
        cfg.os_name = Some("Linux".into());
        cfg.os_vendor = Some("Sony".into());
    }
    let info = DeviceInfo::collect(&root, &cfg);
    check_device_info(&info);
    let id = Identity::derive(&root, &cfg);
    assert!(!id.fingerprint().is_empty());
    assert!(
        id.header()
            .bytes()
            .all(|b| b.is_ascii_graphic() || b == b' '),
        "AP-Device-Identifier is not header-safe"
    );
    roundtrip(&id.to_json());
}

fn device_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = scratch_dir("device");
        for rel in DEVICE_FILES {
            if let Some(parent) = root.join(rel).parent() {
                std::fs::create_dir_all(parent).expect("fixture dirs");
            }
        }
        // One interface that is up; the route table decides whether it is the primary.
        let net = root.join("sys/class/net/wlan0");
        std::fs::create_dir_all(&net).expect("net dir");
        std::fs::write(net.join("operstate"), b"up\n").expect("operstate");
        root
    })
    .clone()
}

/// What `sanitize` promises: printable, whitespace collapsed to single spaces, trimmed, capped.
pub fn check_sanitized(v: Option<&str>) {
    let Some(v) = v else { return };
    assert!(!v.is_empty());
    assert!(v.chars().count() <= MAX_VALUE_CHARS, "too long: {v:?}");
    assert!(!v.starts_with(' ') && !v.ends_with(' '), "untrimmed: {v:?}");
    assert!(!v.contains("  "), "whitespace not collapsed: {v:?}");
    assert!(
        v.chars()
            .all(|c| !c.is_control() && c != '\u{FEFF}' && (c == ' ' || !c.is_whitespace())),
        "unsanitised character in {v:?}"
    );
}

/// The header decodes to a JSON object of strings: required keys present, restricted keys only
/// with allowed values, every value sanitised; and it is exactly `facts_json`.
pub fn check_device_info(info: &DeviceInfo) {
    let header = info.header();
    assert!(
        header.bytes().all(|b| b.is_ascii_graphic()),
        "header not header-safe"
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(header)
        .expect("X-Device-Info is not standard base64");
    let text = String::from_utf8(bytes).expect("X-Device-Info is not UTF-8");
    let Ok(Value::Object(o)) = json::from_str::<Value>(&text) else {
        panic!("X-Device-Info is not a JSON object: {text}")
    };
    assert_eq!(text, json::to_string(&info.facts_json()));
    for k in REQUIRED_KEYS {
        assert!(o.contains_key(*k), "missing {k}");
    }
    for (k, v) in o.iter() {
        let Value::String(v) = v else {
            panic!("{k} is not a string")
        };
        let allowed: Option<&[&str]> = match k.as_str() {
            "primaryHardwareType" => Some(HARDWARE_TYPES),
            "osName" => Some(OS_NAMES),
            "osFamily" => Some(OS_FAMILIES),
            "osVendor" => Some(OS_VENDORS),
            "connectionType" => None,
            "model" | "version" | "manufacturer" | "vendor" | "osVersion" | "applicationId" => None,
            other => panic!("unexpected key {other}"),
        };
        match allowed {
            Some(list) => assert!(list.contains(&v.as_str()), "{k} = {v:?} not allowed"),
            None => check_sanitized(Some(v)),
        }
    }
    roundtrip(&info.to_json());
}
