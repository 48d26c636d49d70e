# The registry scripts/services.sh starts, and how registry-gc.sh restarts it read-only (sourced, not
# executed; needs lib.sh). One config and one pid file under the services dir, so that the collection
# stops exactly the registry services.sh started and brings it back with the same settings.

REGISTRY_STATE="${STRATUS_SERVICES_DIR:-$REPO/.stratus/services}"
REGISTRY_CONFIG="$REGISTRY_STATE/registry.yml"
REGISTRY_PIDFILE="$REGISTRY_STATE/registry.pid"
REGISTRY_LOG="$REGISTRY_STATE/registry.log"

registry_ping() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$1/v2/")" = 200 ]; }

# The http addr a config listens on (host:port).
registry_addr_of() { awk '/^http:/ { h = 1; next } h && $1 == "addr:" { print $2; exit }' "$1"; }

# registry_write_config <file> <addr>: our own config. The packaged one listens on all interfaces and
# asks for htpasswd auth. Delete is enabled because Stratus removes the images of deleted functions and
# old versions (then `npm run gc` frees their blobs).
registry_write_config() {
  cat >"$1" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_STATE/registry
  delete:
    enabled: true
http:
  addr: $2
YAML
}

# registry_readonly_config <config> <out>: the same registry in maintenance read-only mode (pulls are
# served, pushes and deletes refused), as the Distribution docs ask of a registry during garbage-collect.
registry_readonly_config() {
  awk '{ print } $0 == "storage:" { print "  maintenance:"; print "    readonly:"; print "      enabled: true" }' "$1" >"$2"
}

# registry_start <config>: serve it in the background, record its pid, wait until it answers.
registry_start() {
  mkdir -p "$REGISTRY_STATE/registry"
  nohup docker-registry serve "$1" >>"$REGISTRY_LOG" 2>&1 </dev/null &
  echo $! >"$REGISTRY_PIDFILE"
  wait_for 20 registry_ping "$(registry_addr_of "$1")"
}

# The pid of the registry serving $REGISTRY_CONFIG (or its read-only twin): from the pid file, else (a
# registry an older services.sh started, without one) the process whose command line is exactly ours.
registry_pid() {
  local pid cmd
  pid="$(cat "$REGISTRY_PIDFILE" 2>/dev/null)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q '^docker-registry serve '; then
    echo "$pid"; return 0
  fi
  for cmd in /proc/[0-9]*/cmdline; do
    if [ "$(tr '\0' ' ' <"$cmd" 2>/dev/null)" = "docker-registry serve $REGISTRY_CONFIG " ]; then
      pid="${cmd#/proc/}"; echo "${pid%/cmdline}"; return 0
    fi
  done
  return 1
}

# registry_stop <pid>: TERM, then KILL after 10 s; returns once it is gone.
registry_stop() {
  kill "$1" 2>/dev/null || return 0
  wait_for 10 sh -c "! kill -0 $1 2>/dev/null" || { kill -9 "$1" 2>/dev/null; wait_for 5 sh -c "! kill -0 $1 2>/dev/null"; }
  rm -f "$REGISTRY_PIDFILE"
}
