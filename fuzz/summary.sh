#!/bin/sh
# Markdown table of the last run of each target, from fuzz/logs/<target>.log (written by run-all.sh).
cd "$(dirname "$0")"
echo "| target | seconds | execs | exec/s | edges (cov) | features (ft) | corpus (files/bytes) | peak RSS MB | crashes |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
for log in logs/*.log; do
    case $log in logs/coverage-*) continue ;; esac
    t=$(basename "$log" .log)
    done_line=$(grep -a '^Done ' "$log" | tail -1)
    runs=$(echo "$done_line" | awk '{print $2}')
    secs=$(echo "$done_line" | awk '{print $5}')
    last=$(grep -a -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([^ ]*\).*/\1/p')
    rss=$(grep -a 'stat::peak_rss_mb' "$log" | awk '{print $2}')
    crashes=$(grep -a -c -E '^==[0-9]+== ERROR|^SUMMARY:|panicked at' "$log")
    rate=$([ -n "$runs" ] && [ -n "$secs" ] && [ "$secs" -gt 0 ] && echo $((runs / secs)))
    echo "| $t | ${secs:-?} | ${runs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | ${rss:-?} | $crashes |"
done
