#!/usr/bin/env bash
# The whole tvauth flow on this machine, with no Adobe credentials:
#   the Adobe Pass emulator (HTTPS, throwaway test CA) and `tvauth daemon` started together,
#   `tvauth login` showing its code and URL, the second screen simulated (the URL opened over HTTPS by
#   python3, as a phone's browser would), `tvauth status` showing the box authenticated — then everything is
#   stopped and removed.
# Usage: examples/quickstart.sh        (from anywhere; builds what it needs first)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
echo "==> building tvauth and the emulator (release)"
cargo build --release --quiet --bin tvauth
cargo build --release --quiet -p tvauth-emulator --bin tvauth-emulator
bin="${CARGO_TARGET_DIR:-$repo/target}/release"

work=$(mktemp -d "${TMPDIR:-/tmp}/tvauth-quickstart.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "==> starting the Adobe Pass emulator"
"$bin/tvauth-emulator" --port 0 --ca-out "$work/ca.pem" --code-ttl-secs 600 </dev/null >"$work/emulator.out" 2>"$work/emulator.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening ' "$work/emulator.out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^listening //p' "$work/emulator.out")
[ -n "$base" ] || { echo "emulator did not start"; cat "$work/emulator.log"; exit 1; }
echo "    $base"

cat >"$work/tvauth.toml" <<EOF
state_dir = "$work/state"
log_level = "info"

[socket]
path = "$work/tvauth.sock"
mode = 0o600

[pass]
base_url = "$base"
legacy_base_url = "$base"
ca_file = "$work/ca.pem"
service_provider = "REF30"
software_statement = "quickstart.software.statement"
domain_name = "adobe.com"
redirect_url = "https://adobe.com"
timeout_secs = 10
poll_interval_secs = 3
EOF
export TVAUTH_CONFIG="$work/tvauth.toml"

echo "==> starting tvauth daemon"
"$bin/tvauth" daemon 2>"$work/daemon.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/tvauth.sock" ] && break; sleep 0.1; done
"$bin/tvauth" status

echo "==> tvauth login --mvpd Cablevision"
"$bin/tvauth" login --mvpd Cablevision &
login=$!
# The "phone": wait for the code, then open the URL the box shows.
url=""
for _ in $(seq 100); do
    url=$("$bin/tvauth" call auth.status | sed -n 's/.*"fullUrl":"\([^"]*\)".*/\1/p')
    [ -n "$url" ] && break
    sleep 0.1
done
sleep 1
echo "==> second screen: opening $url"
python3 - "$url" "$work/ca.pem" <<'PY'
import http.client, ssl, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=sys.argv[2]))
conn.request("GET", u.path + ("?" + u.query if u.query else ""))
print(f"    HTTP {conn.getresponse().status} (signed in at the provider)")
PY
wait "$login"

echo "==> tvauth status"
"$bin/tvauth" status
"$bin/tvauth" status --json
echo "==> done; stopping and cleaning up"
