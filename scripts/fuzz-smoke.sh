#!/usr/bin/env bash
# Fuzz smoke run of the analysis core (called by CI; see docs/fuzzing.md).
#
#   scripts/fuzz-smoke.sh            # 60 seconds
#   FUZZ_SECONDS=1800 scripts/fuzz-smoke.sh
#
# Installs cargo-fuzz if it is missing, seeds the corpus from tests/fixtures and
# fuzz/seeds, replays fuzz/regressions, then fuzzes the `analyse` target.
# Exits non-zero on a crash, a timeout (> 10 s for one input) or an
# out-of-memory (> 2 GiB); the input is left in fuzz/artifacts/analyse/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# cargo-fuzz needs nightly-only flags; only the stable toolchain is assumed.
export RUSTC_BOOTSTRAP=1

corpus=fuzz/corpus/analyse
mkdir -p "$corpus"
if [ -d tests/fixtures ]; then
    while IFS= read -r -d '' f; do
        rel="${f#tests/fixtures/}"
        cp "$f" "$corpus/fixture-${rel//\//_}"
    done < <(find tests/fixtures -type f -name '*.eml' -print0)
fi

# -O: the fuzz package's release profile (debug assertions and overflow checks
# on, except mail-parser's debug assertions; see fuzz/Cargo.toml).
cargo fuzz build -O analyse

# Every saved regression input must run clean.
regressions=()
while IFS= read -r -d '' f; do regressions+=("$f"); done \
    < <(find fuzz/regressions -type f ! -name '.*' ! -name '*.md' -print0 2>/dev/null)
if [ "${#regressions[@]}" -gt 0 ]; then
    echo "fuzz-smoke: replaying ${#regressions[@]} regression input(s)" >&2
    cargo fuzz run -O analyse "${regressions[@]}" -- -rss_limit_mb=2048 -timeout=10
fi

echo "fuzz-smoke: fuzzing for ${seconds}s (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))" >&2
cargo fuzz run -O analyse "$corpus" fuzz/seeds -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
