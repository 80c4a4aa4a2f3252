#!/bin/sh
# Every target for [seconds] each (default 600), one after the other (one fuzzer at a time: the
# machine is shared), logs in fuzz/logs/<target>.log. Then summarise with fuzz/summary.sh.
set -u
cd "$(dirname "$0")"
secs=${1:-600}
mkdir -p logs
for t in rpc_request rpc_dispatch pass_session pass_profiles pass_decisions pass_errors \
    pass_configuration config_parse device_info; do
    ./run.sh "$t" "$secs" > "logs/$t.log" 2>&1
    echo "$t exit $?" >> logs/run-all.status
done
