#!/bin/sh
# Line coverage of the product code a target exercises, from its corpus (committed seeds + work/):
# ./coverage.sh <target>. For src/pass/model.rs only the sections (`// ---- name` markers) of the
# target's answer family count. Needs: rustup component add llvm-tools-preview --toolchain nightly.
set -eu
cd "$(dirname "$0")"
t=$1
case $t in
    rpc_request) files="ipc/protocol.rs json_depth.rs" ;;
    rpc_dispatch) files="agent/mod.rs pass/legacy.rs" ;;
    pass_session) files="pass/model.rs:enums,sessions" ;;
    pass_profiles) files="pass/model.rs:profiles,logout" ;;
    pass_decisions) files="pass/model.rs:decisions" ;;
    pass_configuration) files="pass/model.rs:configuration" ;;
    pass_errors) files="pass/error.rs" ;;
    config_parse) files="config.rs" ;;
    device_info) files="device/facts.rs device/info.rs device/identity.rs" ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
esac
mkdir -p "work/$t" logs
cargo +nightly fuzz coverage "$t" "work/$t" "corpus/$t" > "logs/coverage-$t.log" 2>&1
llvm=$(rustc +nightly --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin
src=$(cd .. && pwd)/src
for spec in $files; do
    f=${spec%%:*}
    sections=$(echo "$spec" | sed -n 's/^[^:]*://p')
    "$llvm/llvm-cov" show "target/x86_64-unknown-linux-gnu/coverage/x86_64-unknown-linux-gnu/release/$t" \
        -instr-profile="coverage/$t/coverage.profdata" "$src/$f" |
        python3 -c '
import re, sys
name, wanted = sys.argv[1], [s for s in sys.argv[2].split(",") if s]
section, total, hit = "", 0, 0
for line in sys.stdin:
    m = re.match(r"\s*(\d+)\|\s*([0-9.kMG]*)\|(.*)", line)
    if not m:
        continue
    code = m.group(3)
    s = re.match(r"// -{10,} (\w+)", code)
    if s:
        section = s.group(1)
    if code.startswith("#[cfg(test)]"):
        section = "tests"
    if section == "tests" or (wanted and section not in wanted):
        continue
    if m.group(2):
        total += 1
        hit += m.group(2) != "0"
label = name + (" (" + ", ".join(wanted) + ")" if wanted else "")
print("%s: %.1f%% of lines (%d/%d)" % (label, 100.0 * hit / max(total, 1), hit, total))
' "$f" "$sections"
done
