//! The agent writes state files only when what they hold changes: a `profile.get {refresh}` that
//! brings back the same profile must not rewrite (fsync) the profile file — on a box's flash that is
//! wear and latency on every refresh.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::*;
use tvauth_emulator::{Emulator, Options};

#[test]
fn unchanged_profiles_are_not_rewritten_and_changed_ones_are() {
    let emu = Emulator::start(Options {
        throttle: None,
        ..Default::default()
    });
    let mut d = Daemon::prepare(
        Some((&emu.base_url(), &emu.ca_pem())),
        DaemonOpts {
            pass: "throttle_per_sec = 100\nthrottle_burst = 100\n".into(),
            ..Default::default()
        },
    );
    d.start();
    let session = d
        .call("session.create", r#"{"mvpd":"Cablevision"}"#)
        .unwrap();
    assert!(emu.complete_code(&s(&session, "code"), "Cablevision"));
    // The poller publishes the new state first and writes the files right after, outside the
    // state lock; so wait for the files too (under qemu the gap is visible).
    let profile = d.state.join("profile");
    let authenticated = wait_until(Duration::from_secs(20 * slow() as u64), || {
        let st = d.call("auth.status", "").unwrap();
        s(&st, "state") == "authenticated"
            && !has(&st, "pending")
            && profile.exists()
            && !d.state.join("pending").exists()
    });
    assert!(authenticated, "log:\n{}", d.log_text());
    let inode = || std::fs::metadata(&profile).map(|m| m.ino()).ok();
    let before = inode();
    assert!(before.is_some(), "no profile file after sign-in");
    assert!(!d.state.join("pending").exists());

    // Same answer from the API: the file (replaced atomically on every write) is left alone.
    let mut c = d.client();
    for _ in 0..3 {
        let p = c
            .call(
                "profile.get",
                Some(miniserde::json::from_str(r#"{"refresh":true}"#).unwrap()),
            )
            .unwrap();
        assert!(has(get(&p, "profiles"), "Cablevision"));
    }
    assert_eq!(inode(), before, "profile file rewritten although unchanged");

    // A different answer is saved: the profile is gone upstream, so is the file.
    emu.clear_profiles();
    let p = c
        .call(
            "profile.get",
            Some(miniserde::json::from_str(r#"{"refresh":true}"#).unwrap()),
        )
        .unwrap();
    assert!(!has(get(&p, "profiles"), "Cablevision"));
    assert_eq!(
        s(&c.call("auth.status", None).unwrap(), "state"),
        "unauthenticated"
    );
    assert_eq!(inode(), None, "profile file kept after the profile ended");
    assert_eq!(d.stop(), Some(0));
}
