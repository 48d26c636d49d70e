#!/usr/bin/env bash
# Builds the base image for the Stratus runtimes (default stratus/base:trixie) offline from
# Docker Hub: debootstrap a minimal Debian trixie from the host's own Debian mirror, add Node.js,
# npm, Python 3 and pip, strip caches/docs, and `docker import` the tree.
# Why trixie: its nodejs is 20.19+, the first 20.x with ESM syntax detection the node runtime needs.
# The mirror is the machine's own (apt-mirror.sh reads its apt sources), or debootstrap's default when
# apt names none: no package host is written into the repository.
# Usage: build-base.sh [image-tag]   (env: STRATUS_DEBIAN_MIRROR overrides the mirror)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

TAG="${1:-stratus/base:trixie}"
SUITE=trixie

ensure_packages debootstrap=debootstrap docker=docker.io
# bookworm's debootstrap knows trixie (scripts/trixie -> sid) and debian-archive-keyring ships
# the trixie keys, so no backport is needed.
[ -e /usr/share/debootstrap/scripts/$SUITE ] || die "this debootstrap does not know $SUITE; install a newer debootstrap"

MIRROR="${STRATUS_DEBIAN_MIRROR:-$(bash "$(dirname "${BASH_SOURCE[0]}")/apt-mirror.sh")}"

ROOT="$(mktemp -d "${TMPDIR:-/var/tmp}/stratus-base.XXXXXX")"
# mktemp makes it 0700; apt drops to user _apt for downloads and must be able to enter it.
chmod 755 "$ROOT"
cleanup() {
  # Unmount anything left mounted in the chroot before removing it, or rm would reach /proc.
  for m in proc dev/pts dev sys; do mountpoint -q "$ROOT/$m" 2>/dev/null && umount -l "$ROOT/$m"; done
  rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT

start=$(date +%s)
log "debootstrap $SUITE from ${MIRROR:-the default mirror of debootstrap (apt names no Debian mirror here)} into $ROOT"
# shellcheck disable=SC2086 # an empty MIRROR is no argument: debootstrap then uses its own default
debootstrap --variant=minbase --include=nodejs,python3,ca-certificates \
  "$SUITE" "$ROOT" $MIRROR >"$ROOT.debootstrap.log" 2>&1 \
  || { tail -n 30 "$ROOT.debootstrap.log" >&2; rm -f "$ROOT.debootstrap.log"; die "debootstrap failed"; }
rm -f "$ROOT.debootstrap.log"

# debootstrap cannot --include npm (its resolver gives up on npm's many node-* dependencies),
# so npm and pip are added with apt inside the chroot, from the mirror debootstrap wrote into its
# etc/apt/sources.list (the one it used).
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"; chmod +x "$ROOT/usr/sbin/policy-rc.d"
mount -t proc proc "$ROOT/proc"
log "apt-get install npm python3-pip in the chroot"
# An https mirror behind an intercepting proxy needs its CA (NODE_EXTRA_CA_CERTS): give it to apt
# for this step only, so the proxy's CA is not baked into every function image.
APT_OPTS=""
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  cp "$NODE_EXTRA_CA_CERTS" "$ROOT/tmp/stratus-extra-ca.crt"
  APT_OPTS="-o Acquire::https::CaInfo=/tmp/stratus-extra-ca.crt"
fi
chroot "$ROOT" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -c \
  "apt-get $APT_OPTS update -qq && apt-get $APT_OPTS install -y -qq --no-install-recommends npm python3-pip >/dev/null"
umount "$ROOT/proc"

# Keep the image small: nothing here is needed at run time.
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/var/cache/debconf/*-old \
  "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
  "$ROOT"/usr/share/locale/* "$ROOT"/var/log/* "$ROOT"/tmp/* "$ROOT"/root/.npm \
  "$ROOT/usr/sbin/policy-rc.d"
# The image gets its resolv.conf/hosts from Docker at run time; do not bake the host's in.
: >"$ROOT/etc/resolv.conf"

log "docker import $TAG"
tar --numeric-owner -C "$ROOT" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
  -c 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
log "built $TAG in $(( $(date +%s) - start ))s: $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'), node $(docker run --rm "$TAG" node -v), $(docker run --rm "$TAG" python3 -V)"
