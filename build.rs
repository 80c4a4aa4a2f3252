//! Records when the binary was built (or `SOURCE_DATE_EPOCH` for reproducible builds), so a TLS
//! failure on a box whose clock is earlier than that can be blamed on the clock.
//!
//! On x86_64 glibc it also links the binary with packed relative relocations (DT_RELR): the PIE's
//! thousands of 24-byte RELA entries become a bitmap a few KB long, so the binary is smaller (-118
//! KB) and ld.so reads and dirties fewer pages at start (`cargo bench`: peak RSS -120 KiB). It needs
//! glibc >= 2.36 on the box (the binary already needs 2.34); `TVAUTH_RELR=0` turns it off. Not on
//! ARM: Debian 12's binutils 2.40 ignores the flag there (and cross's 0.2.5 images predate it).
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

    println!("cargo:rerun-if-env-changed=TVAUTH_RELR");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("TVAUTH_RELR") != "0"
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
