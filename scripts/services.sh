#!/usr/bin/env bash
# Starts the services Stratus needs for development and CI: Docker Engine, Redis (127.0.0.1:6379)
# and a registry (127.0.0.1:5000), and installs HAProxy and nginx. Idempotent: a service that already
# answers is left alone, a package already there is not installed again.
# No systemd on the target machines, so each daemon is started in the background with its log
# and data under the state dir. Arguments name the services to start (default: all); REGISTRY_ADDR
# moves the registry (a test's own registry, whose `npm run gc` stops no one else's).
#   haproxy  installed only: the native data plane (STRATUS_DATA_PLANE, issue 20) — Stratus starts and
#            supervises its own HAProxy with its own config on the platform's port.
#   nginx    installed only: the bench's side-by-side (bench/native-platform.ts, bench/native-path.ts)
#            starts a throwaway nginx of its own. Debian's package would start a service on :80 from its
#            postinst; ensure_packages (lib.sh) forbids that with a temporary policy-rc.d, and this script
#            says when some other nginx or haproxy service runs anyway (and leaves it alone).
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

had_haproxy=0; has_command haproxy && had_haproxy=1
had_nginx=0; has_command nginx && had_nginx=1
ensure_packages dockerd=docker.io redis-server=redis-server redis-cli=redis-tools \
  docker-registry=docker-registry curl=curl iptables=iptables ip=iproute2 \
  haproxy=haproxy nginx=nginx

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

# --- HAProxy and nginx: installed, never started here -----------------------------------------
# A daemon of the package's own (its pid file in /run, named by the package's config), if one runs.
package_daemon() { # package_daemon <name>: the pid of a running <name> started from /run/<name>.pid
  local pid
  pid="$(cat "/run/$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}
installed() { # installed <name> <had it before> <version> <what it is for>
  local how="already installed" pid
  [ "$2" -eq 1 ] || how="installed"
  if pid="$(package_daemon "$1")"; then
    report "$1" "$how ($3; $4); NOTE: a $1 service runs from the package's config (pid $pid), not started by this script: left alone"
  else
    report "$1" "$how ($3; $4)"
  fi
}
install_haproxy() {
  local v
  v="$("$(command_path haproxy)" -v 2>/dev/null | awk 'NR == 1 { print "HAProxy " $3 }')"
  [ -n "$v" ] || { fail haproxy "haproxy -v failed"; return; }
  installed haproxy "$had_haproxy" "$v" "Stratus starts its own for the native data plane"
}
install_nginx() {
  local v
  v="$("$(command_path nginx)" -v 2>&1 | sed -n 's|^nginx version: ||p')"
  [ -n "$v" ] || { fail nginx "nginx -v failed"; return; }
  installed nginx "$had_nginx" "$v" "for the bench's side-by-side only, not started"
}

services=("$@")
[ ${#services[@]} -eq 0 ] && services=(docker redis registry haproxy nginx)
for s in "${services[@]}"; do
  case "$s" in
    docker) start_docker ;;
    redis) start_redis ;;
    registry) start_registry ;;
    haproxy) install_haproxy ;;
    nginx) install_nginx ;;
    *) fail "$s" "unknown service (docker, redis, registry, haproxy, nginx)" ;;
  esac
done
exit "$failed"
