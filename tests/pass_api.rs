//! The `pass` client against the HTTPS emulator: every seed sample (request checked header by
//! header, answer field by field), DCR lifecycle, faults, the limiter, TLS trust and the clock hint.

mod pass_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use miniserde::json::{self, Value};
use pass_support::*;
use tvauth::pass::{
    Action, ActionName, Client, PartnerStatus, PassError, ReasonType, Session, SessionParams,
    TransportKind,
};
use tvauth_emulator::{Fault, FaultKind, Options, Recorded};

// ------------------------------------------------------------------------------------ seed samples

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/pass/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn obj(v: &Value) -> &miniserde::json::Object {
    match v {
        Value::Object(o) => o,
        other => panic!("not an object: {other:?}"),
    }
}

fn s(v: &Value) -> &str {
    match v {
        Value::String(s) => s,
        other => panic!("not a string: {other:?}"),
    }
}

fn canonical_b64_json(b64: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let v: Value = json::from_str(std::str::from_utf8(&bytes).unwrap()).unwrap();
    json::to_string(&v)
}

/// The request the client sent must be the seed's request, header by header: same method, path,
/// body and header values — except those that are ours by design: the bearer token (whatever DCR
/// minted), `X-Device-Info` (the seed's is invalid JSON, spec §10 #1) and `User-Agent`.
fn assert_seed_request(env: &Env, rec: &Recorded, sample: &str) {
    let seed: Value = json::from_str(&fixture(&format!("{sample}.request.json"))).unwrap();
    let seed = obj(&seed);
    let line: Vec<&str> = s(&seed["request_line"]).split(' ').collect();
    assert_eq!(rec.method, line[0], "{sample}");
    assert_eq!(rec.path, line[1], "{sample}");
    for (name, value) in obj(&seed["headers"]).iter() {
        let want = s(value);
        let got = rec
            .header(name)
            .unwrap_or_else(|| panic!("{sample}: no {name} header sent"));
        match name.as_str() {
            "Authorization" => assert_eq!(got, format!("Bearer {}", access_token(env)), "{sample}"),
            "X-Device-Info" => assert_eq!(got, device_info(), "{sample}"),
            "User-Agent" => assert_eq!(got, user_agent(), "{sample}"),
            "AP-Partner-Framework-Status" => assert_eq!(
                canonical_b64_json(got),
                canonical_b64_json(want),
                "{sample}: {name}"
            ),
            _ => assert_eq!(got, want, "{sample}: {name}"),
        }
        assert_eq!(
            rec.headers_named(name).len(),
            1,
            "{sample}: {name} sent twice"
        );
    }
    assert_eq!(rec.body_str(), s(&seed["body"]), "{sample}: body");
    assert!(rec.query.is_empty(), "{sample}: query {}", rec.query);
}

/// The parsed answer must hold every field of the seed's answer, and nothing the seed lacks.
fn assert_seed_response(session: &Session, sample: &str) {
    let seed: Value = json::from_str(&fixture(&format!("{sample}.response.json"))).unwrap();
    let seed = obj(&seed);
    let opt = |key: &str| seed.get(key).map(|v| s(v).to_owned());
    let ms = |key: &str| opt(key).map(|v| v.parse::<u64>().unwrap());
    assert_eq!(
        Some(session.action_name.clone()),
        opt("actionName"),
        "{sample}"
    );
    assert_eq!(
        Some(session.action_type.clone()),
        opt("actionType"),
        "{sample}"
    );
    assert_eq!(
        Some(session.reason_type.clone()),
        opt("reasonType"),
        "{sample}"
    );
    assert_eq!(
        Some(session.session_id.clone()),
        opt("sessionId"),
        "{sample}"
    );
    assert_eq!(
        Some(session.service_provider.clone()),
        opt("serviceProvider"),
        "{sample}"
    );
    assert_eq!(session.url, opt("url"), "{sample}");
    assert_eq!(session.code, opt("code"), "{sample}");
    assert_eq!(session.mvpd, opt("mvpd"), "{sample}");
    assert_eq!(session.not_before, ms("notBefore"), "{sample}");
    assert_eq!(session.not_after, ms("notAfter"), "{sample}");
    let missing: Vec<String> = match seed.get("missingParameters") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match s(v) {
                "domain" => "domainName".to_owned(), // spec §10 #9
                other => other.to_owned(),
            })
            .collect(),
        _ => Vec::new(),
    };
    assert_eq!(session.missing_parameters, missing, "{sample}");
    match seed.get("authenticationRequest") {
        Some(ar) => {
            let ar = obj(ar);
            let got = session.authentication_request.as_ref().unwrap();
            assert_eq!(got.type_, s(&ar["type"]));
            assert_eq!(got.request, s(&ar["request"]));
            let names: Vec<&str> = match &ar["attributesNames"] {
                Value::Array(a) => a.iter().map(s).collect(),
                _ => panic!(),
            };
            assert_eq!(got.attributes_names, names);
        }
        None => assert!(session.authentication_request.is_none(), "{sample}"),
    }
}

fn seed_env(tag: &str, degraded: &str) -> Env {
    Env::new(
        tag,
        Options {
            seed_times: true,
            degraded_mvpds: vec![degraded.to_owned()],
            ..Options::default()
        },
    )
}

fn all_params(mvpd: &str) -> SessionParams {
    SessionParams {
        mvpd: Some(mvpd.to_owned()),
        domain_name: Some("adobe.com".to_owned()),
        redirect_url: Some("https://adobe.com".to_owned()),
    }
}

fn last_to(env: &Env, path: &str) -> Recorded {
    env.requests_to(path)
        .pop()
        .unwrap_or_else(|| panic!("nothing sent to {path}"))
}

#[test]
fn seed_000_1_create_session_all_parameters() {
    let env = seed_env("s0001", "${degradedMvpd}");
    let c = env.client();
    let s = c.create_session(&all_params("Cablevision")).unwrap();
    assert_seed_request(
        &env,
        &last_to(&env, "/api/v2/REF30/sessions"),
        "create-1-all-params",
    );
    assert_seed_response(&s, "create-1-all-params");
    assert_eq!(s.action(), ActionName::Authenticate);
    assert_eq!(
        c.full_url(s.url.as_deref().unwrap()),
        format!("{}/api/v2/authenticate/REF30/8ER640M", env.emu.base_url())
    );
}

#[test]
fn seed_000_2_create_session_missing_parameters() {
    let env = seed_env("s0002", "${degradedMvpd}");
    let s = env
        .client()
        .create_session(&SessionParams::default())
        .unwrap();
    assert_seed_request(
        &env,
        &last_to(&env, "/api/v2/REF30/sessions"),
        "create-2-missing-params",
    );
    assert_seed_response(&s, "create-2-missing-params");
    assert_eq!(s.missing_parameters, ["mvpd", "domainName", "redirectUrl"]);
}

#[test]
fn seed_000_3_create_session_profile_exists() {
    let env = seed_env("s0003", "${degradedMvpd}");
    let c = env.client();
    let first = c.create_session(&all_params("Cablevision")).unwrap();
    assert!(
        env.emu
            .complete_code(first.code.as_deref().unwrap(), "Cablevision")
    );
    let s = c.create_session(&all_params("Cablevision")).unwrap();
    assert_seed_request(
        &env,
        &last_to(&env, "/api/v2/REF30/sessions"),
        "create-3-profile-exists",
    );
    assert_seed_response(&s, "create-3-profile-exists");
    assert_eq!(s.reason(), ReasonType::Authenticated);
}

#[test]
fn seed_000_4_create_session_temppass() {
    let env = seed_env("s0004", "${degradedMvpd}");
    let s = env
        .client()
        .create_session(&all_params("TempPass_TEST40"))
        .unwrap();
    assert_seed_request(
        &env,
        &last_to(&env, "/api/v2/REF30/sessions"),
        "create-4-temppass",
    );
    assert_seed_response(&s, "create-4-temppass");
    assert_eq!(s.reason(), ReasonType::Temporary);
}

#[test]
fn seed_000_5_create_session_degraded() {
    let env = seed_env("s0005", "Cablevision");
    let s = env
        .client()
        .create_session(&all_params("Cablevision"))
        .unwrap();
    assert_seed_request(
        &env,
        &last_to(&env, "/api/v2/REF30/sessions"),
        "create-5-degraded",
    );
    assert_seed_response(&s, "create-5-degraded");
    assert_eq!(s.reason(), ReasonType::Degraded);
}

fn granted(provider: &str) -> PartnerStatus {
    PartnerStatus {
        access_status: "granted".into(),
        provider_id: Some(provider.into()),
        expiration_date: Some("2025430636000".into()),
    }
}

fn partner_params() -> SessionParams {
    SessionParams {
        mvpd: Some("ignored-for-partner".into()),
        domain_name: Some("adobe.com".into()),
        redirect_url: Some("https://adobe.com".into()),
    }
}

const SSO: &str = "/api/v2/REF30/sessions/sso/Apple";

#[test]
fn seed_001_002_1_partner_profile() {
    let env = seed_env("p1", "${degradedMvpd}");
    let s = env
        .client()
        .partner_session("Apple", &granted("Cablevision"), &partner_params())
        .unwrap();
    assert_seed_request(&env, &last_to(&env, SSO), "partner-1-partner-profile");
    assert_seed_response(&s, "partner-1-partner-profile");
    assert_eq!(s.action(), ActionName::PartnerProfile);
}

#[test]
fn seed_001_002_2_partner_degraded() {
    let env = seed_env("p2", "${degradedMvpd}");
    let s = env
        .client()
        .partner_session("Apple", &granted("${degradedMvpd}"), &partner_params())
        .unwrap();
    assert_seed_request(&env, &last_to(&env, SSO), "partner-2-degraded");
    assert_seed_response(&s, "partner-2-degraded");
}

#[test]
fn seed_001_002_3_partner_pfs_fallback() {
    let env = seed_env("p3", "${degradedMvpd}");
    let denied = PartnerStatus {
        access_status: "denied".into(),
        ..PartnerStatus::default()
    };
    let s = env
        .client()
        .partner_session("Apple", &denied, &partner_params())
        .unwrap();
    assert_seed_request(&env, &last_to(&env, SSO), "partner-3-pfs-fallback");
    assert_seed_response(&s, "partner-3-pfs-fallback");
    assert_eq!(s.reason(), ReasonType::PfsFallback);
}

#[test]
fn seed_001_002_4_partner_configuration_fallback() {
    let env = seed_env("p4", "${degradedMvpd}");
    env.emu.set_partner_sso_enabled(false);
    let s = env
        .client()
        .partner_session("Apple", &granted("Cablevision"), &partner_params())
        .unwrap();
    assert_seed_request(
        &env,
        &last_to(&env, SSO),
        "partner-4-configuration-fallback",
    );
    assert_seed_response(&s, "partner-4-configuration-fallback");
}

#[test]
fn seed_001_002_5_partner_missing_parameters_fallback() {
    let env = seed_env("p5", "${degradedMvpd}");
    let p = SessionParams {
        redirect_url: None,
        ..partner_params()
    };
    let s = env
        .client()
        .partner_session("Apple", &granted("Cablevision"), &p)
        .unwrap();
    assert_seed_request(
        &env,
        &last_to(&env, SSO),
        "partner-5-missing-parameters-fallback",
    );
    assert_seed_response(&s, "partner-5-missing-parameters-fallback");
    assert_eq!(s.missing_parameters, ["redirectUrl"]);
}

#[test]
fn seed_003_legacy_authenticate_url_from_config() {
    let env = Env::new("v1", Options::default());
    let url = env
        .client()
        .legacy_authenticate_url("Cablevision", "8ER640M", None);
    assert_eq!(
        url,
        "https://api.auth.adobe.com/api/v1/authenticate?reg_code=8ER640M&requestor_id=REF30\
         &mso_id=Cablevision&domain_name=adobe.com&noflash=true&no_iframe=true\
         &redirect_url=https%3A%2F%2Fadobe.com"
    );
    assert!(
        env.emu.requests().is_empty(),
        "building the URL calls nothing"
    );
}

// ------------------------------------------------------------------------------------ other calls

#[test]
fn second_screen_flow_and_every_call_sends_the_device_headers() {
    let env = Env::new("flow", Options::default());
    let c = env.client();
    let created = c.create_session(&SessionParams::default()).unwrap();
    assert_eq!(created.action(), ActionName::Resume);
    let code = created.code.clone().unwrap();
    let info = c.get_session(&code).unwrap();
    assert_eq!(
        info.missing_parameters,
        ["mvpd", "domainName", "redirectUrl"]
    );
    assert!(info.not_after.is_some() && info.device.is_some());
    let resumed = c.resume_session(&code, &all_params("Cablevision")).unwrap();
    assert_eq!(resumed.action(), ActionName::Authenticate);
    assert_eq!(resumed.code.as_deref(), Some(code.as_str()));
    let info = c.get_session(&code).unwrap();
    let j = json::to_string(&info.to_json());
    assert!(j.contains(r#""domainName":"adobe.com""#), "{j}");
    // Poll: nothing yet, then the second screen completes, then the profile.
    assert!(c.profile_by_code(&code).unwrap().is_empty());
    assert!(env.emu.complete_code(&code, "Cablevision"));
    let p = c.profile_by_code(&code).unwrap();
    let profile = p.get("Cablevision").expect("profile after login");
    assert!(profile.not_after > profile.not_before);
    assert!(profile.attributes().unwrap().contains_key("userID"));
    assert_eq!(c.profiles(None).unwrap().profiles.len(), 1);
    assert!(
        c.profiles(Some("Cablevision"))
            .unwrap()
            .get("Cablevision")
            .is_some()
    );
    let conf = c.configuration().unwrap();
    assert!(conf.mvpd_list().iter().any(|m| m.id == "Cablevision"));
    let d = c.authorize("Cablevision", &["REF30".to_owned()]).unwrap();
    let items = d.items();
    assert_eq!(items.len(), 1);
    assert!(items[0].authorized, "{:?}", d.raw);
    assert!(
        items[0]
            .token
            .as_ref()
            .is_some_and(|t| !t.serialized_token.is_empty())
    );
    let pre = c
        .preauthorize("Cablevision", &["REF30".to_owned(), "REF31".to_owned()])
        .unwrap();
    assert_eq!(pre.decisions.len(), 2);
    let out = c.logout("Cablevision", "https://adobe.com").unwrap();
    let l = out.items();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].mvpd, "Cablevision");
    assert!(
        c.profiles(None).unwrap().is_empty(),
        "logout deleted the profile"
    );

    let stats = env.emu.stats();
    assert_eq!(
        stats.handshakes, 1,
        "one kept-alive TLS connection for every call"
    );
    assert_eq!(stats.throttled, 0);

    let sent: Vec<Recorded> = env
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v2/"))
        .collect();
    assert!(sent.len() >= 12);
    let bearer = format!("Bearer {}", access_token(&env));
    for r in &sent {
        let what = format!("{} {}", r.method, r.path);
        assert_eq!(r.header("authorization"), Some(bearer.as_str()), "{what}");
        assert_eq!(r.header("ap-device-identifier"), Some(DEVICE_ID), "{what}");
        assert_eq!(
            r.header("x-device-info"),
            Some(device_info().as_str()),
            "{what}"
        );
        assert_eq!(r.header("accept"), Some("application/json"), "{what}");
        assert_eq!(
            r.header("user-agent"),
            Some(user_agent().as_str()),
            "{what}"
        );
    }
    let decisions = last_to(&env, "/api/v2/REF30/decisions/authorize/Cablevision");
    assert_eq!(
        decisions.header("content-type"),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(decisions.body_str(), r#"{"resources":["REF30"]}"#);
    let logout = last_to(&env, "/api/v2/REF30/logout/Cablevision");
    assert_eq!(logout.query, "redirectUrl=https%3A%2F%2Fadobe.com");
    // DCR: register JSON, token form, both with X-Device-Info; no bearer, no secret in a URL.
    let reg = last_to(&env, "/o/client/register");
    assert_eq!(
        reg.header("content-type"),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(reg.header("x-device-info"), Some(device_info().as_str()));
    assert!(reg.body_str().contains(STATEMENT));
    let tok = last_to(&env, "/o/client/token");
    assert_eq!(
        tok.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(tok.query.is_empty() && tok.header("authorization").is_none());
    assert!(tok.body_str().ends_with("&grant_type=client_credentials"));
}

// ------------------------------------------------------------------------------------ DCR

#[test]
fn token_refresh_on_401_without_reregistration() {
    let env = Env::new("refresh", Options::default());
    let c = env.client();
    c.configuration().unwrap();
    let first = access_token(&env);
    env.emu.revoke_tokens();
    c.configuration().unwrap();
    let stats = env.emu.stats();
    assert_eq!(stats.registrations, 1);
    assert_eq!(stats.token_mints, 2);
    assert_ne!(access_token(&env), first, "the new token is persisted");
    // A 401 fault: refresh and retry once, still one registration.
    env.emu
        .inject(Fault::on("/api/v2/", FaultKind::Unauthorized, 1));
    c.profiles(None).unwrap();
    assert_eq!(env.emu.stats().token_mints, 3);
    // 401 twice in a row: one refresh, one retry, then the 401 is the answer.
    env.emu
        .inject(Fault::on("/api/v2/", FaultKind::Unauthorized, 2));
    match c.profiles(None) {
        Err(PassError::Api { status: 401, .. }) => {}
        other => panic!("{other:?}"),
    }
    let stats = env.emu.stats();
    assert_eq!((stats.registrations, stats.token_mints), (1, 4));
}

#[test]
fn credentials_and_token_reused_across_restarts() {
    use std::os::unix::fs::PermissionsExt;
    // The emulator's throttle is off: each new Client (a "restart") has a fresh limiter, and
    // this test restarts several times within a second.
    let env = Env::new(
        "restart",
        Options {
            throttle: None,
            ..Options::default()
        },
    );
    env.client().configuration().unwrap();
    let secret = client_secret(&env);
    for file in ["client", "token"] {
        let mode = std::fs::metadata(env.state_dir().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // "Restart": a new Client on the same state dir.
    let c2 = env.client();
    c2.configuration().unwrap();
    c2.profiles(None).unwrap();
    let stats = env.emu.stats();
    assert_eq!(stats.registrations, 1, "never re-registered");
    assert_eq!(stats.token_mints, 1, "the stored token was reused");
    assert_eq!(client_secret(&env), secret);
    // A stored token that expired is replaced with the stored credentials, not a new registration.
    std::fs::remove_file(env.state_dir().join("token")).unwrap();
    env.client().configuration().unwrap();
    let stats = env.emu.stats();
    assert_eq!((stats.registrations, stats.token_mints), (1, 2));
    // A changed software statement means new credentials.
    let mut cfg = env.cfg.clone();
    cfg.software_statement = tvauth::secret::Secret::new(format!("{STATEMENT}.v2"));
    Client::new(&cfg, env.store(), headers())
        .unwrap()
        .configuration()
        .unwrap();
    assert_eq!(env.emu.stats().registrations, 2);
    assert_ne!(client_secret(&env), secret);
}

#[test]
fn token_is_refreshed_ahead_of_expiry() {
    #[derive(miniserde::Serialize)]
    struct TokenFile {
        access_token: String,
        expires_at_ms: u64,
        lifetime_ms: u64,
        client_id: String,
    }
    let env = Env::new("ahead", Options::default());
    env.client().configuration().unwrap();
    let token = access_token(&env);
    let client_id = stored_field(&env.state_dir(), "client", "client_id").unwrap();
    // The stored 6 h token now has 1 minute left: inside the 5 min refresh margin.
    let now = tvauth::clock::now_ms();
    env.store()
        .write(
            "token",
            &TokenFile {
                access_token: token.clone(),
                expires_at_ms: now + 60_000,
                lifetime_ms: 21_600_000,
                client_id: client_id.clone(),
            },
        )
        .unwrap();
    let c = env.client();
    c.configuration().unwrap();
    assert_ne!(
        access_token(&env),
        token,
        "minted before use, not after a 401"
    );
    let stats = env.emu.stats();
    assert_eq!((stats.registrations, stats.token_mints), (1, 2));
    let confs = env.requests_to(CONF);
    assert_eq!(confs.len(), 2, "no call was refused with the old token");
    // With 10 minutes left it is still used as is.
    let token = access_token(&env);
    env.store()
        .write(
            "token",
            &TokenFile {
                access_token: token.clone(),
                expires_at_ms: now + 600_000,
                lifetime_ms: 21_600_000,
                client_id,
            },
        )
        .unwrap();
    env.client().configuration().unwrap();
    assert_eq!(env.emu.stats().token_mints, 2);
}

#[test]
fn reregistration_only_when_the_api_says_so() {
    let env = Env::new(
        "rereg",
        Options {
            throttle: None, // several Clients (fresh limiters) in quick succession
            ..Options::default()
        },
    );
    let c = env.client();
    c.configuration().unwrap();
    let secret = client_secret(&env);
    // Calls with the old token: 401 invalid_access_token_client_application → register again.
    env.emu.invalidate_client();
    c.configuration().unwrap();
    let stats = env.emu.stats();
    assert_eq!((stats.registrations, stats.token_mints), (2, 2));
    assert_ne!(client_secret(&env), secret);
    // Minting with dead credentials: invalid_client → register again (fresh process, no token).
    env.emu.invalidate_client();
    std::fs::remove_file(env.state_dir().join("token")).unwrap();
    env.client().configuration().unwrap();
    let stats = env.emu.stats();
    // (`token_mints` counts successful mints; the refused one shows in the requests.)
    assert_eq!((stats.registrations, stats.token_mints), (3, 3));
    assert_eq!(env.requests_to("/o/client/token").len(), 4);
}

#[test]
fn bad_software_statement_is_an_api_error_with_the_dcr_code() {
    let env = Env::new("badss", Options::default());
    let mut cfg = env.cfg.clone();
    cfg.software_statement = tvauth::secret::Secret::new("invalid".into());
    let c = Client::new(&cfg, env.store(), headers()).unwrap();
    match c.configuration() {
        Err(PassError::Api {
            status: 400,
            errors,
        }) => {
            assert_eq!(
                errors[0].code.as_deref(),
                Some("invalid_software_statement")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!env.state_dir().join("client").exists());
}

// ------------------------------------------------------------------------------------ faults

fn fault_env(tag: &str) -> (Env, Client) {
    let env = Env::new(tag, Options::default());
    let c = env.client();
    c.configuration().unwrap(); // DCR done; faults below hit API calls only
    (env, c)
}

fn api_calls(env: &Env, path: &str) -> usize {
    env.requests_to(path).len()
}

const SESSIONS: &str = "/api/v2/REF30/sessions";
const CONF: &str = "/api/v2/REF30/configuration";

#[test]
fn fault_429_without_and_with_retry_after() {
    let mut env = Env::new("f429", Options::default());
    env.cfg.timeout_secs = 2;
    let c = env.client();
    c.configuration().unwrap();
    env.emu.inject(Fault::on(
        SESSIONS,
        FaultKind::TooManyRequests {
            retry_after_secs: None,
        },
        1,
    ));
    match c.create_session(&all_params("Cablevision")) {
        Err(PassError::Throttled { retry_after_ms }) => assert_eq!(retry_after_ms, 1000),
        other => panic!("{other:?}"),
    }
    assert_eq!(api_calls(&env, SESSIONS), 1, "a 429 is not retried");
    // The next call waits out the 1 s hold (its deadline is 2 s), then gets a 429 with
    // `Retry-After: 5`, which is honoured.
    env.emu.inject(Fault::on(
        SESSIONS,
        FaultKind::TooManyRequests {
            retry_after_secs: Some(5),
        },
        1,
    ));
    match c.create_session(&all_params("Cablevision")) {
        Err(PassError::Throttled { retry_after_ms }) => assert_eq!(retry_after_ms, 5000),
        other => panic!("{other:?}"),
    }
    assert_eq!(api_calls(&env, SESSIONS), 2);
    // Within the 5 s hold nobody calls: a call whose 2 s deadline ends before the hold is refused
    // by the limiter without reaching the API.
    let before = env.emu.requests().len();
    match c.configuration() {
        Err(PassError::Throttled { retry_after_ms }) => {
            assert!((2000..=5000).contains(&retry_after_ms), "{retry_after_ms}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        env.emu.requests().len(),
        before,
        "nothing sent during the hold"
    );
}

#[test]
fn fault_5xx_with_enhanced_error_is_retried_then_preserved() {
    let (env, c) = fault_env("f5xx");
    // Action `retry`: retried (at most twice), here successfully.
    env.emu
        .inject(Fault::on(SESSIONS, FaultKind::server_error(503), 1));
    c.create_session(&all_params("Cablevision")).unwrap();
    assert_eq!(api_calls(&env, SESSIONS), 2);
    // Three in a row: three attempts, then the enhanced error, flat envelope.
    env.emu
        .inject(Fault::on(SESSIONS, FaultKind::server_error(500), 3));
    match c.create_session(&all_params("Cablevision")) {
        Err(PassError::Api {
            status: 500,
            errors,
        }) => {
            assert_eq!(errors.len(), 1);
            let e = &errors[0];
            assert_eq!(e.code.as_deref(), Some("internal_server_error"));
            assert_eq!(e.action_kind(), Action::Retry);
            assert_eq!(e.status, Some(500));
            assert!(e.message.is_some() && e.help_url.is_some() && e.trace.is_some());
            assert!(json::to_string(&e.raw).contains("\"trace\""));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(api_calls(&env, SESSIONS), 5);
    // The 2024 `{"errors":[…]}` envelope, action `configuration`: not retried.
    env.emu.inject(Fault::on(
        SESSIONS,
        FaultKind::ServerErrorWrapped {
            status: 500,
            code: "invalid_configuration_platform".into(),
            action: "configuration".into(),
        },
        1,
    ));
    match c.create_session(&all_params("Cablevision")) {
        Err(e @ PassError::Api { status: 500, .. }) => {
            assert!(e.has_action(Action::Configuration));
            let PassError::Api { errors, .. } = &e else {
                unreachable!()
            };
            assert_eq!(
                errors[0].code.as_deref(),
                Some("invalid_configuration_platform")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(api_calls(&env, SESSIONS), 6);
}

#[test]
fn fault_truncated_and_oversized_bodies_are_bad_responses() {
    let (env, c) = fault_env("fbody");
    env.emu.inject(Fault::on(CONF, FaultKind::TruncatedJson, 1));
    match c.configuration() {
        Err(PassError::BadResponse {
            status: 200,
            reason,
        }) => {
            assert!(reason.contains("JSON"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    env.emu.inject(Fault::on(
        CONF,
        FaultKind::Oversized {
            bytes: 2 * 1024 * 1024,
        },
        1,
    ));
    match c.configuration() {
        Err(PassError::BadResponse {
            status: 200,
            reason,
        }) => {
            assert!(reason.contains("1 MiB"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    env.emu.inject(Fault::on(CONF, FaultKind::CloseEarly, 1));
    match c.configuration() {
        Err(PassError::BadResponse {
            status: 200,
            reason,
        }) => {
            assert!(reason.contains("cut short"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Still usable afterwards.
    c.configuration().unwrap();
}

#[test]
fn fault_stall_times_out() {
    let (env, _) = fault_env("fstall");
    let mut cfg = env.cfg.clone();
    cfg.timeout_secs = 1;
    let c = Client::new(&cfg, env.store(), headers()).unwrap();
    env.emu
        .inject(Fault::on(SESSIONS, FaultKind::Stall { ms: 3_000 }, 1));
    match c.create_session(&all_params("Cablevision")) {
        Err(PassError::Transport {
            kind: TransportKind::Timeout,
            reason,
        }) => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fault_reset_retried_on_get_not_on_post() {
    let (env, c) = fault_env("freset");
    env.emu.inject(Fault::on(CONF, FaultKind::Reset, 1));
    c.configuration().unwrap();
    assert_eq!(api_calls(&env, CONF), 3, "1 before + reset + retry");
    env.emu.inject(Fault::on(SESSIONS, FaultKind::Reset, 1));
    match c.create_session(&all_params("Cablevision")) {
        Err(PassError::Transport { kind, .. }) => {
            assert!(
                matches!(kind, TransportKind::Io | TransportKind::Connect),
                "{kind}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(api_calls(&env, SESSIONS), 1, "a POST is never resent");
}

#[test]
fn non_json_error_bodies_and_item_level_errors() {
    let (env, c) = fault_env("fhtml");
    env.emu.inject(Fault::on(
        CONF,
        FaultKind::Custom {
            status: 403,
            content_type: "text/html".into(),
            headers: Vec::new(),
            body: b"<html>403 Forbidden</html>".to_vec(),
        },
        1,
    ));
    match c.configuration() {
        Err(PassError::Api {
            status: 403,
            errors,
        }) => assert!(errors.is_empty()),
        other => panic!("{other:?}"),
    }
    // A 200 whose items carry errors is a success with item-level errors.
    env.emu.inject(Fault::on(
        "/api/v2/REF30/decisions/",
        FaultKind::Custom {
            status: 200,
            content_type: "application/json".into(),
            headers: Vec::new(),
            body: br#"{"decisions":[{"resource":"R","serviceProvider":"REF30","mvpd":"Cablevision","authorized":false,"source":"mvpd","error":{"action":"retry","status":403,"code":"network_received_error","message":"m","trace":"t"}}]}"#.to_vec(),
        },
        1,
    ));
    let d = c.authorize("Cablevision", &["R".into()]).unwrap();
    assert_eq!(
        d.errors()[0].code.as_deref(),
        Some("network_received_error")
    );
    // An unknown mvpd: the emulator's enhanced 400, action none.
    match c.authorize("NoSuchMvpd", &["R".into()]) {
        Err(PassError::Api {
            status: 400,
            errors,
        }) => {
            assert_eq!(errors[0].action_kind(), Action::None);
        }
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------------------------------ limiter

/// Adobe's rule on both sides (1/s, burst 10): 30 calls back to back never make the emulator
/// throttle. Takes ~21 s of waiting (no CPU).
#[test]
fn limiter_30_call_burst_never_trips_the_api_throttle() {
    let env = Env::new("burst", Options::default());
    let c = env.client();
    for i in 0..30 {
        if let Err(e) = c.profiles(None) {
            panic!("call {i}: {e}");
        }
    }
    let stats = env.emu.stats();
    assert_eq!(stats.throttled, 0);
    assert_eq!(stats.requests, 32, "register + token + 30");
}

/// Same with many threads at once, at 10/s (the limiter is shared by every call of the client).
#[test]
fn limiter_concurrent_burst() {
    let mut env = Env::new(
        "cburst",
        Options {
            throttle: Some((10, 10)),
            ..Options::default()
        },
    );
    env.cfg.throttle_per_sec = 10;
    env.cfg.throttle_burst = 10;
    env.cfg.timeout_secs = 30;
    let c = env.client();
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                for _ in 0..5 {
                    c.profiles(None).unwrap();
                }
            });
        }
    });
    let stats = env.emu.stats();
    assert_eq!(stats.throttled, 0);
    assert_eq!(
        (stats.registrations, stats.token_mints),
        (1, 1),
        "one DCR for all threads"
    );
}

// ------------------------------------------------------------------------------------ TLS

#[test]
fn untrusted_certificate_is_refused_before_any_request() {
    let mut env = Env::new("untrusted", Options::default());
    env.cfg.ca_file = None; // Mozilla roots only: the emulator's test CA is unknown
    let c = env.client();
    match c.create_session(&all_params("Cablevision")) {
        Err(PassError::Transport {
            kind: TransportKind::Tls,
            reason,
        }) => assert!(reason.contains("untrusted"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(env.emu.requests().is_empty(), "nothing was sent");
    assert_eq!(env.emu.stats().registrations, 0);
    assert!(!env.state_dir().join("client").exists());
}

#[test]
fn bad_ca_file_is_a_configuration_error() {
    let mut env = Env::new("badca", Options::default());
    let junk = env.dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    env.cfg.ca_file = Some(junk);
    match Client::new(&env.cfg, env.store(), headers()) {
        Err(PassError::NotConfigured { missing }) => assert_eq!(missing, ["pass.ca_file"]),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted a CA file without certificates"),
    }
}

/// The clock hint end to end: the client's wall clock is injected (1971), so rustls finds the
/// emulator's fresh certificate "not valid yet" and the reason blames the box clock.
#[test]
fn clock_before_build_gives_the_clock_hint() {
    fn in_1971() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(365 * 86_400)
    }
    let env = Env::new("clock", Options::default());
    let c = Client::with_wall_clock(&env.cfg, env.store(), headers(), in_1971).unwrap();
    match c.configuration() {
        Err(PassError::Transport {
            kind: TransportKind::Tls,
            reason,
        }) => {
            assert!(
                reason.starts_with("system clock is before this build (clock says 1971-01-01"),
                "{reason}"
            );
            assert!(reason.ends_with("set the time (NTP)"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(env.emu.requests().is_empty());
    // The same client setup with a sane clock works.
    env.client().configuration().unwrap();
}

#[test]
fn unreachable_api_is_a_transport_error() {
    let mut env = Env::new("unreach", Options::default());
    // A port nothing listens on (bind, read the port, drop the listener).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.cfg.base_url = format!("https://127.0.0.1:{port}");
    match env.client().configuration() {
        Err(PassError::Transport { kind, reason }) => {
            assert_eq!(kind, TransportKind::Connect, "{reason}")
        }
        other => panic!("{other:?}"),
    }
    env.cfg.base_url = "https://no-such-host.invalid".into();
    match env.client().configuration() {
        Err(PassError::Transport { kind, reason }) => {
            assert_eq!(kind, TransportKind::Dns, "{reason}")
        }
        other => panic!("{other:?}"),
    }
}
