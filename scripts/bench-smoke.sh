#!/usr/bin/env bash
# The bench's smoke, as CI runs it after the tests: every section of `npm run bench` at its smallest
# (`--smoke`, ~65 s on 2 cores), so the bench cannot rot unnoticed. Its figures are printed, never
# asserted; a section that fails makes this fail. Bounded: after BENCH_SMOKE_TIMEOUT_S (300) it is
# interrupted, which makes the bench remove what it started, and fails.
# Needs what the bench needs: Docker, Redis and the registry (scripts/services.sh), the runtime images.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
limit="${BENCH_SMOKE_TIMEOUT_S:-300}"
status=0
timeout --signal=INT --kill-after=60 "$limit" npm run --silent bench -- --smoke || status=$?
if [ "$status" -eq 124 ]; then echo "bench smoke: not done within ${limit} s" >&2; fi
exit "$status"
