#!/usr/bin/env bash
# Starts the services Stratus needs for development and CI: Docker Engine, Redis (127.0.0.1:6379)
# and a registry (127.0.0.1:5000). Idempotent: a service that already answers is left alone.
# No systemd on the target machines, so each daemon is started in the background with its log
# and data under the state dir.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE="${STRATUS_SERVICES_DIR:-$REPO/.stratus/services}"
REDIS_PORT=6379
REGISTRY_ADDR=127.0.0.1:5000
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
  # running an uploader's scripts, has no business with another's container (README, "Security model").
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
registry_ping() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY_ADDR/v2/")" = 200 ]; }
start_registry() {
  if registry_ping; then report registry "already running"; return; fi
  mkdir -p "$STATE/registry"
  # Our own config: the packaged one listens on all interfaces and asks for htpasswd auth.
  # Delete is enabled because Stratus removes the images of deleted functions.
  cat >"$STATE/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
YAML
  nohup docker-registry serve "$STATE/registry.yml" >>"$STATE/registry.log" 2>&1 </dev/null &
  if wait_for 20 registry_ping; then
    report registry "started (http://$REGISTRY_ADDR, data $STATE/registry)"
  else
    fail registry "GET /v2/ not 200 within 20s; last log lines:"
    tail -n 20 "$STATE/registry.log" >&2
  fi
}

start_docker
start_redis
start_registry
exit "$failed"
