#!/usr/bin/env bash
# `npm run gc`: frees the disk of the images Stratus deleted (a deleted function's, old versions' beyond
# STRATUS_IMAGES_KEPT) by running the registry's garbage collection, Debian's `docker-registry
# garbage-collect --delete-untagged`, on the registry scripts/services.sh starts. Deleting a tag through
# the API only unlinks its manifest; the blobs stay until this runs.
#
# The Distribution docs require the registry to be read-only or stopped during the collection (an image
# pushed meanwhile could lose layers the sweep sees unreferenced). So a running registry is restarted in
# maintenance read-only mode for the collection — pulls keep working, a build pushing meanwhile fails and
# can be retried — and restarted as it was afterwards, also when the collection fails.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/registry.sh"

[ -f "$REGISTRY_CONFIG" ] || die "no $REGISTRY_CONFIG: this collects the registry scripts/services.sh starts (STRATUS_SERVICES_DIR names another services dir)"
ensure_packages docker-registry=docker-registry curl=curl
ADDR="$(registry_addr_of "$REGISTRY_CONFIG")"
READONLY_CONFIG="$REGISTRY_STATE/registry-readonly.yml"
restore=0

back_to_normal() {
  [ "$restore" -eq 1 ] || return 0
  local pid
  pid="$(registry_pid)" && registry_stop "$pid"
  if registry_start "$REGISTRY_CONFIG"; then
    log "registry on $ADDR serving again (read-write)"
  else
    log "the registry on $ADDR did not come back; see $REGISTRY_LOG and run: bash scripts/services.sh registry"
    exit 1
  fi
}
trap back_to_normal EXIT

if registry_ping "$ADDR"; then
  pid="$(registry_pid)" || die "a registry answers on $ADDR but it is not the one $REGISTRY_CONFIG started (no $REGISTRY_PIDFILE, no such process): make it read-only or stop it, then run: docker-registry garbage-collect --delete-untagged $REGISTRY_CONFIG"
  log "registry on $ADDR (pid $pid): restarting it read-only for the collection"
  registry_readonly_config "$REGISTRY_CONFIG" "$READONLY_CONFIG"
  restore=1
  registry_stop "$pid"
  registry_start "$READONLY_CONFIG" || die "the read-only registry did not answer on $ADDR within 20 s; see $REGISTRY_LOG"
else
  log "no registry answers on $ADDR: collecting its storage while it is stopped"
fi

out="$REGISTRY_STATE/gc.log"
if docker-registry garbage-collect --delete-untagged "$REGISTRY_CONFIG" >"$out" 2>&1; then
  # Its last summary line: "N blobs marked, M blobs and K manifests eligible for deletion".
  log "garbage collection done: $(grep -E 'blobs marked' "$out" | tail -n 1) (full output: $out)"
else
  tail -n 20 "$out" >&2
  die "docker-registry garbage-collect failed (full output: $out)"
fi
