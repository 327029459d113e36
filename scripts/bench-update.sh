#!/usr/bin/env bash
# Dynamic update benchmark (not a test; never run from scripts/test.sh). The same
# zone (../shared/bench/genzone.py, NAMES names), signed by each server itself
# (blason `dnssec = true`, Knot `dnssec-signing: on`, BIND `dnssec-policy default`),
# takes UPDATES TSIG-signed updates over UDP from one load generator
# (crates/proto/examples/update_load.rs, CLIENTS at once, each sending its next
# update when the last is answered): half add a new name, half replace a name's A
# record. Printed per server: updates answered NOERROR per second, and the time to
# NOERROR (p50, p99, max). One server runs at a time. Output also goes to
# target/bench/update.txt.
#
# Environment: NAMES (default 1000000), UPDATES (2000), CLIENTS (32), PORT (27353),
# SIGN_WAIT (seconds to wait for a server to sign the zone, default 1200), SERVERS
# (default "blason knot bind").
set -euo pipefail
cd "$(dirname "$0")/.."

NAMES=${NAMES:-1000000}
UPDATES=${UPDATES:-2000}
CLIENTS=${CLIENTS:-32}
PORT=${PORT:-27353}
SIGN_WAIT=${SIGN_WAIT:-1200}
SERVERS=${SERVERS:-blason knot bind}
ORIGIN=bench.example.
OUT=target/bench
mkdir -p "$OUT"
. scripts/bench-lib.sh
ZONE=$(bench_zone "$NAMES")
cargo build --release -q -p blason
cargo build --release -q -p blason-proto --example update_load
BIN=$PWD/target/release/blason
LOAD=$PWD/target/release/examples/update_load
SECRET="YmVuY2ggdXBkYXRlIGtleSwgbm90IGEgcmVhbCBvbmUh"
KEY="bench-key:hmac-sha256:$SECRET"
# The zone file's last owner with an A record: signed last by servers that sign in
# order, so its RRSIG says the whole zone is signed.
LAST=$(awk '$2=="IN" && $3=="A" && $1!~/^[@*;$]/ {o=$1} END {print o}' "$ZONE")
WORK=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    sleep 0.5
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

wait_signed() {  # port; prints seconds waited, or "timeout"
    local t0=$SECONDS
    until dig +dnssec +norec +time=2 +tries=1 @127.0.0.1 -p "$1" "$LAST.$ORIGIN" A 2>/dev/null | grep -q 'RRSIG.*A 13'; do
        sleep 1
        [ $((SECONDS - t0)) -lt "$SIGN_WAIT" ] || { echo timeout; return; }
    done
    echo $((SECONDS - t0))
}

run() {  # name port log
    local waited
    waited=$(wait_signed "$2")
    if [ "$waited" = timeout ]; then
        printf '  %-7s not signed within %s s: not measured; its log ends:\n' "$1" "$SIGN_WAIT"
        tail -5 "$3" | sed 's/^/    /'
        { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; } || true; PID=
        return
    fi
    printf '  %-7s (signed %s s after start) %s\n' "$1" "$waited" \
        "$("$LOAD" "127.0.0.1:$2" "$ORIGIN" "$ZONE" "$KEY" "$UPDATES" "$CLIENTS")"
    { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; } || true; PID=
}

{
echo "dynamic updates on the signed $NAMES-name zone: $UPDATES updates, $CLIENTS clients, UDP, TSIG"

if [[ " $SERVERS " == *" blason "* ]]; then
mkdir -p "$WORK/blason"
cp "$ZONE" "$WORK/blason/zone"
cat > "$WORK/blason/blason.toml" <<CONF
listen = ["127.0.0.1:$PORT"]
state = "$WORK/blason/state"
[[key]]
name = "bench-key"
secret = "$SECRET"
[[zone]]
origin = "$ORIGIN"
file = "$WORK/blason/zone"
dnssec = true
notify-ns = false
[[zone.update]]
key = "bench-key"
grant = "zone"
CONF
"$BIN" serve --config "$WORK/blason/blason.toml" >"$WORK/blason.log" 2>&1 &
PID=$!
run blason "$PORT" "$WORK/blason.log"
fi

if [[ " $SERVERS " == *" knot "* ]]; then
mkdir -p "$WORK/knot"
cp "$ZONE" "$WORK/knot/${ORIGIN}zone"
cat > "$WORK/knot/knot.conf" <<CONF
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@$((PORT + 1))
database:
    storage: "$WORK/knot"
    journal-db-max-size: 16G
key:
  - id: bench-key
    algorithm: hmac-sha256
    secret: $SECRET
acl:
  - id: update
    key: bench-key
    action: update
policy:
  - id: ecdsa
    algorithm: ecdsap256sha256
    single-type-signing: on
zone:
  - domain: $ORIGIN
    file: "$WORK/knot/${ORIGIN}zone"
    acl: update
    dnssec-signing: on
    dnssec-policy: ecdsa
    zonefile-sync: -1
    journal-content: changes
    # Signing a large zone makes one large changeset (default limit: 100 MiB).
    journal-max-usage: 8G
    serial-policy: increment
CONF
knotd -c "$WORK/knot/knot.conf" >"$WORK/knot.log" 2>&1 &
PID=$!
run knot $((PORT + 1)) "$WORK/knot.log"
fi

if [[ " $SERVERS " == *" bind "* ]]; then
mkdir -p "$WORK/bind"
cp "$ZONE" "$WORK/bind/zone"
cat > "$WORK/bind/named.conf" <<CONF
key "bench-key" { algorithm hmac-sha256; secret "$SECRET"; };
dnssec-policy csk { keys { csk lifetime unlimited algorithm ecdsap256sha256; }; };
options {
    directory "$WORK/bind"; pid-file none; session-keyfile none;
    listen-on port $((PORT + 2)) { 127.0.0.1; }; listen-on-v6 { none; };
    # No trust-anchor upkeep: it would send queries to the root servers.
    recursion no; notify no; dnssec-validation no;
};
controls { };
zone "$ORIGIN" {
    type primary; file "zone";
    update-policy { grant bench-key zonesub ANY; };
    dnssec-policy csk;
    # BIND signs a new zone a little at a time (100 nodes a step by default): a
    # million names took more than 20 minutes. Larger steps, the same signing.
    sig-signing-nodes 2000;
    sig-signing-signatures 20000;
};
CONF
named -g -4 -c "$WORK/bind/named.conf" >"$WORK/named.log" 2>&1 &
PID=$!
run bind $((PORT + 2)) "$WORK/named.log"
fi
} | tee "$OUT/update.txt"
