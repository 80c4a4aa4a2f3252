//! The agent: answers the socket methods of CONTRACT §3, owns the authentication state, persists the
//! profile, and runs the second-screen poller.
//!
//! Threads: connection threads call [`Agent`] methods (upstream calls run on the caller's thread, never
//! under the state lock); one poller thread sleeps on a condvar with no timeout while nothing is
//! pending, polls `profiles/code/{code}` while a code is outstanding, and otherwise waits exactly until
//! the next expiry. An idle daemon therefore makes no wake-ups.

pub mod state;

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use miniserde::json::{self, Object, Value};
use miniserde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::config::Config;
use crate::device::{DeviceInfo, Identity};
use crate::ipc::peer::Peer;
use crate::ipc::protocol::{self, Params, RpcError, obj, string};
use crate::ipc::server::{Events, Handler, Reply};
use crate::pass::throttle::Throttle;
use crate::pass::{self, PartnerStatus, PassError, Session, SessionParams};
use crate::store::Store;
use state::{AuthState, Authenticated, Pending, Wake};

/// Store file names.
const PROFILE_FILE: &str = "profile";
const PENDING_FILE: &str = "pending";
/// How long `providers.list` answers from memory (spec §4.4: cache ~2–3 min).
const PROVIDERS_TTL: Duration = Duration::from_secs(180);
/// Longest single timed wait of the poller; bounds the effect of wall-clock jumps on expiry timers.
const MAX_WAIT_MS: u64 = 6 * 3600 * 1000;
/// A session with a code but no `notAfter` is treated as valid this long (spec: "e.g. 30 minutes").
const DEFAULT_CODE_TTL_MS: u64 = 30 * 60 * 1000;
/// Decisions calls: Adobe advises a few resources per call.
const MAX_RESOURCES: usize = 32;

/// What is persisted for the authenticated state.
#[derive(Serialize, Deserialize)]
struct SavedProfile {
    auth: Option<Authenticated>,
    /// The last profiles map from the API, `{ "<mvpd>": profile }`.
    profiles: Value,
}

struct Inner {
    state: AuthState,
    /// Profiles as the API returned them, by mvpd (profile.get's cache).
    profiles: Object,
    /// When the pending code is next polled (ms).
    next_poll: u64,
    /// Bumped whenever the pending code is replaced or dropped, so a poll answer for an old code is ignored.
    generation: u64,
    /// Bumped by every snapshot of the persisted state, so an older snapshot never overwrites a newer one.
    save_seq: u64,
    stopping: bool,
    status_cache: Option<StatusCache>,
}

/// `auth.status` serialized, reused while the state it was made from is unchanged and nothing in it
/// has expired. auth.status is what UIs poll; without the cache each call built, serialized and
/// dropped a JSON value while holding the state lock that every connection thread contends for —
/// half the daemon's instructions per request in `cargo bench --bench agent` (callgrind).
struct StatusCache {
    state: AuthState,
    /// Exclusive: at this instant something in `state` expires (see `status_stable_until`).
    valid_until: u64,
    json: Arc<str>,
}

/// The persisted state at one moment, taken under the state lock and written after it is released.
#[must_use = "write it with Agent::save once the state lock is released"]
/// The last state written to disk: its sequence number and each file's content (`""`: no file;
/// `None`: unknown), so an unchanged state is not rewritten: every `profile.get {refresh}` used to
/// cost two fsyncs and flash wear (see `cargo bench --bench agent`, `upstream_call_ms`).
#[derive(Default)]
struct Saved {
    seq: u64,
    profile: Option<String>,
    pending: Option<String>,
}

struct Snapshot {
    seq: u64,
    /// `None`: remove the profile file.
    profile: Option<SavedProfile>,
    pending: Option<Pending>,
}

pub struct Agent {
    cfg: RwLock<Arc<Config>>,
    store: Store,
    /// Re-collected on reload, so `[device]` overrides apply without a restart.
    device: RwLock<Arc<DeviceInfo>>,
    identity: Identity,
    client: RwLock<Result<Arc<pass::Client>, Vec<&'static str>>>,
    /// Adobe's rate limit, for the life of the process: clients built on reload share it, so a
    /// SIGHUP neither refills the burst nor lifts a 429 hold.
    throttle: Arc<Throttle>,
    inner: Mutex<Inner>,
    wake: Condvar,
    events: OnceLock<Events>,
    providers: Mutex<Option<(Instant, Value)>>,
    /// Serialises state file writes; what was last written.
    saved: Mutex<Saved>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Agent {
    pub fn new(cfg: Config, store: Store, device: DeviceInfo, identity: Identity) -> Agent {
        let throttle = Arc::new(Throttle::new(
            cfg.pass.throttle_per_sec,
            cfg.pass.throttle_burst,
        ));
        let client = build_client(&cfg, &store, &device, &identity, &throttle);
        let mut state = AuthState::default();
        let mut profiles = Object::new();
        match store.read::<SavedProfile>(PROFILE_FILE) {
            Ok(Some(saved)) => {
                state.auth = saved.auth;
                if let Value::Object(o) = saved.profiles {
                    profiles = o;
                }
            }
            Ok(None) => {}
            Err(e) => log::warn!("cannot read the saved profile: {e}"),
        }
        match store.read::<Pending>(PENDING_FILE) {
            Ok(p) => state.pending = p,
            Err(e) => log::warn!("cannot read the saved pending code: {e}"),
        }
        let now = now_ms();
        state.expire(now);
        if let Some(a) = &state.auth {
            log::info!("authenticated with {} until {}", a.mvpd, a.expires_at);
        }
        let agent = Agent {
            cfg: RwLock::new(Arc::new(cfg)),
            store,
            device: RwLock::new(Arc::new(device)),
            identity,
            client: RwLock::new(client),
            throttle,
            inner: Mutex::new(Inner {
                state,
                profiles,
                next_poll: now,
                generation: 0,
                save_seq: 0,
                stopping: false,
                status_cache: None,
            }),
            wake: Condvar::new(),
            events: OnceLock::new(),
            providers: Mutex::new(None),
            saved: Mutex::new(Saved::default()),
        };
        let mut g = lock(&agent.inner);
        let snap = agent.snapshot(&mut g);
        g.generation += 1;
        drop(g);
        agent.save(snap);
        agent
    }

    pub fn config(&self) -> Arc<Config> {
        self.cfg.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Where `auth.changed` goes. Set once, right after the socket is bound.
    pub fn set_events(&self, events: Events) {
        let _ = self.events.set(events);
    }

    /// Apply a new configuration (SIGHUP): a new Pass client; the poller picks up the new interval.
    pub fn reload(&self, cfg: Config) {
        let device = DeviceInfo::collect(&crate::daemon::sysroot(), &cfg.device);
        self.throttle
            .reconfigure(cfg.pass.throttle_per_sec, cfg.pass.throttle_burst);
        let client = build_client(&cfg, &self.store, &device, &self.identity, &self.throttle);
        *self.device.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(device);
        *self.client.write().unwrap_or_else(|p| p.into_inner()) = client;
        *self.cfg.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cfg);
        *lock(&self.providers) = None;
        self.wake.notify_all();
    }

    pub fn shutdown(&self) {
        lock(&self.inner).stopping = true;
        self.wake.notify_all();
    }

    fn client(&self) -> Result<Arc<pass::Client>, RpcError> {
        match &*self.client.read().unwrap_or_else(|p| p.into_inner()) {
            Ok(c) => Ok(c.clone()),
            Err(missing) => Err(not_configured(missing)),
        }
    }

    pub fn status(&self) -> Value {
        lock(&self.inner).state.status(now_ms())
    }

    /// [`Agent::status`] serialized, from the cache when the state has not changed.
    pub fn status_json(&self) -> Arc<str> {
        let mut g = lock(&self.inner);
        let now = now_ms();
        if let Some(c) = &g.status_cache {
            if now < c.valid_until && c.state == g.state {
                return c.json.clone();
            }
        }
        let json: Arc<str> = Arc::from(json::to_string(&g.state.status(now)));
        g.status_cache = Some(StatusCache {
            state: g.state.clone(),
            valid_until: g.state.status_stable_until(now),
            json: json.clone(),
        });
        json
    }

    /// Announce a state change made under the lock; the returned snapshot must be written with
    /// [`Agent::save`] after the lock is released (before the socket call answers).
    fn changed(&self, g: &mut MutexGuard<'_, Inner>, before: &str) -> Snapshot {
        let status = g.state.status(now_ms());
        self.wake.notify_all();
        if json::to_string(&status) != before {
            if let Some(ev) = self.events.get() {
                ev.publish(&protocol::notification("auth.changed", status));
            }
        }
        self.snapshot(g)
    }

    fn snapshot(&self, g: &mut Inner) -> Snapshot {
        g.save_seq += 1;
        let profile = (g.state.auth.is_some() || !g.profiles.is_empty()).then(|| SavedProfile {
            auth: g.state.auth.clone(),
            profiles: Value::Object(g.profiles.clone()),
        });
        Snapshot {
            seq: g.save_seq,
            profile,
            pending: g.state.pending.clone(),
        }
    }

    /// Write a snapshot unless a newer one is already on disk, and only the files whose content
    /// changed (a profile refresh that changes nothing costs no fsync: `cargo bench`). Runs without
    /// the state lock: the fsyncs used to happen under it, so every `auth.status` waited for the
    /// disk (hundreds of ms on a box's flash; found by tests/reliability.rs).
    fn save(&self, snap: Snapshot) {
        let mut saved = lock(&self.saved);
        if snap.seq <= saved.seq {
            return; // a later state, which includes this change, is already written
        }
        let text = snap
            .profile
            .as_ref()
            .map_or_else(String::new, json::to_string);
        if saved.profile.as_deref() != Some(text.as_str()) {
            let r = match &snap.profile {
                Some(p) => self.store.write(PROFILE_FILE, p),
                None => self.store.remove(PROFILE_FILE),
            };
            saved.profile = match r {
                Ok(()) => Some(text),
                Err(e) => {
                    log::error!("cannot save the profile: {e}");
                    None
                }
            };
        }
        let text = snap
            .pending
            .as_ref()
            .map_or_else(String::new, json::to_string);
        if saved.pending.as_deref() != Some(text.as_str()) {
            let r = match &snap.pending {
                Some(p) => self.store.write(PENDING_FILE, p),
                None => self.store.remove(PENDING_FILE),
            };
            saved.pending = match r {
                Ok(()) => Some(text),
                Err(e) => {
                    log::error!("cannot save the pending code: {e}");
                    None
                }
            };
        }
        saved.seq = snap.seq;
    }

    /// Record the profiles the API returned and derive the authenticated state from them.
    fn apply_profiles(
        &self,
        g: &mut Inner,
        profiles: &pass::Profiles,
        prefer: Option<&str>,
        replace_all: bool,
    ) {
        let now = now_ms();
        if replace_all {
            g.profiles = Object::new();
        }
        for (mvpd, p) in &profiles.profiles {
            g.profiles.insert(mvpd.clone(), p.raw.clone());
        }
        let valid = profiles.profiles.iter().filter(|(_, p)| p.not_after > now);
        let best = match prefer.and_then(|m| {
            profiles
                .profiles
                .iter()
                .find(|(k, p)| k == m && p.not_after > now)
        }) {
            Some(hit) => Some(hit),
            None => valid.max_by_key(|(_, p)| p.not_after),
        };
        match best {
            Some((mvpd, p)) => {
                g.state.auth = Some(Authenticated {
                    mvpd: mvpd.clone(),
                    expires_at: p.not_after,
                })
            }
            None if replace_all => g.state.auth = None,
            None => {}
        }
    }

    /// Session answers: auto-resume what the agent can fill, track a code as pending, refresh the
    /// profile when the API says one exists.
    fn drive(
        &self,
        client: &pass::Client,
        mut session: Session,
        params: &SessionParams,
    ) -> Result<Value, RpcError> {
        for _ in 0..2 {
            if !matches!(session.action_name.as_str(), "resume" | "retry")
                || session.missing_parameters.is_empty()
            {
                break;
            }
            let Some(code) = session.code.clone() else {
                break;
            };
            let knows = |m: &String| match m.as_str() {
                "mvpd" => params.mvpd.is_some(),
                "domainName" | "domain" => params.domain_name.is_some(),
                "redirectUrl" => params.redirect_url.is_some(),
                _ => false,
            };
            if !session.missing_parameters.iter().all(knows) {
                break;
            }
            log::info!(
                "session {code}: resuming with {}",
                session.missing_parameters.join(", ")
            );
            session = client.resume_session(&code, params).map_err(rpc_error)?;
        }
        let full_url = session.url.as_deref().map(|u| client.full_url(u));
        match (session.action_name.as_str(), &session.code) {
            ("authenticate" | "resume" | "retry", Some(code)) => {
                let sp = self.config().pass.service_provider.clone();
                // A resume answer's url is an API call; the second screen needs the browser URL.
                let url = match (session.action_name.as_str(), &session.url) {
                    ("authenticate", Some(u)) => u.clone(),
                    _ => format!("/api/v2/authenticate/{sp}/{code}"),
                };
                let now = now_ms();
                let pending = Pending {
                    code: code.clone(),
                    full_url: client.full_url(&url),
                    url,
                    not_after: session.not_after.unwrap_or(now + DEFAULT_CODE_TTL_MS),
                    mvpd: session.mvpd.clone().or_else(|| params.mvpd.clone()),
                };
                let mut g = lock(&self.inner);
                let before = json::to_string(&g.state.status(now));
                g.state.pending = Some(pending);
                g.generation += 1;
                g.next_poll = now + self.poll_interval_ms();
                let snap = self.changed(&mut g, &before);
                drop(g);
                self.save(snap);
            }
            ("authorize", _) => {
                // Already entitled (authenticated, TempPass, degraded, SSO): fetch the profile so the
                // status says so.
                match client.profiles(session.mvpd.as_deref()) {
                    Ok(p) => {
                        let mut g = lock(&self.inner);
                        let before = json::to_string(&g.state.status(now_ms()));
                        self.apply_profiles(&mut g, &p, session.mvpd.as_deref(), false);
                        let snap = self.changed(&mut g, &before);
                        drop(g);
                        self.save(snap);
                    }
                    Err(e) => log::warn!("profile after an authorize answer: {e}"),
                }
            }
            _ => {}
        }
        Ok(session.to_json(full_url))
    }

    /// The `mvpd` the caller gave, else the authenticated one.
    fn mvpd_or_authenticated(&self, given: Option<String>) -> Result<String, RpcError> {
        given
            .or_else(|| {
                lock(&self.inner)
                    .state
                    .auth
                    .as_ref()
                    .map(|a| a.mvpd.clone())
            })
            .ok_or_else(|| {
                RpcError::invalid_params("invalid params: not authenticated; give `mvpd`")
            })
    }

    fn poll_interval_ms(&self) -> u64 {
        self.config().pass.poll_interval_secs * 1000
    }

    fn session_params(&self, p: &mut Params) -> Result<SessionParams, RpcError> {
        let cfg = self.config();
        let fallback =
            |v: Option<String>, c: &str| v.or_else(|| (!c.is_empty()).then(|| c.to_owned()));
        let mvpd = p.opt_str("mvpd")?;
        let domain_name = fallback(p.opt_str("domainName")?, &cfg.pass.domain_name);
        let redirect_url = fallback(p.opt_str("redirectUrl")?, &cfg.pass.redirect_url);
        Ok(SessionParams {
            mvpd,
            domain_name,
            redirect_url,
        })
    }

    fn session_create(&self, mut p: Params) -> Result<Value, RpcError> {
        let params = self.session_params(&mut p)?;
        p.finish()?;
        let client = self.client()?;
        let session = client.create_session(&params).map_err(rpc_error)?;
        self.drive(&client, session, &params)
    }

    fn session_resume(&self, mut p: Params) -> Result<Value, RpcError> {
        let code = p.req_str("code")?;
        let params = self.session_params(&mut p)?;
        p.finish()?;
        let client = self.client()?;
        let session = client.resume_session(&code, &params).map_err(rpc_error)?;
        self.drive(&client, session, &params)
    }

    fn session_get(&self, mut p: Params) -> Result<Value, RpcError> {
        let code = p.req_str("code")?;
        p.finish()?;
        Ok(self
            .client()?
            .get_session(&code)
            .map_err(rpc_error)?
            .to_json())
    }

    fn session_partner(&self, mut p: Params) -> Result<Value, RpcError> {
        let partner = p.req_str("partner")?;
        let access_status = p.req_str("accessStatus")?;
        if access_status != "granted" && access_status != "denied" {
            return Err(RpcError::invalid_params(
                "invalid params: `accessStatus` must be granted or denied",
            ));
        }
        let provider_id = p.opt_str("providerId")?;
        let expiration_date = p.opt_str("expirationDate")?;
        if expiration_date
            .as_deref()
            .is_some_and(|d| d.parse::<u64>().is_err())
        {
            return Err(RpcError::invalid_params(
                "invalid params: `expirationDate` must be epoch milliseconds",
            ));
        }
        let mut params = self.session_params(&mut p)?;
        params.mvpd = None;
        p.finish()?;
        let status = PartnerStatus {
            access_status,
            provider_id,
            expiration_date,
        };
        let client = self.client()?;
        let session = client
            .partner_session(&partner, &status, &params)
            .map_err(rpc_error)?;
        self.drive(&client, session, &params)
    }

    fn logout(&self, mut p: Params) -> Result<Value, RpcError> {
        let mvpd = p.opt_str("mvpd")?;
        p.finish()?;
        let mvpd = self.mvpd_or_authenticated(mvpd)?;
        let client = self.client()?;
        let redirect = self.config().pass.redirect_url.clone();
        let logouts = client.logout(&mvpd, &redirect).map_err(rpc_error)?;
        let mut g = lock(&self.inner);
        let now = now_ms();
        let before = json::to_string(&g.state.status(now));
        g.profiles.remove(&mvpd);
        if g.state.auth.as_ref().is_some_and(|a| a.mvpd == mvpd) {
            g.state.auth = None;
        }
        // Another still-valid profile (e.g. TempPass) keeps the box entitled.
        if g.state.auth.is_none() {
            let mut best: Option<Authenticated> = None;
            for (k, v) in g.profiles.iter() {
                let na = profile_not_after(v);
                if na > now && best.as_ref().is_none_or(|b| na > b.expires_at) {
                    best = Some(Authenticated {
                        mvpd: k.clone(),
                        expires_at: na,
                    });
                }
            }
            g.state.auth = best;
        }
        let snap = self.changed(&mut g, &before);
        let status = g.state.status(now);
        drop(g);
        self.save(snap);
        Ok(obj([("logouts", logouts.raw), ("status", status)]))
    }

    fn profile_get(&self, mut p: Params) -> Result<Value, RpcError> {
        let mvpd = p.opt_str("mvpd")?;
        let refresh = p.opt_bool("refresh")?.unwrap_or(false);
        p.finish()?;
        if refresh {
            let client = self.client()?;
            let fresh = client.profiles(mvpd.as_deref()).map_err(rpc_error)?;
            let mut g = lock(&self.inner);
            let before = json::to_string(&g.state.status(now_ms()));
            match &mvpd {
                // The full list is the truth: it replaces the cache (and may end `authenticated`).
                None => self.apply_profiles(&mut g, &fresh, None, true),
                Some(m) => {
                    g.profiles.remove(m);
                    if fresh.profiles.is_empty()
                        && g.state.auth.as_ref().is_some_and(|a| &a.mvpd == m)
                    {
                        g.state.auth = None;
                    }
                    self.apply_profiles(&mut g, &fresh, Some(m), false);
                }
            }
            let snap = self.changed(&mut g, &before);
            drop(g);
            self.save(snap);
        }
        let g = lock(&self.inner);
        let now = now_ms();
        let profiles: Object = g
            .profiles
            .iter()
            .filter(|(k, v)| mvpd.as_ref().is_none_or(|m| m == *k) && profile_not_after(v) > now)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(obj([("profiles", Value::Object(profiles))]))
    }

    fn providers_list(&self, p: Params) -> Result<Value, RpcError> {
        p.finish()?;
        if let Some((at, v)) = &*lock(&self.providers) {
            if at.elapsed() < PROVIDERS_TTL {
                return Ok(v.clone());
            }
        }
        let conf = self.client()?.configuration().map_err(rpc_error)?;
        let v = obj([("mvpds", Value::Array(conf.mvpds.into_iter().collect()))]);
        *lock(&self.providers) = Some((Instant::now(), v.clone()));
        Ok(v)
    }

    fn decision(&self, mut p: Params, pre: bool) -> Result<Value, RpcError> {
        let resources = p.req_str_list("resources", MAX_RESOURCES)?;
        let mvpd = p.opt_str("mvpd")?;
        p.finish()?;
        let mvpd = self.mvpd_or_authenticated(mvpd)?;
        let client = self.client()?;
        let d = if pre {
            client.preauthorize(&mvpd, &resources)
        } else {
            client.authorize(&mvpd, &resources)
        }
        .map_err(rpc_error)?;
        Ok(obj([(
            "decisions",
            Value::Array(d.decisions.into_iter().collect()),
        )]))
    }

    fn legacy_url(&self, mut p: Params) -> Result<Value, RpcError> {
        let mvpd = p.req_str("mvpd")?;
        let reg_code = p.req_str("regCode")?;
        let generic_data = p.opt_str("genericData")?;
        p.finish()?;
        let cfg = self.config();
        let mut missing = Vec::new();
        if cfg.pass.service_provider.is_empty() {
            missing.push("pass.service_provider");
        }
        if cfg.pass.domain_name.is_empty() {
            missing.push("pass.domain_name");
        }
        if cfg.pass.redirect_url.is_empty() {
            missing.push("pass.redirect_url");
        }
        if !missing.is_empty() {
            return Err(not_configured(&missing));
        }
        let url = pass::legacy::authenticate_url(
            &cfg.pass.legacy_base_url,
            &cfg.pass.service_provider,
            &mvpd,
            &reg_code,
            &cfg.pass.domain_name,
            &cfg.pass.redirect_url,
            generic_data.as_deref(),
        );
        Ok(obj([("url", string(url))]))
    }

    /// Start the poller thread.
    pub fn start_poller(self: &Arc<Self>) -> std::io::Result<JoinHandle<()>> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("poller".into())
            .stack_size(256 * 1024)
            .spawn(move || me.poll_loop())
    }

    fn poll_loop(&self) {
        loop {
            // Wait, under the lock, until a poll is due (or we stop).
            let (code, generation, prefer) = {
                let mut g = lock(&self.inner);
                loop {
                    if g.stopping {
                        return;
                    }
                    let now = now_ms();
                    let before = json::to_string(&g.state.status(now.saturating_sub(1)));
                    if g.state.expire(now) {
                        g.generation += 1;
                        log::info!("authentication state expired");
                        let snap = self.changed(&mut g, &before);
                        drop(g);
                        self.save(snap);
                        g = lock(&self.inner);
                        continue;
                    }
                    match g.state.next_wake(now, g.next_poll) {
                        Wake::PollNow => break,
                        Wake::Never => g = self.wake.wait(g).unwrap_or_else(|p| p.into_inner()),
                        Wake::After(ms) => {
                            let ms = ms.min(MAX_WAIT_MS);
                            g = self
                                .wake
                                .wait_timeout(g, Duration::from_millis(ms))
                                .unwrap_or_else(|p| p.into_inner())
                                .0;
                        }
                    }
                }
                let Some(p) = g.state.pending.as_ref() else {
                    continue;
                };
                (p.code.clone(), g.generation, p.mvpd.clone())
            };
            let interval = self.poll_interval_ms() + jitter_ms();
            let result = match self.client() {
                Ok(c) => c.profile_by_code(&code).map_err(Some),
                Err(_) => Err(None),
            };
            let mut g = lock(&self.inner);
            if g.generation != generation {
                continue; // the code was replaced or dropped meanwhile
            }
            let now = now_ms();
            g.next_poll = now + interval;
            match result {
                Ok(profiles) if !profiles.profiles.is_empty() => {
                    let before = json::to_string(&g.state.status(now));
                    self.apply_profiles(&mut g, &profiles, prefer.as_deref(), false);
                    if g.state.auth.is_some() {
                        log::info!("code {code} completed: authenticated");
                        g.state.pending = None;
                        g.generation += 1;
                    }
                    let snap = self.changed(&mut g, &before);
                    drop(g);
                    self.save(snap);
                }
                Ok(_) => log::debug!("code {code}: not completed yet"),
                Err(Some(PassError::Api { status, errors })) if dead_code(status, &errors) => {
                    log::info!("code {code} is no longer valid upstream; dropping it");
                    let before = json::to_string(&g.state.status(now));
                    g.state.pending = None;
                    g.generation += 1;
                    let snap = self.changed(&mut g, &before);
                    drop(g);
                    self.save(snap);
                }
                Err(Some(PassError::Throttled { retry_after_ms })) => {
                    g.next_poll = now + interval.max(retry_after_ms);
                    log::debug!(
                        "code {code}: throttled, next poll in {} ms",
                        g.next_poll - now
                    );
                }
                Err(Some(e)) => log::warn!("polling code {code}: {e}; will retry"),
                Err(None) => log::warn!("polling code {code}: the agent is not configured"),
            }
        }
    }
}

/// Errors after which a code will never complete.
fn dead_code(status: u16, errors: &[pass::EnhancedError]) -> bool {
    errors.iter().any(|e| {
        matches!(
            e.code.as_deref(),
            Some("invalid_parameter_code" | "invalid_authentication_session")
        )
    }) || (status == 400 && errors.is_empty())
}

/// A cached profile's `notAfter` (ms), parsed as leniently as the API client parses it; 0 if unusable.
fn profile_not_after(v: &Value) -> u64 {
    match v {
        Value::Object(o) => pass::model::int_field(o, "notAfter").unwrap_or(0),
        _ => 0,
    }
}

fn jitter_ms() -> u64 {
    let mut b = [0u8; 2];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u64::from(u16::from_le_bytes(b)) % 750
}

fn build_client(
    cfg: &Config,
    store: &Store,
    device: &DeviceInfo,
    identity: &Identity,
    throttle: &Arc<Throttle>,
) -> Result<Arc<pass::Client>, Vec<&'static str>> {
    let missing = cfg.pass_missing();
    if !missing.is_empty() {
        log::warn!(
            "Adobe Pass calls disabled until configured: {}",
            missing.join(", ")
        );
        return Err(missing);
    }
    let headers = pass::DeviceHeaders {
        device_info: device.header().to_owned(),
        device_identifier: identity.header(),
        model: device.model().to_owned(),
    };
    match pass::Client::with_throttle(&cfg.pass, store.clone(), headers, throttle.clone()) {
        Ok(c) => Ok(Arc::new(c)),
        Err(PassError::NotConfigured { missing }) => Err(missing),
        Err(e) => {
            log::error!("Adobe Pass client: {e}");
            Err(vec!["pass.ca_file"])
        }
    }
}

fn not_configured(missing: &[&'static str]) -> RpcError {
    RpcError::new(
        protocol::NOT_CONFIGURED,
        format!("not configured: set {}", missing.join(", ")),
    )
    .with_data(obj([(
        "missing",
        protocol::strings(missing.iter().copied()),
    )]))
}

/// PassError → the socket's error codes (CONTRACT §3 table). Internal detail stays in the log.
pub fn rpc_error(e: PassError) -> RpcError {
    match e {
        PassError::Api { status, errors } => {
            let message = errors
                .iter()
                .find_map(|e| e.message.clone().filter(|m| !m.is_empty()))
                .unwrap_or_else(|| format!("the API answered HTTP {status}"));
            let list: json::Array = errors.into_iter().map(|e| e.raw).collect();
            RpcError::new(protocol::API_ERROR, message).with_data(obj([
                ("status", protocol::uint(u64::from(status))),
                ("errors", Value::Array(list)),
            ]))
        }
        PassError::Throttled { retry_after_ms } => RpcError::new(protocol::THROTTLED, "throttled")
            .with_data(obj([("retryAfterMs", protocol::uint(retry_after_ms))])),
        PassError::NotConfigured { missing } => not_configured(&missing),
        e @ PassError::Transport { .. } => {
            let reason = e.to_string();
            RpcError::new(
                protocol::UNREACHABLE,
                format!("the API could not be reached: {reason}"),
            )
            .with_data(obj([("reason", string(reason))]))
        }
        PassError::BadResponse { status, reason } => {
            let reason = format!("invalid response (HTTP {status}): {reason}");
            RpcError::new(
                protocol::UNREACHABLE,
                format!("the API could not be used: {reason}"),
            )
            .with_data(obj([("reason", string(reason))]))
        }
        other => {
            log::error!("internal error: {other}");
            RpcError::new(protocol::INTERNAL_ERROR, format!("internal error: {other}"))
        }
    }
}

impl Handler for Agent {
    fn call(&self, method: &str, params: Params, peer: &Peer) -> Result<Reply, RpcError> {
        log::debug!("call {method} from uid {} pid {}", peer.uid, peer.pid);
        // One deadline for everything this socket call asks upstream (CONTRACT: a call answers
        // within `pass.timeout_secs`, plus our own processing).
        if method == "auth.status" {
            params.finish()?;
            return Ok(Reply::Json(self.status_json()));
        }
        let deadline = Instant::now() + Duration::from_secs(self.config().pass.timeout_secs.max(1));
        pass::api::within(deadline, || self.dispatch(method, params)).map(Reply::Value)
    }

    /// Answered from memory: the agent's state, device facts and identity are loaded at start.
    fn is_quick(&self, method: &str) -> bool {
        matches!(
            method,
            "auth.status" | "agent.version" | "device.info" | "device.identifier"
        )
    }
}

impl Agent {
    fn dispatch(&self, method: &str, params: Params) -> Result<Value, RpcError> {
        let finish = |p: Params, v: Value| p.finish().map(|()| v);
        match method {
            "agent.version" => finish(
                params,
                obj([("version", string(env!("CARGO_PKG_VERSION")))]),
            ),
            "device.info" => finish(
                params,
                self.device
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .to_json(),
            ),
            "device.identifier" => finish(params, self.identity.to_json()),
            "session.create" => self.session_create(params),
            "session.resume" => self.session_resume(params),
            "session.get" => self.session_get(params),
            "session.partner" => self.session_partner(params),
            "auth.logout" => self.logout(params),
            "profile.get" => self.profile_get(params),
            "providers.list" => self.providers_list(params),
            "decision.authorize" => self.decision(params, false),
            "decision.preauthorize" => self.decision(params, true),
            "legacy.authenticate_url" => self.legacy_url(params),
            _ => Err(RpcError::new(
                protocol::METHOD_NOT_FOUND,
                format!("method not found: {method}"),
            )),
        }
    }
}
