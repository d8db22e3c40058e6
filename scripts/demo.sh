#!/usr/bin/env bash
# The first set-up command of the README: builds the release binary and runs
# the main job on the bundled demo: `rebound run --once` over the demo Maildir
# (demo/maildir) with the embedded defaults of config.example.yaml (SQLite in
# ./rebound.db, findings on standard output), printed readably.
#
#   scripts/demo.sh              # sync the demo mailbox (a second run finds nothing new)
#   scripts/demo.sh --replay     # forget the demo state first, then sync again
#   scripts/demo.sh --jsonl      # print the JSON lines instead of the summary
#   scripts/demo.sh classify DIR # analyse the message files under DIR offline
set -euo pipefail

die() { printf 'demo.sh: error: %s\n' "$*" >&2; exit 1; }

# A DIR argument is relative to where the script was called from.
here="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 \
    || die "cargo not found: install Rust >= 1.95 with rustup (see README.md, 'Precondition')."

format=pretty
replay=0
case "${1:-}" in
    "") ;;
    --replay) replay=1 ;;
    --jsonl) format=jsonl ;;
    classify)
        dir="${2:-tests/fixtures}"
        [[ "$dir" == /* || ! -e "$here/$dir" ]] || dir="$here/$dir"
        [[ -e "$dir" ]] || die "$dir does not exist"
        cargo build --release --quiet
        mapfile -d '' inputs < <(find "$dir" -type f ! -name '*.json' ! -name '*.md' ! -path '*/.*' -print0 | sort -z)
        (( ${#inputs[@]} > 0 )) || inputs=("$dir")
        exec "${CARGO_TARGET_DIR:-target}/release/rebound" classify --format pretty "${inputs[@]}"
        ;;
    *) die "usage: scripts/demo.sh [--replay | --jsonl | classify DIR]" ;;
esac

cargo build --release --quiet
rebound="${CARGO_TARGET_DIR:-target}/release/rebound"

if (( replay )); then
    rm -f rebound.db rebound.db-wal rebound.db-shm
fi
printf '$ rebound run --once --format %s -c config.example.yaml\n\n' "$format"
"$rebound" run --once --format "$format" -c config.example.yaml
printf '\nInbox state: %s status -c config.example.yaml. Replay: scripts/demo.sh --replay.\n' "$rebound"
