#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/ (and the optional deploy/build-worker/) without a cluster:
#   1. kubectl (Debian's kubernetes-client when missing) renders each kustomization — what `apply -k` sends;
#   2. test/unit/deploy-manifests.test.ts checks every object against the Kubernetes schemas (types, required
#      fields, enums, and no unknown field), and the manifests against the code: replicas, the disruption
#      budget, probes on the app's public routes, the drain, one platform identity, known settings, RBAC
#      equal to the API calls the code makes.
# `kubectl apply --dry-run=client` is not run here: even client-side, kubectl asks an API server for its
# resource list (and the live objects to diff against) and fails without one ("connection to the server
# localhost:8080 was refused"). With a cluster at hand, `--cluster` also runs it, and the server-side dry
# run, against kubectl's current context — nothing is created either way.
# usage: bash scripts/check-manifests.sh [--cluster]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages kubectl=kubernetes-client
cd "$REPO"
DIRS=(deploy deploy/build-worker)

for dir in "${DIRS[@]}"; do
  out="$(kubectl kustomize "$dir")" || die "kubectl kustomize $dir failed"
  log "kubectl kustomize $dir: $(grep -c '^kind:' <<<"$out") objects"
done

if [ "${1:-}" = "--cluster" ]; then
  for dir in "${DIRS[@]}"; do
    kubectl apply --dry-run=client -k "$dir"
    kubectl apply --dry-run=server -k "$dir"
  done
fi

npx vitest run test/unit/deploy-manifests.test.ts
