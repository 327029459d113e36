#!/usr/bin/env bash
# The project's one test command: installs the peers the tests run against (when
# missing and when root), then runs fmt, clippy and the whole workspace's tests.
# Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

# Tools the tests use, and the Debian packages that provide them.
TOOLS=(named-checkzone named knotd nsd unbound ldns-read-zone dnsperf dig kdig nsupdate knsupdate opendkim opendkim-testkey openssl kzonecheck certbot lego pebble ddclient inadyn curl promtool lintian objdump postfix smtp-sink smtp-source)
PACKAGES=(bind9 bind9-utils bind9-dnsutils knot knot-dnsutils knot-dnssecutils nsd unbound ldnsutils dnsperf opendkim opendkim-tools openssl certbot python3-certbot-dns-rfc2136 lego pebble ddclient libio-socket-ssl-perl inadyn curl prometheus lintian binutils postfix)

missing=()
for tool in "${TOOLS[@]}"; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
        missing+=("$tool")
    fi
done
# certbot's rfc2136 plugin is a module of Debian's Python (not a PATH python).
/usr/bin/python3 -c 'import certbot_dns_rfc2136' 2>/dev/null || missing+=(certbot-dns-rfc2136)
# ddclient speaks HTTPS through this Perl module, which its package only recommends.
perl -MIO::Socket::SSL -e 1 2>/dev/null || missing+=(perl-io-socket-ssl)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "test.sh: missing tools: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: apt-get update"
        apt-get update -qq || echo "test.sh: apt-get update failed"
        # Postfix installs without a configuration of its own: the tests run private
        # instances.
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
        echo "test.sh: apt-get install -y ${PACKAGES[*]}"
        # The packages' own daemons may start; the tests neither use nor stop them.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" \
            || echo "test.sh: apt-get install failed; tests needing these tools will fail"
    else
        echo "test.sh: not root (or no apt-get): not installing; tests needing these tools will fail"
    fi
fi

# Python oracles for the mail tests (checkdmarc; dkimpy with PyNaCl for Ed25519;
# pyspf; authheaders with authres for DMARC and ARC).
if ! python3 -c "import checkdmarc, dkim, nacl, spf, authheaders, authres" >/dev/null 2>&1; then
    echo "test.sh: missing python modules: checkdmarc dkimpy pynacl pyspf authheaders authres"
    if command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1; then
        echo "test.sh: pip install --quiet checkdmarc==6.0.4 dkimpy==1.1.8 pynacl pyspf==2.0.14 authheaders==0.16.3 authres==1.2.0"
        python3 -m pip install --quiet checkdmarc==6.0.4 dkimpy==1.1.8 pynacl pyspf==2.0.14 authheaders==0.16.3 authres==1.2.0 \
            || echo "test.sh: pip install failed; tests needing these modules will fail"
    else
        echo "test.sh: no pip: not installing; tests needing these modules will fail"
    fi
fi

status=0
step() {
    local name=$1
    shift
    echo
    echo "== $name: $*"
    local start=$SECONDS
    "$@"
    local rc=$?
    echo "== $name: exit $rc ($((SECONDS - start))s)"
    if [ "$rc" -ne 0 ]; then
        status=1
        failed+=("$name")
    fi
    return 0
}
failed=()

step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets --quiet -- -D warnings

echo
echo "== test: cargo test --workspace --no-fail-fast"
start=$SECONDS
log=$(mktemp)
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
echo
echo "== test summary"
grep -E '^(     Running|   Doc-tests|test result:)' "$log" | sed 's/^ *//'
grep -E "^    [A-Za-z0-9_:]+$" "$log" | sed "s/^ */FAILED: /" | sort -u | head -50
rm -f "$log"
echo "== test: exit $rc ($((SECONDS - start))s)"
if [ "$rc" -ne 0 ]; then
    status=1
    failed+=(test)
fi

echo
if [ "$status" -eq 0 ]; then
    echo "test.sh: all passed"
else
    echo "test.sh: FAILED: ${failed[*]}"
fi
exit "$status"
