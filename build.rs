//! Records when the binary was built (or `SOURCE_DATE_EPOCH` for reproducible builds), so a TLS
//! failure on a box whose clock is earlier than that can be blamed on the clock.
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=TVAUTH_BUILD_EPOCH={epoch}");
}
