//! Wall-clock helpers. Timestamps on the socket are integers in milliseconds since the epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// When this binary was built, in seconds since the epoch (see build.rs). A box whose clock says
/// earlier than this has a wrong clock, which breaks TLS certificate checks.
pub const BUILD_EPOCH_SECS: u64 = parse_u64(env!("TVAUTH_BUILD_EPOCH"));

/// True when `now` is before the build time (minus a day of slack for time zones and CI clocks).
pub fn clock_is_before_build(now: SystemTime) -> bool {
    let build = UNIX_EPOCH + Duration::from_secs(BUILD_EPOCH_SECS.saturating_sub(86_400));
    now < build
}

const fn parse_u64(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v: u64 = 0;
    while i < b.len() {
        v = v * 10 + (b[i] - b'0') as u64;
        i += 1;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_epoch_is_plausible() {
        let epoch = BUILD_EPOCH_SECS;
        assert!(epoch > 1_700_000_000, "{epoch}");
        assert!(!clock_is_before_build(SystemTime::now()));
        assert!(clock_is_before_build(
            UNIX_EPOCH + Duration::from_secs(86_400 * 365)
        ));
    }
}
