//! Adobe's throttle (spec §5): a token bucket per client (X-Forwarded-For, else the peer IP),
//! refilled at `per_sec`, holding at most `burst` tokens, starting full.

use std::collections::HashMap;
use std::time::Instant;

/// A request arriving this much early still gets its token: a client that paces itself at
/// exactly the documented rate must not be refused because of scheduling or network jitter.
const GRACE_SECS: f64 = 0.025;

/// Buckets are dropped past this many clients so a soak test cannot grow the map without bound.
const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Default)]
pub struct Throttle {
    limits: Option<(u32, u32)>,
    buckets: HashMap<String, (f64, Instant)>,
}

impl Throttle {
    pub fn new(limits: Option<(u32, u32)>) -> Self {
        Throttle {
            limits,
            buckets: HashMap::new(),
        }
    }

    /// Changes the limits; `None` disables throttling. Buckets start over.
    pub fn set(&mut self, limits: Option<(u32, u32)>) {
        self.limits = limits;
        self.buckets.clear();
    }

    /// Takes one token for `client`; false means the request must get a 429.
    pub fn admit(&mut self, client: &str, now: Instant) -> bool {
        let Some((per_sec, burst)) = self.limits else {
            return true;
        };
        let burst = f64::from(burst.max(1));
        if self.buckets.len() >= MAX_CLIENTS && !self.buckets.contains_key(client) {
            self.buckets.clear();
        }
        let (tokens, last) = self
            .buckets
            .entry(client.to_string())
            .or_insert((burst, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * f64::from(per_sec)).min(burst);
        *last = now;
        if *tokens + GRACE_SECS * f64::from(per_sec) >= 1.0 {
            *tokens = (*tokens - 1.0).max(0.0);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let mut t = Throttle::new(Some((1, 10)));
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(t.admit("a", t0));
        }
        assert!(!t.admit("a", t0));
        assert!(t.admit("b", t0), "buckets are per client");
        assert!(!t.admit("a", t0 + Duration::from_millis(500)));
        assert!(!t.admit("a", t0 + Duration::from_millis(970)));
        assert!(
            t.admit("a", t0 + Duration::from_millis(980)),
            "25 ms of grace"
        );
        assert!(!t.admit("a", t0 + Duration::from_millis(1600)));
        assert!(t.admit("a", t0 + Duration::from_millis(1980)));
        assert!(!t.admit("a", t0 + Duration::from_millis(2100)));
        t.set(None);
        assert!((0..100).all(|_| t.admit("a", t0)));
    }
}
