//! `tvauth daemon`: wire config, state, device facts, the agent and the socket server together, then
//! serve until SIGTERM/SIGINT. SIGHUP re-reads the configuration (an invalid one is logged and the old
//! one kept). Signals are taken synchronously by one thread with `sigwait`, so no handler runs
//! asynchronously and no thread wakes up while nothing happens.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::agent::Agent;
use crate::config::Config;
use crate::device::{DeviceInfo, Identity};
use crate::ipc::server::{Control, Server};
use crate::store::Store;
use crate::{logging, notify};

/// Root of the filesystem the device facts are read from. `TVAUTH_SYSROOT` points it at a fixture tree
/// (tests, emulated boards); production leaves it unset.
pub fn sysroot() -> PathBuf {
    std::env::var_os("TVAUTH_SYSROOT")
        .filter(|s| !s.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// Run the daemon; returns the process exit status.
pub fn run(config_path: Option<&Path>) -> i32 {
    limit_malloc_arenas();
    // Before any thread exists, so every thread inherits the mask and only sigwait sees them.
    let signals = match Signals::block() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tvauth: cannot block signals: {e}");
            return 1;
        }
    };
    let cfg = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tvauth: {e}");
            return 1;
        }
    };
    logging::init(cfg.log_level);
    match start(cfg, config_path.map(Path::to_path_buf), signals) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            1
        }
    }
}

fn start(cfg: Config, config_path: Option<PathBuf>, signals: Signals) -> Result<(), String> {
    let store = Store::open(&cfg.state_dir).map_err(|e| e.to_string())?;
    let root = sysroot();
    let device = DeviceInfo::collect(&root, &cfg.device);
    let identity = Identity::load_or_derive(&store, &root, &cfg.device)
        .map_err(|e| format!("device identity: {e}"))?;
    log::info!("device fingerprint from {}", identity.source());
    let drain = Duration::from_secs(cfg.pass.timeout_secs + 2);
    let socket_cfg = cfg.socket.clone();
    let agent = Arc::new(Agent::new(cfg, store, device, identity));
    let server = Server::bind(&socket_cfg, agent.clone()).map_err(|e| e.to_string())?;
    agent.set_events(server.events());
    let poller = agent
        .start_poller()
        .map_err(|e| format!("cannot start the poller: {e}"))?;
    let control = server.control();
    let sig_agent = agent.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || signal_loop(signals, &sig_agent, &control, config_path.as_deref()))
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    log::info!(
        "tvauth {} serving on {}",
        env!("CARGO_PKG_VERSION"),
        server.path().display()
    );
    if let Err(e) = notify::notify("READY=1\nSTATUS=serving") {
        log::warn!("sd_notify READY failed: {e}");
    }
    server.run(drain);
    agent.shutdown();
    let _ = poller.join();
    log::info!("stopped");
    Ok(())
}

fn signal_loop(signals: Signals, agent: &Agent, control: &Control, config_path: Option<&Path>) {
    loop {
        match signals.wait() {
            libc::SIGHUP => reload(agent, control, config_path),
            libc::SIGTERM | libc::SIGINT => {
                log::info!("stopping");
                let _ = notify::notify("STOPPING=1");
                control.stop();
                return;
            }
            _ => {}
        }
    }
}

fn reload(agent: &Agent, control: &Control, config_path: Option<&Path>) {
    let _ = notify::notify("RELOADING=1");
    match Config::load(config_path) {
        Ok(new) => {
            logging::set_level(new.log_level);
            control.set_access(
                new.socket.allowed_uids.clone(),
                new.socket.allowed_gids.clone(),
            );
            let old = agent.config();
            if new.socket.path != old.socket.path
                || new.socket.mode != old.socket.mode
                || new.state_dir != old.state_dir
            {
                log::warn!(
                    "socket.path, socket.mode and state_dir changes take effect at the next restart"
                );
            }
            agent.reload(new);
            log::info!("configuration reloaded");
        }
        Err(e) => log::error!("reload failed, keeping the running configuration: {e}"),
    }
    let _ = notify::notify("READY=1\nSTATUS=serving");
}

/// One glibc malloc arena for the whole daemon. glibc gives each thread that allocates an arena of
/// its own (up to 8 per core) and keeps freed memory in the arena it came from, so every connection
/// thread that ever ran leaves an arena with its own free chunks and top behind. Measured with
/// `cargo bench --bench agent`: ~100 KiB less resident memory after the socket load, and no less
/// throughput (small allocations come from glibc's per-thread cache without the arena lock).
/// Other C libraries have no per-thread arenas: nothing to do.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it runs first thing in `run`, before the
    // daemon starts any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// SIGTERM, SIGINT and SIGHUP, blocked in every thread and collected with `sigwait`.
struct Signals {
    set: libc::sigset_t,
}

impl Signals {
    fn block() -> std::io::Result<Signals> {
        // SAFETY: sigset_t is plain data initialised by sigemptyset before use; pthread_sigmask only
        // reads it. Nothing else runs concurrently: this is called before any thread is spawned.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(std::io::Error::from_raw_os_error(rc));
            }
            Ok(Signals { set })
        }
    }

    fn wait(&self) -> i32 {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` was initialised in `block`; `sig` is a valid out pointer.
        let rc = unsafe { libc::sigwait(&self.set, &mut sig) };
        if rc == 0 { sig } else { 0 }
    }
}
