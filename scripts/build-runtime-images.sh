#!/usr/bin/env bash
# Builds the Stratus runtime images stratus/runtime-node:latest and stratus/runtime-python:latest
# (and, when no BASE_IMAGE is given and stratus/base:trixie is missing, the offline base image).
# Built once, reused while their sources are unchanged: each image carries the label
# dev.stratus.source-hash = hash(Dockerfile + runtime files + base image id), and a build is
# skipped when the tagged image already has that hash. FORCE=1 rebuilds anyway.
# Env: BASE_IMAGE (e.g. node:20-bookworm-slim; default stratus/base:trixie, built if missing),
#      BASE_IMAGE_NODE / BASE_IMAGE_PYTHON to use a different base per language.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEFAULT_BASE=stratus/base:trixie
FORCE="${FORCE:-0}"
ensure_packages docker=docker.io
docker_ping || die "Docker is not running; start it with: bash scripts/services.sh"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The base must exist locally before its id can go into the hash.
ensure_base() {
  local base="$1"
  image_exists "$base" && return 0
  if [ "$base" = "$DEFAULT_BASE" ]; then
    log "$base missing: building it with runtime-images/base/build-base.sh (a few minutes)"
    bash "$REPO/runtime-images/base/build-base.sh" "$base"
  else
    log "pulling $base"
    docker pull "$base" >/dev/null || die "cannot pull $base (no Docker Hub here? leave BASE_IMAGE unset to build $DEFAULT_BASE offline)"
  fi
}

# source_hash <context dir> <glob> <base>: names and contents of the Dockerfile and runtime files,
# plus the base image id, so a new base or a renamed file also triggers a rebuild.
source_hash() {
  local dir="$1" glob="$2" base="$3"
  {
    docker image inspect -f '{{.Id}}' "$base"
    cd "$dir"
    # shellcheck disable=SC2086 # the glob must expand
    for f in Dockerfile $(ls $glob | LC_ALL=C sort); do
      printf '%s\n' "$f"; sha256sum <"$f"
    done
  } | sha256sum | cut -c1-32
}

build_runtime() { # build_runtime <language> <runtime-file glob>
  local lang="$1" glob="$2"
  local dir="$REPO/runtime-images/$lang" tag="stratus/runtime-$lang:latest"
  local var="BASE_IMAGE_${lang^^}"
  local base="${!var:-${BASE_IMAGE:-$DEFAULT_BASE}}"
  # shellcheck disable=SC2086
  ls "$dir"/$glob >/dev/null 2>&1 || die "no runtime files ($glob) in $dir"
  ensure_base "$base"
  local hash current start
  hash="$(source_hash "$dir" "$glob" "$base")"
  current="$(docker image inspect -f '{{index .Config.Labels "dev.stratus.source-hash"}}' "$tag" 2>/dev/null || true)"
  if [ "$FORCE" != 1 ] && [ "$current" = "$hash" ]; then
    log "$tag up to date (source hash $hash)"
    return 0
  fi
  log "building $tag from $base (source hash $hash)"
  start=$(date +%s)
  local old_id out
  old_id="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  # Output is kept for failures only: the legacy builder's deprecation notice is noise otherwise.
  if ! out="$(docker build --build-arg "BASE_IMAGE=$base" --build-arg "SOURCE_HASH=$hash" -t "$tag" "$dir" 2>&1)"; then
    printf '%s\n' "$out" | tail -n 30 >&2
    die "docker build of $tag failed (rerun: docker build --build-arg BASE_IMAGE=$base $dir)"
  fi
  log "built $tag in $(( $(date +%s) - start ))s"
  # The previous image is now untagged; drop it unless a container still uses it.
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true
  fi
}

build_runtime node '*.mjs'
build_runtime python '*.py'
