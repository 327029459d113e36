#!/usr/bin/env bash
# Incremental re-signing benchmark (not a test; never run from scripts/test.sh).
#
# Generates the 1,000,000-name zone with ../shared/bench/genzone.py (once), then runs
# crates/dnssec/examples/incremental.rs in release: signs the zone whole (P-256, NSEC,
# then NSEC3) and times, per mode, CHANGES one-record changes at existing names (apply,
# new catalog, ArcSwap store: median, p99, max), answering before and after, ADDS
# additions of a new name and their removal, and refresh passes. Output also goes to
# target/bench/incremental.txt.
#
# Environment: NAMES (default 1000000), CHANGES (default 1000), ADDS (default 5),
# MODES (nsec, nsec3 or both; default both),
# GENZONE (path to genzone.py), CARGO_TARGET_DIR (where cargo builds; default target).
set -euo pipefail
cd "$(dirname "$0")/.."

NAMES=${NAMES:-1000000}
CHANGES=${CHANGES:-1000}
ADDS=${ADDS:-5}
MODES=${MODES:-both}
GENZONE=${GENZONE:-../shared/bench/genzone.py}
ORIGIN=bench.example.
OUT=target/bench
TARGET_DIR=${CARGO_TARGET_DIR:-target}
mkdir -p "$OUT"

ZONE=$OUT/z$NAMES.zone
if [ ! -s "$ZONE" ]; then
    echo "bench-incremental: generating $ZONE ($NAMES names)" >&2
    python3 "$GENZONE" "$ORIGIN" "$NAMES" 1 -o "$ZONE" -m 1000
fi

cargo build --release -q -p blason-dnssec --example incremental
"$TARGET_DIR/release/examples/incremental" "$ZONE" "$ORIGIN" "$CHANGES" "$ADDS" "$MODES" |
    tee "$OUT/incremental.txt"
