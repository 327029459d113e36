#!/usr/bin/env bash
# Milter benchmark (not a test; never run from scripts/test.sh), in one run:
#  (a) the milter alone, driven by scripts/milter-load.py over the milter protocol
#      as Postfix drives it: the milter process's CPU µs per message signed with
#      RSA-2048 and with Ed25519 and per message verified, for blason and for
#      OpenDKIM taking the same messages, beside the crypto floor (one signature
#      or verification and the hash, on ring: crates/mail/examples/dkim_floor.rs);
#  (b) Postfix (a private instance on loopback) relaying smtp-source's messages to
#      smtp-sink with no milter, with OpenDKIM signing and with blason signing:
#      messages per second.
# blason verifies everything (SPF, iprev, every DKIM signature, DMARC, ARC);
# OpenDKIM DKIM only; both ask blason serve on loopback (OpenDKIM through
# libunbound, fenced to loopback). Output also goes to target/bench/milter.txt.
#
# Environment: COUNT (messages per milter run, default 2000), SMTP_COUNT (messages
# through Postfix, default 2000), BODY (body bytes, default 4000).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-2000}
SMTP_COUNT=${SMTP_COUNT:-2000}
BODY=${BODY:-4000}
OUT=target/bench/milter
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cargo build --release -q -p blason
cargo build --release -q -p blason-mail --example dkim_floor
B=$PWD/target/release/blason
LOAD="python3 $PWD/scripts/milter-load.py"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -d "$OUT/pf/etc" ] && postfix -c "$OUT/pf/etc" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
report() { echo "$*" | tee -a "$OUT/../milter.txt"; }
: > "$OUT/../milter.txt"
report "# milter benchmark $(date -u +%FT%TZ), $(nproc) CPUs, $COUNT messages per run, body $BODY bytes"

# Keys, zone and DNS.
$B dkim keygen --domain example.com --selector rsa1 --algorithm rsa2048 --out "$OUT" >/dev/null 2>&1
$B dkim keygen --domain example.com --selector ed1 --algorithm ed25519 --out "$OUT" >/dev/null 2>&1
DNS=27453
{
    echo '$TTL 3600'
    echo '@ SOA ns1 hostmaster 1 7200 3600 1209600 3600'
    echo '@ NS ns1'
    echo 'ns1 A 127.0.0.1'
    echo '@ TXT "v=spf1 ip4:192.0.2.0/24 -all"'
    echo '_dmarc TXT "v=DMARC1; p=reject"'
    sed 's/^rsa1._domainkey.example.com. /rsa1._domainkey /' "$OUT/rsa1.txt"
    sed 's/^ed1._domainkey.example.com. /ed1._domainkey /' "$OUT/ed1.txt"
} > "$OUT/example.com.zone"
$B serve --listen 127.0.0.1:$DNS --zone example.com="$OUT/example.com.zone" 2>"$OUT/serve.log" &
PIDS+=($!)
sleep 1
python3 - "$BODY" > "$OUT/msg.eml" <<'PY'
import sys
n = int(sys.argv[1])
line = "The quick brown fox jumps over the lazy dog, again and again and again.\n"
print("From: Alice <alice@example.com>\nTo: Bob <bob@example.org>\nSubject: a benchmark message\n"
      "Date: Fri, 04 Dec 2026 12:00:00 +0000\nMessage-ID: <bench@example.com>\nMIME-Version: 1.0\n"
      "Content-Type: text/plain; charset=utf-8\n\n" + (line * (n // len(line) + 1))[:n - 1] + "\n", end="")
PY
$B mail sign -d example.com -s rsa1 -k "$OUT/rsa1.private" "$OUT/msg.eml" > "$OUT/signed-rsa.eml"
$B mail sign -d example.com -s ed1 -k "$OUT/ed1.private" "$OUT/msg.eml" > "$OUT/signed-ed.eml"

# libunbound for OpenDKIM: everything to blason, nothing off loopback.
{
    echo "server:"
    echo "  do-not-query-localhost: no"
    echo "  do-ip6: no"
    for b in 0.0.0.0/2 64.0.0.0/3 96.0.0.0/4 112.0.0.0/5 120.0.0.0/6 124.0.0.0/7 126.0.0.0/8 128.0.0.0/1; do
        echo "  do-not-query-address: $b"
    done
    echo '  module-config: "iterator"'
    echo "forward-zone:"
    echo '  name: "."'
    echo "  forward-addr: 127.0.0.1@$DNS"
} > "$OUT/unbound.conf"

PORT=27460
run_milter() { # NAME MESSAGE CLIENT COMMAND...
    local name=$1 msg=$2 client=$3
    shift 3
    PORT=$((PORT + 1))
    "$@" "$PORT" > "$OUT/$name.log" 2>&1 &
    local pid=$!
    PIDS+=($pid)
    for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
        sleep 0.1
    done
    # A short warm-up (keys read, caches filled), then the measured run.
    $LOAD 127.0.0.1:$PORT $pid "$msg" 20 --client "$client" > /dev/null
    local r
    r=$($LOAD 127.0.0.1:$PORT $pid "$msg" "$COUNT" --client "$client")
    report "$(printf '%-28s %s' "$name" "$r")"
    kill $pid 2>/dev/null || true
}
blason_sign() { exec $B milter --mode s -d example.com -s "$1" -k "$OUT/$1.private" --listen "127.0.0.1:$2"; }
blason_verify() { exec $B milter --mode v --resolver 127.0.0.1:$DNS --authserv-id rx.example.org --listen "127.0.0.1:$1"; }
opendkim_run() { # MODE SELECTOR PORT
    cat > "$OUT/opendkim-$1$2.conf" <<CONF
Mode $1
Domain example.com
Selector $2
KeyFile $OUT/$2.private
Socket inet:$3@127.0.0.1
InternalHosts 127.0.0.1
Canonicalization relaxed/relaxed
SignatureAlgorithm $([ "$2" = ed1 ] && echo ed25519-sha256 || echo rsa-sha256)
AuthservID rx.example.org
Syslog no
UserID $(id -un)
Background no
CONF
    # Signing asks no DNS; verifying asks blason through libunbound.
    [ "$1" = v ] && echo "ResolverConfiguration $OUT/unbound.conf" >> "$OUT/opendkim-$1$2.conf"
    exec /usr/sbin/opendkim -f -x "$OUT/opendkim-$1$2.conf"
}
chmod 600 "$OUT"/*.private

report ""
report "(a) milter CPU per message"
floor=$(target/release/examples/dkim_floor 2000)
report "$(echo "$floor" | tr '\n' ' ')"
run_milter "blason sign rsa2048" "$OUT/msg.eml" 127.0.0.1 blason_sign rsa1
run_milter "opendkim sign rsa2048" "$OUT/msg.eml" 127.0.0.1 opendkim_run s rsa1
run_milter "blason sign ed25519" "$OUT/msg.eml" 127.0.0.1 blason_sign ed1
run_milter "opendkim sign ed25519" "$OUT/msg.eml" 127.0.0.1 opendkim_run s ed1
run_milter "blason verify rsa2048" "$OUT/signed-rsa.eml" 192.0.2.10 blason_verify
run_milter "opendkim verify rsa2048" "$OUT/signed-rsa.eml" 192.0.2.10 opendkim_run v rsa1
run_milter "blason verify ed25519" "$OUT/signed-ed.eml" 192.0.2.10 blason_verify
run_milter "opendkim verify ed25519" "$OUT/signed-ed.eml" 192.0.2.10 opendkim_run v ed1

# (b) Postfix throughput.
report ""
report "(b) Postfix, smtp-source -> Postfix -> smtp-sink, $SMTP_COUNT messages of $BODY bytes"
pf_run() { # NAME MILTER-SPEC
    local d=$OUT/pf
    postfix -c "$d/etc" stop >/dev/null 2>&1 || true
    rm -rf "$d"
    mkdir -p "$d/etc" "$d/queue" "$d/data"
    chown postfix "$d/data"
    local smtp=27501 sink=27502
    cat > "$d/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.com
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$sink
smtp_dns_support_level = disabled
alias_maps =
alias_database =
smtpd_milters = $2
non_smtpd_milters = \$smtpd_milters
milter_default_action = accept
maillog_file_prefixes = $d
maillog_file = $d/maillog
smtputf8_enable = no
default_destination_concurrency_limit = 20
CF
    # The private instance's services, as the tests run them, and its smtpd.
    { echo "127.0.0.1:$smtp inet n - n - - smtpd"; cat crates/blason/tests/mail/postfix-services.cf; } > "$d/etc/master.cf"
    smtp-sink -u postfix 127.0.0.1:$sink 200 > /dev/null 2>&1 &
    local sinkpid=$!
    postfix -c "$d/etc" start > /dev/null 2>&1
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$smtp) 2>/dev/null && break; sleep 0.1; done
    local t0 t1 n
    t0=$(date +%s.%N)
    smtp-source -s 20 -m "$SMTP_COUNT" -l "$BODY" -f alice@example.com -t bob@example.org 127.0.0.1:$smtp
    # Delivered: wait until the queue is empty.
    for _ in $(seq 600); do
        n=$(find "$d/queue/active" "$d/queue/incoming" "$d/queue/deferred" -type f 2>/dev/null | wc -l)
        [ "$n" -eq 0 ] && break
        sleep 0.1
    done
    t1=$(date +%s.%N)
    report "$(printf '%-28s %s msgs/s' "$1" "$(echo "$SMTP_COUNT / ($t1 - $t0)" | bc -l | xargs printf '%.0f')")"
    postfix -c "$d/etc" stop > /dev/null 2>&1 || true
    kill $sinkpid 2>/dev/null || true
}
pf_run "postfix, no milter" ""
PORT=$((PORT + 1)); BP=$PORT
blason_sign rsa1 "$BP" > "$OUT/pf-blason.log" 2>&1 & PIDS+=($!)
PORT=$((PORT + 1)); OP=$PORT
opendkim_run s rsa1 "$OP" > "$OUT/pf-opendkim.log" 2>&1 & PIDS+=($!)
for p in $BP $OP; do
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done
pf_run "postfix + opendkim rsa2048" "inet:127.0.0.1:$OP"
pf_run "postfix + blason rsa2048" "inet:127.0.0.1:$BP"
report ""
report "written to target/bench/milter.txt"
