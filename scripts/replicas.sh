#!/usr/bin/env bash
# N Stratus replicas on one host as one platform, behind HAProxy: `bash scripts/replicas.sh start N|stop [K]|status`.
#   start N   builds dist/ (as `npm start` does), starts replicas r1..rN that are not running yet (ports 8081..),
#             waits until each is ready (GET /readyz), then starts or updates the balancer (scripts/lb.sh) in
#             front of them: the platform is http://127.0.0.1:8080. Idempotent: running replicas are left alone.
#   stop [K]  stops replica K (default: every replica, one after another, then the balancer) with SIGTERM:
#             it leaves the balancer's pool first (its drain notice), finishes its calls, then exits.
#   status    each replica's pid, port and readiness, and the balancer's view.
#
# What makes them one platform: the same Redis and key prefix, the same platform id (STRATUS_PLATFORM_ID: the
# instances' dev.stratus.platform label and the image prefix), the same admin key (generated once, kept in
# <dir>/api-key). Each has its own state dir (<dir>/rK) and log (<dir>/rK.log).
#
#   STRATUS_REPLICAS_DIR        default <repo>/.stratus/replicas
#   STRATUS_REPLICAS_BASE_PORT  replica K listens on BASE+K-1 (default 8081)
#   STRATUS_LB_PORT             the balancer's port, the platform's public URL (default 8080)
#   STRATUS_PLATFORM_ID         default stratus- + a hash of the replicas dir (two checkouts stay apart)
#   STRATUS_REDIS_URL, STRATUS_*  any other Stratus setting in the environment is passed to every replica
#
# Each replica serves calls through its Node proxy (STRATUS_DATA_PLANE=node): the balancer in front is HAProxy
# already, and a native data plane per replica behind it is not wired yet (docs/replicas.md).
# The S3 object storage runs on replica 1 only (STRATUS_S3_PORT, default 9000); the others start with it off.
# Its objects are files in replica 1's state dir: a storage on every replica would be N stores that do not
# see each other's objects, so until the storage keeps its data where every replica reaches it, one serves it.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR="${STRATUS_REPLICAS_DIR:-$REPO/.stratus/replicas}"
BASE_PORT="${STRATUS_REPLICAS_BASE_PORT:-8081}"
LB_PORT="${STRATUS_LB_PORT:-8080}"
# The balancer checks every 500 ms and takes a replica out after 2 failed checks: the drain notice covers
# both checks, a check's own time and a margin, so no call is sent to a replica whose listener closed.
LB_CHECK_MS="${STRATUS_LB_CHECK_MS:-500}"
DRAIN_NOTICE_MS="${STRATUS_DRAIN_NOTICE_MS:-$((LB_CHECK_MS * 2 + 1500))}"
export STRATUS_LB_PORT="$LB_PORT" STRATUS_LB_CHECK_MS="$LB_CHECK_MS"

mkdir -p "$DIR"
PLATFORM_ID="${STRATUS_PLATFORM_ID:-stratus-$(printf '%s' "$(cd "$DIR" && pwd)" | sha256sum | cut -c1-10)}"

pid_of() { # pid_of K: the pid of replica K if it runs
  local pid
  pid="$(cat "$DIR/r$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'platform/main.js' && echo "$pid"
}
ready_or_gone() { ! pid_of "$1" >/dev/null || ready "$2"; } # stop waiting for a replica that exited
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ]; }
replicas() { # the K of every replica that has a pid file
  local f
  for f in "$DIR"/r*.pid; do [ -e "$f" ] && basename "$f" .pid | tr -d r; done | sort -n
}

api_key() {
  if [ ! -s "$DIR/api-key" ]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/api-key")
    log "generated the platform's admin API key in $DIR/api-key"
  fi
  cat "$DIR/api-key"
}

start_one() { # start_one K
  local k="$1" port=$((BASE_PORT + $1 - 1)) pid s3
  if pid="$(pid_of "$k")"; then log "r$k already running (pid $pid, port $port)"; return 0; fi
  s3=off
  [ "$k" -eq 1 ] && s3="${STRATUS_S3_PORT:-9000}"
  mkdir -p "$DIR/r$k"
  # The balancer's and this script's own settings are no Stratus settings (its config refuses unknown STRATUS_*).
  local own=()
  for v in $(compgen -e | grep -E '^STRATUS_(LB|REPLICAS)_'); do own+=(-u "$v"); done
  env "${own[@]}" STRATUS_PORT="$port" STRATUS_HOST=127.0.0.1 STRATUS_STATE_DIR="$DIR/r$k" STRATUS_API_KEY="$KEY" \
    STRATUS_STORE=redis STRATUS_PLATFORM_ID="$PLATFORM_ID" STRATUS_REDIS_PREFIX="${STRATUS_REDIS_PREFIX:-$PLATFORM_ID:}" \
    STRATUS_PUBLIC_URL="${STRATUS_PUBLIC_URL:-http://127.0.0.1:$LB_PORT}" STRATUS_FUNCTIONS_URL="${STRATUS_FUNCTIONS_URL:-http://fn.localhost:$LB_PORT}" \
    STRATUS_TRUSTED_PROXIES="${STRATUS_TRUSTED_PROXIES:-loopback}" STRATUS_DRAIN_NOTICE_MS="$DRAIN_NOTICE_MS" STRATUS_S3_PORT="$s3" \
    STRATUS_DATA_PLANE="${STRATUS_DATA_PLANE:-node}" \
    nohup node "$REPO/dist/platform/main.js" >>"$DIR/r$k.log" 2>&1 </dev/null &
  echo $! >"$DIR/r$k.pid"
  log "r$k starting (pid $!, port $port, log $DIR/r$k.log)"
}

start() {
  local n="${1:-}" k port
  [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "usage: bash scripts/replicas.sh start N   (N replicas, 1-99)"
  ensure_packages curl=curl
  (cd "$REPO" && node scripts/build-dist.mjs) || die "the build of dist/ failed"
  KEY="$(api_key)"
  for ((k = 1; k <= n; k++)); do start_one "$k"; done
  local backends=""
  for ((k = 1; k <= n; k++)); do
    port=$((BASE_PORT + k - 1))
    # The first start of a platform waits for Redis and Docker, pulls nothing, compiles nothing: 60 s is ample.
    wait_for 60 ready_or_gone "$k" "$port" && pid_of "$k" >/dev/null || { tail -n 20 "$DIR/r$k.log" >&2; die "r$k is not ready on port $port within 60 s (log above: $DIR/r$k.log)"; }
    backends+="${backends:+,}127.0.0.1:$port"
  done
  log "$n replicas ready (platform id $PLATFORM_ID, admin key in $DIR/api-key)"
  STRATUS_LB_BACKENDS="$backends" bash "$REPO/scripts/lb.sh" start || die "the balancer did not start"
  log "the platform: http://127.0.0.1:$LB_PORT (functions at http://NAME.fn.localhost:$LB_PORT/)"
}

stop_one() { # stop_one K: SIGTERM, then wait for its exit (its stop is bounded by STRATUS_STOP_TIMEOUT_MS)
  local k="$1" pid
  pid="$(pid_of "$k")" || { rm -f "$DIR/r$k.pid"; return 0; }
  log "r$k stopping (pid $pid): out of the balancer's pool, then its calls finish"
  kill -TERM "$pid"
  wait_for 120 bash -c "! kill -0 $pid" || die "r$k (pid $pid) did not exit within 120 s; see $DIR/r$k.log"
  rm -f "$DIR/r$k.pid"
  log "r$k stopped"
}

stop() {
  if [ -n "${1:-}" ]; then stop_one "$1"; return; fi
  local k
  # One after another: the platform keeps serving through the others until the last one goes.
  for k in $(replicas); do stop_one "$k"; done
  bash "$REPO/scripts/lb.sh" stop
}

status() {
  local k pid port any=0
  for k in $(replicas); do
    any=1
    port=$((BASE_PORT + k - 1))
    if pid="$(pid_of "$k")"; then
      if ready "$port"; then echo "r$k: running (pid $pid, port $port), ready"; else echo "r$k: running (pid $pid, port $port), NOT ready"; fi
    else
      echo "r$k: not running (log $DIR/r$k.log)"
    fi
  done
  [ "$any" -eq 1 ] || echo "no replicas (bash scripts/replicas.sh start 2)"
  bash "$REPO/scripts/lb.sh" status
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  status) status ;;
  *) echo "usage: bash scripts/replicas.sh start N | stop [K] | status   (settings: see the script's head)" >&2; exit 2 ;;
esac
