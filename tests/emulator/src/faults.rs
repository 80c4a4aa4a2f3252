//! Fault injection: a queue of faults for the next requests matching a path prefix, and a seeded
//! chaos mode that picks random faults for soak tests.

use crate::ids::SplitMix;
use std::collections::VecDeque;

/// What goes wrong with one response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 with the throttle's bare HTML body; `Retry-After: <secs>` when given.
    TooManyRequests { retry_after_secs: Option<u64> },
    /// `status` (5xx) with a flat enhanced error body `{action,status,code,message,helpUrl,trace}`.
    ServerError {
        status: u16,
        code: String,
        action: String,
    },
    /// Like `ServerError` but wrapped the 2024 way: `{"errors":[{…}]}`.
    ServerErrorWrapped {
        status: u16,
        code: String,
        action: String,
    },
    /// 401 as for an invalid access token (tokens stay valid: a refresh-and-retry succeeds).
    Unauthorized,
    /// The real answer, but its JSON body cut in half; Content-Length matches what is sent.
    TruncatedJson,
    /// The real answer's headers with the full Content-Length, half the body, then the
    /// connection closes.
    CloseEarly,
    /// Waits `ms` (capped by `Options::max_stall`) before answering normally.
    Stall { ms: u64 },
    /// 200 `application/json` with a valid JSON body of about `bytes` bytes.
    Oversized { bytes: usize },
    /// The TCP connection is reset (RST) without any response.
    Reset,
    /// Any canned response.
    Custom {
        status: u16,
        content_type: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

impl FaultKind {
    /// 5xx, flat enhanced error, action `retry`, code `internal_server_error`.
    pub fn server_error(status: u16) -> FaultKind {
        FaultKind::ServerError {
            status,
            code: "internal_server_error".into(),
            action: "retry".into(),
        }
    }

    /// 5xx in the `{"errors":[…]}` wrapper, action `retry`, code `internal_server_error`.
    pub fn server_error_wrapped(status: u16) -> FaultKind {
        FaultKind::ServerErrorWrapped {
            status,
            code: "internal_server_error".into(),
            action: "retry".into(),
        }
    }

    /// The kinds chaos mode picks from when `Chaos::kinds` is empty (no stalls, no huge bodies).
    pub fn chaos_defaults() -> Vec<FaultKind> {
        vec![
            FaultKind::TooManyRequests {
                retry_after_secs: Some(1),
            },
            FaultKind::TooManyRequests {
                retry_after_secs: None,
            },
            FaultKind::server_error(500),
            FaultKind::server_error_wrapped(503),
            FaultKind::Unauthorized,
            FaultKind::TruncatedJson,
            FaultKind::CloseEarly,
            FaultKind::Reset,
        ]
    }
}

/// A queued fault: applied to the next `times` requests whose path starts with `path_prefix`
/// (any path when `None`). `times == 0` is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub path_prefix: Option<String>,
    pub kind: FaultKind,
    pub times: usize,
}

impl Fault {
    /// `kind` once, on any path.
    pub fn once(kind: FaultKind) -> Fault {
        Fault {
            path_prefix: None,
            kind,
            times: 1,
        }
    }

    /// `kind` on the next `times` requests under `prefix`.
    pub fn on(prefix: &str, kind: FaultKind, times: usize) -> Fault {
        Fault {
            path_prefix: Some(prefix.to_string()),
            kind,
            times,
        }
    }
}

/// Random faults: each request gets one with `probability`, drawn from `kinds` (or
/// [`FaultKind::chaos_defaults`]) by a generator seeded with `seed`.
#[derive(Clone, Debug, PartialEq)]
pub struct Chaos {
    pub seed: u64,
    pub probability: f64,
    pub kinds: Vec<FaultKind>,
}

/// Queue plus chaos state, behind the emulator's lock.
#[derive(Debug, Default)]
pub struct Faults {
    queue: VecDeque<Fault>,
    chaos: Option<(Chaos, SplitMix)>,
}

/// Queued faults are bounded so a runaway test cannot grow memory.
const MAX_QUEUED: usize = 10_000;

impl Faults {
    pub fn new(chaos: Option<Chaos>) -> Self {
        Faults {
            queue: VecDeque::new(),
            chaos: chaos.map(|c| {
                let rng = SplitMix::new(c.seed);
                (c, rng)
            }),
        }
    }

    pub fn push(&mut self, f: Fault) {
        if f.times > 0 && self.queue.len() < MAX_QUEUED {
            self.queue.push_back(f);
        }
    }

    pub fn clear(&mut self) {
        self.queue.clear();
    }

    pub fn set_chaos(&mut self, chaos: Option<Chaos>) {
        self.chaos = chaos.map(|c| {
            let rng = SplitMix::new(c.seed);
            (c, rng)
        });
    }

    /// The fault for a request to `path`, consuming one use of the first matching queued fault,
    /// else maybe a chaos fault.
    pub fn take(&mut self, path: &str) -> Option<FaultKind> {
        let idx = self
            .queue
            .iter()
            .position(|f| match f.path_prefix.as_deref() {
                None => true,
                Some(p) => path.starts_with(p),
            });
        if let Some(i) = idx {
            let f = &mut self.queue[i];
            let kind = f.kind.clone();
            f.times -= 1;
            if f.times == 0 {
                self.queue.remove(i);
            }
            return Some(kind);
        }
        let (chaos, rng) = self.chaos.as_mut()?;
        if rng.next_f64() >= chaos.probability {
            return None;
        }
        let defaults;
        let kinds = if chaos.kinds.is_empty() {
            defaults = FaultKind::chaos_defaults();
            &defaults
        } else {
            &chaos.kinds
        };
        let pick = usize::try_from(rng.next_u64() % kinds.len() as u64).unwrap_or(0);
        kinds.get(pick).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_matches_prefix_and_counts() {
        let mut f = Faults::new(None);
        f.push(Fault::on("/o/", FaultKind::Unauthorized, 2));
        f.push(Fault::once(FaultKind::Reset));
        f.push(Fault::on("/x", FaultKind::Reset, 0));
        assert_eq!(f.take("/api/v2/x"), Some(FaultKind::Reset));
        assert_eq!(f.take("/o/client/token"), Some(FaultKind::Unauthorized));
        assert_eq!(f.take("/o/client/token"), Some(FaultKind::Unauthorized));
        assert_eq!(f.take("/o/client/token"), None);
        assert_eq!(f.take("/x"), None);
    }

    #[test]
    fn chaos_is_reproducible() {
        let chaos = Chaos {
            seed: 42,
            probability: 0.5,
            kinds: vec![],
        };
        let mut a = Faults::new(Some(chaos.clone()));
        let mut b = Faults::new(Some(chaos));
        let ra: Vec<_> = (0..50).map(|_| a.take("/p")).collect();
        let rb: Vec<_> = (0..50).map(|_| b.take("/p")).collect();
        assert_eq!(ra, rb);
        assert!(ra.iter().any(Option::is_some));
        assert!(ra.iter().any(Option::is_none));
    }
}
