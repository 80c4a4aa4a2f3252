//! Parser tests against the seed samples (tests/fixtures/pass, extracted from /work/shared/seeds).

use super::*;
use miniserde::json;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pass/",
            $name,
            ".response.json"
        ))
    };
}

fn session(text: &str) -> Session {
    Session::from_value(&json::from_str(text).unwrap()).unwrap()
}

fn to_string(v: &Value) -> String {
    json::to_string(v)
}

const SID: &str = "1b614390-6610-4d14-9421-6565f6e75958";

#[test]
fn create_1_all_parameters() {
    let s = session(fixture!("create-1-all-params"));
    assert_eq!(s.action_name, "authenticate");
    assert_eq!(s.action(), ActionName::Authenticate);
    assert_eq!(s.action_type, "interactive");
    assert_eq!(s.action_type_kind(), ActionType::Interactive);
    assert_eq!(s.reason_type, "none");
    assert_eq!(s.reason(), ReasonType::None);
    assert_eq!(s.url.as_deref(), Some("/api/v2/authenticate/REF30/8ER640M"));
    assert_eq!(s.code.as_deref(), Some("8ER640M"));
    assert_eq!(s.session_id, SID);
    assert_eq!(s.mvpd.as_deref(), Some("Cablevision"));
    assert_eq!(s.service_provider, "REF30");
    assert_eq!(s.not_before, Some(1_733_735_289_035));
    assert_eq!(s.not_after, Some(1_733_737_089_035));
    assert!(s.missing_parameters.is_empty());
    assert!(s.authentication_request.is_none());
    assert_eq!(
        to_string(&s.to_json(Some(
            "https://sp.auth.adobe.com/api/v2/authenticate/REF30/8ER640M".into()
        ))),
        concat!(
            r#"{"actionName":"authenticate","actionType":"interactive","code":"8ER640M","#,
            r#""fullUrl":"https://sp.auth.adobe.com/api/v2/authenticate/REF30/8ER640M","#,
            r#""mvpd":"Cablevision","notAfter":1733737089035,"notBefore":1733735289035,"#,
            r#""reasonType":"none","serviceProvider":"REF30","#,
            r#""sessionId":"1b614390-6610-4d14-9421-6565f6e75958","url":"/api/v2/authenticate/REF30/8ER640M"}"#
        )
    );
}

#[test]
fn create_2_missing_parameters_domain_is_renamed() {
    let s = session(fixture!("create-2-missing-params"));
    assert_eq!(s.action(), ActionName::Resume);
    assert_eq!(s.action_type_kind(), ActionType::Direct);
    assert_eq!(s.reason(), ReasonType::None);
    assert_eq!(s.url.as_deref(), Some("/api/v2/REF30/sessions/8ER640M"));
    assert_eq!(s.missing_parameters, ["mvpd", "domainName", "redirectUrl"]);
    assert_eq!(s.code.as_deref(), Some("8ER640M"));
    assert_eq!(s.session_id, SID);
    assert_eq!(s.service_provider, "REF30");
    assert_eq!(s.mvpd, None);
    assert_eq!(s.not_before, Some(1_733_735_289_035));
    assert_eq!(s.not_after, Some(1_733_737_089_035));
    let j = to_string(&s.to_json(None));
    assert!(
        j.contains(r#""missingParameters":["mvpd","domainName","redirectUrl"]"#),
        "{j}"
    );
    assert!(!j.contains("\"mvpd\":") && !j.contains("fullUrl"), "{j}");
}

#[test]
fn create_3_4_5_authorize_without_code_or_times() {
    for (text, reason, kind, mvpd) in [
        (
            fixture!("create-3-profile-exists"),
            "authenticated",
            ReasonType::Authenticated,
            "Cablevision",
        ),
        (
            fixture!("create-4-temppass"),
            "temporary",
            ReasonType::Temporary,
            "TempPass_TEST40",
        ),
        (
            fixture!("create-5-degraded"),
            "degraded",
            ReasonType::Degraded,
            "Cablevision",
        ),
    ] {
        let s = session(text);
        assert_eq!(s.action(), ActionName::Authorize);
        assert_eq!(s.action_type, "direct");
        assert_eq!(s.reason_type, reason);
        assert_eq!(s.reason(), kind);
        assert_eq!(
            s.url.as_deref(),
            Some(format!("/api/v2/REF30/decisions/authorize/{mvpd}").as_str())
        );
        assert_eq!(s.mvpd.as_deref(), Some(mvpd));
        assert_eq!(s.session_id, SID);
        assert_eq!(s.service_provider, "REF30");
        assert_eq!(
            (s.code.as_ref(), s.not_before, s.not_after),
            (None, None, None)
        );
        let j = to_string(&s.to_json(None));
        assert!(!j.contains("notBefore") && !j.contains("code"), "{j}");
    }
}

#[test]
fn partner_1_partner_profile_with_authentication_request() {
    let s = session(fixture!("partner-1-partner-profile"));
    assert_eq!(s.action_name, "partner_profile");
    assert_eq!(s.action(), ActionName::PartnerProfile);
    assert_eq!(s.action_type, "direct");
    assert_eq!(s.reason(), ReasonType::None);
    assert_eq!(s.url.as_deref(), Some("/api/v2/REF30/profiles/sso/Apple"));
    assert_eq!(s.session_id, "83c046be-ea4b-4581-b5f2-13e56e69dee9");
    assert_eq!(s.mvpd.as_deref(), Some("Cablevision"));
    assert_eq!(s.service_provider, "REF30");
    assert_eq!(s.code, None);
    let ar = s.authentication_request.clone().unwrap();
    assert_eq!(ar.type_, "saml");
    assert_eq!(
        ar.request,
        "PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRG...."
    );
    assert_eq!(ar.attributes_names, ["uid", "NameID", "uniqueId"]);
    let j = to_string(&s.to_json(None));
    assert!(
        j.contains(concat!(
            r#""authenticationRequest":{"attributesNames":["uid","NameID","uniqueId"],"#,
            r#""request":"PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRG....","type":"saml"}"#
        )),
        "{j}"
    );
}

#[test]
fn partner_2_degraded_keeps_template_mvpd() {
    let s = session(fixture!("partner-2-degraded"));
    assert_eq!(s.action(), ActionName::Authorize);
    assert_eq!(s.reason(), ReasonType::Degraded);
    assert_eq!(s.mvpd.as_deref(), Some("${degradedMvpd}"));
    assert_eq!(
        s.url.as_deref(),
        Some("/api/v2/REF30/decisions/authorize/${degradedMvpd}")
    );
    assert_eq!(s.session_id, "14d4f239-e3b1-4a4a-b8b3-6395b968a260");
    assert!(s.authentication_request.is_none());
}

#[test]
fn partner_3_4_fallback_to_basic_authentication() {
    for (text, reason, kind) in [
        (
            fixture!("partner-3-pfs-fallback"),
            "pfs_fallback",
            ReasonType::PfsFallback,
        ),
        (
            fixture!("partner-4-configuration-fallback"),
            "configuration_fallback",
            ReasonType::ConfigurationFallback,
        ),
    ] {
        let s = session(text);
        assert_eq!(s.action(), ActionName::Authenticate);
        assert_eq!(s.action_type_kind(), ActionType::Interactive);
        assert_eq!(s.reason_type, reason);
        assert_eq!(s.reason(), kind);
        assert_eq!(s.url.as_deref(), Some("/api/v2/authenticate/REF30/OKTWW2W"));
        assert_eq!(s.code.as_deref(), Some("OKTWW2W"));
        assert_eq!(s.session_id, "748f0b9e-a2ae-46d5-acd9-4b4e6d71add7");
        assert_eq!(s.mvpd.as_deref(), Some("Cablevision"));
        assert_eq!(s.not_before, Some(1_733_735_289_035));
        assert_eq!(s.not_after, Some(1_733_737_089_035));
    }
}

#[test]
fn partner_5_missing_parameters_fallback() {
    let s = session(fixture!("partner-5-missing-parameters-fallback"));
    assert_eq!(s.action(), ActionName::Resume);
    assert_eq!(s.reason(), ReasonType::MissingParametersFallback);
    assert_eq!(s.missing_parameters, ["redirectUrl"]);
    assert_eq!(s.url.as_deref(), Some("/api/v2/REF30/sessions/SB7ZRIO"));
    assert_eq!(s.code.as_deref(), Some("SB7ZRIO"));
    assert_eq!(s.session_id, "1476173f-5088-43b8-b7c3-8cf3a185de0a");
    assert_eq!(s.not_after, Some(1_733_737_089_035));
}

#[test]
fn session_tolerance() {
    // Numbers instead of strings, unknown enum values, extra fields, a `null` code.
    let s = session(
        r#"{"actionName":"teleport","actionType":"psychic","reasonType":"new_reason","sessionId":"s",
            "serviceProvider":"REF30","notBefore":1733735289035,"notAfter":"  1733737089035 ",
            "code":null,"missingParameters":"domain","extra":{"deep":[1,2,3]}}"#,
    );
    assert_eq!(s.action(), ActionName::Other);
    assert_eq!(s.action_name, "teleport");
    assert_eq!(s.action_type_kind(), ActionType::Other);
    assert_eq!(s.reason(), ReasonType::Other);
    assert_eq!(s.reason_type, "new_reason");
    assert_eq!(s.not_before, Some(1_733_735_289_035));
    assert_eq!(s.not_after, Some(1_733_737_089_035));
    assert_eq!(s.code, None);
    assert_eq!(s.missing_parameters, ["domainName"]);
    // Garbage timestamps are absent, not errors.
    let s = session(r#"{"actionName":"resume","notBefore":"soon","notAfter":-5}"#);
    assert_eq!((s.not_before, s.not_after), (None, None));
    // Only a missing actionName (or a non-object) is refused.
    assert!(Session::from_value(&json::from_str(r#"{"actionType":"direct"}"#).unwrap()).is_err());
    assert!(Session::from_value(&json::from_str("[1]").unwrap()).is_err());
}

#[test]
fn session_info_both_doc_samples() {
    // Retrieve-session samples (spec §2.3; sample 1 is invalid JSON in the docs, so its content is
    // reproduced with the missing comma fixed). One says `domain`, the other `domainName`.
    for body in [
        r#"{"existingParameters":{"serviceProvider":"REF30","mvpd":"Cablevision","domain":"adobe.com","redirectUrl":"https://adobe.com"},
            "device":{"type":"SetTopBox","model":"TV 5th Gen","version":{"major":0,"minor":0,"patch":0,"profile":""},
                      "operatingSystem":{"name":"tvOS","family":"tvOS","vendor":"Apple","version":{"major":11,"minor":0}}},
            "notBefore":"1733735289035","notAfter":"1733737089035"}"#,
        r#"{"existingParameters":{"serviceProvider":"REF30","domainName":"adobe.com"},
            "missingParameters":["mvpd","redirectUrl"],
            "device":{"type":"SetTopBox"},"notBefore":1733735289035,"notAfter":1733737089035}"#,
    ] {
        let i = SessionInfo::from_value(&json::from_str(body).unwrap()).unwrap();
        assert_eq!(
            str_field(&i.existing_parameters, "domainName").as_deref(),
            Some("adobe.com")
        );
        assert!(!i.existing_parameters.contains_key("domain"));
        assert_eq!(i.not_before, Some(1_733_735_289_035));
        assert_eq!(i.not_after, Some(1_733_737_089_035));
        assert!(i.device.is_some());
        let j = to_string(&i.to_json());
        assert!(j.contains(r#""notAfter":1733737089035"#), "{j}");
        assert!(j.contains(r#""notBefore":1733735289035"#), "{j}");
    }
    let i = SessionInfo::from_value(&json::from_str("{}").unwrap()).unwrap();
    assert_eq!(
        to_string(&i.to_json()),
        r#"{"existingParameters":{},"missingParameters":[]}"#
    );
}

#[test]
fn profiles_map_numbers_and_strings() {
    let body = r#"{"profiles":{
        "Cablevision":{"notBefore":1752149281000,"notAfter":"1783685280000","issuer":"Spectrum","type":"regular",
                       "attributes":{"userID":{"value":"u1","state":"plain"},"zip":{"value":"enc==","state":"enc"}}},
        "TempPass_TEST40":{"notBefore":1,"notAfter":2,"issuer":"Adobe","type":"temporary","sessionId":"x"},
        "Weird":{"type":"quantumSSO"},
        "NotAnObject":5}}"#;
    let p = Profiles::from_value(&json::from_str(body).unwrap()).unwrap();
    assert_eq!(p.profiles.len(), 3);
    let c = p.get("Cablevision").unwrap();
    assert_eq!(c.not_before, 1_752_149_281_000);
    assert_eq!(c.not_after, 1_783_685_280_000);
    assert_eq!(c.issuer, "Spectrum"); // spec §10 #25: issuer differs from the key
    assert_eq!(c.kind(), ProfileType::Regular);
    assert!(c.attributes().unwrap().contains_key("userID"));
    assert_eq!(
        p.get("TempPass_TEST40").unwrap().kind(),
        ProfileType::Temporary
    );
    let w = p.get("Weird").unwrap();
    assert_eq!(
        (w.kind(), w.not_after, w.type_.as_str()),
        (ProfileType::Other, 0, "quantumSSO")
    );
    let j = to_string(&p.to_json());
    // Passed through as received, with the string timestamp now an integer.
    assert!(
        j.starts_with(r#"{"profiles":{"Cablevision":{"attributes":{"userID""#),
        "{j}"
    );
    assert!(j.contains(r#""notAfter":1783685280000"#), "{j}");
    assert!(j.contains(r#""sessionId":"x""#), "{j}");
    // Empty and absent maps mean "no profile yet".
    for empty in [r#"{"profiles":{}}"#, "{}", r#"{"profiles":null}"#] {
        assert!(
            Profiles::from_value(&json::from_str(empty).unwrap())
                .unwrap()
                .is_empty()
        );
    }
    assert!(Profiles::from_value(&json::from_str(r#"{"profiles":[]}"#).unwrap()).is_err());
}

#[test]
fn configuration_mvpds() {
    let body = r#"{"device":"SetTopBox","clientType":"REST_V2","os":"Linux",
        "requestor":{"id":"REF30","name":"REF30","domains":[{"name":"adobe.com","mvpdInitiated":false}],
        "mvpds":[{"id":"Cablevision","displayName":"Optimum","logoUrl":"https://l/x.png","isTempPass":false,"isProxy":false,
                  "boardingStatus":"SUPPORTED","platformMappingId":"Cablevision","enablePlatformServices":true},
                 {"id":"TempPass_TEST40","displayName":"TempPass","isTempPass":"true"},
                 {"displayName":"no id"}, 7]}}"#;
    let c = Configuration::from_value(&json::from_str(body).unwrap()).unwrap();
    assert_eq!(c.mvpds.len(), 3);
    let list = c.mvpd_list();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, "Cablevision");
    assert_eq!(list[0].display_name.as_deref(), Some("Optimum"));
    assert_eq!(list[0].logo_url.as_deref(), Some("https://l/x.png"));
    assert!(!list[0].is_temp_pass && !list[0].is_proxy);
    assert!(list[1].is_temp_pass);
    assert!(to_string(&list[0].raw).contains("boardingStatus"));
    assert_eq!(c.domains(), ["adobe.com"]);
    let c = Configuration::from_value(&json::from_str("{}").unwrap()).unwrap();
    assert!(c.mvpds.is_empty() && c.domains().is_empty());
}

#[test]
fn decisions_with_token_and_item_error() {
    let body = r#"{"decisions":[
        {"resource":"REF30","serviceProvider":"REF30","mvpd":"Cablevision","source":"mvpd","authorized":true,
         "token":{"notBefore":"1697550907230","notAfter":1697551207230,"serializedToken":"PHNpZ25hdHVyZUluZm8+"},
         "notBefore":1697550907230,"notAfter":1697551807230},
        {"resource":"REF31","serviceProvider":"REF30","mvpd":"Cablevision","source":"mvpd","authorized":false,
         "error":{"action":"none","status":403,"code":"authorization_denied_by_mvpd","message":"m","details":"d",
                  "helpUrl":"h","trace":"t"}}]}"#;
    let d = Decisions::from_value(&json::from_str(body).unwrap()).unwrap();
    assert_eq!(d.decisions.len(), 2);
    let items = d.items();
    assert!(items[0].authorized);
    assert_eq!(items[0].resource, "REF30");
    assert_eq!(items[0].source.as_deref(), Some("mvpd"));
    let t = items[0].token.as_ref().unwrap();
    assert_eq!(t.serialized_token, "PHNpZ25hdHVyZUluZm8+");
    assert_eq!(t.not_before, Some(1_697_550_907_230));
    assert_eq!(items[0].not_after, Some(1_697_551_807_230));
    assert!(!items[1].authorized);
    let e = items[1].error.as_ref().unwrap();
    assert_eq!(e.code.as_deref(), Some("authorization_denied_by_mvpd"));
    assert_eq!(d.errors().len(), 1);
    let j = to_string(&d.to_json());
    assert!(
        j.contains(r#""token":{"notAfter":1697551207230,"notBefore":1697550907230"#),
        "{j}"
    );
    assert!(Decisions::from_value(&json::from_str(r#"{"decisions":{}}"#).unwrap()).is_err());
}

#[test]
fn logouts_relative_and_absolute_urls() {
    let body = r#"{"logouts":{
        "Cablevision":{"actionName":"logout","actionType":"interactive","mvpd":"Cablevision",
                       "url":"/adobe-services/logout?requestor=REF30&redirectUrl=https%3A%2F%2Fadobe.com"},
        "TempPass_TEST40":{"actionName":"complete","actionType":"none","mvpd":"TempPass_TEST40"},
        "Apple":{"actionName":"partner_logout","actionType":"partner_interactive"}}}"#;
    let l = Logouts::from_value(&json::from_str(body).unwrap()).unwrap();
    let items = l.items();
    assert_eq!(items.len(), 3);
    let c = items.iter().find(|i| i.mvpd == "Cablevision").unwrap();
    assert_eq!(c.action_name, "logout");
    assert!(
        c.url
            .as_deref()
            .unwrap()
            .starts_with("/adobe-services/logout?")
    );
    let a = items
        .iter()
        .find(|i| i.action_name == "partner_logout")
        .unwrap();
    assert_eq!(a.mvpd, "Apple"); // from the key when the item has no mvpd
    assert!(to_string(&l.raw).starts_with(r#"{"Apple":"#));
    assert!(
        Logouts::from_value(&json::from_str("{}").unwrap())
            .unwrap()
            .items()
            .is_empty()
    );
}

#[test]
fn timestamps_every_shape() {
    for (v, want) in [
        (r#""1733735289035""#, Some(1_733_735_289_035)),
        ("1733735289035", Some(1_733_735_289_035)),
        ("1733735289035.0", Some(1_733_735_289_035)),
        (r#""""#, None),
        (r#""12a""#, None),
        (r#""-1""#, None),
        ("-1", None),
        ("null", None),
        (r#""99999999999999999999999""#, None),
        ("true", None),
    ] {
        assert_eq!(as_u64(&json::from_str(v).unwrap()), want, "{v}");
    }
}
