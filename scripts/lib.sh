# Shared helpers for the Stratus service and image scripts (sourced, not executed).
# Why a library: services.sh, build-runtime-images.sh and the base recipe all need the same
# "install if missing" and "wait until ready" logic, and CI runs them on a fresh machine.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[stratus] %s\n' "$*" >&2; }
die() { printf '[stratus] ERROR: %s\n' "$*" >&2; exit 1; }

# apt-get update only once per run and only when a package really must be installed:
# a fresh CI machine has nothing, a dev machine usually has everything.
_APT_UPDATED=0
# A command on the PATH, or in the sbin dirs a non-root PATH often lacks (haproxy, nginx live in /usr/sbin).
command_path() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || { [ -x "/sbin/$1" ] && echo "/sbin/$1"; }; }
has_command() { command_path "$1" >/dev/null; }
ensure_packages() { # ensure_packages <command>=<package> ...
  local missing=() pair cmd pkg
  for pair in "$@"; do
    cmd="${pair%%=*}"; pkg="${pair#*=}"
    has_command "$cmd" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; install them (needs root): apt-get install ${missing[*]}"
  log "installing ${missing[*]} with apt-get"
  if [ "$_APT_UPDATED" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || die "apt-get update failed"
    _APT_UPDATED=1
  fi
  # Packages like redis-server and docker-registry would start their own daemons from postinst
  # (all interfaces, packaged config, auth); we start ours with our config, so forbid that.
  local own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  [ "$own_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" -eq 0 ] || die "apt-get install ${missing[*]} failed"
}

# wait_for <seconds> <command...>: polls a readiness probe twice a second.
wait_for() {
  local timeout="$1"; shift
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

docker_ping() { curl -sf --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null; }
