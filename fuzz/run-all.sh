#!/bin/sh
# Targets for [seconds] each (default 600), one after the other (one fuzzer at a time: the machine is
# shared): ./run-all.sh [seconds] [target...] (default: every target). Logs in fuzz/logs/<target>.log;
# summarise with ./summary.sh.
set -u
cd "$(dirname "$0")"
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-rpc_request rpc_dispatch pass_session pass_profiles pass_decisions pass_errors \
pass_configuration config_parse device_info}
mkdir -p logs
for t in $targets; do
    ./run.sh "$t" "$secs" > "logs/$t.log" 2>&1
    echo "$t exit $?" >> logs/run-all.status
done
