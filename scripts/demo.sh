#!/usr/bin/env bash
# The first set-up command of the README: builds the release binary and
# classifies the bundled sample messages, printing a readable summary.
#
#   scripts/demo.sh [DIR]      DIR defaults to tests/fixtures
#
# Golden fixtures keep NAME.json beside NAME.eml; `rebound classify` treats
# every file it is given as a message, so the demo hands it the *.eml files of a
# directory (or the directory itself when it holds no *.eml file, e.g. Maildir).
set -euo pipefail

die() { printf 'demo.sh: error: %s\n' "$*" >&2; exit 1; }

# A DIR argument is relative to where the script was called from; the default
# is relative to the repository root.
dir="${1:-}"
if [[ -n "$dir" && "$dir" != /* ]]; then
    dir="$PWD/$dir"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${dir:-tests/fixtures}"

if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 \
    || die "cargo not found: install Rust >= 1.95 with rustup (see README.md, 'Precondition')."
[[ -e "$dir" ]] || die "$dir does not exist (usage: scripts/demo.sh [DIR], default tests/fixtures)"

cargo build --release --quiet

rebound="${CARGO_TARGET_DIR:-target}/release/rebound"

inputs=()
if [[ -d "$dir" ]]; then
    mapfile -d '' inputs < <(find "$dir" -type f -name '*.eml' ! -path '*/.*' -print0 | sort -z)
fi
if (( ${#inputs[@]} > 0 )); then
    printf '$ rebound classify --format pretty %s/**/*.eml   (%d files)\n\n' "${dir%/}" "${#inputs[@]}"
else
    inputs=("$dir")
    printf '$ rebound classify --format pretty %s\n\n' "$dir"
fi
"$rebound" classify --format pretty "${inputs[@]}"
printf '\nThe same as JSON Lines (the output contract): %s classify FILE|DIR...\n' "$rebound"
