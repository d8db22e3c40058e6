#!/usr/bin/env bash
# The IMAP pre-filter's recall on the labelled corpus, through a real Dovecot:
# appends every corpus message, fetches header blocks and BODYSTRUCTURE the way
# the connector does, and fails if any message the analysis calls a notice
# would not be fetched whole (tests/prefilter_imap.rs).
#
#   scripts/prefilter-recall.sh            # ../shared/corpus/dev/eml
#   REBOUND_CORPUS=path/to/eml scripts/prefilter-recall.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

corpus="${REBOUND_CORPUS:-../shared/corpus/dev/eml}"
[[ -d "$corpus" ]] || { echo "prefilter-recall.sh: corpus $corpus not found (set REBOUND_CORPUS)" >&2; exit 1; }
bash scripts/dovecot-setup.sh
REBOUND_PREFILTER_DIR="$(cd "$corpus" && pwd)" cargo test --test prefilter_imap -- --nocapture
