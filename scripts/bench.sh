#!/usr/bin/env bash
# Benchmarks (not tests; see docs/benchmarks.md):
#  1. `cargo bench --bench analyse`: the analysis core against the parse-only
#     floor, single thread, messages in memory;
#  2. whole-process `rebound classify --format jsonl DIR > /dev/null`
#     throughput (hyperfine when installed, else a timed loop);
#  3. `cargo bench --bench track_match`: tracking throughput against plain
#     INSERTs, and match latency over a store of 1,000,000 tracked messages
#     (about 5 minutes on 2 cores; REBOUND_BENCH_TRACKED=100000 for a quick run).
#
#   scripts/bench.sh                      # dev corpus beside the clone
#   REBOUND_BENCH_DIR=path/to/eml REBOUND_BENCH_ROUNDS=30 RUNS=10 scripts/bench.sh
#   BENCH_CPU=0 scripts/bench.sh          # pin both steps to one CPU (taskset)
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${REBOUND_BENCH_DIR:-../shared/corpus/dev/eml}"
runs="${RUNS:-10}"
if [ ! -d "$dir" ]; then
    echo "bench: message directory $dir not found; set REBOUND_BENCH_DIR" >&2
    exit 2
fi
export REBOUND_BENCH_DIR="$dir"
pin=()
if [ -n "${BENCH_CPU:-}" ]; then
    pin=(taskset -c "$BENCH_CPU")
fi

echo "== machine: $(nproc) cores${BENCH_CPU:+ (pinned to CPU $BENCH_CPU)}, $(rustc --version), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
echo
echo "== 1. analysis core vs parse-only floor (cargo bench --bench analyse)"
cargo bench --bench analyse --no-run --quiet
"${pin[@]}" cargo bench --bench analyse --quiet

echo
echo "== 2. whole process: rebound classify --format jsonl $dir > /dev/null"
cargo build --release --quiet --bin rebound
bin=target/release/rebound
# classify treats every regular, non-hidden file as a message.
count=$(find "$dir" -mindepth 1 -name '.*' -prune -o -type f -print | wc -l)
echo "messages: $count, runs: $runs"

if ! command -v hyperfine >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq hyperfine >/dev/null 2>&1 || true
fi

if command -v hyperfine >/dev/null 2>&1; then
    json=$(mktemp)
    trap 'rm -f "$json"' EXIT
    "${pin[@]}" hyperfine --warmup 1 --runs "$runs" --export-json "$json" \
        "$bin classify --format jsonl '$dir' > /dev/null"
    python3 - "$json" "$count" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
n = int(sys.argv[2])
t = sorted(r["times"])
print(f"whole process: median {n / r['median']:.0f} msg/s "
      f"(min {n / t[-1]:.0f}, max {n / t[0]:.0f}; median {r['median'] * 1000:.1f} ms per run)")
PY
else
    echo "(hyperfine not found: timing a loop; apt-get install hyperfine for more detail)"
    "${pin[@]}" "$bin" classify --format jsonl "$dir" >/dev/null # warm-up
    times=()
    for _ in $(seq "$runs"); do
        start=$(date +%s%N)
        "${pin[@]}" "$bin" classify --format jsonl "$dir" >/dev/null
        end=$(date +%s%N)
        times+=($((end - start)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v n="$count" '
        { t[NR] = $1 }
        END {
            m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
            printf "whole process: median %.0f msg/s (min %.0f, max %.0f; median %.1f ms per run)\n",
                n / (m / 1e9), n / (t[NR] / 1e9), n / (t[1] / 1e9), m / 1e6
        }'
fi

echo
echo "== 3. tracking throughput and match latency (cargo bench --bench track_match)"
cargo bench --bench track_match --no-run --quiet
"${pin[@]}" cargo bench --bench track_match --quiet
