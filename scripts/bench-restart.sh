#!/usr/bin/env bash
# Restart benchmark (not a test; never run from scripts/test.sh). On the
# 1,000,000-name zone (../shared/bench/genzone.py, generated once), the wall time from
# starting `blason serve` to its first answer:
#   - unsigned: `blason zone check` (the zone file read and checked), a first start
#     (read, journal written), a restart after kill -9 (from the journal);
#   - signed (dnssec = true: P-256 CSK, NSEC): a first start (signed whole, journal
#     written), a restart after kill -9 (from the journal, nothing signed);
# then crates/server/examples/commit.rs: journal restore beside reading the file,
# one-record changes from submit to served and durable, and K changes a commit.
# Output also goes to target/bench/restart.txt.
#
# Environment: NAMES (default 1000000), PORT (default 53535), CHANGES (1000), K (100).
set -euo pipefail
cd "$(dirname "$0")/.."

NAMES=${NAMES:-1000000}
PORT=${PORT:-53535}
CHANGES=${CHANGES:-1000}
K=${K:-100}
ORIGIN=bench.example.
OUT=target/bench
mkdir -p "$OUT"
. scripts/bench-lib.sh
ZONE=$(bench_zone "$NAMES")
cargo build --release -q -p blason
cargo build --release -q -p blason-server --example commit
BIN=target/release/blason
WORK=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# Starts the server on config $1 (log appended to $2); sets PID, and MS to the
# milliseconds until its first answer.
first_answer() {
    local t0
    t0=$(date +%s%N)
    "$BIN" serve --config "$1" >/dev/null 2>>"$2" &
    PID=$!
    until dig +short +norec +time=1 +tries=1 @127.0.0.1 -p "$PORT" "$ORIGIN" SOA 2>/dev/null | grep -q .; do
        kill -0 "$PID" 2>/dev/null || { echo "bench-restart: server died; see $2" >&2; exit 1; }
        sleep 0.01
    done
    MS=$(ms "$t0")
}

stop9() {
    kill -9 "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}

config() { # $1 state folder, $2 extra zone lines
    cat <<CFG
listen = ["127.0.0.1:$PORT"]
state = "$1"
[[zone]]
origin = "$ORIGIN"
file = "$ZONE"
$2
CFG
}

{
    echo "== restart benchmark, $NAMES names, $(nproc) cores, $(date -u +%F)"
    t0=$(date +%s%N)
    "$BIN" zone check "$ORIGIN" "$ZONE" >/dev/null || true
    check=$(ms "$t0")
    echo "zone check (read and check the file):        ${check} ms"

    config "$WORK/unsigned" "" >"$WORK/unsigned.toml"
    first_answer "$WORK/unsigned.toml" "$WORK/unsigned.log"
    a=$MS
    sleep 1
    stop9
    first_answer "$WORK/unsigned.toml" "$WORK/unsigned.log"
    b=$MS
    sleep 3
    stop9
    echo "unsigned: first start ${a} ms; restart from the journal ${b} ms"

    config "$WORK/signed" "dnssec = true" >"$WORK/signed.toml"
    first_answer "$WORK/signed.toml" "$WORK/signed.log"
    c=$MS
    sleep 2
    stop9
    first_answer "$WORK/signed.toml" "$WORK/signed.log"
    d=$MS
    # The file is read and compared after the first answer: wait for that too.
    sleep 5
    stop9
    echo "signed:   first start ${c} ms (signed whole); restart from the journal ${d} ms"
    python3 -c "print(f'restart of the signed zone / zone check: {$d / $check:.2f}x; / unsigned first start: {$d / $a:.2f}x')"
    grep -E "zone restored from its journal|zone signed" "$WORK/signed.log" | sed 's/^/  log: /'
    echo
    "target/release/examples/commit" "$ZONE" "$ORIGIN" "$CHANGES" "$K" "$WORK/commit"
} | tee "$OUT/restart.txt"
