//! The real `tvauth daemon` binary against the HTTPS emulator, driven over the real Unix socket the way a
//! box's UI or player would (CONTRACT §1, §3, §4).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::*;
use miniserde::json::{self, Value};
use tvauth::ipc::client::ClientError;
use tvauth_emulator::{Emulator, Options};

/// An emulator without Adobe's throttle, and a daemon whose own limiter is raised to match, so flows
/// are not slowed to 1 request/s (the limiter itself is tested in tests/pass_api.rs).
fn setup(extra_pass: &str) -> (Emulator, Daemon) {
    let emu = Emulator::start(Options {
        throttle: None,
        ..Default::default()
    });
    let pass = format!("throttle_per_sec = 100\nthrottle_burst = 100\n{extra_pass}");
    let mut d = Daemon::prepare(
        Some((&emu.base_url(), &emu.ca_pem())),
        DaemonOpts {
            pass,
            ..Default::default()
        },
    );
    d.start();
    (emu, d)
}

fn code_of(err: ClientError) -> i64 {
    match err {
        ClientError::Rpc(e) => e.code,
        other => panic!("expected an RPC error, got {other}"),
    }
}

fn rpc_err(err: ClientError) -> tvauth::ipc::protocol::RpcError {
    match err {
        ClientError::Rpc(e) => e,
        other => panic!("expected an RPC error, got {other}"),
    }
}

#[test]
fn local_methods_work_without_adobe_settings_and_pass_methods_say_what_is_missing() {
    let mut d = Daemon::prepare(None, DaemonOpts::default());
    d.start();
    let v = d.call("agent.version", "").unwrap();
    assert_eq!(s(&v, "version"), env!("CARGO_PKG_VERSION"));
    let info = d.call("device.info", "").unwrap();
    assert_eq!(s(&info, "facts.primaryHardwareType"), "SetTopBox");
    assert_eq!(s(&info, "facts.osName"), "Linux");
    assert!(!s(&info, "header").is_empty());
    let id = d.call("device.identifier", "").unwrap();
    assert_eq!(
        s(&id, "header"),
        format!("fingerprint {}", s(&id, "fingerprint"))
    );
    assert_eq!(
        s(&d.call("auth.status", "").unwrap(), "state"),
        "unauthenticated"
    );
    for (m, p) in [
        ("session.create", "{}"),
        ("providers.list", ""),
        ("profile.get", "{\"refresh\":true}"),
        ("session.get", "{\"code\":\"X\"}"),
    ] {
        let e = rpc_err(d.call(m, p).unwrap_err());
        assert_eq!(e.code, -32003, "{m}");
        assert_eq!(
            json::to_string(e.data.as_ref().unwrap()),
            r#"{"missing":["pass.software_statement"]}"#
        );
    }
    // Still serving, and a clean stop.
    assert_eq!(
        s(&d.call("auth.status", "").unwrap(), "state"),
        "unauthenticated"
    );
    assert_eq!(d.stop(), Some(0), "log:\n{}", d.log_text());
}

#[test]
fn second_screen_flow_with_events_and_every_method() {
    let (emu, d) = setup("");
    let mut sub = d.client();
    assert_eq!(
        json::to_string(&sub.call("events.subscribe", None).unwrap()),
        r#"{"subscribed":true}"#
    );

    // The UI asks for a session; the agent fills domainName/redirectUrl from the config.
    let session = d
        .call("session.create", r#"{"mvpd":"Cablevision"}"#)
        .unwrap();
    assert_eq!(s(&session, "actionName"), "authenticate");
    assert_eq!(s(&session, "actionType"), "interactive");
    let code = s(&session, "code");
    assert!(!code.is_empty());
    assert_eq!(
        s(&session, "fullUrl"),
        format!("{}{}", emu.base_url(), s(&session, "url"))
    );
    assert!(
        matches!(get(&session, "notAfter"), Value::Number(_)),
        "timestamps are integers"
    );
    let req = emu
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/sessions"))
        .unwrap();
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8_lossy(&req.body),
        "mvpd=Cablevision&domainName=adobe.com&redirectUrl=https%3A%2F%2Fadobe.com"
    );

    let st = d.call("auth.status", "").unwrap();
    assert_eq!(s(&st, "state"), "pending");
    assert_eq!(s(&st, "code"), code);
    let n = sub.next_notification().unwrap();
    assert_eq!(s(&n, "method"), "auth.changed");
    assert_eq!(s(&n, "params.state"), "pending");

    // session.get shows the session as Adobe sees it.
    let info = d
        .call("session.get", &format!("{{\"code\":\"{code}\"}}"))
        .unwrap();
    assert!(matches!(get(&info, "notAfter"), Value::Number(_)));
    assert!(has(&info, "existingParameters"));

    // The second screen completes the code; the agent finds the profile by polling.
    let t0 = Instant::now();
    assert!(emu.complete_code(&code, "Cablevision"));
    let n = sub.next_notification().unwrap();
    assert_eq!(
        s(&n, "params.state"),
        "authenticated",
        "{}",
        json::to_string(&n)
    );
    assert_eq!(s(&n, "params.mvpd"), "Cablevision");
    assert!(t0.elapsed() < Duration::from_secs(10 * slow() as u64));
    let st = d.call("auth.status", "").unwrap();
    assert_eq!(s(&st, "state"), "authenticated");
    assert!(matches!(get(&st, "expiresAt"), Value::Number(_)));
    assert!(!has(&st, "pending"));

    // Profile, from the cache and refreshed.
    let p = d.call("profile.get", "").unwrap();
    assert_eq!(s(&p, "profiles.Cablevision.type"), "regular");
    let p = d
        .call("profile.get", r#"{"mvpd":"Cablevision","refresh":true}"#)
        .unwrap();
    assert!(has(get(&p, "profiles"), "Cablevision"));

    // Decisions for the player.
    let dec = d
        .call("decision.authorize", r#"{"resources":["REF30-movie"]}"#)
        .unwrap();
    assert_eq!(s(&dec, "decisions.0.authorized"), "true");
    assert!(has(get(&dec, "decisions.0"), "token"));
    let pre = d
        .call(
            "decision.preauthorize",
            r#"{"resources":["a","b"],"mvpd":"Cablevision"}"#,
        )
        .unwrap();
    assert!(matches!(get(&pre, "decisions"), Value::Array(a) if a.len() == 2));

    // Providers, cached.
    let before = emu.stats().requests;
    let pl = d.call("providers.list", "").unwrap();
    assert!(matches!(get(&pl, "mvpds"), Value::Array(a) if !a.is_empty()));
    assert!(has(get(&pl, "mvpds.0"), "displayName"));
    d.call("providers.list", "").unwrap();
    assert_eq!(
        emu.stats().requests,
        before + 1,
        "second providers.list served from memory"
    );

    // Legacy v1 URL.
    let l = d
        .call(
            "legacy.authenticate_url",
            r#"{"mvpd":"Cablevision","regCode":"ABC123"}"#,
        )
        .unwrap();
    let url = s(&l, "url");
    assert!(
        url.starts_with(&format!(
            "{}/api/v1/authenticate?reg_code=ABC123&",
            emu.base_url()
        )),
        "{url}"
    );
    assert!(
        url.ends_with("&redirect_url=https%3A%2F%2Fadobe.com"),
        "{url}"
    );

    // Switching provider while authenticated keeps `authenticated` and reports the login as pending.
    let s2 = d
        .call("session.create", r#"{"mvpd":"TempPass_TEST40"}"#)
        .unwrap();
    assert_eq!(
        s(&s2, "actionName"),
        "authorize",
        "TempPass is entitled at once"
    );

    // Resume and partner SSO go through the same normalisation.
    let partner = d
        .call(
            "session.partner",
            r#"{"partner":"Apple","accessStatus":"denied"}"#,
        )
        .unwrap();
    assert_eq!(s(&partner, "reasonType"), "pfs_fallback");
    let pcode = s(&partner, "code");
    // (Cablevision is already authenticated, so the box picks another provider here.)
    let resumed = d
        .call(
            "session.resume",
            &format!("{{\"code\":\"{pcode}\",\"mvpd\":\"Dish\"}}"),
        )
        .unwrap();
    assert_eq!(
        s(&resumed, "actionName"),
        "authenticate",
        "{}",
        json::to_string(&resumed)
    );
    let st = d.call("auth.status", "").unwrap();
    assert_eq!(s(&st, "state"), "authenticated");
    assert_eq!(
        s(&st, "pending.code"),
        s(&resumed, "code"),
        "a login while authenticated is reported as pending"
    );

    // Logout ends the authenticated state and says so to subscribers.
    let out = d.call("auth.logout", r#"{"mvpd":"Cablevision"}"#).unwrap();
    assert!(has(get(&out, "logouts"), "Cablevision"));
    let state = s(&out, "status.state");
    assert_ne!(state, "authenticated".to_owned() + "-with-Cablevision");
    let mut saw_logout = false;
    sub.set_timeout(Some(Duration::from_secs(5))).unwrap();
    while let Ok(n) = sub.next_notification() {
        if s(&n, "params.state") != "authenticated" || s(&n, "params.mvpd") != "Cablevision" {
            saw_logout = true;
            break;
        }
    }
    assert!(saw_logout, "auth.changed after logout");

    // Unknown method and bad params.
    assert_eq!(code_of(d.call("no.such", "").unwrap_err()), -32601);
    assert_eq!(
        code_of(d.call("session.create", r#"{"mvdp":"x"}"#).unwrap_err()),
        -32602
    );
    assert_eq!(
        code_of(
            d.call("decision.authorize", r#"{"resources":[]}"#)
                .unwrap_err()
        ),
        -32602
    );
    assert_eq!(
        code_of(
            d.call(
                "session.partner",
                r#"{"partner":"Apple","accessStatus":"maybe"}"#
            )
            .unwrap_err()
        ),
        -32602
    );
}

#[test]
fn api_errors_keep_the_enhanced_error_and_throttling_is_reported() {
    let (emu, d) = setup("");
    // An unknown code: the emulator answers 400 with an enhanced error.
    let e = rpc_err(d.call("session.get", r#"{"code":"NOPE000"}"#).unwrap_err());
    assert_eq!(e.code, -32001);
    let data = e.data.unwrap();
    assert_eq!(s(&data, "status"), "400");
    let code = s(&data, "errors.0.code");
    assert!(
        code == "invalid_parameter_code" || code == "invalid_authentication_session",
        "{code}"
    );
    assert!(has(get(&data, "errors.0"), "action"));
    // Adobe's throttle: a 429 surfaces as -32004 with a retry hint.
    emu.inject(tvauth_emulator::Fault {
        path_prefix: Some("/api/v2".into()),
        kind: tvauth_emulator::FaultKind::TooManyRequests {
            retry_after_secs: None,
        },
        times: 10,
    });
    let e = rpc_err(d.call("providers.list", "").unwrap_err());
    assert_eq!(e.code, -32004, "{e:?}");
    assert!(matches!(
        get(e.data.as_ref().unwrap(), "retryAfterMs"),
        Value::Number(_)
    ));
}

/// Rewrite the daemon's config with `log_level = "info"` (it starts at debug), SIGHUP, and wait
/// for the reload to be logged.
fn reload_with_log_level_info(d: &Daemon) {
    let cfg = std::fs::read_to_string(&d.config).unwrap();
    assert!(cfg.contains("log_level = \"debug\""), "{cfg}");
    std::fs::write(
        &d.config,
        cfg.replace("log_level = \"debug\"", "log_level = \"info\""),
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), || d
            .log_text()
            .contains("configuration reloaded")),
        "{}",
        d.log_text()
    );
}

/// A 429's hold (and the spent burst) is the process's, not the configuration's: a SIGHUP reload
/// builds a new Pass client but must not hand it a fresh limiter.
#[test]
fn a_reload_does_not_lift_the_throttle() {
    let (emu, d) = setup("");
    emu.inject(tvauth_emulator::Fault {
        path_prefix: Some("/api/v2".into()),
        kind: tvauth_emulator::FaultKind::TooManyRequests {
            retry_after_secs: Some(60),
        },
        times: 1,
    });
    let held = |what: &str| {
        let e = rpc_err(d.call("providers.list", "").unwrap_err());
        assert_eq!(e.code, -32004, "{what}: {e:?}");
        let ms = s(e.data.as_ref().unwrap(), "retryAfterMs");
        assert!(ms.parse::<u64>().unwrap() > 30_000, "{what}: {ms}");
    };
    held("the 429 itself");
    held("the limiter's hold");
    reload_with_log_level_info(&d);
    // The emulator would answer now (its fault is spent): only the kept hold refuses.
    held("after the reload");
}

#[test]
fn restart_keeps_identity_and_authentication() {
    let (emu, mut d) = setup("");
    let id1 = s(&d.call("device.identifier", "").unwrap(), "fingerprint");
    let session = d
        .call("session.create", r#"{"mvpd":"Cablevision"}"#)
        .unwrap();
    assert!(emu.complete_code(&s(&session, "code"), "Cablevision"));
    assert!(wait_until(Duration::from_secs(15 * slow() as u64), || s(
        &d.call("auth.status", "").unwrap(),
        "state"
    )
        == "authenticated"));
    assert_eq!(d.stop(), Some(0));
    assert!(!d.socket.exists(), "socket file removed on SIGTERM");
    d.start();
    assert_eq!(
        s(&d.call("device.identifier", "").unwrap(), "fingerprint"),
        id1
    );
    let st = d.call("auth.status", "").unwrap();
    assert_eq!(
        s(&st, "state"),
        "authenticated",
        "from persisted state, without network"
    );
    // The credentials were reused: one registration in all.
    d.call("providers.list", "").unwrap();
    assert_eq!(emu.stats().registrations, 1);
    // Killed without warning: same again.
    d.kill9();
    d.start();
    assert_eq!(
        s(&d.call("device.identifier", "").unwrap(), "fingerprint"),
        id1
    );
    assert_eq!(
        s(&d.call("auth.status", "").unwrap(), "state"),
        "authenticated"
    );
    // Files are private.
    use std::os::unix::fs::PermissionsExt;
    for f in ["client", "token", "identity", "profile"] {
        let mode = std::fs::metadata(d.state.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    assert_eq!(
        std::fs::metadata(&d.state).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut d = Daemon::prepare(None, DaemonOpts::default());
    d.start();
    let mut sock = d.raw();
    let mut batch = String::new();
    for i in 0..200 {
        let m = [
            "agent.version",
            "auth.status",
            "device.identifier",
            "no.such",
        ][i % 4];
        batch.push_str(&format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"{m}\"}}\n"
        ));
    }
    sock.write_all(batch.as_bytes()).unwrap();
    for i in 0..200 {
        let line = read_line(&mut sock);
        let v: Value = json::from_str(&line).unwrap();
        assert_eq!(s(&v, "id"), i.to_string(), "{line}");
        assert_eq!(has(&v, "error"), i % 4 == 3, "{line}");
    }
    // A batch array is answered with an array; notifications (no id) get nothing.
    let line = roundtrip(
        &mut sock,
        b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.version\"},{\"jsonrpc\":\"2.0\",\"method\":\"auth.status\"}]\n",
    );
    let v: Value = json::from_str(&line).unwrap();
    assert!(matches!(&v, Value::Array(a) if a.len() == 1), "{line}");
}

#[test]
fn malformed_input_gets_the_prescribed_errors_and_the_daemon_goes_on() {
    let mut d = Daemon::prepare(
        None,
        DaemonOpts {
            socket_extra: "line_timeout_secs = 1\n".into(),
            ..Default::default()
        },
    );
    d.start();
    let mut sock = d.raw();
    let cases: [(&[u8], i64); 8] = [
        (b"{not json\n", -32700),
        (b"\xff\xfe\xfd\n", -32700),
        (b"[]\n", -32600),
        (b"\"just a string\"\n", -32600),
        (
            b"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"agent.version\"}\n",
            -32600,
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"x.y\"}\n",
            -32601,
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"session.get\",\"params\":{}}\n",
            -32602,
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"agent.version\",\"params\":7}\n",
            -32602,
        ),
    ];
    for (bytes, code) in cases {
        let line = roundtrip(&mut sock, bytes);
        let v: Value = json::from_str(&line).unwrap_or_else(|_| panic!("{line}"));
        assert_eq!(
            s(&v, "error.code"),
            code.to_string(),
            "{:?} -> {line}",
            String::from_utf8_lossy(bytes)
        );
    }
    // Still fine on the same connection.
    let line = roundtrip(
        &mut sock,
        b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"agent.version\"}\n",
    );
    assert!(line.contains("\"result\""), "{line}");

    // A line over 64 KiB: an error, then the connection is closed.
    let mut big = d.raw();
    let huge = vec![b'a'; 70 * 1024];
    let _ = big.write_all(&huge);
    let line = read_line(&mut big);
    let v: Value = json::from_str(&line).unwrap();
    assert_eq!(s(&v, "error.code"), "-32600");
    assert_eq!(read_line(&mut big), "", "closed after the oversized line");

    // Half a line, then silence: dropped after the line timeout.
    let mut half = d.raw();
    half.write_all(b"{\"jsonrpc\":\"2.0\",").unwrap();
    let t0 = Instant::now();
    assert_eq!(read_line(&mut half), "");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "dropped by the line timeout, not at once"
    );

    // And the daemon goes on serving new clients.
    assert_eq!(
        s(&d.call("agent.version", "").unwrap(), "version"),
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn idle_connections_do_not_lock_out_new_clients() {
    let mut d = Daemon::prepare(
        None,
        DaemonOpts {
            // 8 slots, of which one peer process (this test) may hold half: the 4 idle ones.
            socket_extra: "max_connections = 8\n".into(),
            ..Default::default()
        },
    );
    d.start();
    // Each idle connection makes one call first: then it is surely admitted, and idle from the
    // moment its answer arrived. (Silent connects timed from `raw()` raced the accept loop: one
    // full parallel run admitted them late and the new client found no connection idle ≥ 1 s yet.
    // Connections that never send a line are tests/reliability.rs's case.)
    let idle: Vec<_> = (0..4)
        .map(|_| {
            let s = d.raw();
            (&s).write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.version\"}\n")
                .unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            assert!(line.contains("\"version\""), "{line}");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1200));
    for _ in 0..3 {
        assert_eq!(
            s(&d.call("agent.version", "").unwrap(), "version"),
            env!("CARGO_PKG_VERSION")
        );
    }
    drop(idle);
}

#[test]
fn a_disallowed_peer_is_refused() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run a client under another uid");
        return;
    }
    let mut d = Daemon::prepare(
        None,
        DaemonOpts {
            socket_extra: "allowed_uids = [0]\n".into(),
            ..Default::default()
        },
    );
    // The socket itself is open to everyone, so only the peer check can refuse.
    let cfg = std::fs::read_to_string(&d.config)
        .unwrap()
        .replace("mode = 0o600", "mode = 0o666");
    std::fs::write(&d.config, cfg).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d.start();
    std::fs::set_permissions(
        d.socket.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    use std::os::unix::process::CommandExt;
    let out = tvauth_cmd()
        .args(["call", "agent.version", "--socket"])
        .arg(&d.socket)
        .env("TVAUTH_CONFIG", "/nonexistent-so-defaults")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout {stdout} stderr {stderr}"
    );
    assert!(
        stderr.contains("-32005") || stdout.contains("-32005"),
        "stdout {stdout} stderr {stderr}"
    );
    // root (allowed) still gets through.
    assert_eq!(
        s(&d.call("agent.version", "").unwrap(), "version"),
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn sighup_reloads_and_sigterm_stops_cleanly() {
    let mut d = Daemon::prepare(None, DaemonOpts::default());
    d.start();
    let good = std::fs::read_to_string(&d.config).unwrap();
    // A valid new config: takes effect (log level, access lists).
    reload_with_log_level_info(&d);
    // An invalid one: logged, the old one kept, still serving.
    std::fs::write(&d.config, format!("{good}\nbogus_key = 1\n")).unwrap();
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), || d
            .log_text()
            .contains("reload failed")),
        "{}",
        d.log_text()
    );
    assert!(d.log_text().contains("bogus_key"));
    assert_eq!(
        s(&d.call("agent.version", "").unwrap(), "version"),
        env!("CARGO_PKG_VERSION")
    );
    // SIGTERM: STOPPING=1, socket removed, exit 0.
    let mut child = d.child.take().unwrap();
    d.signal_pid(child.id(), libc::SIGTERM);
    assert!(d.wait_notify("STOPPING=1", Duration::from_secs(10)));
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(20)), Some(0));
    assert!(!d.socket.exists());
}

#[test]
fn stale_socket_is_replaced_but_a_live_daemon_is_not() {
    let mut d = Daemon::prepare(None, DaemonOpts::default());
    std::fs::create_dir_all(d.socket.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&d.socket).unwrap()); // stale file, nobody listening
    d.start();
    let second = d.cli(&["daemon"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another tvauth daemon is running"));
    assert_eq!(
        s(&d.call("agent.version", "").unwrap(), "version"),
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn an_idle_daemon_makes_no_context_switches() {
    let (emu, d) = setup("");
    // Authenticated, so the expiry timer is armed too: still no wake-ups.
    let session = d
        .call("session.create", r#"{"mvpd":"Cablevision"}"#)
        .unwrap();
    assert!(emu.complete_code(&s(&session, "code"), "Cablevision"));
    assert!(wait_until(Duration::from_secs(15 * slow() as u64), || s(
        &d.call("auth.status", "").unwrap(),
        "state"
    )
        == "authenticated"));
    std::thread::sleep(Duration::from_millis(500)); // let the last connection thread exit
    let before = ctx_switches(d.pid());
    std::thread::sleep(Duration::from_secs(5));
    let after = ctx_switches(d.pid());
    assert_eq!(after, before, "context switches while idle");
}

#[test]
fn cli_verbs_against_the_daemon() {
    let (emu, d) = setup("");
    let out = d.cli(&["status"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "unauthenticated"
    );
    let out = d.cli(&["status", "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"state":"unauthenticated"}"#
    );
    let out = d.cli(&["device-info", "--json"]);
    let v: Value = json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert!(has(&v, "facts") && has(&v, "header"));
    let out = d.cli(&["identifier"]);
    let fp = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        fp,
        s(&d.call("device.identifier", "").unwrap(), "fingerprint")
    );
    let out = d.cli(&["call", "agent.version"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{{\"version\":\"{}\"}}", env!("CARGO_PKG_VERSION"))
    );
    let out = d.cli(&["call", "no.such", "{}"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("-32601"));
    let out = d.cli(&["call", "agent.version", "{bad"]);
    assert_eq!(out.status.code(), Some(2));

    // login: prints the code and URL, waits, succeeds once the second screen completes.
    let mut login = tvauth_cmd()
        .args(["login", "--mvpd", "Cablevision", "--config"])
        .arg(&d.config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let code = {
        let mut code = String::new();
        assert!(wait_until(Duration::from_secs(10 * slow() as u64), || {
            let st = d.call("auth.status", "").unwrap();
            if s(&st, "state") == "pending" {
                code = s(&st, "code");
                true
            } else {
                false
            }
        }));
        code
    };
    assert!(emu.complete_code(&code, "Cablevision"));
    assert_eq!(
        wait_timeout(&mut login, Duration::from_secs(30 * slow() as u64)),
        Some(0)
    );
    let mut out = String::new();
    std::io::Read::read_to_string(login.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(
        out.contains(&code) && out.contains("/api/v2/authenticate/"),
        "{out}"
    );
    assert!(out.contains("authenticated with Cablevision"), "{out}");

    let out = d.cli(&["logout"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Cablevision"));
    assert_eq!(
        s(&d.call("auth.status", "").unwrap(), "state"),
        "unauthenticated"
    );
}

#[test]
fn config_check_verb() {
    let d = Daemon::prepare(None, DaemonOpts::default());
    let out = d.cli(&["config", "check"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("[socket]"));
    std::fs::write(&d.config, "[pass]\ntimeout_secs = \"x\"\n").unwrap();
    let out = d.cli(&["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass.timeout_secs"));
}
