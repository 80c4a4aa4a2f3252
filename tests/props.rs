//! Property tests mirroring the cargo-fuzz targets (`fuzz/`, see fuzz/README.md): the same harness
//! (`fuzz/harness.rs`, same invariants, production stack sizes), fed structured inputs from proptest
//! strategies with bounded case counts so `cargo test` stays fast. Also replays the committed seed
//! corpus and every crash the fuzzers found (`fuzz/regressions/`).

#[path = "../fuzz/harness.rs"]
mod harness;

/// An unoptimised build: frames many times those of the release binary (see harness.rs).
const STACK_FACTOR: usize = 8;

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config as PtConfig;

// ------------------------------------------------------------------------------------- strategies

/// JSON string literal for any Rust string (control characters escaped as \u00XX).
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Strings a hostile peer or API would send: vocabulary, empty, control characters, any Unicode,
/// sometimes long (over the 4096-byte parameter cap).
fn hostile_string(vocab: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vocab).prop_map(str::to_owned),
        2 => "\\PC{0,12}",
        1 => "[\\x00-\\x1f\\x7f\u{85}\u{2028}\u{feff} a]{0,8}",
        1 => Just(String::new()),
        1 => (0usize..6000).prop_map(|n| "x".repeat(n)),
        1 => "[0-9]{1,25}",
    ]
}

/// Any JSON value as text, keys and strings drawn from `vocab`, nesting bounded.
fn json_text(vocab: &'static [&'static str]) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (-1e30f64..1e30).prop_map(|f| format!("{f:e}")),
        hostile_string(vocab).prop_map(|s| quote(&s)),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|items| format!("[{}]", items.join(","))),
            vec((hostile_string(vocab), inner), 0..6).prop_map(|members| {
                let m: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", quote(k)))
                    .collect();
                format!("{{{}}}", m.join(","))
            }),
        ]
    })
    .boxed()
}

/// A JSON object as text whose keys come mostly from `keys`.
fn json_object(
    keys: &'static [&'static str],
    vocab: &'static [&'static str],
) -> BoxedStrategy<String> {
    vec((hostile_string(keys), json_text(vocab)), 0..8)
        .prop_map(|members| {
            let m: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}:{v}", quote(k)))
                .collect();
            format!("{{{}}}", m.join(","))
        })
        .boxed()
}

const RPC_KEYS: &[&str] = &[
    "jsonrpc",
    "id",
    "method",
    "params",
    "mvpd",
    "domainName",
    "redirectUrl",
    "code",
    "partner",
    "accessStatus",
    "providerId",
    "expirationDate",
    "refresh",
    "resources",
    "regCode",
    "genericData",
];
const RPC_VALUES: &[&str] = &[
    "2.0",
    "1.0",
    "agent.version",
    "session.create",
    "decision.authorize",
    "granted",
    "denied",
    "Cablevision",
    "1733737089035",
];
const API_KEYS: &[&str] = &[
    "actionName",
    "actionType",
    "reasonType",
    "sessionId",
    "serviceProvider",
    "url",
    "code",
    "mvpd",
    "missingParameters",
    "notBefore",
    "notAfter",
    "authenticationRequest",
    "type",
    "request",
    "attributesNames",
    "existingParameters",
    "domain",
    "domainName",
    "device",
    "profiles",
    "issuer",
    "attributes",
    "decisions",
    "resource",
    "authorized",
    "token",
    "serializedToken",
    "error",
    "errors",
    "action",
    "status",
    "message",
    "details",
    "helpUrl",
    "trace",
    "error_description",
    "logouts",
    "requestor",
    "mvpds",
    "domains",
    "id",
    "name",
    "displayName",
    "isTempPass",
];
const API_VALUES: &[&str] = &[
    "authenticate",
    "resume",
    "authorize",
    "retry",
    "partner_profile",
    "interactive",
    "direct",
    "none",
    "temporary",
    "degraded",
    "regular",
    "configuration",
    "application-registration",
    "authentication",
    "domain",
    "/api/v2/authenticate/REF30/8ER640M",
    "https://sp.auth.adobe.com/x",
    "1733735289035",
    "true",
];

/// An API body: an object of API fields, one level of it possibly a map or list of such objects.
fn api_body() -> impl Strategy<Value = String> {
    let inner = json_object(API_KEYS, API_VALUES);
    prop_oneof![
        3 => json_object(API_KEYS, API_VALUES),
        2 => (hostile_string(API_KEYS), vec(inner.clone(), 0..4))
            .prop_map(|(k, items)| format!("{{{}:[{}]}}", quote(&k), items.join(","))),
        2 => (hostile_string(API_KEYS), vec((hostile_string(API_VALUES), inner), 0..4)).prop_map(
            |(k, members)| {
                let m: Vec<String> = members
                    .iter()
                    .map(|(mk, v)| format!("{}:{v}", quote(mk)))
                    .collect();
                format!("{{{}:{{{}}}}}", quote(&k), m.join(","))
            }
        ),
        1 => json_text(API_VALUES),
        1 => vec(any::<u8>(), 0..64).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// A field value of the right type or a wrong one: vocabulary strings, digit strings (timestamps
/// arrive as strings), integers of both signs, floats, booleans (and "true"), null, small JSON.
fn field_value() -> BoxedStrategy<String> {
    prop_oneof![
        3 => hostile_string(API_VALUES).prop_map(|s| quote(&s)),
        2 => "[0-9]{1,22}".prop_map(|s| quote(&s)),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => (-1e25f64..1e25).prop_map(|f| format!("{f:e}")),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => Just("null".to_owned()),
        1 => json_text(API_VALUES),
    ]
    .boxed()
}

/// An object holding each of `keys` with probability 1/2 (values from `value`), plus maybe junk.
fn obj_of(keys: &'static [&'static str], value: BoxedStrategy<String>) -> BoxedStrategy<String> {
    (
        vec(prop::option::of(value), keys.len()),
        prop::option::of((hostile_string(API_KEYS), field_value())),
    )
        .prop_map(move |(vals, extra)| {
            let mut m: Vec<String> = keys
                .iter()
                .zip(vals)
                .filter_map(|(k, v)| v.map(|v| format!("{}:{v}", quote(k))))
                .collect();
            if let Some((k, v)) = extra {
                m.push(format!("{}:{v}", quote(&k)));
            }
            format!("{{{}}}", m.join(","))
        })
        .boxed()
}

/// `{"<key>": {"<mvpd>": item, …}}`.
fn map_of(key: &'static str, item: BoxedStrategy<String>) -> BoxedStrategy<String> {
    vec(
        (
            hostile_string(&["Cablevision", "TempPass_TEST40", "Apple", ""]),
            item,
        ),
        0..4,
    )
    .prop_map(move |items| {
        let m: Vec<String> = items
            .iter()
            .map(|(k, v)| format!("{}:{v}", quote(k)))
            .collect();
        format!("{{{}:{{{}}}}}", quote(key), m.join(","))
    })
    .boxed()
}

/// `{"<key>": [item, …]}`.
fn list_of(key: &'static str, item: BoxedStrategy<String>) -> BoxedStrategy<String> {
    vec(item, 0..4)
        .prop_map(move |items| format!("{{{}:[{}]}}", quote(key), items.join(",")))
        .boxed()
}

const ERROR_KEYS: &[&str] = &[
    "action", "status", "code", "message", "details", "helpUrl", "trace",
];

fn error_obj() -> BoxedStrategy<String> {
    obj_of(ERROR_KEYS, field_value())
}

/// Create/resume/partner and retrieve-session answers.
fn session_body() -> BoxedStrategy<String> {
    const KEYS: &[&str] = &[
        "actionName",
        "actionType",
        "reasonType",
        "sessionId",
        "serviceProvider",
        "url",
        "code",
        "mvpd",
        "missingParameters",
        "notBefore",
        "notAfter",
        "authenticationRequest",
        "existingParameters",
        "device",
    ];
    let value = prop_oneof![
        4 => field_value(),
        1 => vec(hostile_string(&["mvpd", "domain", "domainName", "redirectUrl"]), 0..4)
            .prop_map(|v| format!("[{}]", v.iter().map(|s| quote(s)).collect::<Vec<_>>().join(","))),
        1 => obj_of(&["type", "request", "attributesNames", "domain", "domainName", "mvpd"], field_value()),
    ]
    .boxed();
    prop_oneof![
        5 => (hostile_string(API_VALUES), obj_of(KEYS, value))
            .prop_map(|(a, o)| {
                let rest = &o[1..];
                let sep = if rest == "}" { "" } else { "," };
                format!("{{\"actionName\":{}{sep}{rest}", quote(&a))
            }),
        1 => api_body().boxed(),
    ]
    .boxed()
}

/// Profiles maps (with attributes and item errors) and logout maps.
fn profiles_body() -> BoxedStrategy<String> {
    const KEYS: &[&str] = &["notBefore", "notAfter", "issuer", "type", "sessionId"];
    let attributes = map_of("attributes", obj_of(&["value", "state"], field_value()));
    let profile = (
        obj_of(KEYS, field_value()),
        prop::option::of(attributes),
        prop::option::of(error_obj()),
    )
        .prop_map(|(o, a, e)| {
            let mut extra = String::new();
            if let Some(a) = a {
                extra.push_str(&format!(",{}", &a[1..a.len() - 1]));
            }
            if let Some(e) = e {
                extra.push_str(&format!(",\"error\":{e}"));
            }
            if o == "{}" {
                format!("{{\"issuer\":\"x\"{extra}}}")
            } else {
                format!("{}{extra}}}", &o[..o.len() - 1])
            }
        })
        .boxed();
    let logout = obj_of(&["actionName", "actionType", "mvpd", "url"], field_value());
    prop_oneof![
        4 => map_of("profiles", profile),
        2 => map_of("logouts", logout),
        1 => api_body().boxed(),
    ]
    .boxed()
}

/// Authorize/preauthorize decisions with tokens and item errors.
fn decisions_body() -> BoxedStrategy<String> {
    const KEYS: &[&str] = &[
        "resource",
        "serviceProvider",
        "mvpd",
        "authorized",
        "source",
        "notBefore",
        "notAfter",
    ];
    let value = prop_oneof![
        4 => field_value(),
        1 => obj_of(&["serializedToken", "notBefore", "notAfter"], field_value()),
    ]
    .boxed();
    let decision = (
        obj_of(KEYS, value.clone()),
        prop::option::of(obj_of(
            &["serializedToken", "notBefore", "notAfter"],
            field_value(),
        )),
        prop::option::of(error_obj()),
    )
        .prop_map(|(o, t, e)| {
            let mut members = vec![o[1..o.len() - 1].to_owned()];
            if let Some(t) = t {
                members.push(format!("\"token\":{t}"));
            }
            if let Some(e) = e {
                members.push(format!("\"error\":{e}"));
            }
            let members: Vec<String> = members.into_iter().filter(|m| !m.is_empty()).collect();
            format!("{{{}}}", members.join(","))
        })
        .boxed();
    prop_oneof![
        5 => list_of("decisions", decision),
        1 => api_body().boxed(),
    ]
    .boxed()
}

/// Error bodies in every envelope.
fn errors_body() -> BoxedStrategy<String> {
    prop_oneof![
        2 => error_obj(),
        2 => list_of("errors", error_obj()),
        1 => error_obj().prop_map(|e| format!("{{\"error\":{e}}}")),
        1 => hostile_string(&["invalid_client", "invalid_request", ""])
            .prop_map(|c| format!("{{\"error\":{},\"error_description\":\"d\"}}", quote(&c))),
        1 => list_of("decisions", error_obj().prop_map(|e| format!("{{\"resource\":\"R\",\"error\":{e}}}")).boxed()),
        1 => map_of("profiles", error_obj().prop_map(|e| format!("{{\"error\":{e}}}")).boxed()),
        1 => api_body().boxed(),
    ]
    .boxed()
}

/// `GET /configuration`: MVPD lists and domains, documented and tolerated shapes.
fn configuration_body() -> BoxedStrategy<String> {
    let mvpd = (
        hostile_string(&["Cablevision", "TempPass_TEST40"]),
        obj_of(
            &[
                "displayName",
                "logoUrl",
                "isTempPass",
                "isProxy",
                "boardingStatus",
                "id",
            ],
            field_value(),
        ),
    )
        .prop_map(|(id, o)| {
            // Usually a string id first (a later `id` member wins in the parsed object).
            let rest = &o[1..];
            let sep = if rest == "}" { "" } else { "," };
            format!("{{\"id\":{}{sep}{rest}", quote(&id))
        })
        .boxed();
    let mvpds = vec(prop_oneof![4 => mvpd, 1 => field_value()], 0..5)
        .prop_map(|m| format!("[{}]", m.join(",")));
    let domains = vec(obj_of(&["name", "mvpdInitiated"], field_value()), 0..3)
        .prop_map(|d| format!("[{}]", d.join(",")));
    prop_oneof![
        4 => (mvpds.clone(), domains).prop_map(|(m, d)| format!(
            "{{\"requestor\":{{\"id\":\"REF30\",\"mvpds\":{m},\"domains\":{d}}}}}"
        )),
        1 => mvpds.prop_map(|m| format!("{{\"mvpds\":{m}}}")),
        1 => api_body().boxed(),
    ]
    .boxed()
}

fn cases(n: u32) -> PtConfig {
    PtConfig {
        cases: n,
        failure_persistence: None,
        ..PtConfig::default()
    }
}

// ----------------------------------------------------------------------------------- rpc targets

/// One request object (members from the JSON-RPC vocabulary), a batch of them, or raw bytes.
fn rpc_line() -> impl Strategy<Value = Vec<u8>> {
    use prop::option::weighted;
    // Mostly well-formed envelopes (so the params accessors run), sometimes anything.
    let id = prop_oneof![
        3 => any::<i64>().prop_map(|n| n.to_string()),
        2 => hostile_string(RPC_VALUES).prop_map(|s| quote(&s)),
        1 => json_text(RPC_VALUES),
    ];
    let request = (
        weighted(0.8, id),
        weighted(0.9, hostile_string(RPC_VALUES)),
        weighted(0.1, json_text(RPC_VALUES)),
        weighted(0.8, json_object(RPC_KEYS, RPC_VALUES)),
        weighted(0.1, hostile_string(RPC_KEYS)),
    )
        .prop_map(|(id, method, jsonrpc, params, extra)| {
            let mut m = Vec::new();
            m.push(format!(
                "\"jsonrpc\":{}",
                jsonrpc.unwrap_or_else(|| "\"2.0\"".into())
            ));
            if let Some(id) = id {
                m.push(format!("\"id\":{id}"));
            }
            if let Some(method) = method {
                m.push(format!("\"method\":{}", quote(&method)));
            }
            if let Some(p) = params {
                m.push(format!("\"params\":{p}"));
            }
            if let Some(e) = extra {
                m.push(format!("{}:1", quote(&e)));
            }
            format!("{{{}}}", m.join(","))
        })
        .boxed();
    prop_oneof![
        4 => request.clone().prop_map(String::into_bytes),
        2 => vec(request, 0..6).prop_map(|r| format!("[{}]", r.join(",")).into_bytes()),
        // Around MAX_BATCH (64), with cheap elements.
        1 => vec(
            prop_oneof![
                Just(r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#),
                Just(r#"{"jsonrpc":"2.0","method":"n","params":{"k":[]}}"#),
                Just("7"),
            ],
            60..70
        )
        .prop_map(|r| format!("[{}]", r.join(",")).into_bytes()),
        1 => vec(any::<u8>(), 0..200),
        1 => json_text(RPC_VALUES).prop_map(|s| format!(" \t{s}\r").into_bytes()),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn rpc_request(line in rpc_line()) {
        harness::rpc_request(&line);
    }

    #[test]
    fn rpc_dispatch(
        method in 0u8..=255,
        params in prop_oneof![
            4 => json_object(RPC_KEYS, RPC_VALUES),
            1 => json_text(RPC_VALUES),
        ],
    ) {
        let mut data = vec![method];
        data.extend_from_slice(params.as_bytes());
        harness::rpc_dispatch(&data);
    }

    #[test]
    fn pass_session(b in session_body()) {
        harness::pass_session(b.as_bytes());
    }

    #[test]
    fn pass_profiles(b in profiles_body()) {
        harness::pass_profiles(b.as_bytes());
    }

    #[test]
    fn pass_decisions(b in decisions_body()) {
        harness::pass_decisions(b.as_bytes());
    }

    #[test]
    fn pass_errors(b in errors_body()) {
        harness::pass_errors(b.as_bytes());
    }

    #[test]
    fn pass_configuration(b in configuration_body()) {
        harness::pass_configuration(b.as_bytes());
    }
}

// ----------------------------------------------------------------------------------- config_parse

/// The configuration's keys by table, without the table names themselves at the top level.
fn toml_keys() -> Vec<(&'static str, Vec<&'static str>)> {
    let tables: Vec<&str> = tvauth::config::KEYS.iter().map(|(t, _)| *t).collect();
    tvauth::config::KEYS
        .iter()
        .map(|(t, keys)| {
            (
                *t,
                keys.iter()
                    .copied()
                    .filter(|k| !tables.contains(k))
                    .collect(),
            )
        })
        .collect()
}

/// A TOML value: numbers in and around every range, strings (allowed values, URLs, junk), lists.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0i64..2000).prop_map(|n| n.to_string()),
        (0u32..0o1000).prop_map(|n| format!("0o{n:o}")),
        any::<bool>().prop_map(|b| b.to_string()),
        hostile_string(&[
            "https://sp.auth.adobe.com/",
            "http://x",
            "https://",
            "SetTopBox",
            "Linux",
            "Sony",
            "debug",
            "trace",
            "loud",
            "REF30",
            "",
        ])
        .prop_map(|s| quote(&s)),
        vec(0u32..5000, 0..4).prop_map(|v| format!("{v:?}")),
    ]
}

/// A plausible value for `key` (right type, near or inside its range), else any value.
fn toml_value_for(key: &'static str) -> BoxedStrategy<String> {
    use tvauth::config::{HARDWARE_TYPES, OS_FAMILIES, OS_NAMES, OS_VENDORS};
    let good: BoxedStrategy<String> = match key {
        "mode" => (0u32..0o1100).prop_map(|n| format!("0o{n:o}")).boxed(),
        "allowed_uids" | "allowed_gids" => vec(any::<u32>(), 0..4)
            .prop_map(|v| format!("{v:?}"))
            .boxed(),
        k if k.ends_with("_secs") || k.starts_with("throttle") || k == "max_connections" => {
            prop_oneof![0u64..12, 250u64..11_000]
                .prop_map(|n| n.to_string())
                .boxed()
        }
        k if k.ends_with("_url") => hostile_string(&[
            "https://sp.auth.adobe.com/",
            "https://api.auth.adobe.com",
            "https://adobe.com",
            "https://",
            "http://x",
        ])
        .prop_map(|s| quote(&s))
        .boxed(),
        "log_level" => hostile_string(&["error", "warn", "info", "debug", "trace"])
            .prop_map(|s| quote(&s))
            .boxed(),
        "primary_hardware_type" => proptest::sample::select(HARDWARE_TYPES)
            .prop_map(quote)
            .boxed(),
        "os_name" => proptest::sample::select(OS_NAMES).prop_map(quote).boxed(),
        "os_family" => proptest::sample::select(OS_FAMILIES)
            .prop_map(quote)
            .boxed(),
        "os_vendor" => proptest::sample::select(OS_VENDORS).prop_map(quote).boxed(),
        "ca_file" | "software_statement_file" => Just("\"\"".to_owned()).boxed(),
        _ => hostile_string(&[
            "/var/lib/tvauth",
            "REF30",
            "adobe.com",
            "eyJ.x.y",
            "SetTopBox",
        ])
        .prop_map(|s| quote(&s))
        .boxed(),
    };
    prop_oneof![4 => good, 1 => toml_value().boxed()].boxed()
}

fn toml_doc() -> impl Strategy<Value = String> {
    let keys = toml_keys();
    let n = keys.len();
    let line = (0..n, any::<prop::sample::Index>()).prop_flat_map(move |(t, k)| {
        let key = *k.get(&keys[t].1);
        toml_value_for(key).prop_map(move |v| (t, format!("{key} = {v}")))
    });
    vec(line, 0..12).prop_map(|lines| {
        // Group by table (a repeated key is a TOML error, which is fine too).
        let mut out = String::new();
        for (t, (table, _)) in toml_keys().iter().enumerate() {
            if !table.is_empty() {
                out.push_str(&format!("[{table}]\n"));
            }
            for (lt, l) in &lines {
                if *lt == t {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn config_parse(doc in prop_oneof![
        6 => toml_doc(),
        1 => vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]) {
        harness::config_parse(doc.as_bytes());
    }

    /// A software statement never appears in an error about another key or in the masked dump.
    #[test]
    fn config_never_shows_the_statement(doc in toml_doc(), secret in "[A-Za-z0-9]{16,40}") {
        let secret = format!("eyJ{secret}");
        let text = doc.replacen("[pass]\n", &format!("[pass]\nsoftware_statement = \"{secret}\"\n"), 1);
        match tvauth::config::Config::parse(&text, None) {
            Ok(c) => prop_assert!(!c.to_masked_toml().contains(&secret)),
            Err(e) => prop_assert!(!e.to_string().contains(&secret), "{e}"),
        }
    }
}

// ------------------------------------------------------------------------------------ device_info

/// Hostile bytes for one device fact: invalid UTF-8, controls, NULs, BOMs, sometimes past the caps.
fn fact_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..64),
        2 => vec(
            prop_oneof![
                Just(&b"\x00"[..]),
                Just(&b"\xff"[..]),
                Just(&b"\xc3"[..]),
                Just(&b"\xed\xa0\x80"[..]),
                Just(&b"\xef\xbb\xbf"[..]),
                Just(&b"\x1b[31m"[..]),
                Just(&b"\xc2\x85"[..]),
                Just(&b"\xe2\x80\xa8"[..]),
                Just(&b" \t\r\n"[..]),
                Just(&b"Raspberry Pi 4"[..]),
                Just(&b"raspberrypi,4-model-b"[..]),
                Just(&b"ID=webos\nVERSION_ID=\"4.0\"\n"[..]),
                Just(&b"Model\t: Box\n"[..]),
                Just(&b"6.1.0-18-arm64"[..]),
                Just(&b"wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\n"[..]),
            ],
            0..24,
        )
        .prop_map(|parts| parts.concat()),
        1 => (4000usize..70_000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn device_info(facts in vec(fact_bytes(), 13), overrides in vec(fact_bytes(), 12)) {
        let parts: Vec<&[u8]> = facts.iter().chain(&overrides).map(Vec::as_slice).collect();
        harness::device_info(&harness::join_fields(&parts));
    }
}

proptest! {
    #![proptest_config(cases(512))]

    /// The sanitiser alone, on any bytes including megabyte-long ones.
    #[test]
    fn sanitize_any_bytes(b in prop_oneof![
        4 => vec(any::<u8>(), 0..512),
        1 => (0usize..2_000_000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]) {
        harness::check_sanitized(tvauth::device::facts::sanitize(&b).as_deref());
    }
}

// --------------------------------------------------------------------------- corpus and crashes

type Target = (&'static str, fn(&[u8]));

/// Every committed seed, and every input that once crashed a target, through its harness.
fn replay(dir: &str) {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let targets: [Target; 9] = [
        ("rpc_request", harness::rpc_request),
        ("rpc_dispatch", harness::rpc_dispatch),
        ("pass_session", harness::pass_session),
        ("pass_profiles", harness::pass_profiles),
        ("pass_decisions", harness::pass_decisions),
        ("pass_errors", harness::pass_errors),
        ("pass_configuration", harness::pass_configuration),
        ("config_parse", harness::config_parse),
        ("device_info", harness::device_info),
    ];
    for (name, run) in targets {
        let Ok(entries) = std::fs::read_dir(base.join(name)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            eprintln!("{}", path.display());
            run(&data);
        }
    }
}

#[test]
fn seed_corpus_replays() {
    replay("fuzz/corpus");
}

#[test]
fn fuzz_regressions_replay() {
    replay("fuzz/regressions");
}

/// The strategies are only a mirror if they get past the parsers' front doors: count how many
/// generated inputs each parser accepts with something in them.
#[test]
fn strategies_reach_the_parsers() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use tvauth::ipc::protocol::{Incoming, parse_line};
    use tvauth::pass::{Configuration, Decisions, Profiles, Session, dcr::parse_json};

    fn share<T: AsRef<[u8]> + std::fmt::Debug>(
        strategy: BoxedStrategy<T>,
        accepts: fn(&[u8]) -> bool,
    ) -> usize {
        let mut runner = TestRunner::deterministic();
        (0..200)
            .filter(|_| accepts(strategy.new_tree(&mut runner).unwrap().current().as_ref()))
            .count()
    }
    fn v(b: &[u8]) -> Option<miniserde::json::Value> {
        parse_json(200, b).ok()
    }
    let counts = [
        (
            "rpc",
            share(rpc_line().boxed(), |b| match parse_line(b) {
                Incoming::Single(r) => r.is_ok(),
                Incoming::Batch(items) => items.iter().any(Result::is_ok),
                Incoming::Empty => false,
            }),
        ),
        (
            "session",
            share(session_body(), |b| {
                v(b).is_some_and(|v| Session::from_value(&v).is_ok())
            }),
        ),
        (
            "profiles",
            share(profiles_body(), |b| {
                v(b).is_some_and(|v| Profiles::from_value(&v).is_ok_and(|p| !p.is_empty()))
            }),
        ),
        (
            "decisions",
            share(decisions_body(), |b| {
                v(b).is_some_and(|v| {
                    Decisions::from_value(&v).is_ok_and(|d| !d.decisions.is_empty())
                })
            }),
        ),
        (
            "errors",
            share(errors_body(), |b| {
                v(b).is_some_and(|v| !tvauth::pass::error::errors_from_body(&v).is_empty())
            }),
        ),
        (
            "configuration",
            share(configuration_body(), |b| {
                v(b).is_some_and(|v| {
                    Configuration::from_value(&v).is_ok_and(|c| !c.mvpd_list().is_empty())
                })
            }),
        ),
        (
            "config",
            share(toml_doc().boxed(), |b| {
                tvauth::config::Config::parse(std::str::from_utf8(b).unwrap(), None).is_ok()
            }),
        ),
    ];
    eprintln!("{counts:?}");
    for (name, n) in counts {
        assert!(n >= 40, "{name}: only {n}/200 generated inputs accepted");
    }
}
