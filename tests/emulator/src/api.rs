//! The emulated endpoints: DCR (`/o/client/*`), REST API v2 (`/api/v2/*`) and the two pages a
//! browser opens (`/api/v2/authenticate/…`, `/adobe-services/logout`). Each handler validates
//! what Adobe validates (token, headers, content type, parameters) and answers like the seeds.

use crate::form;
use crate::http::{Request, Response};
use crate::json::{self, J};
use crate::model::{self, CodeError, Model, Profile, Session, TokenCheck, seed};
use crate::{Shared, ids, lock};
use base64::Engine as _;
use miniserde::json::Value;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

const JSON: &str = "application/json;charset=UTF-8";
const HELP_URL: &str = "https://experienceleague.adobe.com/docs/pass/authentication/auth-features/error-reportn/enhanced-error-codes.html";
/// Media tokens live about 7 minutes (spec §4.1); authorization decisions a day.
const MEDIA_TOKEN_TTL_MS: u64 = 7 * 60 * 1000;
const DECISION_TTL_MS: u64 = 24 * 3600 * 1000;
/// Most resources accepted in one decisions call before `too_many_resources`.
const MAX_RESOURCES: usize = 20;

/// What one request is handled with.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub peer: IpAddr,
    pub now: u64,
}

// ---------------------------------------------------------------- responses

pub fn json_response(status: u16, body: &J) -> Response {
    Response::new(status, JSON, body.to_json().into_bytes())
}

/// A flat enhanced error object (spec §6.1).
pub fn enhanced(status: u16, action: &str, code: &str, message: &str) -> J {
    J::obj()
        .with("action", action)
        .with("status", status)
        .with("code", code)
        .with("message", message)
        .with("helpUrl", format!("{HELP_URL}#{code}"))
        .with("trace", ids::uuid())
}

pub fn error(status: u16, action: &str, code: &str, message: &str) -> Response {
    json_response(status, &enhanced(status, action, code, message))
}

fn bad(code: &str, message: &str) -> Response {
    error(400, "none", code, message)
}

/// The 401 of an invalid or expired access token: refresh the token and retry.
pub fn unauthorized() -> Response {
    error(
        401,
        "retry",
        "invalid_access_token",
        "The access token is invalid or expired; obtain a new access token and try again.",
    )
}

fn dcr_error(code: &str) -> Response {
    json_response(400, &J::obj().with("error", code))
}

fn html(status: u16, text: &str) -> Response {
    Response::new(
        status,
        "text/html;charset=UTF-8",
        format!("<html><body><p>{text}</p></body></html>").into_bytes(),
    )
}

/// The throttle's answer (spec §5): bare HTML, no Retry-After, no enhanced error.
pub fn too_many_requests() -> Response {
    Response::new(
        429,
        "text/html",
        b"<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n".to_vec(),
    )
    .header("Server", "openresty")
}

fn code_error(e: CodeError) -> Response {
    match e {
        CodeError::Unknown => bad(
            "invalid_parameter_code",
            "The code parameter value is missing or invalid.",
        ),
        CodeError::Dead => bad(
            "invalid_authentication_session",
            "The authentication session is missing, expired or was replaced by a newer one.",
        ),
    }
}

// ---------------------------------------------------------------- request checks

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ct {
    Form,
    Json,
}

/// The Content-Type the spec prescribes; an empty body without one is tolerated.
fn check_content_type(req: &Request, want: Ct) -> Result<(), String> {
    let expected = match want {
        Ct::Form => "application/x-www-form-urlencoded",
        Ct::Json => "application/json",
    };
    match req.header("content-type") {
        None if req.body.is_empty() => Ok(()),
        None => Err(format!("Content-Type must be {expected}")),
        Some(ct) => {
            let media = ct.split(';').next().unwrap_or_default().trim();
            if media.eq_ignore_ascii_case(expected) {
                Ok(())
            } else {
                Err(format!("Content-Type must be {expected}, got {media}"))
            }
        }
    }
}

fn content_type_error(message: &str) -> Response {
    bad("invalid_header_content_type", message)
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(form::decode(s)))
        .ok()
}

/// X-Device-Info, when present, must be base64 of a JSON object.
fn check_device_info(req: &Request) -> Result<Option<Value>, Response> {
    let Some(h) = req.header("x-device-info") else {
        return Ok(None);
    };
    match b64_decode(h).and_then(|b| json::parse(&b)) {
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        _ => Err(bad(
            "invalid_header_device_info",
            "The X-Device-Info header must be the Base64 encoding of a JSON object.",
        )),
    }
}

/// AP-Device-Identifier: `fingerprint <base64>`; the whole value keys the device's profiles.
fn device_id(req: &Request, required: bool) -> Result<Option<String>, Response> {
    let invalid = || {
        bad(
            "invalid_header_device_identifier",
            "The AP-Device-Identifier header is missing or invalid.",
        )
    };
    let Some(h) = req.header("ap-device-identifier") else {
        return if required { Err(invalid()) } else { Ok(None) };
    };
    let Some(("fingerprint", id)) = h.split_once(' ') else {
        return Err(invalid());
    };
    match b64_decode(id) {
        Some(b) if !b.is_empty() && !id.contains(' ') => Ok(Some(h.to_string())),
        _ => Err(invalid()),
    }
}

fn bearer(req: &Request) -> Option<&str> {
    let h = req.header("authorization")?;
    let (scheme, token) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn authorize(model: &Model, ctx: &Ctx) -> Result<String, Response> {
    match model.check_token(bearer(ctx.req), ctx.now) {
        TokenCheck::Valid { client_id } => Ok(client_id),
        TokenCheck::Invalid => Err(unauthorized()),
        TokenCheck::ClientInvalid => Err(error(
            401,
            "application-registration",
            "invalid_access_token_client_application",
            "The client application registration is no longer valid; register again.",
        )),
    }
}

// ---------------------------------------------------------------- routing

/// Dispatches one (already recorded, fault-checked and throttle-admitted) request.
pub fn handle(shared: &Shared, ctx: &Ctx) -> Response {
    let req = ctx.req;
    let mut segs: Vec<&str> = req.path.split('/').skip(1).collect();
    if segs.len() > 1 && segs.last() == Some(&"") {
        segs.pop(); // tolerate a trailing slash (`/configuration/` in a sample)
    }
    let method = req.method.as_str();
    let allow = |m: &str| -> Result<(), Response> {
        if method == m {
            Ok(())
        } else {
            Err(error(
                405,
                "none",
                "method_not_allowed",
                &format!("Use {m} for this resource."),
            ))
        }
    };
    let result =
        match segs.as_slice() {
            ["o", "client", "register"] => allow("POST").map(|()| register(shared, ctx)),
            ["o", "client", "token"] => allow("POST").map(|()| token(shared, ctx)),
            ["api", "v2", "authenticate", sp, code] => {
                allow("GET").map(|()| browser_authenticate(shared, ctx, sp, code))
            }
            ["adobe-services", "logout"] => allow("GET").map(|()| browser_logout(ctx)),
            ["api", "v2", "sessions", sp, code] => allow("GET")
                .and_then(|()| v2(shared, ctx, false, |m, c, _| retrieve(m, ctx, c, sp, code))),
            ["api", "v2", sp, "sessions"] => allow("POST")
                .and_then(|()| v2(shared, ctx, true, |m, c, d| create(m, ctx, c, d, sp))),
            ["api", "v2", sp, "sessions", "sso", partner] => allow("POST").and_then(|()| {
                v2(shared, ctx, true, |m, c, d| {
                    partner_sso(m, ctx, c, d, sp, partner)
                })
            }),
            ["api", "v2", sp, "sessions", code] => match method {
                "GET" => v2(shared, ctx, false, |m, c, _| retrieve(m, ctx, c, sp, code)),
                _ => allow("POST")
                    .and_then(|()| v2(shared, ctx, false, |m, c, _| resume(m, ctx, c, sp, code))),
            },
            ["api", "v2", _sp, "profiles"] => allow("GET")
                .and_then(|()| v2(shared, ctx, true, |m, c, d| profiles(m, ctx, c, d, None))),
            ["api", "v2", sp, "profiles", "code", code] => allow("GET").and_then(|()| {
                v2(shared, ctx, false, |m, _, _| {
                    profiles_by_code(m, ctx, sp, code)
                })
            }),
            ["api", "v2", sp, "profiles", "sso", partner] => allow("POST").and_then(|()| {
                v2(shared, ctx, true, |m, c, d| {
                    partner_profile(m, ctx, c, d, sp, partner)
                })
            }),
            ["api", "v2", _sp, "profiles", mvpd] => allow("GET").and_then(|()| {
                v2(shared, ctx, true, |m, c, d| {
                    profiles(m, ctx, c, d, Some(mvpd))
                })
            }),
            ["api", "v2", sp, "configuration"] => allow("GET")
                .and_then(|()| v2(shared, ctx, false, |m, _, _| configuration(m, ctx, sp))),
            [
                "api",
                "v2",
                sp,
                "decisions",
                kind @ ("authorize" | "preauthorize"),
                mvpd,
            ] => allow("POST").and_then(|()| {
                v2(shared, ctx, true, |m, c, d| {
                    decisions(m, ctx, c, d, sp, mvpd, *kind == "authorize")
                })
            }),
            ["api", "v2", sp, "logout", mvpd] => allow("GET")
                .and_then(|()| v2(shared, ctx, true, |m, c, d| logout(m, ctx, c, d, sp, mvpd))),
            _ => Ok(error(404, "none", "not_found", "No such resource.")),
        };
    result.unwrap_or_else(|r| r)
}

/// The common part of every v2 call: bearer token, X-Device-Info, AP-Device-Identifier
/// (`device_required`), then the handler under the model lock.
fn v2(
    shared: &Shared,
    ctx: &Ctx,
    device_required: bool,
    f: impl FnOnce(&mut Model, &str, &str) -> Result<Response, Response>,
) -> Result<Response, Response> {
    let mut model = lock(&shared.model);
    let client = authorize(&model, ctx)?;
    check_device_info(ctx.req)?;
    let device = device_id(ctx.req, device_required)?.unwrap_or_default();
    f(&mut model, &client, &device)
}

// ---------------------------------------------------------------- DCR

fn register(shared: &Shared, ctx: &Ctx) -> Response {
    if check_content_type(ctx.req, Ct::Json).is_err() || ctx.req.body.is_empty() {
        return dcr_error("invalid_request");
    }
    if let Err(r) = check_device_info(ctx.req) {
        return r;
    }
    let Some(body @ Value::Object(_)) = json::parse(&ctx.req.body) else {
        return dcr_error("invalid_request");
    };
    let statement = json::get_text(&body, "software_statement").unwrap_or_default();
    match statement.trim() {
        "" | "invalid" => return dcr_error("invalid_software_statement"),
        "unapproved" => return dcr_error("unapproved_software_statement"),
        _ => {}
    }
    let redirect = json::get_text(&body, "redirect_uri");
    if redirect.as_deref().is_some_and(|r| !r.contains(':')) {
        return dcr_error("invalid_redirect_uri");
    }
    let (client_id, secret) = lock(&shared.model).register();
    shared.stats.registrations.fetch_add(1, Ordering::Relaxed);
    json_response(
        201,
        &J::obj()
            .with("client_id", client_id)
            .with("client_secret", secret)
            .with("client_id_issued_at", ctx.now / 1000)
            .with(
                "redirect_uris",
                J::strs(&redirect.into_iter().collect::<Vec<_>>()),
            )
            .with("grant_types", J::strs(&["client_credentials"]))
            .with("scopes", J::strs(&["api:client:v2"])),
    )
}

fn token(shared: &Shared, ctx: &Ctx) -> Response {
    if check_content_type(ctx.req, Ct::Form).is_err() {
        return dcr_error("invalid_request");
    }
    if let Err(r) = check_device_info(ctx.req) {
        return r;
    }
    // The docs put the parameters in the body, the OpenAPI file in the query: accept both.
    let mut pairs = form::parse(&String::from_utf8_lossy(&ctx.req.body));
    pairs.extend(form::parse(&ctx.req.query));
    let (Some(id), Some(secret), Some(grant)) = (
        form::value(&pairs, "client_id"),
        form::value(&pairs, "client_secret"),
        form::value(&pairs, "grant_type"),
    ) else {
        return dcr_error("invalid_request");
    };
    if grant != "client_credentials" {
        return dcr_error("unsupported_grant_type");
    }
    let mut model = lock(&shared.model);
    let Some(token) = model.mint(id, secret, ctx.now) else {
        return dcr_error("invalid_client");
    };
    let ttl = model.cfg.token_ttl_secs;
    drop(model);
    shared.stats.token_mints.fetch_add(1, Ordering::Relaxed);
    json_response(
        201,
        &J::obj()
            .with("id", ids::uuid())
            .with("access_token", token)
            .with("created_at", ctx.now)
            .with("expires_in", ttl)
            .with("token_type", "bearer"),
    )
}

// ---------------------------------------------------------------- sessions

/// The session-shaped answer shared by create, resume and partner SSO.
#[derive(Default)]
struct Answer {
    action_name: &'static str,
    action_type: &'static str,
    reason_type: &'static str,
    url: Option<String>,
    missing: Option<Vec<&'static str>>,
    code: Option<String>,
    session_id: String,
    mvpd: Option<String>,
    sp: String,
    times: Option<(String, String)>,
    authentication_request: bool,
}

impl Answer {
    fn json(&self) -> J {
        let mut j = J::obj()
            .with("actionName", self.action_name)
            .with("actionType", self.action_type)
            .with("reasonType", self.reason_type)
            .with_opt("url", self.url.as_deref())
            .with_opt(
                "missingParameters",
                self.missing.as_ref().map(|m| J::strs(m)),
            )
            .with_opt("code", self.code.as_deref())
            .with("sessionId", self.session_id.as_str())
            .with_opt("mvpd", self.mvpd.as_deref())
            .with("serviceProvider", self.sp.as_str());
        if let Some((nb, na)) = &self.times {
            j = j
                .with("notBefore", nb.as_str())
                .with("notAfter", na.as_str());
        }
        if self.authentication_request {
            j = j.with(
                "authenticationRequest",
                J::obj()
                    .with("type", "saml")
                    .with("request", seed::SAML_REQUEST)
                    .with("attributesNames", J::strs(&["uid", "NameID", "uniqueId"])),
            );
        }
        j
    }

    fn ok(&self) -> Result<Response, Response> {
        Ok(json_response(200, &self.json()))
    }

    /// `authenticate`/`resume`/`retry` answers for a session with a code.
    fn for_session(s: &Session, action_name: &'static str, reason: &'static str) -> Answer {
        let missing = s.missing();
        let (action_type, url) = if action_name == "authenticate" {
            (
                "interactive",
                format!("/api/v2/authenticate/{}/{}", s.sp, s.code),
            )
        } else {
            ("direct", format!("/api/v2/{}/sessions/{}", s.sp, s.code))
        };
        Answer {
            action_name,
            action_type,
            reason_type: reason,
            url: Some(url),
            missing: (action_name != "authenticate").then_some(missing),
            code: Some(s.code.clone()),
            session_id: s.session_id.clone(),
            mvpd: s.mvpd.clone(),
            sp: s.sp.clone(),
            times: Some((s.shown_not_before.clone(), s.shown_not_after.clone())),
            authentication_request: false,
        }
    }

    /// `authorize`/`direct`: the device may go straight to decisions for `mvpd`.
    fn authorize(sp: &str, mvpd: &str, reason: &'static str, session_id: String) -> Answer {
        Answer {
            action_name: "authorize",
            action_type: "direct",
            reason_type: reason,
            url: Some(format!("/api/v2/{sp}/decisions/authorize/{mvpd}")),
            session_id,
            mvpd: Some(mvpd.to_string()),
            sp: sp.to_string(),
            ..Answer::default()
        }
    }
}

/// Session parameters from a form body (empty values count as missing).
struct Params {
    mvpd: Option<String>,
    domain: Option<String>,
    redirect: Option<String>,
}

fn params(req: &Request) -> Params {
    let pairs = form::parse(&String::from_utf8_lossy(&req.body));
    let get = |k: &str| form::value(&pairs, k).map(str::to_string);
    Params {
        mvpd: get("mvpd"),
        domain: get("domainName").or_else(|| get("domain")),
        redirect: get("redirectUrl"),
    }
}

fn form_body(req: &Request) -> Result<Params, Response> {
    check_content_type(req, Ct::Form).map_err(|m| content_type_error(&m))?;
    Ok(params(req))
}

fn unknown_mvpd() -> Response {
    bad(
        "invalid_parameter_mvpd",
        "The mvpd parameter value is missing or invalid.",
    )
}

/// For a known `mvpd`: the `authorize` shortcut if the device is already entitled (profile,
/// degradation, TempPass), creating the degraded/temporary profile as Adobe would.
fn shortcut(
    model: &mut Model,
    ctx: &Ctx,
    client: &str,
    device: &str,
    sp: &str,
    mvpd: &str,
    session_id: impl FnOnce(&Model) -> String,
) -> Option<Answer> {
    let reason = if let Some(p) = model.profile(client, device, mvpd, ctx.now) {
        p.reason()
    } else if model.is_degraded(mvpd) {
        model.add_profile(client, device, mvpd, "degraded", ctx.now);
        "degraded"
    } else if model.is_temp_pass(mvpd) {
        model.add_profile(client, device, mvpd, "temporary", ctx.now);
        "temporary"
    } else {
        return None;
    };
    Some(Answer::authorize(sp, mvpd, reason, session_id(model)))
}

fn new_session(ctx: &Ctx, sp: &str, client: &str, device: &str, p: Params) -> Session {
    Session {
        sp: sp.to_string(),
        client_id: client.to_string(),
        device: device.to_string(),
        device_info: ctx.req.header("x-device-info").map(str::to_string),
        user_agent: ctx.req.header("user-agent").map(str::to_string),
        peer: ctx
            .req
            .header("x-forwarded-for")
            .map_or_else(|| ctx.peer.to_string(), str::to_string),
        mvpd: p.mvpd,
        domain: p.domain,
        redirect: p.redirect,
        ..Session::default()
    }
}

/// `POST /api/v2/{sp}/sessions` (seed 000).
fn create(
    model: &mut Model,
    ctx: &Ctx,
    client: &str,
    device: &str,
    sp: &str,
) -> Result<Response, Response> {
    let p = form_body(ctx.req)?;
    if let Some(mvpd) = p.mvpd.as_deref() {
        if !model.is_known_mvpd(mvpd) {
            return Err(unknown_mvpd());
        }
        if let Some(a) = shortcut(model, ctx, client, device, sp, mvpd, |m| {
            m.session_id(seed::SESSION_ID)
        }) {
            return a.ok();
        }
    }
    let s = model.new_session(
        new_session(ctx, sp, client, device, p),
        seed::CODE,
        seed::SESSION_ID,
        ctx.now,
    );
    if s.missing().is_empty() {
        Answer::for_session(&s, "authenticate", "none").ok()
    } else {
        Answer::for_session(&s, "resume", "none").ok()
    }
}

/// `POST /api/v2/{sp}/sessions/{code}`: merges the parameters; still missing → `retry`.
fn resume(
    model: &mut Model,
    ctx: &Ctx,
    client: &str,
    sp: &str,
    code: &str,
) -> Result<Response, Response> {
    let p = form_body(ctx.req)?;
    if p.mvpd.as_deref().is_some_and(|m| !model.is_known_mvpd(m)) {
        return Err(unknown_mvpd());
    }
    let s = model.session_mut(sp, code, ctx.now).map_err(code_error)?;
    if p.mvpd.is_some() {
        s.mvpd = p.mvpd;
    }
    if p.domain.is_some() {
        s.domain = p.domain;
    }
    if p.redirect.is_some() {
        s.redirect = p.redirect;
    }
    let s = s.clone();
    if let Some(mvpd) = s.mvpd.as_deref() {
        // The entitlement belongs to the device that created the session.
        let owner = if s.client_id.is_empty() {
            client
        } else {
            &s.client_id
        };
        let sid = s.session_id.clone();
        if let Some(mut a) = shortcut(model, ctx, owner, &s.device, sp, mvpd, |_| sid) {
            a.code = Some(s.code.clone());
            return a.ok();
        }
    }
    if s.missing().is_empty() {
        Answer::for_session(&s, "authenticate", "none").ok()
    } else {
        Answer::for_session(&s, "retry", "none").ok()
    }
}

/// `GET /api/v2/{sp}/sessions/{code}` (and the doc's `/api/v2/sessions/{sp}/{code}`).
fn retrieve(
    model: &mut Model,
    ctx: &Ctx,
    _client: &str,
    sp: &str,
    code: &str,
) -> Result<Response, Response> {
    let s = model.session(sp, code, ctx.now).map_err(code_error)?;
    let existing = J::obj()
        .with_opt("mvpd", s.mvpd.as_deref())
        .with_opt("domain", s.domain.as_deref())
        .with_opt("redirectUrl", s.redirect.as_deref())
        .with("serviceProvider", s.sp.as_str());
    let body = J::obj()
        .with("existingParameters", existing)
        .with("missingParameters", J::strs(&s.missing()))
        .with("device", device_json(s))
        .with("notBefore", s.shown_not_before.as_str())
        .with("notAfter", s.shown_not_after.as_str());
    Ok(json_response(200, &body))
}

/// Adobe's normalised view of the streaming device, from X-Device-Info and User-Agent.
fn device_json(s: &Session) -> J {
    let info = s
        .device_info
        .as_deref()
        .and_then(b64_decode)
        .and_then(|b| json::parse(&b));
    let f = |k: &str| info.as_ref().and_then(|v| json::get_text(v, k));
    let version = f("version").map(|v| {
        let mut parts = v.split('.');
        J::obj()
            .with_opt("major", parts.next())
            .with_opt("minor", parts.next())
            .with_opt("patch", parts.next())
    });
    J::obj()
        .with(
            "type",
            f("primaryHardwareType").unwrap_or_else(|| "Unknown".into()),
        )
        .with_opt("model", f("model"))
        .with_opt("version", version)
        .with(
            "hardware",
            J::obj()
                .with_opt("name", f("model"))
                .with_opt("vendor", f("vendor"))
                .with_opt("version", f("version"))
                .with_opt("manufacturer", f("manufacturer")),
        )
        .with(
            "operatingSystem",
            J::obj()
                .with_opt("name", f("osName"))
                .with_opt("family", f("osFamily"))
                .with_opt("vendor", f("osVendor"))
                .with_opt("version", f("osVersion")),
        )
        .with(
            "browser",
            J::obj()
                .with_opt("userAgent", s.user_agent.as_deref())
                .with_opt("originalUserAgent", s.user_agent.as_deref()),
        )
        .with(
            "display",
            J::obj()
                .with_opt("width", f("displayWidth"))
                .with_opt("height", f("displayHeight")),
        )
        .with_opt("applicationId", f("applicationId"))
        .with(
            "connection",
            J::obj()
                .with(
                    "ipAddress",
                    f("connectionIp").unwrap_or_else(|| s.peer.clone()),
                )
                .with_opt("port", f("connectionPort"))
                .with_opt("secure", f("connectionSecure"))
                .with_opt("type", f("connectionType")),
        )
}

// ---------------------------------------------------------------- partner SSO

enum Pfs {
    /// Header absent, not base64 JSON, or missing required members.
    Invalid {
        provider: Option<String>,
    },
    NotGranted {
        provider: Option<String>,
    },
    Granted {
        provider: String,
    },
}

/// AP-Partner-Framework-Status (spec §1.4).
fn parse_pfs(req: &Request, now: u64) -> Pfs {
    let Some(v) = req
        .header("ap-partner-framework-status")
        .and_then(b64_decode)
        .and_then(|b| json::parse(&b))
    else {
        return Pfs::Invalid { provider: None };
    };
    let provider_info = json::get(&v, "frameworkProviderInfo");
    let provider = provider_info
        .and_then(|p| json::get_text(p, "id"))
        .filter(|id| !id.is_empty());
    let status =
        json::get(&v, "frameworkPermissionInfo").and_then(|p| json::get_text(p, "accessStatus"));
    match status.as_deref() {
        None => return Pfs::Invalid { provider },
        Some("granted") => {}
        Some(_) => return Pfs::NotGranted { provider },
    }
    let expires = provider_info
        .and_then(|p| json::get_text(p, "expirationDate"))
        .and_then(|e| e.parse::<u64>().ok());
    match (provider, expires) {
        (Some(provider), Some(exp)) if exp > now => Pfs::Granted { provider },
        (provider, _) => Pfs::Invalid { provider },
    }
}

/// `POST /api/v2/{sp}/sessions/sso/{partner}` (seeds 001/002).
fn partner_sso(
    model: &mut Model,
    ctx: &Ctx,
    client: &str,
    device: &str,
    sp: &str,
    partner: &str,
) -> Result<Response, Response> {
    if partner != "Apple" {
        return Err(bad(
            "invalid_parameter_partner",
            "The partner parameter value is missing or invalid.",
        ));
    }
    let mut p = form_body(ctx.req)?;
    let pfs = parse_pfs(ctx.req, ctx.now);
    let enabled = model.cfg.partner_sso_enabled;
    if let (true, Pfs::Granted { provider }) = (enabled, &pfs) {
        if model.is_known_mvpd(provider) {
            let seed_id = if model.is_degraded(provider) {
                seed::PARTNER_DEGRADED_SESSION_ID
            } else {
                seed::PARTNER_PROFILE_SESSION_ID
            };
            if let Some(a) = shortcut(model, ctx, client, device, sp, provider, |m| {
                m.session_id(seed_id)
            }) {
                return a.ok();
            }
        }
    }
    let provider = match &pfs {
        Pfs::Granted { provider } => Some(provider.clone()),
        Pfs::Invalid { provider } | Pfs::NotGranted { provider } => provider.clone(),
    }
    .filter(|m| model.is_known_mvpd(m));
    let granted = matches!(pfs, Pfs::Granted { .. }) && provider.is_some();
    // A fallback session goes on with the basic flow for the partner's MVPD (or the default).
    p.mvpd = Some(
        provider
            .clone()
            .unwrap_or_else(|| model.cfg.default_mvpd.clone()),
    );
    let missing = p.domain.is_none() || p.redirect.is_none();
    if missing {
        let s = model.new_session(
            new_session(ctx, sp, client, device, p),
            seed::MISSING_CODE,
            seed::MISSING_SESSION_ID,
            ctx.now,
        );
        return Answer::for_session(&s, "resume", "missing_parameters_fallback").ok();
    }
    let reason = if !enabled {
        "configuration_fallback"
    } else if !granted {
        "pfs_fallback"
    } else {
        let provider = provider.unwrap_or_default();
        return Answer {
            action_name: "partner_profile",
            action_type: "direct",
            reason_type: "none",
            url: Some(format!("/api/v2/{sp}/profiles/sso/{partner}")),
            session_id: model.session_id(seed::PARTNER_PROFILE_SESSION_ID),
            mvpd: Some(provider),
            sp: sp.to_string(),
            authentication_request: true,
            ..Answer::default()
        }
        .ok();
    };
    let s = model.new_session(
        new_session(ctx, sp, client, device, p),
        seed::FALLBACK_CODE,
        seed::FALLBACK_SESSION_ID,
        ctx.now,
    );
    Answer::for_session(&s, "authenticate", reason).ok()
}

/// `POST /api/v2/{sp}/profiles/sso/{partner}`: a SAMLResponse from the partner makes an
/// `appleSSO` profile for the header's provider (201).
fn partner_profile(
    model: &mut Model,
    ctx: &Ctx,
    client: &str,
    device: &str,
    _sp: &str,
    partner: &str,
) -> Result<Response, Response> {
    if partner != "Apple" {
        return Err(bad(
            "invalid_parameter_partner",
            "The partner parameter value is missing or invalid.",
        ));
    }
    check_content_type(ctx.req, Ct::Form).map_err(|m| content_type_error(&m))?;
    let pairs = form::parse(&String::from_utf8_lossy(&ctx.req.body));
    if form::value(&pairs, "SAMLResponse").is_none() {
        return Err(bad(
            "invalid_parameter_saml_response",
            "The SAMLResponse parameter value is missing or invalid.",
        ));
    }
    let Pfs::Granted { provider } = parse_pfs(ctx.req, ctx.now) else {
        return Err(bad(
            "invalid_header_pfs_permission_access_not_granted",
            "The AP-Partner-Framework-Status header does not grant access.",
        ));
    };
    if !model.is_known_mvpd(&provider) {
        return Err(unknown_mvpd());
    }
    let p = model.add_profile(client, device, &provider, "appleSSO", ctx.now);
    Ok(json_response(
        201,
        &J::obj().with("profiles", J::obj().with(&provider, profile_json(&p))),
    ))
}

// ---------------------------------------------------------------- profiles

pub fn profile_json(p: &Profile) -> J {
    J::obj()
        .with("notBefore", p.not_before)
        .with("notAfter", p.not_after)
        .with("issuer", p.issuer.as_str())
        .with("type", p.kind)
        .with(
            "attributes",
            J::obj()
                .with(
                    "userID",
                    J::obj()
                        .with("value", p.user_id.as_str())
                        .with("state", "plain"),
                )
                .with(
                    "mvpd",
                    J::obj()
                        .with("value", p.mvpd.as_str())
                        .with("state", "plain"),
                ),
        )
}

fn profiles_answer(list: &[Profile]) -> Response {
    let map = list
        .iter()
        .fold(J::obj(), |acc, p| acc.with(&p.mvpd, profile_json(p)));
    json_response(200, &J::obj().with("profiles", map))
}

/// `GET /api/v2/{sp}/profiles` and `/profiles/{mvpd}`.
fn profiles(
    model: &mut Model,
    ctx: &Ctx,
    client: &str,
    device: &str,
    mvpd: Option<&str>,
) -> Result<Response, Response> {
    let mut list = model.profiles(client, device, ctx.now);
    if let Some(m) = mvpd {
        list.retain(|p| p.mvpd == m);
    }
    Ok(profiles_answer(&list))
}

/// `GET /api/v2/{sp}/profiles/code/{code}`: empty until the code is completed.
fn profiles_by_code(
    model: &mut Model,
    ctx: &Ctx,
    sp: &str,
    code: &str,
) -> Result<Response, Response> {
    let s = model.session(sp, code, ctx.now).map_err(code_error)?;
    let list = match &s.completed {
        Some(mvpd) => model
            .profile(&s.client_id, &s.device, mvpd, ctx.now)
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    Ok(profiles_answer(&list))
}

// ---------------------------------------------------------------- configuration

fn configuration(model: &mut Model, ctx: &Ctx, sp: &str) -> Result<Response, Response> {
    let info = check_device_info(ctx.req)?;
    let f = |k: &str| info.as_ref().and_then(|v| json::get_text(v, k));
    let mut mvpds: Vec<model::Mvpd> = model.mvpds.clone();
    for d in &model.cfg.degraded_mvpds {
        if !mvpds.iter().any(|m| &m.id == d) {
            mvpds.push(model::Mvpd {
                id: d.clone(),
                display_name: d.clone(),
                temp_pass: false,
                proxy: false,
            });
        }
    }
    let list = mvpds
        .iter()
        .map(|m| {
            J::obj()
                .with("id", m.id.as_str())
                .with("displayName", m.display_name.as_str())
                .with(
                    "logoUrl",
                    format!(
                        "https://entitlement.auth.adobe.com/entitlement/noLogo.png?mvpd={}",
                        form::encode(&m.id)
                    ),
                )
                .with("isTempPass", m.temp_pass)
                .with("isProxy", m.proxy)
                .with("boardingStatus", "PICKER")
                .with("platformMappingId", m.id.as_str())
                .with("enablePlatformServices", false)
                .with("displayInPlatformPicker", true)
                .with("enforcePlatformPermissions", false)
        })
        .collect::<Vec<_>>();
    let body = J::obj()
        .with(
            "device",
            f("primaryHardwareType").unwrap_or_else(|| "Unknown".into()),
        )
        .with("clientType", "REST_V2")
        .with("os", f("osName").unwrap_or_else(|| "Unknown".into()))
        .with(
            "requestor",
            J::obj()
                .with("id", sp)
                .with("name", format!("{sp} (emulated)"))
                .with(
                    "domains",
                    J::Arr(vec![
                        J::obj()
                            .with("name", "adobe.com")
                            .with("mvpdInitiated", true),
                        J::obj()
                            .with("name", "example.com")
                            .with("mvpdInitiated", false),
                    ]),
                )
                .with("mvpds", J::Arr(list)),
        );
    Ok(json_response(200, &body))
}

// ---------------------------------------------------------------- decisions

fn decisions(
    model: &mut Model,
    ctx: &Ctx,
    client: &str,
    device: &str,
    sp: &str,
    mvpd: &str,
    authorize: bool,
) -> Result<Response, Response> {
    check_content_type(ctx.req, Ct::Json).map_err(|m| content_type_error(&m))?;
    let resources: Option<Vec<String>> =
        json::parse(&ctx.req.body)
            .as_ref()
            .and_then(|v| match json::get(v, "resources") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|r| match r {
                        Value::String(s) if !s.is_empty() => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            });
    let Some(resources) = resources.filter(|r| !r.is_empty()) else {
        return Err(bad(
            "invalid_parameter_resources",
            "The resources parameter value is missing or invalid.",
        ));
    };
    if resources.len() > MAX_RESOURCES {
        return Err(error(
            403,
            "configuration",
            "too_many_resources",
            "The request contains more resources than allowed.",
        ));
    }
    if !model.is_known_mvpd(mvpd) {
        return Err(unknown_mvpd());
    }
    let Some(profile) = model.profile(client, device, mvpd, ctx.now) else {
        return Err(error(
            403,
            "authentication",
            "authenticated_profile_missing",
            "The authenticated profile is missing; the user must authenticate.",
        ));
    };
    let source = match profile.kind {
        "degraded" => "degradation",
        "temporary" => "temppass",
        _ => "mvpd",
    };
    let now = ctx.now;
    let items = resources
        .iter()
        .map(|r| {
            let item = J::obj()
                .with("resource", r.as_str())
                .with("serviceProvider", sp)
                .with("mvpd", mvpd)
                .with("source", source);
            if r.starts_with("denied") {
                let code = if authorize {
                    "authorization_denied_by_mvpd"
                } else {
                    "preauthorization_denied_by_mvpd"
                };
                let err = enhanced(
                    403,
                    "none",
                    code,
                    "The MVPD has returned a Deny decision when requesting authorization for the specified resource.",
                )
                .with("details", format!("Your subscription package does not include the {r} channel."));
                return item.with("authorized", false).with("error", err);
            }
            let mut item = item.with("authorized", true);
            if authorize {
                item = item.with(
                    "token",
                    J::obj()
                        .with("notBefore", now)
                        .with("notAfter", now.saturating_add(MEDIA_TOKEN_TTL_MS))
                        .with("serializedToken", media_token(sp, mvpd, r, now)),
                );
            }
            item.with("notBefore", now)
                .with("notAfter", now.saturating_add(DECISION_TTL_MS).min(profile.not_after.max(now)))
        })
        .collect::<Vec<_>>();
    Ok(json_response(
        200,
        &J::obj().with("decisions", J::Arr(items)),
    ))
}

fn media_token(sp: &str, mvpd: &str, resource: &str, now: u64) -> String {
    let raw = format!(
        "<mediaToken><requestor>{sp}</requestor><mvpd>{mvpd}</mvpd><resource>{resource}</resource><expires>{}</expires><signature>{}</signature></mediaToken>",
        now.saturating_add(MEDIA_TOKEN_TTL_MS),
        ids::hex(&ids::bytes(16))
    );
    base64::engine::general_purpose::STANDARD.encode(raw)
}

// ---------------------------------------------------------------- logout

fn logout(
    model: &mut Model,
    ctx: &Ctx,
    client: &str,
    device: &str,
    sp: &str,
    mvpd: &str,
) -> Result<Response, Response> {
    let q = form::parse(&ctx.req.query);
    let redirect = form::value(&q, "redirectUrl").unwrap_or_default();
    let entry = J::obj();
    let entry = match model.remove_profile(client, device, mvpd, ctx.now) {
        Some(p) if p.kind == "regular" => entry
            .with("actionName", "logout")
            .with("actionType", "interactive")
            .with("mvpd", mvpd)
            .with(
                "url",
                format!(
                    "/adobe-services/logout?noflash=true&mso_id={}&requestor_id={}&redirect_url={}",
                    form::encode(mvpd),
                    form::encode(sp),
                    form::encode(redirect)
                ),
            ),
        Some(p) if p.kind == "appleSSO" => entry
            .with("actionName", "partner_logout")
            .with("actionType", "partner_interactive")
            .with("mvpd", mvpd),
        Some(_) => entry
            .with("actionName", "complete")
            .with("actionType", "none")
            .with("mvpd", mvpd),
        None => entry
            .with("actionName", "invalid")
            .with("actionType", "none")
            .with("mvpd", mvpd),
    };
    Ok(json_response(
        200,
        &J::obj().with("logouts", J::obj().with(mvpd, entry)),
    ))
}

// ---------------------------------------------------------------- browser pages

/// `GET /api/v2/authenticate/{sp}/{code}`: stands in for the MVPD login on the second screen.
fn browser_authenticate(shared: &Shared, ctx: &Ctx, sp: &str, code: &str) -> Response {
    let q = form::parse(&ctx.req.query);
    let mut model = lock(&shared.model);
    let redirect = match model.session(sp, code, ctx.now) {
        Ok(s) => s.redirect.clone(),
        Err(_) => return html(400, "Unknown or expired authentication code."),
    };
    match model.complete(code, form::value(&q, "mvpd"), ctx.now) {
        Ok(mvpd) => match redirect {
            Some(url) => Response::new(302, "text/html", Vec::new()).header("Location", &url),
            None => html(
                200,
                &format!("Authenticated with {mvpd}. You may close this page."),
            ),
        },
        Err(_) => html(400, "Unknown or expired authentication code."),
    }
}

/// `GET /adobe-services/logout?…&redirect_url=…`: the MVPD logout page.
fn browser_logout(ctx: &Ctx) -> Response {
    let q = form::parse(&ctx.req.query);
    match form::value(&q, "redirect_url") {
        Some(url) => Response::new(302, "text/html", Vec::new()).header("Location", url),
        None => html(200, "Logged out."),
    }
}
