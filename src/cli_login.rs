//! `tvauth login`: start a session through the daemon, show the code, the URL (and a QR code of it) for
//! the second screen, then follow `auth.changed` until authenticated or the code expires.

use std::time::Duration;

use miniserde::json::Value;

use crate::cli::{Args, CliError, connect, describe_status, field, fmt_ms, plain};
use crate::ipc::client::ClientError;
use crate::ipc::protocol::{obj, string};

pub fn login(args: &Args) -> Result<(), CliError> {
    let mut client = connect(args)?;
    let err = |e: ClientError| CliError::Runtime(e.to_string());
    client.call("events.subscribe", None).map_err(err)?;
    let params = args
        .mvpd
        .as_ref()
        .map(|m| obj([("mvpd", string(m.clone()))]));
    let session = client.call("session.create", params).map_err(err)?;
    let s = |k: &str| field(&session, k).map(plain).unwrap_or_default();
    match s("actionName").as_str() {
        "authenticate" if !s("code").is_empty() => {}
        "authorize" => {
            println!("already entitled ({}) with {}", s("reasonType"), s("mvpd"));
            let st = client.call("auth.status", None).map_err(err)?;
            println!("{}", describe_status(&st));
            return Ok(());
        }
        "resume" | "retry" => {
            let missing = field(&session, "missingParameters")
                .map(plain)
                .unwrap_or_default();
            return Err(CliError::Runtime(format!(
                "the session needs parameters the agent does not know: {missing}; pass --mvpd or set pass.domain_name / pass.redirect_url"
            )));
        }
        other => {
            return Err(CliError::Runtime(format!(
                "unexpected session answer `{other}` ({})",
                s("reasonType")
            )));
        }
    }
    let code = s("code");
    let url = s("fullUrl");
    println!("On your phone or computer, open:\n\n    {url}\n");
    println!(
        "Code: {code}   (valid until {})\n",
        fmt_ms(field(&session, "notAfter"))
    );
    #[cfg(feature = "qr")]
    if !args.no_qr {
        if let Some(qr) = crate::qr::render(&url) {
            println!("{qr}");
        }
    }
    println!("Waiting for the sign-in to complete…");

    // Wait for auth.changed; re-check the status now and then in case a notification was missed.
    client
        .set_timeout(Some(Duration::from_secs(30)))
        .map_err(err)?;
    loop {
        let status = match client.next_notification() {
            Ok(n) => field(&n, "params").cloned().unwrap_or(Value::Null),
            Err(ClientError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                client.call("auth.status", None).map_err(err)?
            }
            Err(e) => return Err(err(e)),
        };
        let state = field(&status, "state").map(plain).unwrap_or_default();
        let still_pending = match state.as_str() {
            "pending" => true,
            "authenticated" => field(&status, "pending").is_some(),
            _ => false,
        };
        if still_pending {
            continue;
        }
        println!("{}", describe_status(&status));
        return match state.as_str() {
            "authenticated" => Ok(()),
            _ => Err(CliError::Runtime(format!(
                "code {code} expired or was replaced before sign-in completed"
            ))),
        };
    }
}
