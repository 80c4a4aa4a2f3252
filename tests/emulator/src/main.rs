//! `tvauth-emulator`: runs the Adobe Pass emulator as a process (README quick start, benchmarks).
//! Prints `listening https://localhost:PORT` once ready; runs until SIGTERM, or until stdin
//! reaches EOF when stdin is a pipe or terminal.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;
use tvauth_emulator::{Chaos, Emulator, Options};

const USAGE: &str = "usage: tvauth-emulator [--port N] [--ca-out PATH] [--throttle PER_SEC,BURST | --no-throttle]
                       [--code-ttl-secs N] [--token-ttl-secs N] [--profile-ttl-secs N]
                       [--seed-times] [--degraded MVPD]... [--no-partner-sso] [--chaos SEED,PROBABILITY]";

fn parse_args(args: &[String]) -> Result<(Options, Option<String>), String> {
    let mut o = Options::default();
    let mut ca_out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let num = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: not a number: {v}"))
        };
        match a.as_str() {
            "--port" => {
                let v = val(a)?;
                o.port = v.parse().map_err(|_| format!("--port: bad port: {v}"))?;
            }
            "--ca-out" => ca_out = Some(val(a)?),
            "--throttle" => {
                let v = val(a)?;
                let (r, b) = v
                    .split_once(',')
                    .ok_or_else(|| format!("--throttle: expected PER_SEC,BURST, got {v}"))?;
                let r = r
                    .trim()
                    .parse()
                    .map_err(|_| format!("--throttle: bad rate: {r}"))?;
                let b = b
                    .trim()
                    .parse()
                    .map_err(|_| format!("--throttle: bad burst: {b}"))?;
                o.throttle = Some((r, b));
            }
            "--no-throttle" => o.throttle = None,
            "--code-ttl-secs" => o.code_ttl_ms = num(a, val(a)?)?.saturating_mul(1000),
            "--token-ttl-secs" => o.token_ttl_secs = num(a, val(a)?)?,
            "--profile-ttl-secs" => o.profile_ttl_ms = num(a, val(a)?)?.saturating_mul(1000),
            "--seed-times" => o.seed_times = true,
            "--degraded" => o.degraded_mvpds.push(val(a)?),
            "--no-partner-sso" => o.partner_sso_enabled = false,
            "--chaos" => {
                let v = val(a)?;
                let (s, p) = v
                    .split_once(',')
                    .ok_or_else(|| format!("--chaos: expected SEED,PROBABILITY, got {v}"))?;
                o.chaos = Some(Chaos {
                    seed: s
                        .trim()
                        .parse()
                        .map_err(|_| format!("--chaos: bad seed: {s}"))?,
                    probability: p
                        .trim()
                        .parse()
                        .map_err(|_| format!("--chaos: bad probability: {p}"))?,
                    kinds: Vec::new(),
                });
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok((o, ca_out))
}

/// True when stdin is a pipe or a terminal (so its EOF means "stop"); /dev/null or a file
/// (a background job) must not stop the emulator at once.
fn stdin_is_control() -> bool {
    // SAFETY: fstat on fd 0 with a zeroed, properly sized stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(0, &mut st) } != 0 {
        return false;
    }
    let kind = st.st_mode & libc::S_IFMT;
    kind == libc::S_IFIFO
        || kind == libc::S_IFSOCK
        || std::io::IsTerminal::is_terminal(&std::io::stdin())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (opts, ca_out) = match parse_args(&args) {
        Ok(v) => v,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("tvauth-emulator: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let emu = match Emulator::try_start(opts) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("tvauth-emulator: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(path) = ca_out {
        if let Err(e) = emu.write_ca(std::path::Path::new(&path)) {
            eprintln!("tvauth-emulator: cannot write {path}: {e}");
            return ExitCode::from(1);
        }
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening {}", emu.base_url());
    let _ = out.flush();
    if stdin_is_control() {
        let stdin = std::io::stdin();
        let mut line = String::new();
        while matches!(stdin.lock().read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
    } else {
        // SIGTERM's default action ends the process.
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    drop(emu);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_flags() {
        let (o, ca) = parse_args(&args(
            "--port 8443 --ca-out /tmp/ca.pem --throttle 5,20 --code-ttl-secs 60 --degraded X --chaos 7,0.25",
        ))
        .unwrap();
        assert_eq!(o.port, 8443);
        assert_eq!(ca.as_deref(), Some("/tmp/ca.pem"));
        assert_eq!(o.throttle, Some((5, 20)));
        assert_eq!(o.code_ttl_ms, 60_000);
        assert_eq!(o.degraded_mvpds, vec!["X".to_string()]);
        assert_eq!(o.chaos.map(|c| c.seed), Some(7));
        assert_eq!(parse_args(&args("--no-throttle")).unwrap().0.throttle, None);
        assert!(parse_args(&args("--port")).is_err());
        assert!(parse_args(&args("--throttle 5")).is_err());
        assert!(parse_args(&args("--bogus")).is_err());
    }
}
