//! Shared helpers of the emulator's own tests: a ureq client trusting the test CA, DCR, and the
//! seed pages' request headers.
#![allow(dead_code)]

use base64::Engine as _;
use miniserde::json::Value;
use std::time::Duration;
use tvauth_emulator::Emulator;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

pub const SP: &str = "REF30";
pub const DEVICE_ID: &str = "fingerprint YmEyM2QxNDEtZDcxNS01NjFjLTk0ZjQtZTllNGM5NjZiMWVi";
pub const UA: &str = "Mozilla/5.0 (Apple TV; U; CPU AppleTV5,3 OS 11.0 like Mac OS X; en_US)";
/// The seed's X-Device-Info: its JSON lacks a comma (spec §10 #1), so it must be refused.
pub const SEED_DEVICE_INFO: &str = "ewoJInByaW1hcnlIYXJkd2FyZVR5cGUiOiAiU2V0VG9wQm94IiwKCSJtb2RlbCI6ICJUViA1dGggR2VuIiwKCSJtYW51ZmFjdHVyZXIiOiAiQXBwbGUiLAoJIm9zTmFtZSI6ICJ0dk9TIgoJIm9zVmVuZG9yIjogIkFwcGxlIiwKCSJvc1ZlcnNpb24iOiAiMTEuMCIKfQ==";
pub const PFS_GRANTED: &str = "ewogICAgImZyYW1ld29ya1Blcm1pc3Npb25JbmZvIjogewogICAgICAiYWNjZXNzU3RhdHVzIjogImdyYW50ZWQiCiAgICB9LAogICAgImZyYW1ld29ya1Byb3ZpZGVySW5mbyIgOiB7CiAgICAgICJpZCIgOiAiQ2FibGV2aXNpb24iLAogICAgICAiZXhwaXJhdGlvbkRhdGUiIDogIjIwMjU0MzA2MzYwMDAiCiAgICB9Cn0=";
pub const PFS_DEGRADED: &str = "ewogICAgImZyYW1ld29ya1Blcm1pc3Npb25JbmZvIjogewogICAgICAiYWNjZXNzU3RhdHVzIjogImdyYW50ZWQiCiAgICB9LAogICAgImZyYW1ld29ya1Byb3ZpZGVySW5mbyIgOiB7CiAgICAgICJpZCIgOiAiJHtkZWdyYWRlZE12cGR9IiwKICAgICAgImV4cGlyYXRpb25EYXRlIiA6ICIyMDI1NDMwNjM2MDAwIgogICAgfQp9";
pub const PFS_DENIED: &str = "ewogICAgImZyYW1ld29ya1Blcm1pc3Npb25JbmZvIjogewogICAgICAiYWNjZXNzU3RhdHVzIjogImRlbmllZCIKICAgIH0sCiAgICAiZnJhbWV3b3JrUHJvdmlkZXJJbmZvIiA6IHt9Cn0=";

/// A valid X-Device-Info for a Linux set-top box.
pub fn device_info() -> String {
    base64::engine::general_purpose::STANDARD.encode(
        r#"{"primaryHardwareType":"SetTopBox","model":"STB-1","version":"2.0.1","manufacturer":"Acme","osName":"Linux","osFamily":"Linux","osVersion":"6.1","connectionType":"LAN","connectionSecure":true}"#,
    )
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        miniserde::json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn field(&self, key: &str) -> String {
        text(&self.json(), key)
    }
}

pub fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    match v {
        Value::Object(o) => o.get(key).unwrap_or_else(|| panic!("no {key}")),
        _ => panic!("not an object looking for {key}"),
    }
}

pub fn text(v: &Value, key: &str) -> String {
    match get(v, key) {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => panic!("{key} is not a scalar"),
    }
}

pub fn has(v: &Value, key: &str) -> bool {
    matches!(v, Value::Object(o) if o.contains_key(key))
}

/// Canonical JSON (sorted keys) for comparing with a seed sample regardless of field order.
pub fn canonical(s: &str) -> String {
    let v: Value = miniserde::json::from_str(s).unwrap_or_else(|e| panic!("bad JSON ({e}): {s}"));
    miniserde::json::to_string(&v)
}

pub fn agent_for(emu: &Emulator, timeout: Duration) -> ureq::Agent {
    let ca = Certificate::from_der(&emu.ca_der()).to_owned();
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&[ca]))
                .build(),
        )
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .new_agent()
}

pub struct Client<'a> {
    pub emu: &'a Emulator,
    pub agent: ureq::Agent,
    pub token: String,
}

fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Resp, ureq::Error> {
    let mut r = r?;
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(8 * 1024 * 1024)
        .read_to_string()?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

impl<'a> Client<'a> {
    /// A client without credentials yet.
    pub fn bare(emu: &'a Emulator) -> Client<'a> {
        Client {
            emu,
            agent: agent_for(emu, Duration::from_secs(20)),
            token: String::new(),
        }
    }

    /// A client that registered and minted a token.
    pub fn new(emu: &'a Emulator) -> Client<'a> {
        let mut c = Client::bare(emu);
        let (id, secret) = c.register();
        c.token = c.mint(&id, &secret).field("access_token");
        c
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    pub fn register(&self) -> (String, String) {
        let r = self
            .post_raw(
                "/o/client/register",
                "application/json;charset=utf-8",
                r#"{"software_statement":"eyJhbGciOiJSUzI1NiJ9.statement.sig","redirect_uri":"https://adobe.com"}"#,
                &[],
            )
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        (r.field("client_id"), r.field("client_secret"))
    }

    pub fn mint(&self, id: &str, secret: &str) -> Resp {
        self.post_raw(
            "/o/client/token",
            "application/x-www-form-urlencoded",
            &format!("client_id={id}&client_secret={secret}&grant_type=client_credentials"),
            &[],
        )
        .unwrap()
    }

    pub fn post_raw(
        &self,
        path: &str,
        ct: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Result<Resp, ureq::Error> {
        let mut b = self.agent.post(self.url(path)).header("Content-Type", ct);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        finish(b.send(body))
    }

    pub fn get_raw(&self, path: &str, headers: &[(&str, &str)]) -> Result<Resp, ureq::Error> {
        let mut b = self.agent.get(self.url(path));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        finish(b.call())
    }

    fn device_headers(&self) -> Vec<(String, String)> {
        vec![
            ("Authorization".into(), format!("Bearer {}", self.token)),
            ("AP-Device-Identifier".into(), DEVICE_ID.into()),
            ("X-Device-Info".into(), device_info()),
            ("Accept".into(), "application/json".into()),
            ("User-Agent".into(), UA.into()),
        ]
    }

    /// A v2 form POST with the seed's headers (and a valid X-Device-Info).
    pub fn post_form(&self, path: &str, body: &str) -> Resp {
        self.post_with(path, "application/x-www-form-urlencoded", body, &[])
    }

    pub fn post_with(&self, path: &str, ct: &str, body: &str, extra: &[(&str, &str)]) -> Resp {
        let hs = self.device_headers();
        let mut all: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend_from_slice(extra);
        self.post_raw(path, ct, body, &all).unwrap()
    }

    /// A v2 GET with the device headers.
    pub fn get(&self, path: &str) -> Resp {
        self.try_get(path).unwrap()
    }

    pub fn try_get(&self, path: &str) -> Result<Resp, ureq::Error> {
        let hs = self.device_headers();
        let all: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.get_raw(path, &all)
    }
}
