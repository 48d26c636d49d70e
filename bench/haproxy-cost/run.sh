#!/usr/bin/env bash
# What each part of the native data plane's config costs HAProxy per call: the same load (60,000 calls at
# c=32, keep-alive) through HAProxy in each variant of the rendered config (render.ts), HAProxy's CPU read
# from /proc before and after. Figures are reported, not asserted; run it on a quiet machine.
#   bash bench/haproxy-cost/run.sh [CALLS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
CALLS="${1:-60000}"
HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"
DIR="$(mktemp -d)"; export PORT=18700; LINES=18701
cleanup() { kill "${INST:-}" "${READER:-}" "${HP:-}" 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ="$(getconf CLK_TCK)"
node helpers.mjs instance "$DIR/inst.sock" & INST=$!
node helpers.mjs reader "$LINES" & READER=$!
sleep 0.5
printf '%-8s %s\n' variant "HAProxy CPU per call (µs)"
for v in full nolog noafter norules static full; do
  npx --no-install tsx render.ts "$DIR" 64 "$v" "$LINES"
  "$HAPROXY" -f "$DIR/haproxy.cfg" -db >/dev/null 2>&1 & HP=$!
  sleep 0.6
  if [ "$v" != static ]; then
    node -e "const n=require('net');const c=(l)=>new Promise(r=>{const s=n.connect('$DIR/runtime.sock');s.on('connect',()=>s.write(l+'\n'));s.on('data',()=>{});s.on('close',r)});(async()=>{await c('add server slot0/i1 unix@$DIR/inst.sock maxconn 64 pool-max-conn -1 pool-purge-delay 100ms');await c('set server slot0/i1 state ready')})()"
  fi
  node load.mjs 3000
  a="$(ticks "$HP")"; node load.mjs "$CALLS"; b="$(ticks "$HP")"
  kill "$HP"; wait "$HP" 2>/dev/null || true; HP=
  printf '%-8s %s\n' "$v" "$(( (b - a) * 1000000 / HZ / CALLS ))"
done
