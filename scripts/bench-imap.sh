#!/usr/bin/env bash
# IMAP connector benchmarks of issue 3 (not tests; see docs/benchmarks.md,
# section "IMAP connector (issue 3)"), each against a local Dovecot started
# by the test harness (tests/support/dovecot.rs):
#  1. imap_backfill:     10,000-message INBOX, rebound vs a header-only client;
#  2. imap_idle_latency: APPEND -> finding through IDLE;
#  3. imap_idle_many:    1,000 idle inboxes in one process (memory, CPU).
#
#   scripts/bench-imap.sh                       # all three
#   scripts/bench-imap.sh backfill many         # a selection (backfill, latency, many)
#   REBOUND_BENCH_ROUNDS=5 REBOUND_BENCH_TRIALS=100 REBOUND_BENCH_INBOXES=1000 \
#   REBOUND_BENCH_IDLE_SECS=60 scripts/bench-imap.sh
#
# Installs nothing beyond scripts/dovecot-setup.sh (run when dovecot is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
    set -- backfill latency many
fi
benches=()
for arg in "$@"; do
    case "$arg" in
        backfill) benches+=(imap_backfill) ;;
        latency) benches+=(imap_idle_latency) ;;
        many) benches+=(imap_idle_many) ;;
        *)
            echo "bench-imap: unknown benchmark '$arg' (use backfill, latency, many)" >&2
            exit 2
            ;;
    esac
done

if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
    echo "bench-imap: dovecot not found; running scripts/dovecot-setup.sh"
    bash scripts/dovecot-setup.sh
fi

# 1,000 TLS sessions need far more than the default 1,024 descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "== machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(rustc --version), $(/usr/sbin/dovecot --version 2>/dev/null | head -1 | sed 's/^/dovecot /'), ulimit -n $(ulimit -n)"
echo "== commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src benches 2>/dev/null || echo ' (src or benches modified)'), $(date -u +%Y-%m-%dT%H:%MZ)"
for bench in "${benches[@]}"; do
    cargo bench --bench "$bench" --no-run --quiet
done
for bench in "${benches[@]}"; do
    echo
    echo "== cargo bench --bench $bench"
    cargo bench --bench "$bench" --quiet
done
