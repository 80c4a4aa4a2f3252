#!/bin/sh
# Line coverage of the product files a target exercises, from its corpus (committed seeds + work/):
# ./coverage.sh <target>. Needs: rustup component add llvm-tools-preview --toolchain nightly.
set -eu
cd "$(dirname "$0")"
t=$1
case $t in
    rpc_request) files="ipc/protocol.rs json_depth.rs" ;;
    rpc_dispatch) files="agent/mod.rs pass/legacy.rs pass/form.rs" ;;
    pass_*) files="pass/model.rs pass/error.rs" ;;
    config_parse) files="config.rs" ;;
    device_info) files="device/facts.rs device/info.rs device/identity.rs" ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
esac
mkdir -p "work/$t"
cargo +nightly fuzz coverage "$t" "work/$t" "corpus/$t" > "logs/coverage-$t.log" 2>&1
llvm=$(rustc +nightly --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin
paths=$(for f in $files; do printf '%s ' "$(cd .. && pwd)/src/$f"; done)
# shellcheck disable=SC2086
"$llvm/llvm-cov" report "target/x86_64-unknown-linux-gnu/coverage/x86_64-unknown-linux-gnu/release/$t" \
    -instr-profile="coverage/$t/coverage.profdata" $paths |
    awk 'NR > 2 && $1 != "TOTAL" && NF > 9 { printf "%s %s lines (%d/%d)\n", $1, $10, $8 - $9, $8 }'
