#!/usr/bin/env bash
# Build, test (under qemu-user) or package tvauth for a target WITHOUT Docker, with Debian 12's
# rustc-web 1.85 and its per-architecture standard libraries. See cross/README.md.
#
#   cross/debian.sh <target> [build|test|package]      (default: build)
#
# package: a .deb for the gnu targets (cargo-deb); a tarball of the same files for the static musl
# ones (target/musl/tvauth-<version>-<target>.tar.gz, with the OpenWrt init script as well).
#
# targets: aarch64-unknown-linux-gnu  armv7-unknown-linux-gnueabihf  x86_64-unknown-linux-gnu
#          aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf (static; rustup 1.85.0 + musl std,
#                                                                     installed on first use)
#
# Idempotent: the apt step only runs when a pinned package is missing, and then fails loudly if the
# mirror cannot provide it. Exit status: 0 ok, 2 usage, 3 toolchain/packages unavailable, else the
# failing cargo's status (101 for failed tests).
#
# Environment knobs:
#   TVAUTH_APT=0            never call apt (fail if something is missing)
#   TVAUTH_RUST_DEB_VERSION rustc-web/libstd-rust-web-dev version to pin (default below); set it
#                           when Debian replaces the 1.85 build in bookworm-security
#   TVAUTH_TOOLS=DIR        where cargo-deb is installed (default ~/.cache/tvauth-tools)
#   CARGO_TARGET_DIR        as usual
#   extra args after the action are passed to cargo (e.g. `test -- --nocapture`)
set -euo pipefail

# rustc-web / libstd-rust-web-dev: pin them ALL, or apt drifts to 1.9x and the libstd no longer matches.
RUST_V=${TVAUTH_RUST_DEB_VERSION:-1.85.0+dfsg3-1~deb12u3}
LZMA_V=5.4.1-1+deb12u1          # multiarch liblzma5 must match across amd64/arm64/armhf
CARGO_DEB_V=3.8.0               # last cargo-deb whose MSRV is 1.85

die() {
    local code=$1
    shift
    printf '\n*** cross/debian.sh: ERROR: %s\n\n' "$*" >&2
    exit "$code"
}
log() { printf '==> %s\n' "$*" >&2; }

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}

[ $# -ge 1 ] || usage
target=$1
action=${2:-build}
shift $(($# >= 2 ? 2 : 1))
case $action in build | test | package) ;; *) usage ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Per-target facts: Debian arch, cross gcc prefix, qemu runner, and whether Debian ships the std.
case $target in
aarch64-unknown-linux-gnu) deb_arch=arm64 gcc=aarch64-linux-gnu qemu=qemu-aarch64 libc=gnu ;;
armv7-unknown-linux-gnueabihf) deb_arch=armhf gcc=arm-linux-gnueabihf qemu=qemu-arm libc=gnu ;;
x86_64-unknown-linux-gnu) deb_arch=amd64 gcc='' qemu='' libc=gnu ;;
aarch64-unknown-linux-musl) deb_arch=arm64 gcc=aarch64-linux-gnu qemu=qemu-aarch64 libc=musl ;;
armv7-unknown-linux-musleabihf) deb_arch=armhf gcc=arm-linux-gnueabihf qemu=qemu-arm libc=musl ;;
*) echo "unknown target: $target" >&2 && usage ;;
esac
host_arch=$(dpkg --print-architecture)
[ "$host_arch" = amd64 ] || die 3 "this script expects an amd64 Debian 12 host (found $host_arch)"

# ---------------------------------------------------------------------------------------------
# apt: the packages this target needs, with exact versions for everything Rust.
pkgs=("rustc-web=$RUST_V" "libstd-rust-web-dev:amd64=$RUST_V" "liblzma5:amd64=$LZMA_V")
if [ "$deb_arch" != amd64 ]; then
    pkgs+=(qemu-user "gcc-$gcc" "libc6-dev-$deb_arch-cross")
    [ "$libc" = gnu ] && pkgs+=("libstd-rust-web-dev:$deb_arch=$RUST_V" "liblzma5:$deb_arch=$LZMA_V")
fi
[ "$action" = package ] && pkgs+=(dpkg-dev) # dpkg-shlibdeps, used by cargo-deb for Depends

installed_ok() { # pkg[:arch][=version]
    local spec=$1 name ver got
    name=${spec%%=*}
    ver=
    [ "$name" != "$spec" ] && ver=${spec#*=}
    got=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null) || return 1
    case $got in "install ok installed "*) ;; *) return 1 ;; esac
    [ -z "$ver" ] || [ "${got##* }" = "$ver" ]
}

retry() { # retry N cmd...: N attempts, 15 s, 30 s, ... apart (the mirror may be mid-sync)
    local n=$1 i=1
    shift
    until "$@"; do
        [ $i -ge "$n" ] && return 1
        log "attempt $i of $n failed: $*; retrying in $((15 * i)) s"
        sleep $((15 * i))
        i=$((i + 1))
    done
}

apt_setup() {
    local missing=() p
    for p in "${pkgs[@]}"; do installed_ok "$p" || missing+=("$p"); done
    if [ ${#missing[@]} -eq 0 ]; then
        log "toolchain packages present (rustc-web $RUST_V)"
        return
    fi
    log "missing: ${missing[*]}"
    [ "${TVAUTH_APT:-1}" != 0 ] || die 3 "packages missing and TVAUTH_APT=0: ${missing[*]}"
    [ "$(id -u)" = 0 ] || die 3 "packages missing and not root (apt needs root): ${missing[*]}"
    if [ "$deb_arch" != amd64 ] && ! dpkg --print-foreign-architectures | grep -qx "$deb_arch"; then
        dpkg --add-architecture "$deb_arch"
    fi
    # `apt-get update` exits 100 when ANY index fails; on bookworm the armhf security index is
    # often mid-sync. That alone is not fatal: what matters is that the pinned versions are known.
    # So: retry update, then check availability, and fail loudly if they are not.
    local upd_ok=0
    for i in 1 2 3; do
        if apt-get -o DPkg::Lock::Timeout=300 update; then
            upd_ok=1
            break
        fi
        log "apt-get update attempt $i failed (partly stale mirror?)"
        [ $i -lt 3 ] && sleep $((15 * i))
    done
    [ $upd_ok = 1 ] || log "WARNING: apt-get update never fully succeeded; checking the pinned versions anyway"
    local unavailable=()
    for p in "${missing[@]}"; do
        local name=${p%%=*} ver=
        [ "$name" != "$p" ] && ver=${p#*=}
        if [ -n "$ver" ]; then
            apt-cache madison "$name" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "$ver" ||
                unavailable+=("$p")
        else
            apt-cache show "$name" >/dev/null 2>&1 || unavailable+=("$p")
        fi
    done
    [ ${#unavailable[@]} -eq 0 ] || die 3 "the apt mirror cannot provide: ${unavailable[*]}
    (unreachable or mid-sync mirror). NOT skipping: fix the network/mirror and re-run."
    retry 3 env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y \
        --no-install-recommends "${missing[@]}" ||
        die 3 "apt-get install failed after 3 attempts: ${missing[*]}"
    for p in "${missing[@]}"; do installed_ok "$p" || die 3 "still not installed after apt: $p"; done
}
apt_setup

# ---------------------------------------------------------------------------------------------
# Compiler selection and cargo environment.
TUP=$(echo "$target" | tr 'a-z-' 'A-Z_') # CARGO_TARGET_<TUP>_*
tlow=${target//-/_}                      # CC_<tlow> (cc-rs, for ring's C/asm)

if [ "$libc" = gnu ]; then
    export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
    [ -d "/usr/lib/rustlib/$target/lib" ] || die 3 "no Debian std for $target in /usr/lib/rustlib"
else
    # Debian ships no musl std: use rustup's 1.85.0 (the MSRV) with the target's std, installing
    # it when missing (Rust's download server, with retries; fails loudly, never skips).
    # TVAUTH_MUSL_TOOLCHAIN names another already-installed toolchain to use instead.
    command -v rustup >/dev/null || die 3 "musl needs rustup (Debian has no musl std); see cross/README.md"
    tc=${TVAUTH_MUSL_TOOLCHAIN:-1.85.0}
    if ! rustup target list --installed --toolchain "$tc" 2>/dev/null | grep -qx "$target"; then
        [ -z "${TVAUTH_MUSL_TOOLCHAIN:-}" ] || die 3 "toolchain $tc has no $target std installed"
        log "installing rustup toolchain $tc with the $target std"
        retry 3 rustup toolchain install "$tc" --profile minimal --target "$target" ||
            die 3 "cannot install rustup toolchain $tc with the $target std (Rust download server
    unreachable?). NOT skipping: fix the network and re-run."
        rustup target list --installed --toolchain "$tc" | grep -qx "$target" ||
            die 3 "rustup toolchain $tc still lacks the $target std"
    fi
    RUSTC=$(rustup which --toolchain "$tc" rustc)
    RUSTDOC=$(rustup which --toolchain "$tc" rustdoc)
    export RUSTC RUSTDOC
    # Static binary linked by rust-lld with the target's self-contained musl crt; ring's C code
    # is compiled by the glibc cross gcc (freestanding code, no libc headers involved at link).
    export "CARGO_TARGET_${TUP}_LINKER=rust-lld"
    log "musl toolchain: $tc ($RUSTC)"
fi
if [ -n "$gcc" ]; then
    [ "$libc" = gnu ] && export "CARGO_TARGET_${TUP}_LINKER=$gcc-gcc"
    export "CC_${tlow}=$gcc-gcc" "AR_${tlow}=$gcc-ar"
fi
if [ -n "$qemu" ]; then
    # NO `-L /usr/<triple>`: with Debian 12's cross libc, pthread_create hangs under qemu 7.2.
    # Without -L, qemu uses the multiarch libc6:<arch> (pulled in by libstd-rust-web-dev:<arch>).
    export "CARGO_TARGET_${TUP}_RUNNER=$qemu"
    # Integration tests spawn the built tvauth binary; it is an ARM binary, so the spawn helper
    # prefixes the command with this (contract in cross/README.md).
    export TVAUTH_TEST_RUNNER=$qemu
fi
log "$action $target with $($RUSTC -V)"

cargo_args=(--locked --target "$target")
bin=${CARGO_TARGET_DIR:-target}/$target/release/tvauth # what `build` and `package` produce
start=$SECONDS
case $action in
build)
    cargo build --release "${cargo_args[@]}" "$@"
    log "built $bin ($(stat -c %s "$bin") bytes) in $((SECONDS - start)) s"
    ;;
test)
    # The root package: unit tests of lib and bin, and every tests/*.rs integration test, under qemu.
    # Doctests are not run here: cargo >= 1.89 cross-runs them with `rustdoc --test-runtool`, an
    # option Debian's rustdoc 1.85 does not have (and rustup's rustdoc cannot read 1.85 metadata).
    # They are target-independent and run in the native `cargo test`.
    cargo test "${cargo_args[@]}" --lib --bins --tests "$@"
    log "tests passed for $target in $((SECONDS - start)) s"
    ;;
package)
    if [ "$libc" = musl ]; then
        # Static binaries go to boxes without dpkg (OpenWrt, busybox/Yocto images): a tarball laid
        # out like the .deb, to unpack at / (or into an image's rootfs).
        cargo build --release "${cargo_args[@]}" "$@"
        out=${CARGO_TARGET_DIR:-target}/musl
        stage=$out/stage-$target
        rm -rf "$stage"
        install -Dm755 "$bin" "$stage/usr/bin/tvauth"
        install -Dm644 packaging/tvauth.toml "$stage/etc/tvauth/tvauth.toml"
        install -Dm644 packaging/tvauth.service "$stage/usr/lib/systemd/system/tvauth.service"
        install -Dm644 packaging/tvauth.sysusers "$stage/usr/lib/sysusers.d/tvauth.conf"
        install -Dm755 packaging/openwrt/tvauth.init "$stage/etc/init.d/tvauth"
        install -Dm644 packaging/README.md "$stage/usr/share/doc/tvauth/README.md"
        version=$(awk -F'"' '/^version *=/ { print $2; exit }' Cargo.toml)
        tgz=$out/tvauth-$version-$target.tar.gz
        tar --owner=0 --group=0 --sort=name --mtime=@"${SOURCE_DATE_EPOCH:-0}" -C "$stage" \
            -czf "$tgz" etc usr
        rm -rf "$stage"
        log "package: $tgz ($(stat -c %s "$tgz") bytes) in $((SECONDS - start)) s"
        echo "$tgz"
        exit 0
    fi
    tools=${TVAUTH_TOOLS:-$HOME/.cache/tvauth-tools}
    if ! "$tools/bin/cargo-deb" --version 2>/dev/null | grep -q " $CARGO_DEB_V\$"; then
        log "installing cargo-deb $CARGO_DEB_V into $tools (host tool, default toolchain)"
        retry 3 env -u RUSTC -u RUSTDOC cargo install cargo-deb --locked --version "$CARGO_DEB_V" \
            --root "$tools" || die 3 "cannot install cargo-deb $CARGO_DEB_V from crates.io"
    fi
    cargo build --release "${cargo_args[@]}"
    # strip=true in the release profile already; --no-strip avoids needing <triple>-strip.
    out=${CARGO_TARGET_DIR:-target}/debian
    deb=$("$tools/bin/cargo-deb" --no-build --no-strip --target "$target" --output "$out/" "$@" | tail -n1)
    [ -f "$deb" ] || die 1 "cargo-deb did not produce a package"
    # dpkg-shlibdeps derives the libc6 floor from versioned *symbols*; a DT_RELR binary (build.rs,
    # x86_64) also needs the symbol-less version GLIBC_ABI_DT_RELR (glibc 2.36), which it misses:
    # without this the package would install on glibc 2.34/2.35 and the binary would not start.
    if objdump -p "$bin" | grep GLIBC_ABI_DT_RELR >/dev/null; then
        fix=$(mktemp -d)
        chmod 755 "$fix"
        dpkg-deb -R "$deb" "$fix"
        sed -i -E 's/(^Depends:.*)libc6 \(>= 2\.3[0-5]\)/\1libc6 (>= 2.36)/' "$fix/DEBIAN/control"
        grep -q '^Depends:.*libc6 (>= 2.36)' "$fix/DEBIAN/control" ||
            die 1 "cannot raise the libc6 floor to 2.36 in $deb: $(grep '^Depends' "$fix/DEBIAN/control")"
        dpkg-deb --root-owner-group -Zxz -b "$fix" "$deb" >/dev/null
        rm -rf "$fix"
        log "Depends raised to libc6 (>= 2.36): the binary uses DT_RELR"
    fi
    log "package: $deb ($(stat -c %s "$deb") bytes) in $((SECONDS - start)) s"
    echo "$deb"
    ;;
esac
