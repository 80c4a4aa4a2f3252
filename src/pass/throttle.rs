//! Client-side limiter: Adobe's token bucket (spec §5: 1 request/s with a one-time burst of 10) applied
//! to every call of the process, so the agent never provokes a 429 itself.
//!
//! [`Bucket`] is pure arithmetic on injected `Instant`s (GCRA: a "theoretical arrival time" advances
//! by one emission interval per call; a call may go once it is within the burst tolerance). A call
//! *reserves* its slot and then sleeps until it, so concurrent callers queue fairly and nobody polls.
//!
//! One token of the burst is kept in reserve: Adobe's bucket starts counting when a request *arrives*
//! (after connect and TLS), ours when it is sent, so a slow first request would otherwise let a later
//! one land early. The reserve absorbs up to one emission interval of such skew.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After a 429 nobody calls for at least this long (spec §5: "wait at least 1 second").
pub const MIN_THROTTLE_HOLD: Duration = Duration::from_secs(1);
/// A `Retry-After` beyond this is treated as this (bounded waits).
pub const MAX_THROTTLE_HOLD: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Bucket {
    emission: Duration,
    tolerance: Duration,
    /// Theoretical arrival time of the next call when the bucket is drained at the nominal rate.
    tat: Instant,
    /// No call before this (set by a 429).
    hold_until: Option<Instant>,
}

impl Bucket {
    /// A full bucket at `now`: `burst` calls may go at once (minus the reserve token), then
    /// `per_sec` per second.
    pub fn new(per_sec: u32, burst: u32, now: Instant) -> Bucket {
        let per_sec = per_sec.max(1);
        let emission = Duration::from_secs(1) / per_sec;
        // Immediate calls = usable burst; the tolerance lets `usable - 1` calls run ahead of `tat`.
        let usable = if burst > 1 { burst - 1 } else { 1 };
        Bucket {
            emission,
            tolerance: emission * (usable - 1),
            tat: now,
            hold_until: None,
        }
    }

    /// New rate and burst at `now` (a configuration reload), keeping what was spent, counted in
    /// calls, and any 429 hold: a reload must not hand out a fresh burst.
    pub fn reconfigure(&mut self, per_sec: u32, burst: u32, now: Instant) {
        let fresh = Bucket::new(per_sec, burst, now);
        let spent =
            self.tat.saturating_duration_since(now).as_secs_f64() / self.emission.as_secs_f64();
        self.tat = now + fresh.emission.mul_f64(spent);
        self.emission = fresh.emission;
        self.tolerance = fresh.tolerance;
        if let Some(h) = self.hold_until {
            // As after the 429 itself: an empty bucket when the hold ends.
            self.tat = self.tat.max(h + self.tolerance);
        }
    }

    /// Reserve the next slot no later than `deadline`. `Ok(at)`: the call may go at `at` (≥ `now`),
    /// the slot is taken. `Err(wait)`: no slot by the deadline; `wait` is how long from `now` until
    /// the earliest slot (nothing is taken).
    pub fn reserve(&mut self, now: Instant, deadline: Instant) -> Result<Instant, Duration> {
        let tat = self.tat.max(now);
        let mut at = tat.checked_sub(self.tolerance).unwrap_or(now).max(now);
        if let Some(h) = self.hold_until {
            at = at.max(h);
        }
        // A call that need not wait is never refused (its deadline is the transport's business).
        if at > now && at > deadline {
            return Err(at - now);
        }
        self.tat = tat.max(at) + self.emission;
        Ok(at)
    }

    /// The API answered 429 at `now`: hold everyone for `max(1 s, retry_after)` and restart from an
    /// empty bucket (Adobe's refills at the nominal rate after its throttled second).
    pub fn throttled(&mut self, now: Instant, retry_after: Option<Duration>) -> Duration {
        let hold = retry_after
            .unwrap_or(MIN_THROTTLE_HOLD)
            .clamp(MIN_THROTTLE_HOLD, MAX_THROTTLE_HOLD);
        let until = now + hold;
        self.hold_until = Some(self.hold_until.map_or(until, |h| h.max(until)));
        // Empty bucket at `until`: the first call then, the next one emission later.
        self.tat = self.tat.max(until + self.tolerance);
        hold
    }
}

/// The process-wide limiter shared by every call (DCR included: Adobe throttles `/o/client/*` too).
#[derive(Debug)]
pub struct Throttle {
    bucket: Mutex<Bucket>,
}

impl Throttle {
    pub fn new(per_sec: u32, burst: u32) -> Throttle {
        Throttle {
            bucket: Mutex::new(Bucket::new(per_sec, burst, Instant::now())),
        }
    }

    /// Wait for a slot. `Err(ms)` when none is free before `deadline`: the caller fails with
    /// `Throttled { retry_after_ms: ms }`.
    pub fn acquire(&self, deadline: Instant) -> Result<(), u64> {
        let now = Instant::now();
        let slot = self
            .bucket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reserve(now, deadline);
        match slot {
            Ok(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    log::debug!(
                        "throttle: waiting {} ms for a request slot",
                        wait.as_millis()
                    );
                    std::thread::sleep(wait);
                }
                Ok(())
            }
            Err(wait) => Err(ceil_ms(wait)),
        }
    }

    /// See [`Bucket::reconfigure`].
    pub fn reconfigure(&self, per_sec: u32, burst: u32) {
        self.bucket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reconfigure(per_sec, burst, Instant::now());
    }

    /// Record a 429; returns the hold applied.
    pub fn throttled(&self, retry_after: Option<Duration>) -> Duration {
        self.bucket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .throttled(Instant::now(), retry_after)
    }
}

pub(crate) fn ceil_ms(d: Duration) -> u64 {
    let ms = d.as_millis();
    let ms = if d.subsec_nanos() % 1_000_000 != 0 {
        ms + 1
    } else {
        ms
    };
    u64::try_from(ms).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// Offsets (from t0) at which `n` back-to-back callers get to go with no deadline pressure.
    fn schedule(b: &mut Bucket, t0: Instant, n: usize) -> Vec<Duration> {
        (0..n)
            .map(|_| b.reserve(t0, t0 + Duration::from_secs(3600)).unwrap() - t0)
            .collect()
    }

    #[test]
    fn burst_then_one_per_second() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1, 10, t0);
        let s = schedule(&mut b, t0, 30);
        // 9 at once (10 minus the reserve token), then exactly 1/s.
        assert!(s[..9].iter().all(|d| d.is_zero()), "{s:?}");
        for (i, d) in s.iter().enumerate().skip(9) {
            assert_eq!(*d, S * (i as u32 - 8), "call {i}: {s:?}");
        }
    }

    /// Adobe's bucket (1/s, burst 10, continuous refill from its first request) never runs dry for
    /// our 30-call burst, even when our first request reaches it up to ~1 s late.
    #[test]
    fn thirty_calls_never_exceed_adobes_bucket() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1, 10, t0);
        let sends = schedule(&mut b, t0, 30);
        for first_delay_ms in [0u64, 5, 50, 300, 900] {
            // Server's view: first request arrives late, later ones instantly.
            let arrivals: Vec<f64> = sends
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let extra = if i == 0 {
                        first_delay_ms as f64 / 1000.0
                    } else {
                        0.0
                    };
                    d.as_secs_f64() + extra
                })
                .collect();
            let mut tokens = 10.0f64;
            let mut last = arrivals[0];
            for (i, &a) in arrivals.iter().enumerate() {
                let a = a.max(last); // requests are serialized on one connection
                tokens = (tokens + (a - last)).min(10.0);
                last = a;
                assert!(
                    tokens >= 1.0 - 1e-9,
                    "call {i} would get 429 (delay {first_delay_ms} ms)"
                );
                tokens -= 1.0;
            }
            // And over any window after the burst, at most 1 call per second.
            for w in sends.windows(2).skip(9) {
                assert!(w[1] - w[0] >= S);
            }
        }
    }

    #[test]
    fn deadline_refuses_without_taking_a_slot() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1, 3, t0);
        schedule(&mut b, t0, 2); // burst 3 → 2 usable, both taken
        // Next slot is t0+1s; a 500 ms deadline cannot have it.
        assert_eq!(b.reserve(t0, t0 + S / 2), Err(S));
        // Nothing was taken: with a long enough deadline the same slot is granted.
        assert_eq!(b.reserve(t0, t0 + S), Ok(t0 + S));
        assert_eq!(b.reserve(t0, t0 + S), Err(2 * S));
        // Time passing refills.
        assert_eq!(b.reserve(t0 + 10 * S, t0 + 10 * S), Ok(t0 + 10 * S));
    }

    #[test]
    fn after_429_everyone_waits_and_no_burst_follows() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1, 10, t0);
        assert_eq!(b.throttled(t0, None), S);
        assert_eq!(b.reserve(t0, t0 + S / 2), Err(S));
        let s = schedule(&mut b, t0, 3);
        assert_eq!(s, [S, 2 * S, 3 * S]);
        // Retry-After is honoured, clamped to [1 s, 300 s].
        let t1 = t0 + 100 * S;
        let mut b = Bucket::new(1, 10, t1);
        assert_eq!(b.throttled(t1, Some(Duration::from_secs(7))), 7 * S);
        assert_eq!(b.reserve(t1, t1 + 60 * S), Ok(t1 + 7 * S));
        assert_eq!(b.throttled(t1, Some(Duration::from_millis(10))), S);
        assert_eq!(
            b.throttled(t1, Some(Duration::from_secs(99_999))),
            MAX_THROTTLE_HOLD
        );
        // A shorter later hold never shortens an earlier longer one.
        assert_eq!(b.reserve(t1, t1 + 1000 * S), Ok(t1 + MAX_THROTTLE_HOLD));
    }

    #[test]
    fn other_rates_and_degenerate_configs() {
        let t0 = Instant::now();
        let mut b = Bucket::new(100, 5, t0);
        let s = schedule(&mut b, t0, 6);
        assert_eq!(&s[..4], &[Duration::ZERO; 4]);
        assert_eq!(s[4], Duration::from_millis(10));
        assert_eq!(s[5], Duration::from_millis(20));
        // burst 1 (or 0) still lets one call through, then the rate.
        for burst in [0, 1, 2] {
            let mut b = Bucket::new(0, burst, t0);
            assert_eq!(
                schedule(&mut b, t0, 3),
                [Duration::ZERO, S, 2 * S],
                "burst {burst}"
            );
        }
    }

    #[test]
    fn shared_throttle_reports_wait_in_ms() {
        let t = Throttle::new(1, 2);
        assert_eq!(t.acquire(Instant::now()), Ok(()));
        let Err(ms) = t.acquire(Instant::now()) else {
            panic!("second call should not fit a zero deadline")
        };
        assert!((900..=1000).contains(&ms), "{ms}");
        t.throttled(None);
        let Err(ms) = t.acquire(Instant::now()) else {
            panic!("held after 429")
        };
        assert!(ms >= 900, "{ms}");
        assert_eq!(ceil_ms(Duration::from_micros(1)), 1);
        assert_eq!(ceil_ms(Duration::from_millis(5)), 5);
    }

    /// A reload (new rate or burst) keeps what was spent and any 429 hold.
    #[test]
    fn reconfigure_keeps_the_spent_burst_and_the_hold() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1, 10, t0);
        assert_eq!(schedule(&mut b, t0, 9).last(), Some(&Duration::ZERO));
        b.reconfigure(1, 10, t0);
        assert_eq!(schedule(&mut b, t0, 1), vec![S], "no fresh burst");
        b.reconfigure(2, 10, t0);
        let half = S / 2;
        assert_eq!(
            schedule(&mut b, t0, 3),
            vec![S, S + half, S * 2],
            "the new rate from then on"
        );
        let hold = b.throttled(t0, Some(S * 60));
        b.reconfigure(100, 100, t0);
        let at = b.reserve(t0, t0 + S * 3600).unwrap() - t0;
        assert!(at >= hold, "the 429 hold survives: {at:?}");
    }
}
