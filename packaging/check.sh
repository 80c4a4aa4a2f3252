#!/usr/bin/env bash
# Static checks of the systemd packaging with the host's systemd tools (no PID 1 needed):
#   - `systemd-analyze verify` prints NOTHING (unknown keys/bad values are only warnings, rc 0,
#     so any output is a failure),
#   - `systemd-analyze security --offline=yes` exposure <= 1.5,
#   - tvauth.sysusers is accepted by systemd-sysusers (into a scratch root).
#
#   packaging/check.sh               check packaging/tvauth.service from the source tree
#                                    (ExecStart swapped for /bin/true when tvauth is not installed)
#   packaging/check.sh --installed   check /usr/lib/systemd/system/tvauth.service as installed
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
max_exposure=15 # tenths: systemd-analyze's --threshold scale (1.5)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail=0

if [ "${1:-}" = --installed ]; then
    unit=/usr/lib/systemd/system/tvauth.service
    sysusers=/usr/lib/sysusers.d/tvauth.conf
    [ -f "$unit" ] || { echo "not installed: $unit" >&2; exit 1; }
    [ -x /usr/bin/tvauth ] || { echo "not installed: /usr/bin/tvauth" >&2; exit 1; }
else
    # verify fails when ExecStart's binary is missing: check a copy that runs /bin/true instead.
    unit=$scratch/tvauth.service
    sed 's#^ExecStart=/usr/bin/tvauth #ExecStart=/bin/true #' "$root/packaging/tvauth.service" >"$unit"
    sysusers=$root/packaging/tvauth.sysusers
fi

for tool in systemd-analyze systemd-sysusers; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install systemd)" >&2; exit 1; }
done

echo "== systemd-analyze verify $unit"
out=$(systemd-analyze verify --man=no "$unit" 2>&1) || fail=1
if [ -n "$out" ]; then
    printf '%s\n' "$out"
    fail=1
fi
[ $fail = 0 ] && echo "ok (no output)"

echo "== systemd-analyze security --offline=yes"
sec=$(systemd-analyze security --offline=yes --threshold=$max_exposure "$unit" 2>&1) || fail=1
printf '%s\n' "$sec" | grep -E '✗|Overall' || true

echo "== systemd-sysusers --root=<scratch> $(basename "$sysusers")"
mkdir -p "$scratch/root/etc"
systemd-sysusers --root="$scratch/root" "$sysusers"
grep -E '^(tvauth|tvauth-clients):' "$scratch/root/etc/passwd" "$scratch/root/etc/group"

if [ $fail != 0 ]; then
    echo "FAILED" >&2
    exit 1
fi
echo "all packaging checks passed"
