//! The verbs of CONTRACT §1. Local verbs call the library; client verbs speak JSON-RPC to the daemon.
//! Exit status: 0 success, 1 runtime error (message on stderr), 2 usage error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use miniserde::json::{self, Value};

use crate::config::Config;
use crate::device::{DeviceInfo, Identity};
use crate::ipc::client::{Client, ClientError};
use crate::ipc::protocol::obj;
use crate::store::Store;

pub const USAGE: &str = "\
usage: tvauth [--config PATH] [--socket PATH] <command> [options]

commands:
  daemon                      run the agent in the foreground (SIGTERM/SIGINT stop, SIGHUP reloads)
  status [--json]             authentication status (auth.status)
  device-info [--json] [--local]
                              device facts and the X-Device-Info value
  identifier [--json] [--local]
                              device fingerprint and the AP-Device-Identifier value
  login [--mvpd ID] [--no-qr] start a session, show the code and URL for the second screen, wait
  logout [--mvpd ID]          end the authenticated state
  call METHOD [PARAMS_JSON]   send one JSON-RPC request, print the raw result or error
  config check                validate the configuration, print it with secrets masked
  version                     print the version

The socket is --socket PATH, else $TVAUTH_SOCKET, else the config's socket.path.
The config is --config PATH, else $TVAUTH_CONFIG, else /etc/tvauth/tvauth.toml if it exists, else defaults.
";

/// A failure with its exit status.
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Runtime(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Runtime(_) => 1,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "{m}\n\n{USAGE}"),
            CliError::Runtime(m) => f.write_str(m),
        }
    }
}

fn usage(m: impl Into<String>) -> CliError {
    CliError::Usage(m.into())
}

fn runtime(e: impl std::fmt::Display) -> CliError {
    CliError::Runtime(e.to_string())
}

/// Parsed command line.
#[derive(Debug, Default, PartialEq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub command: String,
    pub positional: Vec<String>,
    pub json: bool,
    pub local: bool,
    pub no_qr: bool,
    pub mvpd: Option<String>,
}

pub fn parse_args<I: IntoIterator<Item = String>>(argv: I) -> Result<Args, CliError> {
    let mut a = Args::default();
    let mut it = argv.into_iter();
    let value = |it: &mut I::IntoIter, flag: &str| {
        it.next()
            .ok_or_else(|| usage(format!("{flag} needs a value")))
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "--config" => {
                a.config = Some(PathBuf::from(
                    inline.map_or_else(|| value(&mut it, "--config"), Ok)?,
                ))
            }
            "--socket" => {
                a.socket = Some(PathBuf::from(
                    inline.map_or_else(|| value(&mut it, "--socket"), Ok)?,
                ))
            }
            "--mvpd" => a.mvpd = Some(inline.map_or_else(|| value(&mut it, "--mvpd"), Ok)?),
            "--json" => a.json = true,
            "--local" => a.local = true,
            "--no-qr" => a.no_qr = true,
            "-h" | "--help" => a.command = "help".into(),
            "-V" | "--version" => a.command = "version".into(),
            f if f.starts_with("--") => return Err(usage(format!("unknown option {f}"))),
            _ if a.command.is_empty() => a.command = arg,
            _ => a.positional.push(arg),
        }
    }
    if a.command.is_empty() {
        return Err(usage("no command given"));
    }
    let max_positional = match a.command.as_str() {
        "call" => 2,
        "config" => 1,
        _ => 0,
    };
    if a.positional.len() > max_positional {
        return Err(usage(format!(
            "unexpected argument `{}`",
            a.positional[max_positional]
        )));
    }
    let allowed: &[&str] = match a.command.as_str() {
        "status" => &["json"],
        "device-info" | "identifier" => &["json", "local"],
        "login" => &["mvpd", "no_qr", "json"],
        "logout" => &["mvpd", "json"],
        _ => &[],
    };
    for (name, set) in [
        ("json", a.json),
        ("local", a.local),
        ("no_qr", a.no_qr),
        ("mvpd", a.mvpd.is_some()),
    ] {
        if set && !allowed.contains(&name) {
            return Err(usage(format!(
                "--{} does not apply to `{}`",
                name.replace('_', "-"),
                a.command
            )));
        }
    }
    Ok(a)
}

/// Run a parsed command; returns the exit status.
pub fn run(args: Args) -> Result<(), CliError> {
    match args.command.as_str() {
        "help" => {
            print!("{USAGE}");
            Ok(())
        }
        "version" => {
            println!("tvauth {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "daemon" => {
            let code = crate::daemon::run(args.config.as_deref());
            if code == 0 {
                Ok(())
            } else {
                std::process::exit(code)
            }
        }
        "config" => match args.positional.first().map(String::as_str) {
            Some("check") => config_check(args.config.as_deref()),
            Some(other) => Err(usage(format!("unknown config verb `{other}`"))),
            None => Err(usage("config needs a verb: check")),
        },
        "device-info" => device_info(&args),
        "identifier" => identifier(&args),
        "status" => status(&args),
        "login" => crate::cli_login::login(&args),
        "logout" => logout(&args),
        "call" => call(&args),
        other => Err(usage(format!("unknown command `{other}`"))),
    }
}

pub fn load_config(path: Option<&Path>) -> Result<Config, CliError> {
    Config::load(path).map_err(runtime)
}

fn config_check(path: Option<&Path>) -> Result<(), CliError> {
    let cfg = load_config(path)?;
    print!("{}", cfg.to_masked_toml());
    let missing = cfg.pass_missing();
    if !missing.is_empty() {
        eprintln!(
            "note: Adobe Pass calls are disabled until these are set: {}",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The socket path per CONTRACT §1, and how long to wait for the daemon.
pub fn connect(args: &Args) -> Result<Client, CliError> {
    let env = std::env::var_os("TVAUTH_SOCKET")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    let (path, upstream) = match args.socket.clone().or(env) {
        Some(p) => {
            // The config only matters for the timeout here; a broken one must not stop a client.
            let t = Config::load(args.config.as_deref())
                .map(|c| c.pass.timeout_secs)
                .unwrap_or(15);
            (p, t)
        }
        None => {
            let c = load_config(args.config.as_deref())?;
            (c.socket.path.clone(), c.pass.timeout_secs)
        }
    };
    Client::connect(&path, client_timeout(upstream)).map_err(runtime)
}

/// Longer than anything the daemon may spend on one call upstream (token refresh + call + retry).
pub fn client_timeout(upstream_secs: u64) -> Duration {
    Duration::from_secs(upstream_secs * 2 + 5)
}

pub fn rpc(args: &Args, method: &str, params: Option<Value>) -> Result<Value, CliError> {
    connect(args)?.call(method, params).map_err(runtime)
}

fn print_json(v: &Value) {
    println!("{}", json::to_string(v));
}

fn device_info(args: &Args) -> Result<(), CliError> {
    let v = if args.local {
        let cfg = load_config(args.config.as_deref())?;
        DeviceInfo::collect(&crate::daemon::sysroot(), &cfg.device).to_json()
    } else {
        rpc(args, "device.info", None)?
    };
    if args.json {
        print_json(&v);
    } else {
        if let Some(Value::Object(facts)) = field(&v, "facts") {
            for (k, val) in facts.iter() {
                println!("{k:<20} {}", plain(val));
            }
        }
        println!(
            "{:<20} {}",
            "X-Device-Info",
            field(&v, "header").map(plain).unwrap_or_default()
        );
    }
    Ok(())
}

fn identifier(args: &Args) -> Result<(), CliError> {
    let v = if args.local {
        let cfg = load_config(args.config.as_deref())?;
        let store = Store::open(&cfg.state_dir).map_err(runtime)?;
        Identity::load_or_derive(&store, &crate::daemon::sysroot(), &cfg.device)
            .map_err(runtime)?
            .to_json()
    } else {
        rpc(args, "device.identifier", None)?
    };
    if args.json {
        print_json(&v);
    } else {
        println!(
            "{}",
            field(&v, "fingerprint").map(plain).unwrap_or_default()
        );
    }
    Ok(())
}

fn status(args: &Args) -> Result<(), CliError> {
    let v = rpc(args, "auth.status", None)?;
    if args.json {
        print_json(&v);
    } else {
        println!("{}", describe_status(&v));
    }
    Ok(())
}

/// One human line for a Status object.
pub fn describe_status(v: &Value) -> String {
    let s = |k: &str| field(v, k).map(plain).unwrap_or_default();
    let mut out = match s("state").as_str() {
        "authenticated" => format!(
            "authenticated with {} until {}",
            s("mvpd"),
            fmt_ms(field(v, "expiresAt"))
        ),
        "pending" => format!(
            "pending: enter code {} at {} (until {})",
            s("code"),
            s("fullUrl"),
            fmt_ms(field(v, "notAfter"))
        ),
        other => other.to_owned(),
    };
    if let Some(p) = field(v, "pending") {
        out.push_str(&format!(
            "; login pending with code {}",
            field(p, "code").map(plain).unwrap_or_default()
        ));
    }
    out
}

fn logout(args: &Args) -> Result<(), CliError> {
    let params = args
        .mvpd
        .as_ref()
        .map(|m| obj([("mvpd", Value::String(m.clone()))]));
    let v = rpc(args, "auth.logout", params)?;
    if args.json {
        print_json(&v);
    } else {
        if let Some(Value::Object(l)) = field(&v, "logouts") {
            for (mvpd, entry) in l.iter() {
                let action = field(entry, "actionName").map(plain).unwrap_or_default();
                match field(entry, "url") {
                    Some(u) => println!(
                        "{mvpd}: {action}: open {} to finish the provider logout",
                        plain(u)
                    ),
                    None => println!("{mvpd}: {action}"),
                }
            }
        }
        if let Some(st) = field(&v, "status") {
            println!("{}", describe_status(st));
        }
    }
    Ok(())
}

fn call(args: &Args) -> Result<(), CliError> {
    let method = args
        .positional
        .first()
        .ok_or_else(|| usage("call needs a METHOD"))?;
    let params = match args.positional.get(1) {
        Some(text) => Some(
            json::from_str::<Value>(text).map_err(|_| usage("PARAMS_JSON is not valid JSON"))?,
        ),
        None => None,
    };
    match connect(args)?.call(method, params) {
        Ok(v) => {
            print_json(&v);
            Ok(())
        }
        Err(ClientError::Rpc(e)) => {
            // The raw error object, on stdout like a result, so scripts can parse it; exit 1.
            let mut o = json::Object::new();
            o.insert("code".into(), Value::Number(json::Number::I64(e.code)));
            o.insert("message".into(), Value::String(e.message.clone()));
            if let Some(d) = e.data {
                o.insert("data".into(), d);
            }
            println!("{}", json::to_string(&obj([("error", Value::Object(o))])));
            Err(CliError::Runtime(format!(
                "{} (code {})",
                e.message, e.code
            )))
        }
        Err(e) => Err(runtime(e)),
    }
}

pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(o) => o.get(key),
        _ => None,
    }
}

pub fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => json::to_string(other),
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn fmt_ms(v: Option<&Value>) -> String {
    let ms = match v {
        Some(Value::Number(json::Number::U64(n))) => *n,
        _ => return "?".into(),
    };
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Args, CliError> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_verbs_and_global_flags() {
        let a = p(&["--config", "/c.toml", "device-info", "--json", "--local"]).unwrap();
        assert_eq!(
            (a.command.as_str(), a.json, a.local),
            ("device-info", true, true)
        );
        assert_eq!(a.config, Some(PathBuf::from("/c.toml")));
        let a = p(&["call", "auth.status", "{}", "--socket=/s"]).unwrap();
        assert_eq!(a.positional, vec!["auth.status", "{}"]);
        assert_eq!(a.socket, Some(PathBuf::from("/s")));
        let a = p(&["login", "--mvpd", "Cablevision"]).unwrap();
        assert_eq!(a.mvpd.as_deref(), Some("Cablevision"));
        assert_eq!(p(&["config", "check"]).unwrap().positional, vec!["check"]);
    }

    #[test]
    fn usage_errors_exit_2() {
        for bad in [
            &[][..],
            &["status", "--local"],
            &["--bogus", "status"],
            &["status", "extra"],
            &["login", "--mvpd"],
        ] {
            assert_eq!(p(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
        assert_eq!(run(p(&["frobnicate"]).unwrap()).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn formats_times() {
        assert_eq!(
            fmt_ms(Some(&Value::Number(json::Number::U64(1_733_737_089_035)))),
            "2024-12-09 09:38:09 UTC"
        );
        assert_eq!(
            fmt_ms(Some(&Value::Number(json::Number::U64(0)))),
            "1970-01-01 00:00:00 UTC"
        );
    }
}
