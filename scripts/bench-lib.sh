# Shared by the benchmark scripts (sourced, from the repository's root).

# bench_zone NAMES: prints the path of the genzone.py zone (origin bench.example.,
# NAMES names, seed 1) under target/bench, generating it the first time.
bench_zone() {
    local zone="$PWD/target/bench/z$1.zone"
    mkdir -p target/bench
    if [ ! -s "$zone" ]; then
        echo "generating $zone ($1 names)" >&2
        python3 ../shared/bench/genzone.py bench.example. "$1" 1 -o "$zone" -m 1000
    fi
    echo "$zone"
}
