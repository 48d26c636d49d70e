#!/usr/bin/env bash
# Builds the Stratus runtime images stratus/runtime-node:latest and stratus/runtime-python:latest
# (and, when no BASE_IMAGE is given and stratus/base:trixie is missing, the offline base image),
# then the checks images stratus/checks-node:latest and stratus/checks-python:latest FROM them (the
# build's lint and test tools; function instances never run them, so the runtime images stay lean).
# Built once, reused while their sources are unchanged: each image carries the label
# dev.stratus.source-hash = hash(Dockerfile + its files + base image id), and a build is
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
    # shellcheck disable=SC2086 # the glob must expand; an empty one is the Dockerfile alone
    for f in Dockerfile $( [ -z "$glob" ] || ls $glob | LC_ALL=C sort); do
      printf '%s\n' "$f"; sha256sum <"$f"
    done
  } | sha256sum | cut -c1-32
}

# build_image <tag> <context dir> <file glob> <base> [prepare command]: builds <tag> FROM <base> unless
# it already carries the source hash. A prepare command runs in a copy of the context first (what
# must be fetched with the host's own package settings, so that `docker build` needs no network).
build_image() {
  local tag="$1" dir="$2" glob="$3" base="$4" prepare="${5:-}"
  local hash current start
  hash="$(source_hash "$dir" "$glob" "$base")"
  current="$(docker image inspect -f '{{index .Config.Labels "dev.stratus.source-hash"}}' "$tag" 2>/dev/null || true)"
  if [ "$FORCE" != 1 ] && [ "$current" = "$hash" ]; then
    log "$tag up to date (source hash $hash)"
    return 0
  fi
  log "building $tag from $base (source hash $hash)"
  start=$(date +%s)
  local context="$dir" scratch=""
  if [ -n "$prepare" ]; then
    scratch="$(mktemp -d "${TMPDIR:-/tmp}/stratus-image.XXXXXX")"
    cp -R "$dir/." "$scratch/"
    context="$scratch"
    (cd "$context" && eval "$prepare") >"$scratch.prepare.log" 2>&1 \
      || { tail -n 30 "$scratch.prepare.log" >&2; rm -rf "$scratch" "$scratch.prepare.log"; die "preparing $tag failed ($prepare)"; }
    rm -f "$scratch.prepare.log"
  fi
  local old_id out rc=0
  old_id="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  # Output is kept for failures only: the legacy builder's deprecation notice is noise otherwise.
  # The hash label is set here for every image (the runtime Dockerfiles also take it as SOURCE_HASH).
  out="$(docker build --build-arg "BASE_IMAGE=$base" --build-arg "SOURCE_HASH=$hash" --label "dev.stratus.source-hash=$hash" -t "$tag" "$context" 2>&1)" || rc=$?
  [ -n "$scratch" ] && rm -rf "$scratch"
  if [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out" | tail -n 30 >&2
    die "docker build of $tag failed (rerun: docker build --build-arg BASE_IMAGE=$base $dir)"
  fi
  log "built $tag in $(( $(date +%s) - start ))s"
  # The previous image is now untagged; drop it unless a container still uses it.
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true
  fi
}

build_runtime() { # build_runtime <language> <runtime-file glob>
  local lang="$1" glob="$2"
  local dir="$REPO/runtime-images/$lang"
  local var="BASE_IMAGE_${lang^^}"
  local base="${!var:-${BASE_IMAGE:-$DEFAULT_BASE}}"
  # shellcheck disable=SC2086
  ls "$dir"/$glob >/dev/null 2>&1 || die "no runtime files ($glob) in $dir"
  ensure_base "$base"
  build_image "stratus/runtime-$lang:latest" "$dir" "$glob" "$base"
}

build_runtime node '*.mjs'
build_runtime python '*.py'
# The checks images start FROM the runtime images just built: a build checks code with the Node or
# Python its function runs on. ESLint comes from the npm registry the host's npm is set up for,
# installed exactly as package-lock.json pins it.
ensure_packages npm=npm
build_image stratus/checks-node:latest "$REPO/runtime-images/checks-node" 'package.json package-lock.json *.mjs' stratus/runtime-node:latest \
  'npm ci --omit=dev --ignore-scripts --no-audit --no-fund'
build_image stratus/checks-python:latest "$REPO/runtime-images/checks-python" '' stratus/runtime-python:latest
