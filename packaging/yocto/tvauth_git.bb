# Yocto/OpenEmbedded recipe for tvauth. UNTESTED: no BitBake build was run (see README.md here).
#
# Needs a Rust toolchain >= 1.85 (edition 2024, rust-version = "1.85"): OE-core's own `rust` recipe
# is too old on kirkstone (1.59) and scarthgap (1.75); use a newer release, meta-lts-mixins
# (scarthgap/rust branch) or meta-rust-bin.
#
# Crates: `require tvauth-crates.inc` lists every crate of Cargo.lock as crate:// SRC_URI with its
# sha256. Generate it with `bitbake -c update_crates tvauth` (cargo-update-recipe-crates class) or,
# without BitBake, `packaging/yocto/crates-inc.sh > tvauth-crates.inc`; redo it whenever
# Cargo.lock changes.

SUMMARY = "Device-side Adobe Pass (TV Everywhere) authentication agent"
DESCRIPTION = "tvauth keeps the device's Adobe Pass identity, DCR credentials and authentication \
state, and serves UI/player processes over a JSON-RPC Unix socket."
HOMEPAGE = "https://git.example.invalid/tvauth"
SECTION = "net"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

SRC_URI = "git://git.example.invalid/tvauth.git;protocol=https;branch=main"
# Pin the commit you ship; AUTOREV breaks reproducibility and the crate list.
SRCREV = "0000000000000000000000000000000000000000"
PV = "0.1.0+git"
S = "${WORKDIR}/git"

inherit cargo cargo-update-recipe-crates systemd useradd

require ${BPN}-crates.inc

# Cargo.lock is committed; never let the build re-resolve dependencies.
CARGO_BUILD_FLAGS:append = " --locked"
# build.rs reads SOURCE_DATE_EPOCH (reproducible builds); BitBake exports it already.

# ring compiles C and assembly with the target cross compiler that the cargo class exports
# (TARGET_CC via cc-rs); no cmake/clang/perl needed.

do_install:append() {
    install -d ${D}${systemd_system_unitdir} ${D}${sysconfdir}/tvauth \
               ${D}${nonarch_libdir}/sysusers.d ${D}${docdir}/${BPN}
    install -m 0644 ${S}/packaging/tvauth.service ${D}${systemd_system_unitdir}/tvauth.service
    install -m 0644 ${S}/packaging/tvauth.toml ${D}${sysconfdir}/tvauth/tvauth.toml
    install -m 0644 ${S}/packaging/tvauth.sysusers ${D}${nonarch_libdir}/sysusers.d/tvauth.conf
    install -m 0644 ${S}/packaging/README.md ${D}${docdir}/${BPN}/README.md
}

# The unit runs as tvauth:tvauth-clients. Create them at image build time (useradd class) so a
# read-only rootfs works; the sysusers.d file is shipped too, for images that run systemd-sysusers.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system tvauth-clients"
USERADD_PARAM:${PN} = "--system --user-group --home-dir /var/lib/tvauth --no-create-home \
                       --shell /sbin/nologin --comment 'tvauth authentication agent' tvauth"

SYSTEMD_SERVICE:${PN} = "tvauth.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

CONFFILES:${PN} = "${sysconfdir}/tvauth/tvauth.toml"
FILES:${PN} += "${nonarch_libdir}/sysusers.d/tvauth.conf"

# state_dir (/var/lib/tvauth) must be persistent storage: with a volatile /var (VOLATILE_LOG_DIR,
# read-only rootfs) bind it to a data partition, or the device fingerprint changes every boot.
