//! Configuration: TOML file → [`Config`] (CONTRACT §2).
//!
//! The file shape (`File*` structs, every field optional, unknown keys refused) is kept apart from
//! the runtime shape ([`Config`], concrete values, validated). Errors name the file, the key and the
//! line. The TOML itself is read by [`syntax`]. Lookup order: `--config`, `$TVAUTH_CONFIG`, `/etc/tvauth/tvauth.toml`
//! if it exists, else the embedded defaults.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::bounded_read::read_at_most;
use crate::secret::Secret;
use syntax::{Entry, Value};

mod syntax;

pub const DEFAULT_PATH: &str = "/etc/tvauth/tvauth.toml";
pub const ENV_CONFIG: &str = "TVAUTH_CONFIG";

/// X-Device-Info values with a restricted set (spec §1.1); anything else is refused at load time.
pub const HARDWARE_TYPES: &[&str] = &[
    "Camera",
    "DataCollectionTerminal",
    "Desktop",
    "EmbeddedNetworkModule",
    "eReader",
    "GamesConsole",
    "GeolocationTracker",
    "Glasses",
    "MediaPlayer",
    "MobilePhone",
    "PaymentTerminal",
    "PluginModem",
    "SetTopBox",
    "TV",
    "Tablet",
    "WirelessHotspot",
    "Wristwatch",
    "Unknown",
];
pub const OS_NAMES: &[&str] = &[
    "Android",
    "Chrome OS",
    "Linux",
    "Mac OS",
    "OS X",
    "OpenBSD",
    "Roku OS",
    "Windows",
    "iOS",
    "tvOS",
    "webOS",
];
pub const OS_FAMILIES: &[&str] = &[
    "Android",
    "BSD",
    "Linux",
    "PlayStation OS",
    "Roku OS",
    "Symbian",
    "Tizen",
    "Windows",
    "iOS",
    "tvOS",
    "macOS",
    "webOS",
];
pub const OS_VENDORS: &[&str] = &[
    "Amazon",
    "Apple",
    "Google",
    "LG",
    "Microsoft",
    "Mozilla",
    "Nintendo",
    "Nokia",
    "Roku",
    "Samsung",
    "Sony",
    "Tizen Project",
];

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from: a file path, or `None` for the embedded defaults.
    pub source: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub log_level: log::LevelFilter,
    pub socket: SocketConfig,
    pub pass: PassConfig,
    pub device: DeviceConfig,
}

#[derive(Debug, Clone)]
pub struct SocketConfig {
    pub path: PathBuf,
    pub mode: u32,
    pub allowed_uids: Vec<u32>,
    pub allowed_gids: Vec<u32>,
    /// Extension: concurrent connections served; past it the longest-idle connection is closed.
    pub max_connections: usize,
    /// Extension: a client must finish a line it started within this many seconds.
    pub line_timeout_secs: u64,
}

#[derive(Debug, Clone)]
pub struct PassConfig {
    pub base_url: String,
    pub service_provider: String,
    /// From `software_statement` or the contents of `software_statement_file`.
    pub software_statement: Secret<String>,
    pub ca_file: Option<PathBuf>,
    pub legacy_base_url: String,
    pub domain_name: String,
    pub redirect_url: String,
    pub timeout_secs: u64,
    pub poll_interval_secs: u64,
    /// Extension: the client-side token bucket. Adobe's rule is 1 request/s with a burst of 10;
    /// raise these only against a test emulator (benchmarks do).
    pub throttle_per_sec: u32,
    pub throttle_burst: u32,
}

/// Explicit X-Device-Info values; each wins over the collected one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceConfig {
    pub primary_hardware_type: Option<String>,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub vendor: Option<String>,
    pub version: Option<String>,
    pub os_name: Option<String>,
    pub os_family: Option<String>,
    pub os_vendor: Option<String>,
    pub os_version: Option<String>,
    pub connection_type: Option<String>,
    pub application_id: Option<String>,
    /// Extension: pin the fingerprint's identity source to this file (e.g. a vendor serial number).
    pub identity_file: Option<PathBuf>,
}

/// A configuration that could not be loaded. `Display` names the file, the key and the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `<defaults>`.
    pub file: String,
    /// Dotted key (`socket.mode`) when known.
    pub key: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Default)]
struct FileConfig {
    state_dir: Option<PathBuf>,
    log_level: Option<String>,
    socket: Option<FileSocket>,
    pass: Option<FilePass>,
    device: Option<FileDevice>,
}

#[derive(Default)]
struct FileSocket {
    path: Option<PathBuf>,
    mode: Option<u32>,
    allowed_uids: Option<Vec<u32>>,
    allowed_gids: Option<Vec<u32>>,
    max_connections: Option<usize>,
    line_timeout_secs: Option<u64>,
}

#[derive(Default)]
struct FilePass {
    base_url: Option<String>,
    service_provider: Option<String>,
    software_statement: Option<String>,
    software_statement_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    legacy_base_url: Option<String>,
    domain_name: Option<String>,
    redirect_url: Option<String>,
    timeout_secs: Option<u64>,
    poll_interval_secs: Option<u64>,
    throttle_per_sec: Option<u32>,
    throttle_burst: Option<u32>,
}

#[derive(Default)]
struct FileDevice {
    primary_hardware_type: Option<String>,
    model: Option<String>,
    manufacturer: Option<String>,
    vendor: Option<String>,
    version: Option<String>,
    os_name: Option<String>,
    os_family: Option<String>,
    os_vendor: Option<String>,
    os_version: Option<String>,
    connection_type: Option<String>,
    application_id: Option<String>,
    identity_file: Option<PathBuf>,
}

/// Largest configuration file read (the full example is 2 KiB).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Every key the file may hold, by table (`""`: the top level, whose entries include the tables).
/// Used for "unknown key" messages; a unit test holds it to `from_entries`, and the packaging and
/// property tests take their key lists from it.
pub const KEYS: &[(&str, &[&str])] = &[
    ("", &["state_dir", "log_level", "socket", "pass", "device"]),
    (
        "socket",
        &[
            "path",
            "mode",
            "allowed_uids",
            "allowed_gids",
            "max_connections",
            "line_timeout_secs",
        ],
    ),
    (
        "pass",
        &[
            "base_url",
            "service_provider",
            "software_statement",
            "software_statement_file",
            "ca_file",
            "legacy_base_url",
            "domain_name",
            "redirect_url",
            "timeout_secs",
            "poll_interval_secs",
            "throttle_per_sec",
            "throttle_burst",
        ],
    ),
    (
        "device",
        &[
            "primary_hardware_type",
            "model",
            "manufacturer",
            "vendor",
            "version",
            "os_name",
            "os_family",
            "os_vendor",
            "os_version",
            "connection_type",
            "application_id",
            "identity_file",
        ],
    ),
];

impl FileConfig {
    /// The file shape from the parsed entries; `Err` is the entry at fault and why. The parser has
    /// already refused keys defined twice.
    fn from_entries(entries: &[Entry]) -> Result<FileConfig, (&Entry, String)> {
        let mut f = FileConfig::default();
        for e in entries {
            let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
            let v = &e.value;
            let (s, p, d) = (&mut f.socket, &mut f.pass, &mut f.device);
            let r = match path.as_slice() {
                ["socket" | "pass" | "device"] => table(v),
                ["state_dir"] => path_value(v).map(|x| f.state_dir = Some(x)),
                ["log_level"] => string(v).map(|x| f.log_level = Some(x)),
                ["socket", "path"] => {
                    path_value(v).map(|x| s.get_or_insert_default().path = Some(x))
                }
                ["socket", "mode"] => int(v).map(|x| s.get_or_insert_default().mode = Some(x)),
                ["socket", "allowed_uids"] => {
                    ids(v).map(|x| s.get_or_insert_default().allowed_uids = Some(x))
                }
                ["socket", "allowed_gids"] => {
                    ids(v).map(|x| s.get_or_insert_default().allowed_gids = Some(x))
                }
                ["socket", "max_connections"] => {
                    int(v).map(|x| s.get_or_insert_default().max_connections = Some(x))
                }
                ["socket", "line_timeout_secs"] => {
                    int(v).map(|x| s.get_or_insert_default().line_timeout_secs = Some(x))
                }
                ["pass", "base_url"] => {
                    string(v).map(|x| p.get_or_insert_default().base_url = Some(x))
                }
                ["pass", "service_provider"] => {
                    string(v).map(|x| p.get_or_insert_default().service_provider = Some(x))
                }
                ["pass", "software_statement"] => {
                    string(v).map(|x| p.get_or_insert_default().software_statement = Some(x))
                }
                ["pass", "software_statement_file"] => path_value(v)
                    .map(|x| p.get_or_insert_default().software_statement_file = Some(x)),
                ["pass", "ca_file"] => {
                    path_value(v).map(|x| p.get_or_insert_default().ca_file = Some(x))
                }
                ["pass", "legacy_base_url"] => {
                    string(v).map(|x| p.get_or_insert_default().legacy_base_url = Some(x))
                }
                ["pass", "domain_name"] => {
                    string(v).map(|x| p.get_or_insert_default().domain_name = Some(x))
                }
                ["pass", "redirect_url"] => {
                    string(v).map(|x| p.get_or_insert_default().redirect_url = Some(x))
                }
                ["pass", "timeout_secs"] => {
                    int(v).map(|x| p.get_or_insert_default().timeout_secs = Some(x))
                }
                ["pass", "poll_interval_secs"] => {
                    int(v).map(|x| p.get_or_insert_default().poll_interval_secs = Some(x))
                }
                ["pass", "throttle_per_sec"] => {
                    int(v).map(|x| p.get_or_insert_default().throttle_per_sec = Some(x))
                }
                ["pass", "throttle_burst"] => {
                    int(v).map(|x| p.get_or_insert_default().throttle_burst = Some(x))
                }
                ["device", "primary_hardware_type"] => {
                    string(v).map(|x| d.get_or_insert_default().primary_hardware_type = Some(x))
                }
                ["device", "model"] => string(v).map(|x| d.get_or_insert_default().model = Some(x)),
                ["device", "manufacturer"] => {
                    string(v).map(|x| d.get_or_insert_default().manufacturer = Some(x))
                }
                ["device", "vendor"] => {
                    string(v).map(|x| d.get_or_insert_default().vendor = Some(x))
                }
                ["device", "version"] => {
                    string(v).map(|x| d.get_or_insert_default().version = Some(x))
                }
                ["device", "os_name"] => {
                    string(v).map(|x| d.get_or_insert_default().os_name = Some(x))
                }
                ["device", "os_family"] => {
                    string(v).map(|x| d.get_or_insert_default().os_family = Some(x))
                }
                ["device", "os_vendor"] => {
                    string(v).map(|x| d.get_or_insert_default().os_vendor = Some(x))
                }
                ["device", "os_version"] => {
                    string(v).map(|x| d.get_or_insert_default().os_version = Some(x))
                }
                ["device", "connection_type"] => {
                    string(v).map(|x| d.get_or_insert_default().connection_type = Some(x))
                }
                ["device", "application_id"] => {
                    string(v).map(|x| d.get_or_insert_default().application_id = Some(x))
                }
                ["device", "identity_file"] => {
                    path_value(v).map(|x| d.get_or_insert_default().identity_file = Some(x))
                }
                _ => Err(unknown_key(&path)),
            };
            r.map_err(|m| (e, m))?;
        }
        Ok(f)
    }
}

fn unknown_key(path: &[&str]) -> String {
    let table = if path.len() > 1 { path[0] } else { "" };
    match KEYS.iter().find(|(t, _)| *t == table) {
        Some(("", keys)) => format!("unknown key; the top level takes {}", keys.join(", ")),
        Some((t, keys)) => format!("unknown key; [{t}] takes {}", keys.join(", ")),
        None => "unknown key".into(),
    }
}

fn table(v: &Value) -> Result<(), String> {
    match v {
        Value::Table => Ok(()),
        v => Err(format!("expected a table, found {}", v.kind())),
    }
}

fn string(v: &Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        v => Err(format!("expected a string, found {}", v.kind())),
    }
}

fn path_value(v: &Value) -> Result<PathBuf, String> {
    string(v).map(PathBuf::from)
}

fn int<T: TryFrom<i64>>(v: &Value) -> Result<T, String> {
    match v {
        Value::Int(n) => T::try_from(*n).map_err(|_| format!("{n} is out of range")),
        v => Err(format!("expected an integer, found {}", v.kind())),
    }
}

/// A list of user or group ids.
fn ids(v: &Value) -> Result<Vec<u32>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| int::<u32>(i).map_err(|m| format!("list item: {m}")))
            .collect(),
        v => Err(format!("expected a list of ids, found {}", v.kind())),
    }
}

/// Poll faster than this and Adobe's guidance ("every 3-5 seconds or more") is broken.
pub const MIN_POLL_SECS: u64 = 3;

impl Config {
    /// Resolve the file per the lookup order and load it.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        match locate(explicit, std::env::var_os(ENV_CONFIG).map(PathBuf::from)) {
            Some(path) => Config::from_file(&path),
            None => Config::parse("", None),
        }
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let fail = |message: String| ConfigError {
            file: path.display().to_string(),
            key: None,
            line: None,
            message,
        };
        // Bytes first: the size check must not depend on where the cut falls in a UTF-8 sequence.
        let bytes = read_at_most(path, MAX_FILE_BYTES)
            .map_err(|e| fail(format!("cannot read: {e}")))?
            .ok_or_else(|| fail(format!("larger than {MAX_FILE_BYTES} bytes")))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| fail(format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to())))?;
        Config::parse(&text, Some(path))
    }

    /// The embedded defaults.
    #[allow(clippy::panic)] // parsing the empty document cannot fail; a unit test proves it
    pub fn defaults() -> Config {
        // The empty document is valid by construction; a failure here is a bug caught by tests.
        Config::parse("", None).unwrap_or_else(|e| panic!("embedded defaults invalid: {e}"))
    }

    /// Parse and validate a TOML document; `source` is used in error messages and for relative paths.
    pub fn parse(text: &str, source: Option<&Path>) -> Result<Config, ConfigError> {
        let file_name = source.map_or_else(|| "<defaults>".to_owned(), |p| p.display().to_string());
        let entries = syntax::parse(text).map_err(|e| ConfigError {
            file: file_name.clone(),
            key: e.key,
            line: Some(e.line),
            message: e.message,
        })?;
        let file = FileConfig::from_entries(&entries).map_err(|(e, message)| ConfigError {
            file: file_name.clone(),
            key: Some(syntax::dotted(&e.path)),
            line: Some(e.line),
            message,
        })?;
        let err = |key: &str, message: String| ConfigError {
            file: file_name.clone(),
            key: Some(key.to_owned()),
            line: entries
                .iter()
                .find(|e| syntax::dotted(&e.path) == key)
                .map(|e| e.line),
            message,
        };
        let socket = file.socket.unwrap_or_default();
        let pass = file.pass.unwrap_or_default();
        let dev = file.device.unwrap_or_default();

        let log_level = match file.log_level.as_deref().unwrap_or("info") {
            "error" => log::LevelFilter::Error,
            "warn" => log::LevelFilter::Warn,
            "info" => log::LevelFilter::Info,
            "debug" => log::LevelFilter::Debug,
            "trace" => log::LevelFilter::Trace,
            other => {
                return Err(err(
                    "log_level",
                    format!("`{other}` is not one of error, warn, info, debug, trace"),
                ));
            }
        };

        let mode = socket.mode.unwrap_or(0o660);
        if mode > 0o777 {
            return Err(err(
                "socket.mode",
                format!("{mode:#o} is not a file mode (at most 0o777)"),
            ));
        }
        let max_connections = socket.max_connections.unwrap_or(32);
        if !(1..=1024).contains(&max_connections) {
            return Err(err(
                "socket.max_connections",
                "must be between 1 and 1024".into(),
            ));
        }

        let line_timeout_secs = socket.line_timeout_secs.unwrap_or(10);
        if !(1..=300).contains(&line_timeout_secs) {
            return Err(err(
                "socket.line_timeout_secs",
                "must be between 1 and 300".into(),
            ));
        }

        let base_url = https_url(pass.base_url, "https://sp.auth.adobe.com")
            .map_err(|m| err("pass.base_url", m))?;
        let legacy_base_url = https_url(pass.legacy_base_url, "https://api.auth.adobe.com")
            .map_err(|m| err("pass.legacy_base_url", m))?;

        let software_statement = match (pass.software_statement, pass.software_statement_file) {
            (Some(s), Some(f)) if !s.is_empty() && !f.as_os_str().is_empty() => {
                return Err(err(
                    "pass.software_statement_file",
                    "set either software_statement or software_statement_file, not both".into(),
                ));
            }
            (_, Some(f)) if !f.as_os_str().is_empty() => {
                let path = relative_to(source, &f);
                let text = read_statement(&path).map_err(|e| {
                    err(
                        "pass.software_statement_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                text.trim().to_owned()
            }
            (s, _) => s.unwrap_or_default().trim().to_owned(),
        };

        let ca_file = match pass.ca_file {
            Some(f) if !f.as_os_str().is_empty() => {
                let path = relative_to(source, &f);
                if let Err(e) = std::fs::metadata(&path) {
                    return Err(err(
                        "pass.ca_file",
                        format!("cannot read {}: {e}", path.display()),
                    ));
                }
                Some(path)
            }
            _ => None,
        };

        let timeout_secs = pass.timeout_secs.unwrap_or(15);
        if !(1..=300).contains(&timeout_secs) {
            return Err(err("pass.timeout_secs", "must be between 1 and 300".into()));
        }
        let mut poll_interval_secs = pass.poll_interval_secs.unwrap_or(5);
        if poll_interval_secs < MIN_POLL_SECS {
            log::warn!(
                "pass.poll_interval_secs = {poll_interval_secs} is faster than Adobe allows; using {MIN_POLL_SECS}"
            );
            poll_interval_secs = MIN_POLL_SECS;
        }
        if poll_interval_secs > 600 {
            return Err(err("pass.poll_interval_secs", "must be at most 600".into()));
        }
        let throttle_per_sec = pass.throttle_per_sec.unwrap_or(1);
        let throttle_burst = pass.throttle_burst.unwrap_or(10);
        if !(1..=10_000).contains(&throttle_per_sec) {
            return Err(err(
                "pass.throttle_per_sec",
                "must be between 1 and 10000".into(),
            ));
        }
        if !(1..=10_000).contains(&throttle_burst) {
            return Err(err(
                "pass.throttle_burst",
                "must be between 1 and 10000".into(),
            ));
        }

        let restricted = |key: &str, v: Option<String>, allowed: &[&str]| match v {
            Some(v) if !allowed.contains(&v.as_str()) => Err(err(
                key,
                format!("`{v}` is not an allowed value ({})", allowed.join(", ")),
            )),
            v => Ok(non_empty(v)),
        };
        let device = DeviceConfig {
            primary_hardware_type: restricted(
                "device.primary_hardware_type",
                Some(
                    dev.primary_hardware_type
                        .unwrap_or_else(|| "SetTopBox".into()),
                ),
                HARDWARE_TYPES,
            )?,
            model: non_empty(dev.model),
            manufacturer: non_empty(dev.manufacturer),
            vendor: non_empty(dev.vendor),
            version: non_empty(dev.version),
            os_name: restricted("device.os_name", dev.os_name, OS_NAMES)?,
            os_family: restricted("device.os_family", dev.os_family, OS_FAMILIES)?,
            os_vendor: restricted("device.os_vendor", dev.os_vendor, OS_VENDORS)?,
            os_version: non_empty(dev.os_version),
            connection_type: non_empty(dev.connection_type),
            application_id: non_empty(dev.application_id),
            identity_file: dev
                .identity_file
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| relative_to(source, &p)),
        };

        Ok(Config {
            source: source.map(Path::to_path_buf),
            state_dir: file
                .state_dir
                .unwrap_or_else(|| PathBuf::from("/var/lib/tvauth")),
            log_level,
            socket: SocketConfig {
                path: socket
                    .path
                    .unwrap_or_else(|| PathBuf::from("/run/tvauth/tvauth.sock")),
                mode,
                allowed_uids: socket.allowed_uids.unwrap_or_default(),
                allowed_gids: socket.allowed_gids.unwrap_or_default(),
                max_connections,
                line_timeout_secs,
            },
            pass: PassConfig {
                base_url,
                service_provider: pass.service_provider.unwrap_or_else(|| "REF30".into()),
                software_statement: Secret::new(software_statement),
                ca_file,
                legacy_base_url,
                domain_name: pass.domain_name.unwrap_or_default(),
                redirect_url: pass.redirect_url.unwrap_or_default(),
                timeout_secs,
                poll_interval_secs,
                throttle_per_sec,
                throttle_burst,
            },
            device,
        })
    }

    /// The keys a Pass call needs that are not set (for the -32003 error).
    pub fn pass_missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.pass.service_provider.trim().is_empty() {
            missing.push("pass.service_provider");
        }
        if self.pass.software_statement.is_empty() {
            missing.push("pass.software_statement");
        }
        missing
    }

    /// The effective configuration as TOML, secrets masked (for `tvauth config check`).
    pub fn to_masked_toml(&self) -> String {
        let q = |s: &str| syntax::quote(s);
        let opt = |k: &str, v: &Option<String>| match v {
            Some(v) => format!("{k} = {}\n", q(v)),
            None => format!("# {k} = (collected)\n"),
        };
        let list = |v: &[u32]| {
            let items: Vec<String> = v.iter().map(u32::to_string).collect();
            format!("[{}]", items.join(", "))
        };
        let path = |p: &Path| q(&p.display().to_string());
        let d = &self.device;
        let p = &self.pass;
        let mut out = String::new();
        out.push_str(&format!(
            "# source: {}\n",
            self.source
                .as_ref()
                .map_or("<defaults>".into(), |s| s.display().to_string())
        ));
        out.push_str(&format!("state_dir = {}\n", path(&self.state_dir)));
        out.push_str(&format!(
            "log_level = {}\n\n",
            q(&self.log_level.to_string().to_lowercase())
        ));
        out.push_str("[socket]\n");
        out.push_str(&format!("path = {}\n", path(&self.socket.path)));
        out.push_str(&format!("mode = {:#o}\n", self.socket.mode));
        out.push_str(&format!(
            "allowed_uids = {}\n",
            list(&self.socket.allowed_uids)
        ));
        out.push_str(&format!(
            "allowed_gids = {}\n",
            list(&self.socket.allowed_gids)
        ));
        out.push_str(&format!(
            "max_connections = {}\n\n",
            self.socket.max_connections
        ));
        out.push_str("[pass]\n");
        out.push_str(&format!("base_url = {}\n", q(&p.base_url)));
        out.push_str(&format!("service_provider = {}\n", q(&p.service_provider)));
        let masked = if p.software_statement.is_empty() {
            ""
        } else {
            "***"
        };
        out.push_str(&format!("software_statement = {}\n", q(masked)));
        out.push_str(&format!(
            "ca_file = {}\n",
            q(&p.ca_file
                .as_ref()
                .map(|c| c.display().to_string())
                .unwrap_or_default())
        ));
        out.push_str(&format!("legacy_base_url = {}\n", q(&p.legacy_base_url)));
        out.push_str(&format!("domain_name = {}\n", q(&p.domain_name)));
        out.push_str(&format!("redirect_url = {}\n", q(&p.redirect_url)));
        out.push_str(&format!("timeout_secs = {}\n", p.timeout_secs));
        out.push_str(&format!("poll_interval_secs = {}\n", p.poll_interval_secs));
        out.push_str(&format!("throttle_per_sec = {}\n", p.throttle_per_sec));
        out.push_str(&format!("throttle_burst = {}\n\n", p.throttle_burst));
        out.push_str("[device]\n");
        out.push_str(&opt("primary_hardware_type", &d.primary_hardware_type));
        out.push_str(&opt("model", &d.model));
        out.push_str(&opt("manufacturer", &d.manufacturer));
        out.push_str(&opt("vendor", &d.vendor));
        out.push_str(&opt("version", &d.version));
        out.push_str(&opt("os_name", &d.os_name));
        out.push_str(&opt("os_family", &d.os_family));
        out.push_str(&opt("os_vendor", &d.os_vendor));
        out.push_str(&opt("os_version", &d.os_version));
        out.push_str(&opt("connection_type", &d.connection_type));
        out.push_str(&opt("application_id", &d.application_id));
        match &d.identity_file {
            Some(f) => out.push_str(&format!("identity_file = {}\n", path(f))),
            None => out.push_str("# identity_file = (hardware)\n"),
        }
        out
    }
}

/// Which file to read, per CONTRACT §2.
fn locate(explicit: Option<&Path>, env: Option<PathBuf>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = env.filter(|p| !p.as_os_str().is_empty()) {
        return Some(p);
    }
    let default = PathBuf::from(DEFAULT_PATH);
    default.exists().then_some(default)
}

/// Longest software statement file accepted; the JWT is a few KiB.
const MAX_STATEMENT_BYTES: u64 = 64 * 1024;

/// The software statement file, bounded: a regular file of at most [`MAX_STATEMENT_BYTES`]. With
/// `read_to_string`, `/dev/zero` grew a string until memory ran out (config_parse fuzz seed) and a
/// FIFO would block the (re)load until a writer came.
fn read_statement(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let bytes = read_at_most(path, MAX_STATEMENT_BYTES)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("longer than {MAX_STATEMENT_BYTES} bytes"))?;
    String::from_utf8(bytes).map_err(|_| "stream did not contain valid UTF-8".into())
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn relative_to(source: Option<&Path>, p: &Path) -> PathBuf {
    match source.and_then(Path::parent) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

fn https_url(v: Option<String>, default: &str) -> Result<String, String> {
    let v = v.unwrap_or_else(|| default.to_owned());
    let v = v.trim().trim_end_matches('/').to_owned();
    let rest = v
        .strip_prefix("https://")
        .ok_or_else(|| format!("`{v}` must be an https:// URL"))?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(format!("`{v}` is not a valid URL"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_contract_ones() {
        let c = Config::defaults();
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/tvauth"));
        assert_eq!(c.socket.path, PathBuf::from("/run/tvauth/tvauth.sock"));
        assert_eq!(c.socket.mode, 0o660);
        assert_eq!(c.pass.base_url, "https://sp.auth.adobe.com");
        assert_eq!(c.pass.service_provider, "REF30");
        assert_eq!(c.pass.legacy_base_url, "https://api.auth.adobe.com");
        assert_eq!(c.pass.timeout_secs, 15);
        assert_eq!(c.pass.poll_interval_secs, 5);
        assert_eq!((c.pass.throttle_per_sec, c.pass.throttle_burst), (1, 10));
        assert_eq!(c.device.primary_hardware_type.as_deref(), Some("SetTopBox"));
        assert_eq!(c.pass_missing(), vec!["pass.software_statement"]);
    }

    #[test]
    fn contract_example_parses() {
        let text = r#"
state_dir = "/var/lib/tvauth"
log_level = "debug"

[socket]
path = "/run/tvauth/tvauth.sock"
mode = 0o660
allowed_uids = [1000]
allowed_gids = []

[pass]
base_url = "https://sp.auth-staging.adobe.com"
service_provider = "REF30"
software_statement = "eyJabc"
ca_file = ""
domain_name = "adobe.com"
redirect_url = "https://adobe.com"
timeout_secs = 10
poll_interval_secs = 1

[device]
primary_hardware_type = "SetTopBox"
model = "X1"
"#;
        let c = Config::parse(text, Some(Path::new("/x/tvauth.toml"))).unwrap();
        assert_eq!(c.log_level, log::LevelFilter::Debug);
        assert_eq!(c.socket.allowed_uids, vec![1000]);
        assert_eq!(c.pass.poll_interval_secs, MIN_POLL_SECS, "clamped");
        assert_eq!(c.device.model.as_deref(), Some("X1"));
        assert!(c.pass_missing().is_empty());
        let dump = c.to_masked_toml();
        assert!(dump.contains("software_statement = \"***\""), "{dump}");
        assert!(!dump.contains("eyJabc"));
        // The dump is itself a valid config with the same meaning (minus the secret).
        let again = Config::parse(&dump, None).unwrap();
        assert_eq!(again.socket.mode, 0o660);
        assert_eq!(again.device, c.device);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = "log_level = \"info\"\n[socket]\npath = \"/tmp/s\"\nmodee = 0o600\n";
        let e = Config::parse(text, Some(Path::new("/etc/t.toml"))).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("socket.modee"), "{e}");
        assert_eq!(e.line, Some(4));
        assert!(
            e.to_string()
                .starts_with("/etc/t.toml:4: key `socket.modee`"),
            "{e}"
        );
        let e = Config::parse("colour = 1\n", None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("colour"), "{e}");
    }

    #[test]
    fn bad_type_is_named() {
        let e = Config::parse("[pass]\ntimeout_secs = \"fast\"\n", None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pass.timeout_secs"), "{e}");
        assert_eq!(e.line, Some(2));
        let e = Config::parse("[socket]\nallowed_uids = [\"root\"]\n", None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("socket.allowed_uids"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        for (text, key) in [
            ("log_level = \"loud\"", "log_level"),
            ("[socket]\nmode = 0o1777", "socket.mode"),
            (
                "[pass]\nbase_url = \"http://sp.auth.adobe.com\"",
                "pass.base_url",
            ),
            ("[pass]\ntimeout_secs = 0", "pass.timeout_secs"),
            ("[pass]\nca_file = \"/nonexistent/ca.pem\"", "pass.ca_file"),
            (
                "[pass]\nsoftware_statement_file = \"/nonexistent/ss\"",
                "pass.software_statement_file",
            ),
            (
                "[device]\nprimary_hardware_type = \"Toaster\"",
                "device.primary_hardware_type",
            ),
            ("[device]\nos_name = \"linux\"", "device.os_name"),
        ] {
            let e = Config::parse(text, None).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
            assert_eq!(e.line, Some(text.lines().count()), "{text}: {e}");
        }
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = Config::parse("[socket]\npath = \n", None).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn statement_file_is_read_relative_to_the_config() {
        let dir = std::env::temp_dir().join(format!("tvauth-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ss.jwt"), "eyJ.statement.sig\n").unwrap();
        let c = Config::parse(
            "[pass]\nsoftware_statement_file = \"ss.jwt\"\n",
            Some(&dir.join("t.toml")),
        )
        .unwrap();
        assert_eq!(c.pass.software_statement.expose(), "eyJ.statement.sig");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn statement_file_is_bounded() {
        // Regression (fuzz/regressions/config_parse): /dev/zero was read until memory ran out.
        for (path, why) in [
            ("/dev/zero", "not a regular file"),
            ("/", "not a regular file"),
        ] {
            let e = Config::parse(
                &format!("[pass]\nsoftware_statement_file = \"{path}\"\n"),
                None,
            )
            .unwrap_err();
            assert_eq!(e.key.as_deref(), Some("pass.software_statement_file"));
            assert!(e.message.contains(why), "{e}");
        }
        let dir = std::env::temp_dir().join(format!("tvauth-cfg-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.jwt");
        std::fs::write(&big, vec![b'a'; MAX_STATEMENT_BYTES as usize + 1]).unwrap();
        let text = format!("[pass]\nsoftware_statement_file = {:?}\n", big);
        let e = Config::parse(&text, None).unwrap_err();
        assert!(e.message.contains("longer than"), "{e}");
        std::fs::write(&big, vec![b'a'; MAX_STATEMENT_BYTES as usize]).unwrap();
        let c = Config::parse(&text, None).unwrap();
        assert_eq!(
            c.pass.software_statement.expose().len(),
            MAX_STATEMENT_BYTES as usize
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn deep_nesting_is_refused() {
        // Regression (fuzz/regressions/config_parse/dotted-inline-tables): 10 inline tables under
        // 70-segment keys aborted the daemon on SIGHUP when the toml crate read the file (recursive
        // drop on the 64 KiB signal thread). The flat parser bounds nesting and keeps keys flat.
        let key = vec!["b"; 70].join(".");
        let mut deep = "1".to_owned();
        for _ in 0..10 {
            deep = format!("{{{key} = {deep}}}");
        }
        for (text, line) in [
            (format!("x = {deep}\n"), 1),
            (format!("a = 1\nx = {}\n", "[".repeat(10)), 2),
        ] {
            let e = Config::parse(&text, None).unwrap_err();
            assert!(e.message.contains("nested more than 8"), "{e}");
            assert_eq!(e.line, Some(line), "{text}");
        }
    }

    #[test]
    fn every_listed_key_is_read() {
        for (table, keys) in KEYS {
            for key in *keys {
                let text = match *table {
                    "" => format!("{key} = 1.5"),
                    t => format!("[{t}]\n{key} = 1.5"),
                };
                let e = Config::parse(&text, None).unwrap_err();
                assert!(!e.message.starts_with("unknown key"), "{text}: {e}");
            }
        }
        let e = Config::parse("[socket]\ncolour = 1", None).unwrap_err();
        assert!(e.message.contains("[socket] takes path, mode,"), "{e}");
        let e = Config::parse("[extra]", None).unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("extra"), Some(1)), "{e}");
    }

    #[test]
    fn file_is_bounded() {
        let dir = std::env::temp_dir().join(format!("tvauth-cfg-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t.toml");
        let mut text = format!("#{}\n", "x".repeat(MAX_FILE_BYTES as usize - 2));
        std::fs::write(&f, &text).unwrap();
        Config::from_file(&f).unwrap();
        text.push('\n');
        std::fs::write(&f, &text).unwrap();
        let e = Config::from_file(&f).unwrap_err();
        assert!(e.message.contains("larger than"), "{e}");
        // Whatever the byte at the cut (here the middle of a UTF-8 sequence).
        text.truncate(MAX_FILE_BYTES as usize - 1);
        text.push('é');
        std::fs::write(&f, &text).unwrap();
        let e = Config::from_file(&f).unwrap_err();
        assert!(e.message.contains("larger than"), "{e}");
        std::fs::write(&f, b"log_level = \"\xff\"\n").unwrap();
        let e = Config::from_file(&f).unwrap_err();
        assert!(e.message.contains("not UTF-8 (byte 13)"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lookup_order() {
        let explicit = Path::new("/a.toml");
        assert_eq!(
            locate(Some(explicit), Some("/b.toml".into())),
            Some(explicit.into())
        );
        assert_eq!(
            locate(None, Some("/b.toml".into())),
            Some(PathBuf::from("/b.toml"))
        );
    }
}
