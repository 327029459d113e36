#!/usr/bin/env bash
# Zone-reading benchmark (not a test; never run from scripts/test.sh).
#
# Generates the 1,000,000-name zone with ../shared/bench/genzone.py (once), builds
# blason in release, then times `blason zone check` against `named-checkzone -i local`
# and `kzonecheck` (when installed): wall time and peak RSS from /usr/bin/time -v,
# RUNS runs each, min and median. Prints a table and writes it to
# target/bench/zone-read.txt.
#
# Environment: RUNS (default 3), NAMES (default 1000000), GENZONE (path to genzone.py),
# CARGO_TARGET_DIR (where cargo builds; default target).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
NAMES=${NAMES:-1000000}
GENZONE=${GENZONE:-../shared/bench/genzone.py}
ORIGIN=bench.example.
OUT=target/bench
TARGET_DIR=${CARGO_TARGET_DIR:-target}
mkdir -p "$OUT"

case $NAMES in
    1000000) tag=1m ;;
    100000) tag=100k ;;
    10000) tag=10k ;;
    *) tag=$NAMES ;;
esac
ZONE=$OUT/z$tag.zone
QUERIES=$OUT/q$tag.txt

if [ ! -x /usr/bin/time ]; then
    echo "bench-zone: /usr/bin/time missing; installing the 'time' package" >&2
    if [ "$(id -u)" -eq 0 ]; then
        apt-get install -y time >/dev/null
    else
        echo "bench-zone: run 'apt-get install time' as root" >&2
        exit 1
    fi
fi

if [ ! -s "$ZONE" ]; then
    echo "bench-zone: generating $ZONE ($NAMES names)" >&2
    python3 "$GENZONE" "$ORIGIN" "$NAMES" 1 -o "$ZONE" -q "$QUERIES"
fi

echo "bench-zone: building blason (release)" >&2
cargo build --release -p blason >&2
BLASON=$TARGET_DIR/release/blason

NAMED_CHECKZONE=$(command -v named-checkzone || true)
[ -z "$NAMED_CHECKZONE" ] && [ -x /usr/sbin/named-checkzone ] && NAMED_CHECKZONE=/usr/sbin/named-checkzone
KZONECHECK=$(command -v kzonecheck || true)
[ -z "$KZONECHECK" ] && [ -x /usr/sbin/kzonecheck ] && KZONECHECK=/usr/sbin/kzonecheck

tools=(blason)
declare -A cmd
cmd[blason]="$BLASON zone check $ORIGIN $ZONE"
if [ -n "$NAMED_CHECKZONE" ]; then
    tools+=(named-checkzone)
    cmd[named-checkzone]="$NAMED_CHECKZONE -i local $ORIGIN $ZONE"
fi
if [ -n "$KZONECHECK" ]; then
    tools+=(kzonecheck)
    cmd[kzonecheck]="$KZONECHECK -o $ORIGIN $ZONE"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One timed run: prints "seconds kib exit".
run_once() {
    local log=$tmp/time.log
    local rc=0
    # shellcheck disable=SC2086
    /usr/bin/time -v -o "$log" $1 >"$tmp/out.log" 2>&1 || rc=$?
    local wall kib
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
    kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
    # h:mm:ss or m:ss.ss -> seconds
    local secs
    secs=$(awk -v t="$wall" 'BEGIN { n = split(t, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; printf "%.2f", s }')
    echo "$secs $kib $rc"
}

# Interleave the tools within each repeat so that drift affects them alike.
declare -A secs kibs rcs
for ((r = 1; r <= RUNS; r++)); do
    for t in "${tools[@]}"; do
        read -r s k rc < <(run_once "${cmd[$t]}")
        echo "bench-zone: run $r $t: ${s}s ${k}KiB exit $rc" >&2
        if [ "$rc" -ne 0 ]; then
            echo "bench-zone: $t failed (exit $rc):" >&2
            tail -5 "$tmp/out.log" >&2
        fi
        secs[$t]="${secs[$t]:-} $s"
        kibs[$t]="${kibs[$t]:-} $k"
        rcs[$t]="${rcs[$t]:-} $rc"
    done
done

# min and median of a list of numbers
stats() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s\n", v[1], m }'; }

report=$OUT/zone-read.txt
{
    echo "zone: $ZONE ($(wc -l <"$ZONE") lines, $(du -m "$ZONE" | cut -f1) MiB), $RUNS runs each, $(nproc) CPUs"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  blason: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    printf '%-16s %9s %9s %11s %11s %7s  %s\n' tool "min s" "median s" "min MiB" "median MiB" exits command
    for t in "${tools[@]}"; do
        read -r smin smed < <(echo "${secs[$t]}" | stats)
        read -r kmin kmed < <(echo "${kibs[$t]}" | stats)
        printf '%-16s %9.2f %9.2f %11.1f %11.1f %7s  %s\n' "$t" "$smin" "$smed" \
            "$(awk -v k="$kmin" 'BEGIN { print k / 1024 }')" \
            "$(awk -v k="$kmed" 'BEGIN { print k / 1024 }')" \
            "$(echo "${rcs[$t]}" | tr -s ' ' | sed 's/^ //; s/ /,/g')" "${cmd[$t]}"
    done
    if [ -z "$KZONECHECK" ]; then
        echo "kzonecheck: not installed (Debian 12's knot $(dpkg-query -W -f='${Version}' knot 2>/dev/null || echo '?') does not ship it)"
    fi
    if [ -n "$NAMED_CHECKZONE" ]; then
        awk -v b="${secs[blason]}" -v n="${secs[named-checkzone]}" -v bk="${kibs[blason]}" -v nk="${kibs[named-checkzone]}" '
            function med(s,   a, k, i, j, t) { k = split(s, a, " "); for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
                return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
            BEGIN { printf "named-checkzone / blason (median): time %.2fx, memory %.2fx  (goal: time >= 3x, memory >= 1x)\n", med(n) / med(b), med(nk) / med(bk) }'
    fi
} | tee "$report"
echo "bench-zone: wrote $report" >&2
