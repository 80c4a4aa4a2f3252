//! Stateful behaviour, validation, throttle, faults and transport of the emulator.

mod common;
use common::*;
use miniserde::json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;
use tvauth_emulator::{Chaos, Emulator, Fault, FaultKind, Options};

fn quiet() -> Emulator {
    Emulator::start(Options {
        throttle: None,
        ..Options::default()
    })
}

const BODY: &str = "mvpd=Cablevision&domainName=adobe.com&redirectUrl=https%3A%2F%2Fadobe.com";

// ---------------------------------------------------------------- DCR

#[test]
fn dcr_register_token_and_errors() {
    let emu = quiet();
    let c = Client::bare(&emu);
    let (id, secret) = c.register();
    let r = c.mint(&id, &secret);
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(text(&v, "token_type"), "bearer");
    assert_eq!(text(&v, "expires_in"), "21600");
    let created: u64 = text(&v, "created_at").parse().unwrap();
    assert!(created > 1_700_000_000_000, "created_at is epoch ms");
    assert!(!text(&v, "id").is_empty());

    let bad = |path: &str, ct: &str, body: &str| {
        let r = c.post_raw(path, ct, body, &[]).unwrap();
        assert_eq!(r.status, 400, "{}", r.body);
        r.field("error")
    };
    let json = "application/json;charset=utf-8";
    let form = "application/x-www-form-urlencoded";
    assert_eq!(
        bad("/o/client/register", json, r#"{"software_statement":""}"#),
        "invalid_software_statement"
    );
    assert_eq!(
        bad(
            "/o/client/register",
            json,
            r#"{"software_statement":"invalid"}"#
        ),
        "invalid_software_statement"
    );
    assert_eq!(
        bad("/o/client/register", json, r#"{}"#),
        "invalid_software_statement"
    );
    assert_eq!(
        bad("/o/client/register", json, "not json"),
        "invalid_request"
    );
    assert_eq!(
        bad("/o/client/register", form, r#"{"software_statement":"x"}"#),
        "invalid_request"
    );
    assert_eq!(
        bad(
            "/o/client/token",
            form,
            &format!("client_id={id}&client_secret=nope&grant_type=client_credentials")
        ),
        "invalid_client"
    );
    assert_eq!(
        bad(
            "/o/client/token",
            form,
            "client_id=unknown&client_secret=x&grant_type=client_credentials"
        ),
        "invalid_client"
    );
    assert_eq!(
        bad(
            "/o/client/token",
            form,
            &format!("client_id={id}&client_secret={secret}&grant_type=password")
        ),
        "unsupported_grant_type"
    );
    assert_eq!(
        bad("/o/client/token", form, "client_id=x"),
        "invalid_request"
    );
    assert_eq!(
        bad(
            "/o/client/token",
            json,
            &format!("client_id={id}&client_secret={secret}&grant_type=client_credentials")
        ),
        "invalid_request"
    );
    let s = emu.stats();
    assert_eq!((s.registrations, s.token_mints), (1, 1));
}

#[test]
fn tokens_revoked_and_client_invalidated() {
    let emu = quiet();
    let mut c = Client::bare(&emu);
    let (id, secret) = c.register();
    c.token = c.mint(&id, &secret).field("access_token");
    assert_eq!(c.get("/api/v2/REF30/configuration").status, 200);

    // No token at all.
    let r = c.get_raw("/api/v2/REF30/configuration", &[]).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.field("status"), "401");

    emu.revoke_tokens();
    let r = c.get("/api/v2/REF30/configuration");
    assert_eq!(r.status, 401);
    assert_eq!(r.field("code"), "invalid_access_token");
    assert_ne!(
        r.field("action"),
        "application-registration",
        "a refresh is enough"
    );
    c.token = c.mint(&id, &secret).field("access_token");
    assert_eq!(c.get("/api/v2/REF30/configuration").status, 200);

    emu.invalidate_client();
    let r = c.get("/api/v2/REF30/configuration");
    assert_eq!(r.status, 401);
    assert_eq!(r.field("action"), "application-registration");
    let r = c.mint(&id, &secret);
    assert_eq!(r.status, 400);
    assert_eq!(r.field("error"), "invalid_client");
    let s = emu.stats();
    assert_eq!((s.registrations, s.token_mints), (1, 2));
}

#[test]
fn tokens_expire() {
    let emu = Emulator::start(Options {
        throttle: None,
        token_ttl_secs: 0,
        ..Options::default()
    });
    let c = Client::new(&emu);
    assert_eq!(c.get("/api/v2/REF30/configuration").status, 401);
}

// ---------------------------------------------------------------- request validation

#[test]
fn header_and_content_type_validation() {
    let emu = quiet();
    let c = Client::new(&emu);
    let auth = format!("Bearer {}", c.token);
    let form = "application/x-www-form-urlencoded";
    let info = device_info();
    let post = |ct: &str, headers: &[(&str, &str)]| {
        let mut h = vec![("Authorization", auth.as_str())];
        h.extend_from_slice(headers);
        let r = c.post_raw("/api/v2/REF30/sessions", ct, BODY, &h).unwrap();
        assert_eq!(r.status, 400, "{}", r.body);
        r.field("code")
    };
    assert_eq!(post(form, &[]), "invalid_header_device_identifier");
    assert_eq!(
        post(form, &[("AP-Device-Identifier", "YmEy")]),
        "invalid_header_device_identifier"
    );
    assert_eq!(
        post(form, &[("AP-Device-Identifier", "fingerprint %%%")]),
        "invalid_header_device_identifier"
    );
    assert_eq!(
        post(form, &[("AP-Device-Identifier", "uuid YmEy")]),
        "invalid_header_device_identifier"
    );
    assert_eq!(
        post(
            form,
            &[
                ("AP-Device-Identifier", DEVICE_ID),
                ("X-Device-Info", "e30")
            ]
        ),
        "invalid_header_device_info",
        "unpadded base64"
    );
    let not_object = "WzFd"; // [1]
    assert_eq!(
        post(
            form,
            &[
                ("AP-Device-Identifier", DEVICE_ID),
                ("X-Device-Info", not_object)
            ]
        ),
        "invalid_header_device_info"
    );
    assert_eq!(
        post(
            "application/json",
            &[
                ("AP-Device-Identifier", DEVICE_ID),
                ("X-Device-Info", &info)
            ]
        ),
        "invalid_header_content_type"
    );
    // Decisions want JSON.
    let r = c.post_form(
        "/api/v2/REF30/decisions/authorize/Cablevision",
        r#"{"resources":["a"]}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.field("code"), "invalid_header_content_type");
    // Unknown mvpd, wrong method, unknown path.
    let r = c.post_form(
        "/api/v2/REF30/sessions",
        "mvpd=Nope&domainName=adobe.com&redirectUrl=x",
    );
    assert_eq!(r.field("code"), "invalid_parameter_mvpd");
    assert_eq!(c.get("/api/v2/REF30/sessions").status, 405);
    assert_eq!(c.get("/api/v2/REF30/nothing/here").status, 404);
}

// ---------------------------------------------------------------- sessions and second screen

#[test]
fn second_screen_flow_profiles_decisions_logout() {
    let emu = quiet();
    let c = Client::new(&emu);
    let r = c.post_form("/api/v2/REF30/sessions", BODY);
    let s = r.json();
    assert_eq!(text(&s, "actionName"), "authenticate");
    let code = text(&s, "code");
    assert_eq!(code, "8ER640M", "the first code is the seed's");
    let nb: u64 = text(&s, "notBefore").parse().unwrap();
    let na: u64 = text(&s, "notAfter").parse().unwrap();
    assert_eq!(na - nb, 30 * 60 * 1000);
    assert_ne!(text(&s, "sessionId"), tvauth_emulator::seed::SESSION_ID);

    let poll = format!("/api/v2/REF30/profiles/code/{code}");
    assert_eq!(
        canonical(&c.get(&poll).body),
        canonical(r#"{"profiles":{}}"#)
    );
    let r = c.post_with(
        "/api/v2/REF30/decisions/authorize/Cablevision",
        "application/json;charset=utf-8",
        r#"{"resources":["news"]}"#,
        &[],
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.field("code"), "authenticated_profile_missing");
    assert_eq!(r.field("action"), "authentication");

    // The browser on the second screen opens the session url: the MVPD login is simulated.
    let browser = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[
                    ureq::tls::Certificate::from_der(&emu.ca_der()).to_owned(),
                ]))
                .build(),
        )
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent();
    let resp = browser
        .get(format!("{}{}", emu.base_url(), text(&s, "url")))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    assert_eq!(resp.headers().get("location").unwrap(), "https://adobe.com");

    let r = c.get(&poll);
    let profiles = r.json();
    let p = get(get(&profiles, "profiles"), "Cablevision");
    assert_eq!(text(p, "type"), "regular");
    assert_eq!(text(p, "issuer"), "Cablevision");
    assert!(
        matches!(get(p, "notBefore"), Value::Number(_)),
        "profile times are integers"
    );
    assert!(matches!(get(p, "notAfter"), Value::Number(_)));
    let user = get(get(p, "attributes"), "userID");
    assert_eq!(text(user, "state"), "plain");
    assert!(!text(user, "value").is_empty());
    for path in [
        "/api/v2/REF30/profiles",
        "/api/v2/REF30/profiles/Cablevision",
    ] {
        assert!(
            has(get(&c.get(path).json(), "profiles"), "Cablevision"),
            "{path}"
        );
    }
    assert!(!has(
        get(&c.get("/api/v2/REF30/profiles/Dish").json(), "profiles"),
        "Cablevision"
    ));

    // Profiles are per device.
    let other = c.get_raw(
        "/api/v2/REF30/profiles",
        &[
            ("Authorization", &format!("Bearer {}", c.token)),
            ("AP-Device-Identifier", "fingerprint b3RoZXI="),
        ],
    );
    assert_eq!(
        canonical(&other.unwrap().body),
        canonical(r#"{"profiles":{}}"#)
    );

    // A new session now finds the profile.
    let again = c.post_form("/api/v2/REF30/sessions", BODY).json();
    assert_eq!(text(&again, "reasonType"), "authenticated");

    // Decisions.
    let r = c.post_with(
        "/api/v2/REF30/decisions/authorize/Cablevision",
        "application/json;charset=utf-8",
        r#"{"resources":["news","denied-resource"]}"#,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.json();
    let Value::Array(items) = get(&d, "decisions") else {
        panic!()
    };
    assert_eq!(items.len(), 2);
    assert_eq!(text(&items[0], "authorized"), "true");
    assert_eq!(text(&items[0], "source"), "mvpd");
    let token = get(&items[0], "token");
    assert!(!text(token, "serializedToken").is_empty());
    assert!(matches!(get(token, "notAfter"), Value::Number(_)));
    assert_eq!(text(&items[1], "authorized"), "false");
    assert_eq!(
        text(get(&items[1], "error"), "code"),
        "authorization_denied_by_mvpd"
    );
    assert_eq!(text(get(&items[1], "error"), "status"), "403");
    let r = c.post_with(
        "/api/v2/REF30/decisions/preauthorize/Cablevision",
        "application/json",
        r#"{"resources":["news","denied-x"]}"#,
        &[],
    );
    let d = r.json();
    let Value::Array(items) = get(&d, "decisions") else {
        panic!()
    };
    assert!(!has(&items[0], "token"));
    assert_eq!(
        text(get(&items[1], "error"), "code"),
        "preauthorization_denied_by_mvpd"
    );
    for bad in [
        r#"{"resources":[]}"#,
        r#"{"resources":"a"}"#,
        "{",
        r#"{"resources":[1]}"#,
    ] {
        let r = c.post_with(
            "/api/v2/REF30/decisions/authorize/Cablevision",
            "application/json",
            bad,
            &[],
        );
        assert_eq!(r.field("code"), "invalid_parameter_resources", "{bad}");
    }

    // Logout deletes the profile; a second logout finds none.
    let r = c.get("/api/v2/REF30/logout/Cablevision?redirectUrl=https%3A%2F%2Fadobe.com");
    let l = get(get(&r.json(), "logouts"), "Cablevision").clone();
    assert_eq!(text(&l, "actionName"), "logout");
    assert_eq!(text(&l, "actionType"), "interactive");
    assert!(text(&l, "url").contains("redirect_url=https%3A%2F%2Fadobe.com"));
    assert_eq!(
        canonical(&c.get("/api/v2/REF30/profiles").body),
        canonical(r#"{"profiles":{}}"#)
    );
    let r = c.get("/api/v2/REF30/logout/Cablevision");
    let l = get(get(&r.json(), "logouts"), "Cablevision").clone();
    assert_eq!(
        (text(&l, "actionName"), text(&l, "actionType")),
        ("invalid".into(), "none".into())
    );
}

#[test]
fn resume_retrieve_and_dead_codes() {
    let emu = quiet();
    let c = Client::new(&emu);
    let s = c.post_form("/api/v2/REF30/sessions", "").json();
    assert_eq!(text(&s, "actionName"), "resume");
    let code = text(&s, "code");
    assert!(!has(&s, "mvpd"));

    let retrieve = c.get(&format!("/api/v2/REF30/sessions/{code}")).json();
    assert_eq!(
        miniserde::json::to_string(get(&retrieve, "missingParameters")),
        r#"["mvpd","domain","redirectUrl"]"#
    );
    assert!(
        matches!(get(&retrieve, "notAfter"), Value::String(_)),
        "session times are strings"
    );
    let device = get(&retrieve, "device");
    assert_eq!(text(device, "type"), "SetTopBox");
    assert_eq!(text(get(device, "operatingSystem"), "name"), "Linux");

    // Resume is called by the second screen: no device headers needed.
    let auth = format!("Bearer {}", c.token);
    let resume = |body: &str| {
        c.post_raw(
            &format!("/api/v2/REF30/sessions/{code}"),
            "application/x-www-form-urlencoded",
            body,
            &[("Authorization", &auth)],
        )
        .unwrap()
    };
    let r = resume("mvpd=Cablevision").json();
    assert_eq!(text(&r, "actionName"), "retry");
    assert_eq!(
        miniserde::json::to_string(get(&r, "missingParameters")),
        r#"["domain","redirectUrl"]"#
    );
    let r = resume("domainName=adobe.com&redirectUrl=https%3A%2F%2Fadobe.com").json();
    assert_eq!(text(&r, "actionName"), "authenticate");
    assert_eq!(
        text(&r, "url"),
        format!("/api/v2/authenticate/REF30/{code}")
    );
    // The doc's odd retrieve path works too.
    let odd = c.get(&format!("/api/v2/sessions/REF30/{code}")).json();
    assert_eq!(text(get(&odd, "existingParameters"), "mvpd"), "Cablevision");
    assert_eq!(
        miniserde::json::to_string(get(&odd, "missingParameters")),
        "[]"
    );

    let r = c.get("/api/v2/REF30/profiles/code/NOPE123");
    assert_eq!(
        (r.status, r.field("code")),
        (400, "invalid_parameter_code".to_string())
    );
    // A new session replaces the old code.
    let newer = text(&c.post_form("/api/v2/REF30/sessions", BODY).json(), "code");
    assert_ne!(newer, code);
    let r = c.get(&format!("/api/v2/REF30/profiles/code/{code}"));
    assert_eq!(
        (r.status, r.field("code")),
        (400, "invalid_authentication_session".to_string())
    );
    assert!(!emu.complete_code(&code, "Cablevision"));
    assert!(emu.complete_code(&newer, "Cablevision"));
}

#[test]
fn browser_login_without_mvpd_and_partner_profile() {
    let emu = quiet();
    let c = Client::new(&emu);
    // No mvpd and no redirectUrl: the browser page takes ?mvpd= and answers 200 HTML.
    let code = c
        .post_form("/api/v2/REF30/sessions", "domainName=adobe.com")
        .field("code");
    let r = c
        .get_raw(&format!("/api/v2/authenticate/REF30/{code}?mvpd=Dish"), &[])
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let p = c.get(&format!("/api/v2/REF30/profiles/code/{code}")).json();
    assert!(has(get(&p, "profiles"), "Dish"));
    let r = c
        .get_raw("/api/v2/authenticate/REF30/NOPE999", &[])
        .unwrap();
    assert_eq!(r.status, 400);

    // Partner profile from a SAMLResponse: an appleSSO profile, then partner_logout.
    let r = c.post_with(
        "/api/v2/REF30/profiles/sso/Apple",
        "application/x-www-form-urlencoded",
        "SAMLResponse=PHNhbWw%2B",
        &[("AP-Partner-Framework-Status", PFS_GRANTED)],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let p = get(get(&r.json(), "profiles"), "Cablevision").clone();
    assert_eq!(
        (text(&p, "type"), text(&p, "issuer")),
        ("appleSSO".into(), "Apple".into())
    );
    let s = c.post_with(
        "/api/v2/REF30/sessions/sso/Apple",
        "application/x-www-form-urlencoded",
        "domainName=adobe.com&redirectUrl=https%3A%2F%2Fadobe.com",
        &[("AP-Partner-Framework-Status", PFS_GRANTED)],
    );
    assert_eq!(s.field("reasonType"), "authenticatedSSO");
    let l = c.get("/api/v2/REF30/logout/Cablevision").json();
    assert_eq!(
        text(get(get(&l, "logouts"), "Cablevision"), "actionName"),
        "partner_logout"
    );
    let r = c.post_with(
        "/api/v2/REF30/profiles/sso/Apple",
        "application/x-www-form-urlencoded",
        "SAMLResponse=x",
        &[("AP-Partner-Framework-Status", PFS_DENIED)],
    );
    assert_eq!(
        r.field("code"),
        "invalid_header_pfs_permission_access_not_granted"
    );
    let r = c.post_form("/api/v2/REF30/sessions/sso/Google", "domainName=adobe.com");
    assert_eq!(r.field("code"), "invalid_parameter_partner");
}

#[test]
fn codes_expire() {
    let emu = Emulator::start(Options {
        throttle: None,
        code_ttl_ms: 0,
        ..Options::default()
    });
    let c = Client::new(&emu);
    let code = c.post_form("/api/v2/REF30/sessions", BODY).field("code");
    let r = c.get(&format!("/api/v2/REF30/profiles/code/{code}"));
    assert_eq!(r.field("code"), "invalid_authentication_session");
    assert!(!emu.complete_code(&code, "Cablevision"));
}

#[test]
fn configuration_lists_mvpds() {
    let emu = quiet();
    let c = Client::new(&emu);
    let r = c.get("/api/v2/REF30/configuration/");
    assert_eq!(r.status, 200);
    let v = r.json();
    let req = get(&v, "requestor");
    assert_eq!(text(req, "id"), "REF30");
    let Value::Array(domains) = get(req, "domains") else {
        panic!()
    };
    assert_eq!(text(&domains[0], "name"), "adobe.com");
    let Value::Array(mvpds) = get(req, "mvpds") else {
        panic!()
    };
    let find = |id: &str| mvpds.iter().find(|m| text(m, "id") == id).cloned().unwrap();
    assert_eq!(text(&find("Cablevision"), "isTempPass"), "false");
    assert_eq!(text(&find("TempPass_TEST40"), "isTempPass"), "true");
    for key in ["displayName", "logoUrl", "isProxy"] {
        assert!(has(&find("Cablevision"), key));
    }
}

// ---------------------------------------------------------------- transport

#[test]
fn keep_alive_one_handshake_for_many_requests() {
    let emu = quiet();
    let c = Client::new(&emu);
    for _ in 0..10 {
        assert_eq!(c.get("/api/v2/REF30/configuration").status, 200);
    }
    let s = emu.stats();
    assert_eq!(s.requests, 12);
    assert_eq!(s.handshakes, 1, "{s:?}");
}

#[test]
fn untrusted_client_fails_the_handshake() {
    let emu = quiet();
    let agent = ureq::Agent::new_with_defaults(); // webpki roots only
    let err = agent
        .get(format!("{}/api/v2/REF30/configuration", emu.base_url()))
        .call()
        .unwrap_err();
    assert!(
        matches!(err, ureq::Error::Rustls(_) | ureq::Error::Io(_)),
        "{err:?}"
    );
    // The failure is recorded server side once the thread notices.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while emu.stats().handshake_failures == 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let s = emu.stats();
    assert_eq!((s.requests, s.handshakes), (0, 0));
    assert_eq!(s.handshake_failures, 1);
}

#[test]
fn throttle_like_adobe() {
    let emu = Emulator::start(Options::default()); // 1/s, burst 10
    let c = Client::bare(&emu);
    let mut statuses = Vec::new();
    let mut first_429 = None;
    for _ in 0..40 {
        let r = c.get_raw("/api/v2/REF30/configuration", &[]).unwrap();
        statuses.push(r.status);
        if r.status == 429 {
            first_429 = Some(r);
            break;
        }
    }
    assert!(
        statuses[..10].iter().all(|s| *s == 401),
        "the burst passes: {statuses:?}"
    );
    let r = first_429.expect("a 429 after the burst");
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("retry-after"), None);
    assert!(r.body.contains("429 Too Many Requests"));
    assert_eq!(emu.stats().throttled, 1);
    // Another client (X-Forwarded-For) has its own bucket; disabling lifts the limit.
    let r = c
        .get_raw(
            "/api/v2/REF30/configuration",
            &[("X-Forwarded-For", "192.0.2.7")],
        )
        .unwrap();
    assert_eq!(r.status, 401);
    emu.set_throttle(None);
    for _ in 0..20 {
        assert_eq!(
            c.get_raw("/api/v2/REF30/configuration", &[])
                .unwrap()
                .status,
            401
        );
    }
}

#[test]
fn oversize_request_head_and_body_are_refused() {
    let emu = Emulator::start(Options {
        throttle: None,
        max_body_bytes: 1024,
        ..Options::default()
    });
    let c = Client::bare(&emu);
    let big = "a".repeat(20 * 1024);
    let r = c
        .get_raw("/api/v2/REF30/configuration", &[("X-Big", &big)])
        .unwrap();
    assert_eq!(r.status, 431);
    let r = c
        .post_raw(
            "/o/client/register",
            "application/json",
            &"b".repeat(2048),
            &[],
        )
        .unwrap();
    assert_eq!(r.status, 413);
}

#[test]
fn chunked_request_bodies_are_decoded() {
    let emu = quiet();
    let c = Client::bare(&emu);
    let body = br#"{"software_statement":"stmt"}"#;
    let mut reader: &[u8] = body;
    let r = c
        .agent
        .post(c.url("/o/client/register"))
        .header("Content-Type", "application/json")
        .send(ureq::SendBody::from_reader(&mut reader))
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let rec = emu.requests().pop().unwrap();
    assert_eq!(rec.header("transfer-encoding"), Some("chunked"));
    assert_eq!(rec.body, body);
}

// ---------------------------------------------------------------- faults

#[test]
fn faults_429_5xx_401_custom() {
    let emu = quiet();
    let c = Client::new(&emu);
    let cfg = "/api/v2/REF30/configuration";
    emu.inject(Fault::on(
        cfg,
        FaultKind::TooManyRequests {
            retry_after_secs: Some(3),
        },
        1,
    ));
    let r = c.get(cfg);
    assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
    assert_eq!(r.header("content-type"), Some("text/html"));

    emu.inject(Fault::once(FaultKind::TooManyRequests {
        retry_after_secs: None,
    }));
    let r = c.get(cfg);
    assert_eq!((r.status, r.header("retry-after")), (429, None));

    emu.inject(Fault::once(FaultKind::server_error(503)));
    let r = c.get(cfg);
    assert_eq!(r.status, 503);
    assert_eq!(r.field("action"), "retry");
    assert_eq!(r.field("status"), "503");
    assert_eq!(r.field("code"), "internal_server_error");
    for key in ["message", "helpUrl", "trace"] {
        assert!(has(&r.json(), key));
    }

    emu.inject(Fault::once(FaultKind::ServerErrorWrapped {
        status: 500,
        code: "network_connection_timeout".into(),
        action: "retry".into(),
    }));
    let r = c.get(cfg);
    assert_eq!(r.status, 500);
    let Value::Array(errors) = get(&r.json(), "errors").clone() else {
        panic!("{}", r.body)
    };
    assert_eq!(text(&errors[0], "code"), "network_connection_timeout");

    emu.inject(Fault::once(FaultKind::Unauthorized));
    assert_eq!(c.get(cfg).status, 401);
    assert_eq!(c.get(cfg).status, 200, "the token itself is still valid");

    emu.inject(Fault::once(FaultKind::Custom {
        status: 403,
        content_type: "text/plain".into(),
        headers: vec![("X-Test".into(), "1".into())],
        body: b"nope".to_vec(),
    }));
    let r = c.get(cfg);
    assert_eq!(
        (r.status, r.header("x-test"), r.body.as_str()),
        (403, Some("1"), "nope")
    );

    // Prefix and count: two faults for profiles only; configuration unaffected.
    emu.inject(Fault::on(
        "/api/v2/REF30/profiles",
        FaultKind::server_error(500),
        2,
    ));
    assert_eq!(c.get(cfg).status, 200);
    assert_eq!(c.get("/api/v2/REF30/profiles").status, 500);
    assert_eq!(c.get("/api/v2/REF30/profiles").status, 500);
    assert_eq!(c.get("/api/v2/REF30/profiles").status, 200);
    let s = emu.stats();
    assert_eq!(s.faults, 8);
    assert_eq!(s.throttled, 2, "injected 429s are counted");
}

#[test]
fn faults_broken_bodies_and_connections() {
    let emu = quiet();
    let c = Client::new(&emu);
    let cfg = "/api/v2/REF30/configuration";
    let full = c.get(cfg).body;

    emu.inject(Fault::once(FaultKind::TruncatedJson));
    let r = c.get(cfg);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), full.len() / 2);
    assert!(miniserde::json::from_str::<Value>(&r.body).is_err());

    emu.inject(Fault::once(FaultKind::CloseEarly));
    assert!(c.try_get(cfg).is_err(), "body shorter than Content-Length");

    emu.inject(Fault::once(FaultKind::Oversized {
        bytes: 2 * 1024 * 1024,
    }));
    let r = c.get(cfg);
    assert_eq!(r.body.len(), 2 * 1024 * 1024);
    assert!(miniserde::json::from_str::<Value>(&r.body).is_ok());

    emu.inject(Fault::once(FaultKind::Reset));
    let err = c.try_get(cfg).err().expect("reset");
    assert!(
        matches!(err, ureq::Error::Io(_) | ureq::Error::Rustls(_)),
        "{err:?}"
    );

    // A stalled answer outlives the client's timeout.
    emu.inject(Fault::once(FaultKind::Stall { ms: 3000 }));
    let impatient = Client {
        emu: &emu,
        agent: agent_for(&emu, Duration::from_millis(300)),
        token: c.token.clone(),
    };
    let err = impatient.try_get(cfg).err().expect("timeout");
    assert!(matches!(err, ureq::Error::Timeout(_)), "{err:?}");

    assert_eq!(c.get(cfg).status, 200, "the emulator keeps serving");
}

#[test]
fn chaos_mode_is_seeded() {
    let run = |seed: u64| {
        let emu = Emulator::start(Options {
            throttle: None,
            chaos: Some(Chaos {
                seed,
                probability: 0.5,
                kinds: vec![
                    FaultKind::server_error(500),
                    FaultKind::server_error_wrapped(502),
                ],
            }),
            ..Options::default()
        });
        let c = Client::bare(&emu);
        (0..30)
            .map(|_| {
                c.get_raw("/api/v2/REF30/configuration", &[])
                    .unwrap()
                    .status
            })
            .collect::<Vec<_>>()
    };
    let a = run(9);
    assert_eq!(a, run(9), "same seed, same faults");
    assert!(
        a.contains(&401) && a.contains(&500) && a.contains(&502),
        "{a:?}"
    );
    let emu = quiet();
    emu.set_chaos(Some(Chaos {
        seed: 1,
        probability: 1.0,
        kinds: vec![],
    }));
    let c = Client::bare(&emu);
    for _ in 0..20 {
        let _ = c.get_raw("/api/v2/REF30/configuration", &[]);
    }
    assert_eq!(emu.stats().faults, 20, "every request got a default fault");
}

// ---------------------------------------------------------------- lifecycle and binary

#[test]
fn drop_stops_the_server() {
    let emu = quiet();
    let addr = emu.addr();
    let c = Client::new(&emu);
    assert_eq!(c.get("/api/v2/REF30/configuration").status, 200);
    emu.inject(Fault::once(FaultKind::Stall { ms: 60_000 }));
    let agent = c.agent.clone();
    let url = c.url("/api/v2/REF30/configuration");
    let stalled = std::thread::spawn(move || agent.get(url).call().is_err());
    while emu.stats().faults == 0 {
        std::thread::yield_now();
    }
    drop(c);
    drop(emu); // must not wait for the 60 s stall
    assert!(stalled.join().unwrap());
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn binary_quick_start() {
    let dir = std::env::temp_dir().join(format!("tvauth-emu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tvauth-emulator"))
        .args([
            "--ca-out",
            ca.to_str().unwrap(),
            "--throttle",
            "5,20",
            "--code-ttl-secs",
            "60",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening ")
        .expect(&line)
        .to_string();
    assert!(base.starts_with("https://localhost:"));
    let pem = std::fs::read(&ca).unwrap();
    let cert = ureq::tls::Certificate::from_pem(&pem).unwrap();
    let agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                .build(),
        )
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut first = agent
        .get(format!("{base}/api/v2/REF30/configuration"))
        .call()
        .unwrap();
    assert_eq!(first.status().as_u16(), 401);
    // Reading the body hands the connection back to the pool for the next call.
    first.body_mut().read_to_string().unwrap();
    let mut stats = String::new();
    agent
        .get(format!("{base}/_emulator/stats"))
        .call()
        .unwrap()
        .body_mut()
        .as_reader()
        .read_to_string(&mut stats)
        .unwrap();
    let v: Value = miniserde::json::from_str(&stats).unwrap();
    assert_eq!(text(&v, "handshakes"), "1");
    assert_eq!(text(&v, "requests"), "1", "control paths are not counted");
    let r = agent
        .post(format!(
            "{base}/_emulator/complete?code=NOPE999&mvpd=Cablevision"
        ))
        .send_empty()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // Closing stdin stops it.
    child.stdin.take().unwrap().flush().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
