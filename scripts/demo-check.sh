#!/usr/bin/env bash
# CI's check of the README's first command: `scripts/demo.sh` exactly as the
# README gives it, on a fresh state, must report the demo mailbox's findings,
# and a second run must say that nothing new arrived.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rm -f rebound.db rebound.db-wal rebound.db-shm
first="$(bash scripts/demo.sh 2>&1)"
printf '%s\n' "$first"
grep -q "inbox demo: 15 new messages, 10 analysed whole, 8 findings" <<<"$first" \
    || { echo "demo-check: the first run did not report the 8 expected findings" >&2; exit 1; }
for expected in "bob@example.net hard user_unknown 5.1.1" "via gateway mimecast" "pending network_error" "auto_reply (rfc3834)" "complaint (arf)" \
    "event bounce.detected demo bob@example.net match embedded_original/certain policy suppressed (hard_bounce)" \
    "event contact.suppressed demo bob@example.net" \
    "event bounce.detected demo liam@example.net match reply_headers/certain policy counted (soft_bounce_counted)" \
    "event bounce.detected demo dave@example.org match embedded_original/certain policy pending (delay_notice)" \
    "event bounce.unmatched demo uma@example.org" \
    "event complaint.received demo victor@example.net"; do
    grep -qF "$expected" <<<"$first" || { echo "demo-check: missing in the demo output: $expected" >&2; exit 1; }
done
second="$(bash scripts/demo.sh 2>&1)"
grep -q "nothing new since the last run" <<<"$second" \
    || { echo "demo-check: the second run did not say that nothing new arrived:" >&2; printf '%s\n' "$second" >&2; exit 1; }
echo "demo-check: ok"
