#!/usr/bin/env bash
# HAProxy (Debian's package) in front of Stratus replicas on one host: `bash scripts/lb.sh start|stop|status`
# (`install` only installs haproxy, as CI does before the tests).
# Idempotent: start writes the config for the replicas given and starts haproxy in the background with a pid
# file (no systemd), or reloads a running one when the config changed; stop ends the haproxy it started (its
# pid file); status says each replica's health as the balancer sees it.
#
#   STRATUS_LB_BACKENDS   replica addresses, comma-separated (default 127.0.0.1:8081,127.0.0.1:8082: what
#                         scripts/replicas.sh starts)
#   STRATUS_LB_PORT       where the balancer listens (default 8080)
#   STRATUS_LB_HOST       its address (default 127.0.0.1)
#   STRATUS_LB_DIR        its config, pid file and stats socket (default <repo>/.stratus/lb)
#   STRATUS_LB_CHECK_MS   the health-check interval (default 500); a replica is out after 2 failed checks
#   STRATUS_LB_LOG        where HAProxy sends one line per call (syslog: 127.0.0.1:514 UDP, or a unix socket
#                         such as /dev/log); unset: no log. Each line names the replica and how the call ended.
#
# Why each setting is what it is:
# - Health checks GET /readyz, not /healthz: on SIGTERM a replica's /readyz answers 503 at once while it still
#   serves calls for STRATUS_DRAIN_NOTICE_MS (scripts/replicas.sh sets it above 2 intervals), so it is out of
#   the pool before its listener closes. /healthz stays 200 while a replica drains (it is alive).
# - retry-on conn-failure + option redispatch: a call that could not be sent (a refused connect: a replica
#   killed or not up yet) goes to another replica. Nothing else is retried: a function's call is a POST that
#   may have run, and a function may answer 503 or close without an answer itself.
# - timeout server: a function's call may take its timeout (at most 900 s) after waiting in its queue, and a
#   streamed answer may pause between chunks; the gateway bounds each call itself (504 past its timeout).
# - X-Forwarded-For is appended with the client's address and X-Forwarded-Proto set: Stratus reads them only
#   from proxies named in STRATUS_TRUSTED_PROXIES (replicas.sh names loopback). Host passes as sent, so function
#   hosts (NAME.fn.localhost:PORT) work through the balancer; the replicas' STRATUS_PUBLIC_URL names its port.
# - option http-server-close: one connection to a replica per call (cheap on loopback), so a replica closing an
#   idle kept connection just as HAProxy reuses it never fails a call that no replica died under.
# - A call under way on a replica that dies (kill -9) is answered 502, logged with that replica's name. On a
#   client connection kept alive across calls HAProxy instead closes the client's connection without an answer
#   or a log line (its rule: the client may retry) — a POST's client should not retry it blindly.
# - Every answer carries x-stratus-replica: the replica that served it, or that HAProxy tried when it answers
#   itself (502 when a replica died under a call; <NOSRV>: none was up). Operators and tests read it.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LB_DIR="${STRATUS_LB_DIR:-$REPO/.stratus/lb}"
LB_PORT="${STRATUS_LB_PORT:-8080}"
LB_HOST="${STRATUS_LB_HOST:-127.0.0.1}"
LB_BACKENDS="${STRATUS_LB_BACKENDS:-127.0.0.1:8081,127.0.0.1:8082}"
LB_CHECK_MS="${STRATUS_LB_CHECK_MS:-500}"
CONFIG="$LB_DIR/haproxy.cfg"
PIDFILE="$LB_DIR/haproxy.pid"
STATS="$LB_DIR/stats.sock"

running_pid() { # the pid of the haproxy this script started, if it still runs
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = haproxy ] && echo "$pid"
}

write_config() { # write_config <file>
  local servers="" i=0 addr
  IFS=',' read -ra addrs <<<"$LB_BACKENDS"
  for addr in "${addrs[@]}"; do
    addr="${addr// /}"
    [[ "$addr" =~ ^[0-9.]+:[0-9]+$|^\[[0-9a-fA-F:]+\]:[0-9]+$ ]] || die "STRATUS_LB_BACKENDS: \"$addr\" is not ADDRESS:PORT (e.g. 127.0.0.1:8081)"
    i=$((i + 1))
    servers+="  server r$i $addr check"$'\n'
  done
  [ "$i" -gt 0 ] || die "STRATUS_LB_BACKENDS names no replica"
  [[ "$LB_PORT" =~ ^[0-9]+$ ]] || die "STRATUS_LB_PORT: \"$LB_PORT\" is not a port"
  local logging="" httplog=""
  if [ -n "${STRATUS_LB_LOG:-}" ]; then
    [[ "$STRATUS_LB_LOG" =~ ^[0-9.]+:[0-9]+$|^/ ]] || die "STRATUS_LB_LOG: \"$STRATUS_LB_LOG\" is neither ADDRESS:PORT (UDP syslog) nor a unix socket path"
    logging="  log $STRATUS_LB_LOG local0 info"
    httplog=$'  log global\n  option httplog'
  fi
  [[ "$LB_CHECK_MS" =~ ^[0-9]+$ ]] && [ "$LB_CHECK_MS" -ge 100 ] || die "STRATUS_LB_CHECK_MS: \"$LB_CHECK_MS\" is not a number of ms >= 100"
  cat >"$1" <<CFG
# Written by scripts/lb.sh: edit that script (or its STRATUS_LB_* settings), not this file.
global
  daemon
  pidfile $PIDFILE
  maxconn 4096
$logging

defaults
  mode http
$httplog
  timeout connect 5s
  timeout client 960s
  timeout server 960s
  timeout http-request 30s
  timeout http-keep-alive 60s
  timeout queue 15s
  timeout check 2s
  retries 3
  retry-on conn-failure
  option redispatch 1
  option http-server-close

frontend stratus
  bind $LB_HOST:$LB_PORT
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  default_backend replicas

backend replicas
  balance leastconn
  option httpchk
  http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost
  http-check expect status 200
  http-after-response set-header x-stratus-replica %s
  default-server inter ${LB_CHECK_MS}ms fastinter ${LB_CHECK_MS}ms downinter ${LB_CHECK_MS}ms fall 2 rise 2
$servers
listen stats
  bind unix@$STATS mode 600
  stats enable
  stats uri /
CFG
}

start() {
  ensure_packages haproxy=haproxy curl=curl
  mkdir -p "$LB_DIR"
  local next="$LB_DIR/haproxy.cfg.next" pid
  write_config "$next"
  haproxy -c -q -f "$next" || die "haproxy refused the config it was given ($next)"
  pid="$(running_pid)"
  if [ -n "$pid" ] && cmp -s "$next" "$CONFIG"; then
    rm -f "$next"
    log "haproxy already running (pid $pid) on http://$LB_HOST:$LB_PORT"
    return 0
  fi
  mv "$next" "$CONFIG"
  if [ -n "$pid" ]; then
    # A changed replica list: a new haproxy takes the port over and the old one finishes its connections (-sf).
    haproxy -f "$CONFIG" -sf "$pid" || die "haproxy did not reload; config $CONFIG"
    log "haproxy reloaded (pid $(cat "$PIDFILE")) for $LB_BACKENDS"
    return 0
  fi
  rm -f "$STATS"
  haproxy -f "$CONFIG" || die "haproxy did not start; config $CONFIG"
  wait_for 10 running_pid || die "haproxy wrote no pid file within 10 s"
  log "haproxy started (pid $(cat "$PIDFILE")) on http://$LB_HOST:$LB_PORT for $LB_BACKENDS; config $CONFIG"
}

stop() {
  local pid
  pid="$(running_pid)" || { log "haproxy not running"; rm -f "$PIDFILE"; return 0; }
  # SIGUSR1: a soft stop — no new connections, the calls under way finish (bounded by the timeouts above).
  kill -USR1 "$pid"
  wait_for 30 bash -c "! kill -0 $pid" || { kill "$pid" 2>/dev/null; log "haproxy (pid $pid) still had calls after 30 s; stopped"; }
  rm -f "$PIDFILE"
  log "haproxy stopped"
}

status() {
  local pid
  pid="$(running_pid)" || { echo "haproxy: not running"; return 3; }
  echo "haproxy: running (pid $pid) on http://$LB_HOST:$LB_PORT"
  # The stats CSV: pxname,svname,...,status (field 18), one line per replica; its address from the config.
  curl -sf --unix-socket "$STATS" 'http://lb/;csv' \
    | awk -F, -v cfg="$CONFIG" 'BEGIN { while ((getline l < cfg) > 0) { split(l, w, " "); if (w[1] == "server") addr[w[2]] = w[3] } }
        $1 == "replicas" && $2 != "BACKEND" && $2 != "FRONTEND" { printf "  %s %s: %s\n", $2, addr[$2], $18 }'
}

case "${1:-}" in
  install) ensure_packages haproxy=haproxy curl=curl ;; # CI: the load-balancer test needs haproxy on the machine
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: bash scripts/lb.sh start|stop|status|install   (settings: STRATUS_LB_BACKENDS, STRATUS_LB_PORT, STRATUS_LB_DIR; see the script's head)" >&2; exit 2 ;;
esac
