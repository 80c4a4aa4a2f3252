#!/usr/bin/env bash
# Release-binary size report against the budgets (stripped; gnu targets with Debian rustc 1.85,
# static musl ones with rustup 1.85.0; see cross/debian.sh):
#   aarch64-unknown-linux-gnu      <= 2.0 MiB    aarch64-unknown-linux-musl      <= 2.0 MiB
#   armv7-unknown-linux-gnueabihf  <= 1.7 MiB    armv7-unknown-linux-musleabihf  <= 1.7 MiB
#   x86_64-unknown-linux-gnu       (reported, no budget)
#
#   cross/size.sh [--no-build] [--top N] [TARGET...]
#     --no-build  measure what is already in target/<t>/release
#     --top N     also build an UNSTRIPPED copy (separate dir target/size-analysis) and list the
#                 N biggest symbols and the size per crate (a poor man's `cargo bloat`, via nm)
# Exit status: 0 within budget, 1 over budget (or build failure), 2 usage.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=1
top=0
targets=()
while [ $# -gt 0 ]; do
    case $1 in
    --no-build) build=0 ;;
    --top)
        top=${2:?--top needs a number}
        shift
        ;;
    -h | --help)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*) echo "unknown option $1" >&2 && exit 2 ;;
    *) targets+=("$1") ;;
    esac
    shift
done
[ ${#targets[@]} -gt 0 ] ||
    targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf aarch64-unknown-linux-musl
        armv7-unknown-linux-musleabihf x86_64-unknown-linux-gnu)

budget_of() { # bytes; 0 = none
    case $1 in
    aarch64-unknown-linux-*) echo $((2048 * 1024)) ;;       # 2.0 MiB
    armv7-unknown-linux-*) echo $((17 * 1024 * 1024 / 10)) ;; # 1.7 MiB
    *) echo 0 ;;
    esac
}
binutils_of() {
    case $1 in
    aarch64-*) echo aarch64-linux-gnu- ;;
    armv7-*) echo arm-linux-gnueabihf- ;;
    *) echo "" ;;
    esac
}
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }

over=0
report=()
for t in "${targets[@]}"; do
    if [ $build = 1 ]; then
        start=$SECONDS
        "$root/cross/debian.sh" "$t" build >&2
        echo "build $t: $((SECONDS - start)) s" >&2
    fi
    bin=${CARGO_TARGET_DIR:-target}/$t/release/tvauth
    [ -f "$bin" ] || { echo "no binary at $bin (drop --no-build)" >&2 && exit 1; }
    bu=$(binutils_of "$t")
    stripped=$(mktemp)
    "${bu}strip" -o "$stripped" "$bin"
    bytes=$(stat -c %s "$stripped")
    rm -f "$stripped"
    # text/data/bss of the loaded image (the file is padded to the page alignment).
    read -r text data bss _ < <("${bu}size" "$bin" | awk 'NR == 2')
    budget=$(budget_of "$t")
    verdict="(no budget)"
    if [ "$budget" -gt 0 ]; then
        if [ "$bytes" -le "$budget" ]; then
            verdict="OK   budget $(mib "$budget"), $((budget - bytes)) bytes left"
        else
            verdict="OVER budget $(mib "$budget") by $((bytes - budget)) bytes"
            over=1
        fi
    fi
    report+=("$(printf '%-32s %9d B  %s  text %d data %d bss %d  %s' \
        "$t" "$bytes" "$(mib "$bytes")" "$text" "$data" "$bss" "$verdict")")

    if [ "$top" -gt 0 ]; then
        adir=${CARGO_TARGET_DIR:-target}/size-analysis
        echo "== unstripped build for symbol analysis ($adir)" >&2
        CARGO_TARGET_DIR=$adir CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=false \
            "$root/cross/debian.sh" "$t" build >&2
        syms=$(mktemp)
        # Text and read-only data symbols with sizes, demangled.
        "${bu}nm" --size-sort --print-size --radix=d -C "$adir/$t/release/tvauth" |
            awk '$3 ~ /^[tTrRdD]$/ { size = $2 + 0; $1 = $2 = $3 = ""; sub(/^ +/, ""); print size "\t" $0 }' \
                >"$syms"
        echo
        echo "== $t: top $top symbols (bytes)"
        # (`|| true`: head closing the pipe early is a SIGPIPE for sort, fatal under pipefail)
        sort -rn "$syms" | head -n "$top" | awk -F'\t' '{ printf "%8d  %s\n", $1, substr($2, 1, 120) }' || true
        echo
        echo "== $t: size per crate (first path segment of the symbol; [other] = C/asm/unmangled)"
        # `<T as core::fmt::Display>::fmt`: the impl's type has no path, so charge the trait's crate.
        awk -F'\t' '
            function strip(x) { gsub(/^(<|&|_<|\[|dyn |mut |impl |const )+/, "", x); return x }
            function crate(x,  i) { i = index(x, "::"); return i > 0 ? substr(x, 1, i - 1) : "" }
            {
                n = strip($2); head = n
                if (index(head, " as ") > 0) head = substr(head, 1, index(head, " as ") - 1)
                c = crate(head)
                if (c == "" || c ~ /[ <>]/) c = (index(n, " as ") > 0) ? crate(strip(substr(n, index(n, " as ") + 4))) : ""
                if (c == "" || c ~ /[ <>]/) c = "[other]"
                sum[c] += $1; total += $1
            }
            END { for (c in sum) printf "%8d  %5.1f%%  %s\n", sum[c], 100 * sum[c] / total, c }' "$syms" |
            sort -rn | head -n 25 || true
        rm -f "$syms"
    fi
done

echo
echo "== stripped release sizes (tvauth)"
printf '%s\n' "${report[@]}"
if [ $over != 0 ]; then
    echo "size budget exceeded" >&2
    exit 1
fi
