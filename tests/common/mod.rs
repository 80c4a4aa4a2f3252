//! Shared helpers for the binary-level tests: start the real `tvauth daemon` with a private config,
//! state dir and socket, wait for its READY=1 datagram, talk to it over the real socket.
//!
//! Cross testing: when `TVAUTH_TEST_RUNNER` is set (e.g. `qemu-aarch64`), the binary is run through it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use miniserde::json::{self, Value};
use tvauth::ipc::client::Client;

pub const BIN: &str = env!("CARGO_BIN_EXE_tvauth");

/// A command for the tvauth binary, through `TVAUTH_TEST_RUNNER` when cross testing.
pub fn tvauth_cmd() -> Command {
    target_cmd(BIN)
}

/// A command for any target-architecture program (the tvauth binary, or a test binary re-run for
/// a child-process role): through `TVAUTH_TEST_RUNNER` when cross testing, since the program is
/// then foreign to the host kernel and there is no binfmt_misc.
pub fn target_cmd(program: impl AsRef<std::ffi::OsStr>) -> Command {
    match std::env::var("TVAUTH_TEST_RUNNER")
        .ok()
        .filter(|r| !r.is_empty())
    {
        Some(runner) => {
            let mut c = Command::new(runner);
            c.arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Slower under emulation: scale waits by this.
pub fn slow() -> u32 {
    if std::env::var_os("TVAUTH_TEST_RUNNER").is_some() {
        10
    } else {
        1
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!(
            "tvauth-it-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything a daemon under test needs: config file, state dir, socket path, notify socket, log.
pub struct Daemon {
    pub dir: TempDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub state: PathBuf,
    pub child: Option<Child>,
    notify: UnixDatagram,
    notify_path: PathBuf,
    pub log: Arc<Mutex<String>>,
    /// Extra environment of the daemon process (per daemon: tests run in parallel threads).
    pub env: Vec<(String, String)>,
    /// A command the daemon is run under (e.g. `faketime …`); empty: run it directly.
    pub runner: Vec<String>,
}

pub struct DaemonOpts {
    /// Extra TOML appended to the `[pass]` table (base_url/ca_file are filled from the emulator).
    pub pass: String,
    pub socket_extra: String,
    pub top: String,
    pub device: String,
    pub env: Vec<(String, String)>,
}

impl Default for DaemonOpts {
    fn default() -> Self {
        DaemonOpts {
            pass: String::new(),
            socket_extra: String::new(),
            top: "log_level = \"debug\"\n".into(),
            device: String::new(),
            env: Vec::new(),
        }
    }
}

impl Daemon {
    /// Prepare (not start) a daemon configured against `base_url` trusting `ca_pem`.
    pub fn prepare(base_url: Option<(&str, &str)>, opts: DaemonOpts) -> Daemon {
        let dir = TempDir::new("d");
        let state = dir.path().join("state");
        let socket = dir.path().join("run/tvauth.sock");
        let config = dir.path().join("tvauth.toml");
        let pass = match base_url {
            Some((url, ca)) => {
                std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
                format!(
                    "base_url = \"{url}\"\nlegacy_base_url = \"{url}\"\nca_file = \"ca.pem\"\nsoftware_statement = \"eyJ0ZXN0Ijoic3RhdGVtZW50In0.c2lnbmVk.dGVzdA\"\ndomain_name = \"adobe.com\"\nredirect_url = \"https://adobe.com\"\ntimeout_secs = 5\npoll_interval_secs = 3\n{}",
                    opts.pass
                )
            }
            None => opts.pass.clone(),
        };
        let text = format!(
            "state_dir = \"{}\"\n{}\n[socket]\npath = \"{}\"\nmode = 0o600\n{}\n[pass]\n{}\n[device]\n{}\n",
            state.display(),
            opts.top,
            socket.display(),
            opts.socket_extra,
            pass,
            opts.device
        );
        std::fs::write(&config, text).unwrap();
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        Daemon {
            dir,
            config,
            socket,
            state,
            child: None,
            notify,
            notify_path,
            log: Arc::new(Mutex::new(String::new())),
            env: opts.env,
            runner: Vec::new(),
        }
    }

    /// Start the daemon and wait for READY=1.
    pub fn start(&mut self) {
        let mut cmd = match self.runner.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(BIN);
                c
            }
            None => tvauth_cmd(),
        };
        cmd.arg("daemon")
            .arg("--config")
            .arg(&self.config)
            .env("NOTIFY_SOCKET", &self.notify_path)
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn tvauth daemon");
        let stderr = child.stderr.take().unwrap();
        let log = self.log.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut line = String::new();
            while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                log.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        self.child = Some(child);
        let got = self.wait_notify("READY=1", Duration::from_secs(20 * slow() as u64));
        assert!(
            got,
            "daemon did not send READY=1; log:\n{}",
            self.log_text()
        );
    }

    /// Wait for a datagram containing `needle`.
    pub fn wait_notify(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            self.notify
                .set_read_timeout(Some(deadline - Instant::now() + Duration::from_millis(1)))
                .unwrap();
            match self.notify.recv(&mut buf) {
                Ok(n) if String::from_utf8_lossy(&buf[..n]).contains(needle) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket, Duration::from_secs(30 * slow() as u64)).unwrap()
    }

    pub fn call(
        &self,
        method: &str,
        params: &str,
    ) -> Result<Value, tvauth::ipc::client::ClientError> {
        let p = if params.is_empty() {
            None
        } else {
            Some(json::from_str(params).unwrap())
        };
        self.client().call(method, p)
    }

    pub fn raw(&self) -> UnixStream {
        let s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20 * slow() as u64)))
            .unwrap();
        s
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we spawned.
        unsafe {
            libc::kill(self.pid() as i32, sig);
        }
    }

    pub fn signal_pid(&self, pid: u32, sig: i32) {
        // SAFETY: kill(2) with a pid we spawned.
        unsafe {
            libc::kill(pid as i32, sig);
        }
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let pid = self.daemon_pid()?;
        let mut child = self.child.take()?;
        // SAFETY: kill(2) with a pid we spawned (or our wrapper's child).
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        wait_timeout(&mut child, Duration::from_secs(30 * slow() as u64))
    }

    pub fn kill9(&mut self) {
        if !self.runner.is_empty() {
            // Killing the wrapper (faketime, strace) would leave the daemon running.
            if let Some(pid) = self.daemon_pid() {
                // SAFETY: kill(2) with our wrapper's child.
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The daemon's own pid: the child's, or under a wrapper the socket peer's.
    fn daemon_pid(&self) -> Option<u32> {
        let child = self.child.as_ref()?.id();
        if self.runner.is_empty() {
            return Some(child);
        }
        let s = UnixStream::connect(&self.socket).ok()?;
        let pid = tvauth::ipc::peer::Peer::of(&s).ok()?.pid;
        u32::try_from(pid).ok().filter(|&p| p > 0).or(Some(child))
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Run a CLI verb against this daemon.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        tvauth_cmd()
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env_remove("TVAUTH_SOCKET")
            .output()
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn wait_timeout(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send raw bytes and read one line back.
pub fn roundtrip(s: &mut UnixStream, bytes: &[u8]) -> String {
    s.write_all(bytes).unwrap();
    read_line(s)
}

pub fn read_line(s: &mut UnixStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(_) => {
                out.push(b[0]);
                if b[0] == b'\n' {
                    break;
                }
            }
            Err(e) => panic!("read: {e} (got {:?})", String::from_utf8_lossy(&out)),
        }
    }
    String::from_utf8(out).unwrap()
}

pub fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for k in path.split('.') {
        cur = match cur {
            Value::Object(o) => o
                .get(k)
                .unwrap_or_else(|| panic!("no `{k}` in {}", json::to_string(v))),
            Value::Array(a) => &a[k.parse::<usize>().unwrap()],
            _ => panic!("`{path}` not found in {}", json::to_string(v)),
        };
    }
    cur
}

pub fn s(v: &Value, path: &str) -> String {
    match get(v, path) {
        Value::String(s) => s.clone(),
        other => json::to_string(other),
    }
}

pub fn has(v: &Value, key: &str) -> bool {
    matches!(v, Value::Object(o) if o.contains_key(key))
}

/// Sum of voluntary + involuntary context switches of every thread of `pid`.
pub fn ctx_switches(pid: u32) -> u64 {
    let mut total = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        for l in status.lines() {
            if let Some(v) = l
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
