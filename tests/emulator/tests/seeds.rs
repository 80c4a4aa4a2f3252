//! Every request/response sample of the seed pages (000: create session; 001/002: partner SSO),
//! answered verbatim in `seed_times` mode.

mod common;
use common::*;
use tvauth_emulator::{Emulator, Options};

const BODY: &str = "mvpd=Cablevision&domainName=adobe.com&redirectUrl=https%3A%2F%2Fadobe.com";

fn seed_emulator() -> Emulator {
    Emulator::start(Options {
        seed_times: true,
        throttle: None,
        degraded_mvpds: vec!["${degradedMvpd}".into()],
        ..Options::default()
    })
}

fn assert_seed(r: &Resp, expected: &str) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/json;charset=UTF-8")
    );
    assert_eq!(canonical(&r.body), canonical(expected), "got {}", r.body);
}

const S000_1: &str = r#"{
    "actionName": "authenticate",
    "actionType": "interactive",
    "reasonType": "none",
    "url": "/api/v2/authenticate/REF30/8ER640M",
    "code": "8ER640M",
    "sessionId": "1b614390-6610-4d14-9421-6565f6e75958",
    "mvpd": "Cablevision",
    "serviceProvider": "REF30",
    "notBefore": "1733735289035",
    "notAfter": "1733737089035"
}"#;

#[test]
fn seed_000_1_no_missing_parameters() {
    let emu = seed_emulator();
    let c = Client::new(&emu);
    let r = c.post_form("/api/v2/REF30/sessions", BODY);
    assert_seed(&r, S000_1);
    // Field order follows the seed too.
    assert!(
        r.body
            .starts_with(r#"{"actionName":"authenticate","actionType":"interactive""#)
    );
    let rec = emu.requests().pop().unwrap();
    assert_eq!(rec.method, "POST");
    assert_eq!(rec.path, "/api/v2/REF30/sessions");
    assert_eq!(rec.header("ap-device-identifier"), Some(DEVICE_ID));
    assert_eq!(rec.body_str(), BODY);
    assert_eq!(
        rec.form(),
        vec![
            ("mvpd".to_string(), "Cablevision".to_string()),
            ("domainName".to_string(), "adobe.com".to_string()),
            ("redirectUrl".to_string(), "https://adobe.com".to_string()),
        ]
    );
}

#[test]
fn seed_000_2_missing_parameters() {
    let emu = seed_emulator();
    let c = Client::new(&emu);
    let r = c.post_form("/api/v2/REF30/sessions", "");
    assert_seed(
        &r,
        r#"{
    "actionName": "resume",
    "actionType": "direct",
    "reasonType": "none",
    "url": "/api/v2/REF30/sessions/8ER640M",
    "missingParameters": ["mvpd", "domain", "redirectUrl"],
    "code": "8ER640M",
    "sessionId": "1b614390-6610-4d14-9421-6565f6e75958",
    "serviceProvider": "REF30",
    "notBefore": "1733735289035",
    "notAfter": "1733737089035"
}"#,
    );
}

#[test]
fn seed_000_3_valid_profile_exists() {
    let emu = seed_emulator();
    let c = Client::new(&emu);
    assert_seed(&c.post_form("/api/v2/REF30/sessions", BODY), S000_1);
    assert!(emu.complete_code("8ER640M", "Cablevision"));
    let r = c.post_form("/api/v2/REF30/sessions", BODY);
    assert_seed(
        &r,
        r#"{
    "actionName": "authorize",
    "actionType": "direct",
    "reasonType": "authenticated",
    "url": "/api/v2/REF30/decisions/authorize/Cablevision",
    "sessionId": "1b614390-6610-4d14-9421-6565f6e75958",
    "mvpd": "Cablevision",
    "serviceProvider": "REF30"
}"#,
    );
}

#[test]
fn seed_000_4_temppass() {
    let emu = seed_emulator();
    let c = Client::new(&emu);
    let r = c.post_form(
        "/api/v2/REF30/sessions",
        "mvpd=TempPass_TEST40&domainName=adobe.com&redirectUrl=https%3A%2F%2Fadobe.com",
    );
    assert_seed(
        &r,
        r#"{
    "actionName": "authorize",
    "actionType": "direct",
    "reasonType": "temporary",
    "url": "/api/v2/REF30/decisions/authorize/TempPass_TEST40",
    "sessionId": "1b614390-6610-4d14-9421-6565f6e75958",
    "mvpd": "TempPass_TEST40",
    "serviceProvider": "REF30"
}"#,
    );
}

#[test]
fn seed_000_5_degraded() {
    let emu = Emulator::start(Options {
        seed_times: true,
        throttle: None,
        degraded_mvpds: vec!["Cablevision".into()],
        ..Options::default()
    });
    let c = Client::new(&emu);
    let r = c.post_form("/api/v2/REF30/sessions", BODY);
    assert_seed(
        &r,
        r#"{
    "actionName": "authorize",
    "actionType": "direct",
    "reasonType": "degraded",
    "url": "/api/v2/REF30/decisions/authorize/Cablevision",
    "sessionId": "1b614390-6610-4d14-9421-6565f6e75958",
    "mvpd": "Cablevision",
    "serviceProvider": "REF30"
}"#,
    );
}

const PARTNER_BODY: &str = "domainName=adobe.com&redirectUrl=https%3A%2F%2Fadobe.com";

fn partner(c: &Client, pfs: &str, body: &str) -> Resp {
    c.post_with(
        "/api/v2/REF30/sessions/sso/Apple",
        "application/x-www-form-urlencoded",
        body,
        &[("AP-Partner-Framework-Status", pfs)],
    )
}

#[test]
fn seed_001_002_1_partner_profile() {
    let emu = seed_emulator();
    let c = Client::new(&emu);
    assert_seed(
        &partner(&c, PFS_GRANTED, PARTNER_BODY),
        r#"{
    "actionName": "partner_profile",
    "actionType": "direct",
    "reasonType": "none",
    "url": "/api/v2/REF30/profiles/sso/Apple",
    "sessionId": "83c046be-ea4b-4581-b5f2-13e56e69dee9",
    "mvpd": "Cablevision",
    "serviceProvider": "REF30",
    "authenticationRequest": {
        "type": "saml",
        "request": "PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRG....",
        "attributesNames": ["uid", "NameID", "uniqueId"]
   }
}"#,
    );
    let rec = emu.requests().pop().unwrap();
    assert_eq!(rec.header("AP-Partner-Framework-Status"), Some(PFS_GRANTED));
}

#[test]
fn seed_001_002_2_partner_degraded() {
    let emu = seed_emulator();
    let c = Client::new(&emu);
    assert_seed(
        &partner(&c, PFS_DEGRADED, PARTNER_BODY),
        r#"{
    "actionName": "authorize",
    "actionType": "direct",
    "reasonType": "degraded",
    "url": "/api/v2/REF30/decisions/authorize/${degradedMvpd}",
    "sessionId": "14d4f239-e3b1-4a4a-b8b3-6395b968a260",
    "mvpd": "${degradedMvpd}",
    "serviceProvider": "REF30"
}"#,
    );
}

const PFS_FALLBACK: &str = r#"{
    "actionName": "authenticate",
    "actionType": "interactive",
    "reasonType": "pfs_fallback",
    "url": "/api/v2/authenticate/REF30/OKTWW2W",
    "code": "OKTWW2W",
    "sessionId": "748f0b9e-a2ae-46d5-acd9-4b4e6d71add7",
    "mvpd": "Cablevision",
    "serviceProvider": "REF30",
    "notBefore": "1733735289035",
    "notAfter": "1733737089035"
}"#;

#[test]
fn seed_001_002_3_pfs_fallback() {
    let emu = seed_emulator();
    let c = Client::new(&emu);
    assert_seed(&partner(&c, PFS_DENIED, PARTNER_BODY), PFS_FALLBACK);
    // A missing or garbage header falls back the same way.
    let r = c.post_form("/api/v2/REF30/sessions/sso/Apple", PARTNER_BODY);
    assert_seed(&r, PFS_FALLBACK);
    assert_seed(&partner(&c, "not-base64!", PARTNER_BODY), PFS_FALLBACK);
}

#[test]
fn seed_001_002_4_configuration_fallback() {
    let emu = Emulator::start(Options {
        seed_times: true,
        throttle: None,
        partner_sso_enabled: false,
        ..Options::default()
    });
    let c = Client::new(&emu);
    assert_seed(
        &partner(&c, PFS_GRANTED, PARTNER_BODY),
        r#"{
    "actionName": "authenticate",
    "actionType": "interactive",
    "reasonType": "configuration_fallback",
    "url": "/api/v2/authenticate/REF30/OKTWW2W",
    "code": "OKTWW2W",
    "sessionId": "748f0b9e-a2ae-46d5-acd9-4b4e6d71add7",
    "mvpd": "Cablevision",
    "serviceProvider": "REF30",
    "notBefore": "1733735289035",
    "notAfter": "1733737089035"
}"#,
    );
}

#[test]
fn seed_001_002_5_missing_parameters_fallback() {
    let emu = seed_emulator();
    let c = Client::new(&emu);
    assert_seed(
        &partner(&c, PFS_GRANTED, "domainName=adobe.com"),
        r#"{
    "actionName": "resume",
    "actionType": "direct",
    "reasonType": "missing_parameters_fallback",
    "missingParameters": [
          "redirectUrl"
    ],
    "url": "/api/v2/REF30/sessions/SB7ZRIO",
    "code": "SB7ZRIO",
    "sessionId": "1476173f-5088-43b8-b7c3-8cf3a185de0a",
    "mvpd": "Cablevision",
    "serviceProvider": "REF30",
    "notBefore": "1733735289035",
    "notAfter": "1733737089035"
}"#,
    );
}

#[test]
fn seed_device_info_sample_is_refused() {
    let emu = seed_emulator();
    let c = Client::new(&emu);
    let auth = format!("Bearer {}", c.token);
    let r = c
        .post_raw(
            "/api/v2/REF30/sessions",
            "application/x-www-form-urlencoded",
            BODY,
            &[
                ("Authorization", &auth),
                ("AP-Device-Identifier", DEVICE_ID),
                ("X-Device-Info", SEED_DEVICE_INFO),
            ],
        )
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.field("code"), "invalid_header_device_info");
    assert_eq!(r.field("status"), "400");
    assert_eq!(r.field("action"), "none");
}
