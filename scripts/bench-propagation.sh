#!/usr/bin/env bash
# Propagation benchmark (not a test; never run from scripts/test.sh): blason as the
# primary of BIND, Knot and NSD secondaries on loopback (TSIG-keyed, NOTIFY), CHANGES
# zone-file edits each committed by `blason reload`; for each, the time from the
# reload's return (committed: journaled and served) until each secondary serves the
# new serial, polled every 5 ms. Prints p50 and p99 per secondary; output also goes
# to target/bench/propagation.txt.
#
# Environment: CHANGES (default 100), PORT (base port, 27353).
set -euo pipefail
cd "$(dirname "$0")/.."

CHANGES=${CHANGES:-100}
PORT=${PORT:-27353}
SECRET="cHJvcGFnYXRpb24gYmVuY2htYXJrIGtleSwgbm90IHJlYWw="
OUT=target/bench
mkdir -p "$OUT"
cargo build --release -q -p blason
BIN=$PWD/target/release/blason
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

B=$PORT; NB=$((PORT + 1)); NK=$((PORT + 2)); NN=$((PORT + 3))
zone() {  # serial
    cat <<EOF
\$ORIGIN prop.test.
\$TTL 300
@ SOA ns1 hostmaster $1 7200 3600 1209600 300
@ NS ns1
ns1 A 127.0.0.77
www A 192.0.2.$(( $1 % 250 + 1 ))
EOF
}
zone 1 > "$WORK/prop.test.zone"
cat > "$WORK/blason.toml" <<EOF
listen = ["127.0.0.1:$B"]
state = "$WORK/state"
[[key]]
name = "k"
secret = "$SECRET"
[[zone]]
origin = "prop.test"
file = "$WORK/prop.test.zone"
allow-transfer = ["127.0.0.0/8 key k"]
notify = ["127.0.0.1:$NB key k", "127.0.0.1:$NK key k", "127.0.0.1:$NN key k"]
notify-ns = false
EOF
"$BIN" serve --config "$WORK/blason.toml" 2>"$WORK/blason.log" &
PIDS+=($!)

mkdir -p "$WORK/bind" "$WORK/knot" "$WORK/nsd"
cat > "$WORK/bind/named.conf" <<EOF
key "k" { algorithm hmac-sha256; secret "$SECRET"; };
options { directory "$WORK/bind"; pid-file none; session-keyfile none;
  listen-on port $NB { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no; notify no; };
controls { };
zone "prop.test" { type secondary; file "prop.bk"; primaries { 127.0.0.1 port $B key k; }; };
EOF
named -g -4 -c "$WORK/bind/named.conf" 2>"$WORK/named.log" &
PIDS+=($!)
cat > "$WORK/knot/knot.conf" <<EOF
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@$NK
database:
    storage: "$WORK/knot"
key:
  - id: k
    algorithm: hmac-sha256
    secret: $SECRET
remote:
  - id: primary
    address: 127.0.0.1@$B
    key: k
acl:
  - id: n
    address: 127.0.0.1
    key: k
    action: notify
zone:
  - domain: prop.test
    storage: "$WORK/knot"
    master: primary
    acl: n
EOF
knotd -c "$WORK/knot/knot.conf" 2>"$WORK/knot.log" &
PIDS+=($!)
cat > "$WORK/nsd/nsd.conf" <<EOF
server:
    port: $NN
    ip-address: 127.0.0.1
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$WORK/nsd"
    pidfile: "$WORK/nsd/nsd.pid"
    database: ""
    xfrdfile: "$WORK/nsd/xfrd.state"
    zonelistfile: "$WORK/nsd/zone.list"
    xfrdir: "$WORK/nsd"
    logfile: "$WORK/nsd/nsd.log"
    server-count: 1
    # NSD waits this long between reloads (default 1 s): the bench measures the road.
    xfrd-reload-timeout: 0
remote-control:
    control-enable: no
key:
    name: "k"
    algorithm: hmac-sha256
    secret: "$SECRET"
zone:
    name: "prop.test"
    zonefile: "prop.test.zone"
    request-xfr: 127.0.0.1@$B k
    allow-notify: 127.0.0.1 k
EOF
nsd -d -c "$WORK/nsd/nsd.conf" 2>"$WORK/nsd.log" &
PIDS+=($!)

serial() { dig +short +norec +time=1 +tries=1 @127.0.0.1 -p "$1" prop.test SOA 2>/dev/null | awk '{print $3}'; }
for p in $B $NB $NK $NN; do
    for _ in $(seq 600); do [ "$(serial "$p")" = 1 ] && break; sleep 0.1; done
done

: > "$WORK/times"
for i in $(seq 2 $((CHANGES + 1))); do
    zone "$i" > "$WORK/prop.test.zone"
    "$BIN" reload --state "$WORK/state" >/dev/null
    want=$(serial "$B")
    t0=$(date +%s%N)
    left="bind:$NB knot:$NK nsd:$NN"
    while [ -n "$left" ]; do
        next=""
        for s in $left; do
            who=${s%%:*}; port=${s##*:}
            if [ "$(serial "$port")" = "$want" ]; then
                echo "$who $(( ($(date +%s%N) - t0) / 1000000 ))" >> "$WORK/times"
            else
                next="$next $s"
            fi
        done
        left=${next# }
        [ -z "$left" ] && break
        [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 30000 ] || { echo "bench-propagation: stuck: $left" >&2; exit 1; }
        sleep 0.005
    done
done

{
echo "propagation of $CHANGES commits from blason to each secondary (ms from the commit to the first answer with the new serial, each secondary polled every few ms)"
for who in bind knot nsd; do
    grep "^$who " "$WORK/times" | awk '{print $2}' | sort -n | awk -v who="$who" '
        { v[NR] = $1 }
        END { p50 = v[int((NR - 1) * 0.5) + 1]; p99 = v[int((NR - 1) * 0.99) + 1];
              printf "  %-5s p50 %5d ms   p99 %5d ms   max %5d ms\n", who, p50, p99, v[NR] }'
done
} | tee "$OUT/propagation.txt"
