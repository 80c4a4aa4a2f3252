//! No secret (software statement, client secret, access token) reaches the log at trace level
//! through a full DCR + API session, re-registration included — once the foreign crates are capped
//! as `tvauth::logging::max_level_for` says. The test also proves why the cap is needed:
//! uncapped, ureq-proto's trace hex dump of received bytes contains the access token.
//!
//! One test in its own binary: the `log` logger is process-global.

mod pass_support;

use std::sync::Mutex;

use pass_support::*;
use tvauth::logging::max_level_for;
use tvauth::pass::{PassError, SessionParams};
use tvauth_emulator::{Fault, FaultKind, Options};

struct Captured {
    level: log::Level,
    target: String,
    message: String,
}

static RECORDS: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let c = Captured {
            level: record.level(),
            target: record.target().to_owned(),
            message: record.args().to_string(),
        };
        RECORDS.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    }

    fn flush(&self) {}
}

static LOGGER: CaptureLogger = CaptureLogger;

#[test]
fn no_secret_in_trace_logs() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let env = Env::new("logs", Options::default());
    let c = env.client();
    let s = c
        .create_session(&SessionParams {
            mvpd: Some("Cablevision".into()),
            domain_name: Some("adobe.com".into()),
            redirect_url: Some("https://adobe.com".into()),
        })
        .unwrap();
    let code = s.code.unwrap();
    c.profile_by_code(&code).unwrap();
    env.emu.complete_code(&code, "Cablevision");
    c.profile_by_code(&code).unwrap();
    c.authorize("Cablevision", &["REF30".into()]).unwrap();
    // 401 → new token; registration invalidated → new credentials; an error body.
    env.emu.revoke_tokens();
    c.configuration().unwrap();
    env.emu.invalidate_client();
    c.configuration().unwrap();
    env.emu
        .inject(Fault::on("/api/v2/", FaultKind::server_error(500), 3));
    assert!(matches!(c.profiles(None), Err(PassError::Api { .. })));
    c.logout("Cablevision", "https://adobe.com").unwrap();

    // Every secret that existed: the statement, each client secret (from the token requests'
    // bodies) and each access token (from the API requests' Authorization headers).
    let mut secrets = vec![STATEMENT.to_owned()];
    for r in env.emu.requests() {
        if let Some(a) = r.header("authorization") {
            secrets.push(a.trim_start_matches("Bearer ").to_owned());
        }
        for (k, v) in r.form() {
            if k == "client_secret" {
                secrets.push(v);
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    assert!(
        secrets.len() >= 5,
        "statement, 2 client secrets, 3+ tokens: {}",
        secrets.len()
    );
    assert!(secrets.iter().all(|s| s.len() >= 16));

    let records = std::mem::take(&mut *RECORDS.lock().unwrap());
    assert!(
        records.iter().any(|r| r.target.starts_with("tvauth")),
        "our own logs were captured"
    );
    assert!(
        records
            .iter()
            .any(|r| r.target.starts_with("ureq") && r.level == log::Level::Debug),
        "ureq's debug logs were captured"
    );

    // 1. With the caps applied (what the daemon's logger does), nothing leaks.
    let kept: Vec<&Captured> = records
        .iter()
        .filter(|r| r.level <= max_level_for(&r.target))
        .collect();
    for r in &kept {
        for s in &secrets {
            assert!(
                !r.message.contains(s.as_str()),
                "secret in a {} log line of {}: {}",
                r.level,
                r.target,
                r.message
            );
        }
    }
    // Our own messages are clean even uncapped, and say what they must.
    assert!(records.iter().any(|r| r.target.starts_with("tvauth")
        && r.level == log::Level::Error
        && r.message.contains("profiles are lost")));

    // 2. Uncapped, ureq-proto's trace dump (16 bytes per line, ASCII in the last 16 columns)
    //    carries the DCR answers: the access token can be reassembled from it.
    let dump: String = records
        .iter()
        .filter(|r| r.target.starts_with("ureq_proto") && r.level == log::Level::Trace)
        .filter_map(|r| {
            let chars: Vec<char> = r.message.chars().collect();
            (chars.len() >= 16).then(|| chars[chars.len() - 16..].iter().collect::<String>())
        })
        .collect();
    let token = access_token(&env);
    assert!(
        dump.contains(&token),
        "ureq-proto no longer dumps received bytes at trace: the cap in logging::max_level_for could be relaxed"
    );
}
