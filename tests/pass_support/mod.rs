//! Shared setup of the `pass` integration tests: an emulator, a state dir, a `PassConfig` pointing
//! at the emulator, and a `Client`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use miniserde::json::Value;
use tvauth::config::{Config, PassConfig};
use tvauth::pass::{Client, DeviceHeaders};
use tvauth::secret::Secret;
use tvauth::store::Store;
use tvauth_emulator::{Emulator, Options};

pub const SP: &str = "REF30";
/// The seed pages' identifier (valid: base64 of a UUID).
pub const DEVICE_ID: &str = "fingerprint YmEyM2QxNDEtZDcxNS01NjFjLTk0ZjQtZTllNGM5NjZiMWVi";
pub const STATEMENT: &str =
    "eyJhbGciOiJSUzI1NiJ9.c29mdHdhcmUtc3RhdGVtZW50LXRlc3Q.c2lnbmF0dXJlLXRlc3Q";
pub const MODEL: &str = "STB-1";

/// A valid X-Device-Info for a Linux set-top box (the seed's own value is invalid JSON).
pub fn device_info() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(
        r#"{"primaryHardwareType":"SetTopBox","model":"STB-1","version":"2.0.1","manufacturer":"Acme","osName":"Linux","osFamily":"Linux","osVersion":"6.1","connectionType":"LAN","connectionSecure":true}"#,
    )
}

pub fn headers() -> DeviceHeaders {
    DeviceHeaders {
        device_info: device_info(),
        device_identifier: DEVICE_ID.to_owned(),
        model: MODEL.to_owned(),
    }
}

pub fn user_agent() -> String {
    format!("tvauth/{} (Linux; {MODEL})", env!("CARGO_PKG_VERSION"))
}

pub struct Env {
    pub emu: Emulator,
    pub dir: PathBuf,
    pub cfg: PassConfig,
}

impl Env {
    pub fn new(tag: &str, opts: Options) -> Env {
        let dir = std::env::temp_dir().join(format!("tvauth-pass-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let emu = Emulator::start(opts);
        let ca = dir.join("ca.pem");
        emu.write_ca(&ca).unwrap();
        let mut cfg = Config::defaults().pass;
        cfg.base_url = emu.base_url();
        cfg.service_provider = SP.to_owned();
        cfg.software_statement = Secret::new(STATEMENT.to_owned());
        cfg.ca_file = Some(ca);
        cfg.domain_name = "adobe.com".to_owned();
        cfg.redirect_url = "https://adobe.com".to_owned();
        cfg.timeout_secs = 10;
        Env { emu, dir, cfg }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub fn store(&self) -> Store {
        Store::open(&self.state_dir()).unwrap()
    }

    pub fn client(&self) -> Client {
        Client::new(&self.cfg, self.store(), headers()).unwrap()
    }

    /// The requests the emulator saw for `path`.
    pub fn requests_to(&self, path: &str) -> Vec<tvauth_emulator::Recorded> {
        self.emu
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A field of a stored state file (`tvauth-state` header line, then JSON).
pub fn stored_field(state_dir: &Path, file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(state_dir.join(file)).ok()?;
    let body = text.split_once('\n')?.1;
    let v: Value = miniserde::json::from_str(body).ok()?;
    match v {
        Value::Object(o) => match o.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

pub fn access_token(env: &Env) -> String {
    stored_field(&env.state_dir(), "token", "access_token").expect("a stored access token")
}

pub fn client_secret(env: &Env) -> String {
    stored_field(&env.state_dir(), "client", "client_secret").expect("stored client credentials")
}
