#!/bin/sh
# Run one fuzz target with its options: fuzz/run.sh <target> [seconds] (default 600).
# New inputs go to fuzz/work/<target>/ (not committed); fuzz/corpus/<target>/ is the committed seed set.
# Crashes land in fuzz/artifacts/<target>/. Needs: rustup nightly, cargo install cargo-fuzz --locked.
set -eu
cd "$(dirname "$0")"
target=$1
secs=${2:-600}
case $target in
    rpc_request | pass_*) opts="-dict=dicts/json.dict -max_len=65536" ;;
    rpc_dispatch) opts="-dict=dicts/json.dict -max_len=8192" ;;
    config_parse) opts="-dict=dicts/toml.dict -max_len=8192" ;;
    device_info) opts="-max_len=20000" ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
mkdir -p "work/$target"
# -timeout: a hang (a blocking read, a loop) is a finding too.
exec cargo +nightly fuzz run "$target" "work/$target" "corpus/$target" -- \
    $opts -max_total_time="$secs" -timeout=10 -print_final_stats=1
