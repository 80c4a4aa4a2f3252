//! Logging to stderr: simplelog's format when run by hand; under systemd (`JOURNAL_STREAM` set) one
//! line per record prefixed with the syslog priority (`<3>` error … `<7>` debug/trace) and no timestamp,
//! so journald records the level and its own time.
//!
//! Every message is cleaned of control characters first: error messages quote strings from the
//! upstream API and the box, and a hostile `\n<0>…` or terminal escape must not forge a journal
//! entry or repaint a terminal.
//!
//! Other crates (ureq, rustls) are capped at `info` whatever the configured level: their debug/trace
//! output includes request details we do not want in a journal next to credentials. Our own code never
//! formats a secret (see [`crate::secret::Secret`]).

use std::borrow::Cow;
use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};
use simplelog::SharedLogger;

const FOREIGN_MAX: LevelFilter = LevelFilter::Info;

enum Sink {
    Journal,
    Plain(Box<dyn SharedLogger>),
}

struct Logger {
    sink: Sink,
}

fn ours(target: &str) -> bool {
    target == "tvauth" || target.starts_with("tvauth::")
}

/// The most verbose level logged for `target`: ours as configured, other crates at most info
/// (ureq-proto hex-dumps received bodies at trace, DCR answers included).
pub fn max_level_for(target: &str) -> LevelFilter {
    if ours(target) {
        LevelFilter::Trace
    } else {
        FOREIGN_MAX
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level() && m.level() <= max_level_for(m.target())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match &self.sink {
            Sink::Journal => {
                let line =
                    journal_line(record.level(), record.target(), &record.args().to_string());
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Sink::Plain(inner) => {
                // Formatted once here, then handed on cleaned (simplelog shows level and target,
                // which the metadata carries; locations are off).
                let msg = record.args().to_string();
                inner.log(
                    &Record::builder()
                        .metadata(record.metadata().clone())
                        .args(format_args!("{}", clean(&msg)))
                        .build(),
                );
            }
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// `msg` with newlines flattened to ` | ` (one record stays one line) and every other control
/// character but tab escaped (`\r`, `\u{1b}`).
fn clean(msg: &str) -> Cow<'_, str> {
    if !msg.chars().any(|c| c.is_control() && c != '\t') {
        return Cow::Borrowed(msg);
    }
    let mut out = String::with_capacity(msg.len() + 8);
    for c in msg.chars() {
        match c {
            '\n' => out.push_str(" | "),
            '\t' => out.push('\t'),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `<N>target: message\n`, the message [`clean`]ed so one record stays one journal entry.
fn journal_line(level: Level, target: &str, msg: &str) -> String {
    let prio = match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    };
    let target = target.strip_prefix("tvauth::").unwrap_or(target);
    format!("<{prio}>{target}: {}\n", clean(msg))
}

/// Install the process logger once. Later calls only change the level (SIGHUP reload).
pub fn init(level: LevelFilter) {
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let sink = if journal {
        Sink::Journal
    } else {
        let config = simplelog::ConfigBuilder::new()
            .set_thread_level(LevelFilter::Off)
            .set_target_level(LevelFilter::Debug)
            .set_location_level(LevelFilter::Off)
            .build();
        Sink::Plain(simplelog::WriteLogger::new(
            LevelFilter::Trace,
            config,
            std::io::stderr(),
        ))
    };
    if log::set_boxed_logger(Box::new(Logger { sink })).is_err() {
        // Already installed (tests, reload): only the level changes.
    }
    log::set_max_level(level);
}

pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_lines_carry_priority() {
        assert_eq!(
            journal_line(Level::Error, "tvauth::ipc", "boom"),
            "<3>ipc: boom\n"
        );
        assert_eq!(
            journal_line(Level::Warn, "ureq", "a\nb"),
            "<4>ureq: a | b\n"
        );
        assert_eq!(journal_line(Level::Info, "tvauth", "x"), "<6>tvauth: x\n");
        assert_eq!(
            journal_line(Level::Trace, "tvauth::pass", "x"),
            "<7>pass: x\n"
        );
    }

    #[test]
    fn control_characters_cannot_forge_entries() {
        // An upstream error code carrying a fake journal entry and a terminal escape.
        assert_eq!(
            journal_line(
                Level::Warn,
                "tvauth::pass",
                "api error 400: x\n<0>forged\r\x1b[2J"
            ),
            "<4>pass: api error 400: x | <0>forged\\r\\u{1b}[2J\n"
        );
        assert!(matches!(clean("plain\ttext é"), Cow::Borrowed(_)));
        assert_eq!(clean("a\u{7f}b\u{85}c"), "a\\u{7f}b\\u{85}c");
    }

    #[test]
    fn foreign_crates_are_capped() {
        assert_eq!(max_level_for("tvauth::pass::dcr"), LevelFilter::Trace);
        assert_eq!(max_level_for("tvauth"), LevelFilter::Trace);
        assert_eq!(max_level_for("tvauthx"), LevelFilter::Info);
        assert_eq!(max_level_for("ureq_proto::util"), LevelFilter::Info);
        assert_eq!(max_level_for("rustls::client::hs"), LevelFilter::Info);
    }
}
