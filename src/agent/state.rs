//! The authentication state, pure: no I/O, time passed in. CONTRACT §3 "Status".
//!
//! `auth` (a valid profile) and `pending` (a code outstanding) are independent: a login started while
//! authenticated (switching provider) keeps `authenticated` and reports the login as `pending`. Both
//! carry their own deadline; [`AuthState::expire`] drops whichever has passed.

use miniserde::json::{Number, Object, Value};
use miniserde::{Deserialize, Serialize};

/// A valid profile: what `authenticated` needs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Authenticated {
    pub mvpd: String,
    /// Profile `notAfter`, ms since the epoch.
    #[serde(rename = "expiresAt")]
    pub expires_at: u64,
}

/// A second-screen code waiting to be completed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    pub code: String,
    pub url: String,
    #[serde(rename = "fullUrl")]
    pub full_url: String,
    /// Session `notAfter`, ms since the epoch.
    #[serde(rename = "notAfter")]
    pub not_after: u64,
    pub mvpd: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthState {
    pub auth: Option<Authenticated>,
    pub pending: Option<Pending>,
}

/// What the poller should do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// Nothing can change by itself: sleep until woken.
    Never,
    /// Sleep this many ms, then re-evaluate (an expiry is due).
    After(u64),
    /// Poll the pending code now.
    PollNow,
}

impl AuthState {
    /// Drop what has expired at `now`; true if anything changed.
    pub fn expire(&mut self, now: u64) -> bool {
        let mut changed = false;
        if self.auth.as_ref().is_some_and(|a| a.expires_at <= now) {
            self.auth = None;
            changed = true;
        }
        if self.pending.as_ref().is_some_and(|p| p.not_after <= now) {
            self.pending = None;
            changed = true;
        }
        changed
    }

    /// The next wake-up given when the next poll is due.
    pub fn next_wake(&self, now: u64, next_poll: u64) -> Wake {
        let mut deadline: Option<u64> = None;
        let mut consider = |t: u64| deadline = Some(deadline.map_or(t, |d| d.min(t)));
        if let Some(p) = &self.pending {
            if next_poll <= now {
                return Wake::PollNow;
            }
            consider(next_poll);
            consider(p.not_after);
        }
        if let Some(a) = &self.auth {
            consider(a.expires_at);
        }
        match deadline {
            None => Wake::Never,
            Some(t) => Wake::After(t.saturating_sub(now).max(1)),
        }
    }

    /// Until when (exclusive, ms) [`AuthState::status`] stays what it is at `now` if the state is not
    /// changed: the next deadline still ahead; `u64::MAX` when nothing can expire.
    pub fn status_stable_until(&self, now: u64) -> u64 {
        let deadlines = [
            self.auth.as_ref().map(|a| a.expires_at),
            self.pending.as_ref().map(|p| p.not_after),
        ];
        deadlines
            .into_iter()
            .flatten()
            .filter(|&t| t > now)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The Status object at `now` (expired parts are not reported even before the timer fires).
    pub fn status(&self, now: u64) -> Value {
        let mut o = Object::new();
        let auth = self.auth.as_ref().filter(|a| a.expires_at > now);
        let pending = self.pending.as_ref().filter(|p| p.not_after > now);
        let state = match (auth, pending) {
            (Some(_), _) => "authenticated",
            (None, Some(_)) => "pending",
            (None, None) => "unauthenticated",
        };
        o.insert("state".into(), Value::String(state.into()));
        if let Some(a) = auth {
            o.insert("mvpd".into(), Value::String(a.mvpd.clone()));
            o.insert("expiresAt".into(), Value::Number(Number::U64(a.expires_at)));
            if let Some(p) = pending {
                o.insert("pending".into(), Value::Object(pending_fields(p)));
            }
        } else if let Some(p) = pending {
            o.extend(pending_fields(p));
        }
        Value::Object(o)
    }
}

fn pending_fields(p: &Pending) -> Object {
    let mut o = Object::new();
    o.insert("code".into(), Value::String(p.code.clone()));
    o.insert("url".into(), Value::String(p.url.clone()));
    o.insert("fullUrl".into(), Value::String(p.full_url.clone()));
    o.insert("notAfter".into(), Value::Number(Number::U64(p.not_after)));
    if let Some(m) = &p.mvpd {
        o.insert("mvpd".into(), Value::String(m.clone()));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniserde::json;

    /// The status is the same at every instant before `status_stable_until`, and differs at it.
    #[test]
    fn status_is_stable_until_the_next_deadline() {
        let auth = Some(Authenticated {
            mvpd: "Cablevision".into(),
            expires_at: 5_000,
        });
        let cases = [
            AuthState::default(),
            AuthState {
                auth: auth.clone(),
                pending: None,
            },
            AuthState {
                auth: None,
                pending: Some(pending(3_000)),
            },
            AuthState {
                auth: auth.clone(),
                pending: Some(pending(3_000)),
            },
            AuthState {
                auth,
                pending: Some(pending(8_000)),
            },
        ];
        for st in cases {
            let mut now = 1_000;
            loop {
                let until = st.status_stable_until(now);
                let at_now = json::to_string(&st.status(now));
                if until == u64::MAX {
                    assert_eq!(at_now, json::to_string(&st.status(u64::MAX - 1)), "{st:?}");
                    break;
                }
                assert!(until > now);
                assert_eq!(at_now, json::to_string(&st.status(until - 1)), "{st:?}");
                assert_ne!(at_now, json::to_string(&st.status(until)), "{st:?}");
                now = until;
            }
        }
    }

    fn pending(not_after: u64) -> Pending {
        Pending {
            code: "8ER640M".into(),
            url: "/api/v2/authenticate/REF30/8ER640M".into(),
            full_url: "https://h/api/v2/authenticate/REF30/8ER640M".into(),
            not_after,
            mvpd: None,
        }
    }

    #[test]
    fn statuses() {
        let mut s = AuthState::default();
        assert_eq!(
            json::to_string(&s.status(0)),
            r#"{"state":"unauthenticated"}"#
        );
        s.pending = Some(pending(100));
        assert_eq!(
            json::to_string(&s.status(50)),
            r#"{"code":"8ER640M","fullUrl":"https://h/api/v2/authenticate/REF30/8ER640M","notAfter":100,"state":"pending","url":"/api/v2/authenticate/REF30/8ER640M"}"#
        );
        s.auth = Some(Authenticated {
            mvpd: "Cablevision".into(),
            expires_at: 1000,
        });
        let v = json::to_string(&s.status(50));
        assert!(
            v.starts_with(r#"{"expiresAt":1000,"mvpd":"Cablevision","pending":{"code":"8ER640M""#),
            "{v}"
        );
        assert!(v.ends_with(r#""state":"authenticated"}"#), "{v}");
        // past notAfter the pending login is not reported, even before expire() runs
        assert_eq!(
            json::to_string(&s.status(100)),
            r#"{"expiresAt":1000,"mvpd":"Cablevision","state":"authenticated"}"#
        );
        assert_eq!(
            json::to_string(&s.status(1000)),
            r#"{"state":"unauthenticated"}"#
        );
    }

    #[test]
    fn expiry_and_wakeups() {
        let mut s = AuthState::default();
        assert_eq!(s.next_wake(0, 0), Wake::Never, "idle: no timer at all");
        s.auth = Some(Authenticated {
            mvpd: "m".into(),
            expires_at: 1000,
        });
        assert_eq!(s.next_wake(400, 0), Wake::After(600), "one timer to expiry");
        s.pending = Some(pending(800));
        assert_eq!(s.next_wake(400, 405), Wake::After(5));
        assert_eq!(s.next_wake(400, 400), Wake::PollNow);
        assert_eq!(
            s.next_wake(400, 900),
            Wake::After(400),
            "code expiry comes first"
        );
        assert!(!s.expire(799));
        assert!(s.expire(800));
        assert!(s.pending.is_none() && s.auth.is_some());
        assert!(s.expire(1000));
        assert!(s.auth.is_none());
        assert!(!s.expire(5000));
        assert_eq!(s.next_wake(5000, 0), Wake::Never);
    }

    #[test]
    fn persisted_forms_round_trip() {
        let p = Pending {
            mvpd: Some("Cablevision".into()),
            ..pending(5)
        };
        let back: Pending = json::from_str(&json::to_string(&p)).unwrap();
        assert_eq!(back, p);
        let a = Authenticated {
            mvpd: "x".into(),
            expires_at: 9,
        };
        assert_eq!(json::to_string(&a), r#"{"mvpd":"x","expiresAt":9}"#);
    }
}
