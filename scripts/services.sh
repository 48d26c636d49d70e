#!/usr/bin/env bash
# Starts the services Stratus needs for development and CI: Docker Engine, Redis (127.0.0.1:6379)
# and a registry (127.0.0.1:5000). Idempotent: a service that already answers is left alone.
# No systemd on the target machines, so each daemon is started in the background with its log
# and data under the state dir. Arguments name the services to start (default: all three);
# REGISTRY_ADDR moves the registry (a test's own registry, whose `npm run gc` stops no one else's).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/registry.sh"

STATE="$REGISTRY_STATE"
REDIS_PORT=6379
REGISTRY_ADDR="${REGISTRY_ADDR:-127.0.0.1:5000}"
mkdir -p "$STATE"
failed=0

report() { printf '%-9s %s\n' "$1:" "$2"; }
fail() { report "$1" "FAILED: $2"; failed=1; }

ensure_packages dockerd=docker.io redis-server=redis-server redis-cli=redis-tools \
  docker-registry=docker-registry curl=curl iptables=iptables ip=iproute2

# --- Docker Engine ---------------------------------------------------------------------------
start_docker() {
  if docker_ping; then report docker "already running"; return; fi
  # Measured on the sandboxed dev kernel (6.18, Debian bookworm host): dockerd's defaults work:
  # overlay2 on ext4, cgroup v1 with the cgroupfs driver (no systemd), iptables NAT for the
  # default bridge, docker-init for --init. The uplink MTU there is 1400; downloads also worked
  # with a 1500 bridge, but on networks without PMTU discovery a bridge MTU above the uplink's
  # stalls TLS downloads (npm ci in a builder container), so the bridge copies the uplink's.
  local mtu iface
  iface="$(ip route show default 2>/dev/null | awk '{for(i=1;i<NF;i++) if($i=="dev"){print $(i+1); exit}}')"
  mtu="$(cat "/sys/class/net/${iface:-eth0}/mtu" 2>/dev/null || echo 1500)"
  # A stale pid file from a killed dockerd makes the new one refuse to start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  # --icc=false: containers on the default bridge cannot reach each other — one function, or an install
  # running an uploader's scripts, has no business with another's container (docs/security.md).
  nohup dockerd --mtu "$mtu" --icc=false --exec-opt native.cgroupdriver=cgroupfs \
    >>"$STATE/dockerd.log" 2>&1 </dev/null &
  if wait_for 60 docker_ping; then
    report docker "started (mtu $mtu, log $STATE/dockerd.log)"
  else
    fail docker "no /_ping on /var/run/docker.sock within 60s; last log lines:"
    tail -n 20 "$STATE/dockerd.log" >&2
  fi
}

# --- Redis -----------------------------------------------------------------------------------
redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
start_redis() {
  if redis_ping; then report redis "already running"; return; fi
  mkdir -p "$STATE/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --appendonly yes --dir "$STATE/redis" \
    --daemonize yes --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis.log" \
    || { fail redis "redis-server did not start; see $STATE/redis.log"; return; }
  if wait_for 20 redis_ping; then
    report redis "started (127.0.0.1:$REDIS_PORT, data $STATE/redis)"
  else
    fail redis "no PONG within 20s; last log lines:"
    tail -n 20 "$STATE/redis.log" >&2
  fi
}

# --- Registry (CNCF Distribution) ------------------------------------------------------------
# Config and pid file in scripts/registry.sh: `npm run gc` (registry-gc.sh) restarts this registry read-only.
start_registry() {
  if registry_ping "$REGISTRY_ADDR"; then report registry "already running"; return; fi
  registry_write_config "$REGISTRY_CONFIG" "$REGISTRY_ADDR"
  if registry_start "$REGISTRY_CONFIG"; then
    report registry "started (http://$REGISTRY_ADDR, data $STATE/registry, pid $(cat "$REGISTRY_PIDFILE"))"
  else
    fail registry "GET /v2/ not 200 within 20s; last log lines:"
    tail -n 20 "$REGISTRY_LOG" >&2
  fi
}

services=("$@")
[ ${#services[@]} -eq 0 ] && services=(docker redis registry)
for s in "${services[@]}"; do
  case "$s" in
    docker) start_docker ;;
    redis) start_redis ;;
    registry) start_registry ;;
    *) fail "$s" "unknown service (docker, redis, registry)" ;;
  esac
done
exit "$failed"
