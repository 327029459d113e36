#!/usr/bin/env bash
# AXFR benchmark (not a test; never run from scripts/test.sh). The same zone
# (../shared/bench/genzone.py, NAMES names, unsigned) served by blason, Knot and
# BIND as primaries on loopback, in one run: the time for `kdig +tcp AXFR` to
# receive it whole (best of RUNS), with messages and bytes, and for a client that
# only counts records (crates/proto/examples/axfr_time.rs); the time for a BIND
# and a blason secondary, started empty, to load it from each; then the bytes of
# the IXFR for one changed record from blason. Output also goes to target/bench/xfr.txt.
#
# Environment: NAMES (default 1000000), RUNS (3), PORT (base port, 26353).
set -euo pipefail
cd "$(dirname "$0")/.."

NAMES=${NAMES:-1000000}
RUNS=${RUNS:-3}
PORT=${PORT:-26353}
ORIGIN=bench.example.
OUT=target/bench
mkdir -p "$OUT"
. scripts/bench-lib.sh
ZONE=$(bench_zone "$NAMES")
cargo build --release -q -p blason
cargo build --release -q -p blason-proto --example axfr_time
BIN=$PWD/target/release/blason
TIMER=$PWD/target/release/examples/axfr_time
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_soa() {  # port
    local t=0
    # An answer, not dig's own error lines (which +short prints too).
    until dig +norec +time=1 +tries=1 @127.0.0.1 -p "$1" "$ORIGIN" SOA 2>/dev/null | grep -q 'flags: qr aa'; do
        sleep 0.2
        t=$((t + 1))
        [ "$t" -lt 1500 ] || { echo "bench-xfr: nothing answers on $1" >&2; exit 1; }
    done
}

# blason
B=$PORT
cp "$ZONE" "$WORK/blason.zone"
cat > "$WORK/blason.toml" <<EOF
listen = ["127.0.0.1:$B"]
state = "$WORK/state"
[[zone]]
origin = "$ORIGIN"
file = "$WORK/blason.zone"
allow-transfer = ["127.0.0.1"]
# The zone's NS addresses are off loopback: nothing is sent there.
notify-ns = false
EOF
"$BIN" serve --config "$WORK/blason.toml" 2>"$WORK/blason.log" &
PIDS+=($!)

# Knot
K=$((PORT + 1))
mkdir -p "$WORK/knot"
cat > "$WORK/knot/knot.conf" <<EOF
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@$K
database:
    storage: "$WORK/knot"
acl:
  - id: xfr
    address: 127.0.0.1
    action: transfer
zone:
  - domain: $ORIGIN
    file: "$ZONE"
    acl: xfr
    journal-content: none
    zonefile-sync: -1
EOF
knotd -c "$WORK/knot/knot.conf" 2>"$WORK/knot.log" &
PIDS+=($!)

# BIND
N=$((PORT + 2))
mkdir -p "$WORK/bind"
cat > "$WORK/bind/named.conf" <<EOF
options {
    directory "$WORK/bind"; pid-file none; session-keyfile none;
    listen-on port $N { 127.0.0.1; }; listen-on-v6 { none; };
    recursion no; dnssec-validation no; notify no;
    allow-transfer { 127.0.0.1; };
};
controls { };
zone "$ORIGIN" { type primary; file "$ZONE"; };
EOF
named -g -4 -c "$WORK/bind/named.conf" 2>"$WORK/named.log" &
PIDS+=($!)

wait_soa "$B"; wait_soa "$K"; wait_soa "$N"

{
echo "AXFR of $NAMES names, best of $RUNS (kdig +tcp, output discarded)"
for s in "blason $B" "knot $K" "bind $N"; do
    set -- $s
    best=
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s%N)
        kdig @127.0.0.1 -p "$2" +tcp +noall +stats "$ORIGIN" AXFR > "$WORK/$1.stats"
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    size=$(grep -Eo 'Received [0-9]+ B \([0-9]+ messages, [0-9]+ records\)' "$WORK/$1.stats" || true)
    printf '  %-7s %6d ms   %s\n' "$1" "$best" "$size"
done
echo "the same, read by a client that only counts records (examples/axfr_time.rs):"
for s in "blason $B" "knot $K" "bind $N"; do
    set -- $s
    printf '  %-7s %s\n' "$1" "$("$TIMER" "127.0.0.1:$2" "$ORIGIN" "$RUNS" | tail -1)"
done
# A secondary loading the zone from each primary: started with nothing, timed to
# its first answer from the transferred zone (its own start included, the same for
# each primary).
S=$((PORT + 3))
wait_loaded() {  # port; prints ms since $t0
    until dig +norec +time=1 +tries=1 @127.0.0.1 -p "$1" "$ORIGIN" SOA 2>/dev/null | grep -q 'flags: qr aa'; do
        sleep 0.05
        [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 600 ] || { echo "timeout"; return; }
    done
    echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
echo "a secondary started empty, until it answers from the transferred zone (best of $RUNS):"
for sec in bind blason; do
    for s in "blason $B" "knot $K" "bind $N"; do
        set -- $s
        best=
        for _ in $(seq "$RUNS"); do
        d="$WORK/sec-$sec-$1"
        mkdir -p "$d"
        if [ "$sec" = bind ]; then
            cat > "$d/named.conf" <<EOF
options {
    directory "$d"; pid-file none; session-keyfile none;
    listen-on port $S { 127.0.0.1; }; listen-on-v6 { none; };
    recursion no; dnssec-validation no; notify no;
};
controls { };
zone "$ORIGIN" { type secondary; primaries { 127.0.0.1 port $2; }; file "sec.db"; };
EOF
            t0=$(date +%s%N)
            named -g -4 -c "$d/named.conf" 2>"$d/named.log" &
        else
            cat > "$d/blason.toml" <<EOF
listen = ["127.0.0.1:$S"]
state = "$d/state"
[[zone]]
origin = "$ORIGIN"
primaries = ["127.0.0.1:$2"]
notify-ns = false
EOF
            t0=$(date +%s%N)
            "$BIN" serve --config "$d/blason.toml" 2>"$d/blason.log" &
        fi
        pid=$!
        ms=$(wait_loaded "$S")
        kill "$pid"; wait "$pid" 2>/dev/null || true
        rm -rf "$d"
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
        done
        printf '  %-6s secondary of %-7s %6s ms\n' "$sec" "$1" "$best"
    done
done
# One changed record: the IXFR blason sends for it.
s1=$(dig +short @127.0.0.1 -p "$B" "$ORIGIN" SOA | awk '{print $3}')
sed -i -E '0,/^store-0\s+IN\s+A\s/s/^(store-0\s+IN\s+A\s+)[0-9.]+/\1198.51.100.77/' "$WORK/blason.zone"
"$BIN" reload --state "$WORK/state" >/dev/null
sleep 1
ixfr=$(kdig @127.0.0.1 -p "$B" +tcp +noall +stats "$ORIGIN" IXFR="$s1" | grep -Eo 'Received [0-9]+ B.*' || true)
echo "  IXFR for one changed record (blason): $ixfr"
} | tee "$OUT/xfr.txt"
