#!/usr/bin/env bash
# Installs the S3 clients the storage integrity test drives against Stratus's S3 endpoint: Debian's awscli
# (the AWS CLI, run as /usr/bin/aws) and s3cmd. Checked by package, not by command: an `aws` elsewhere on
# PATH (a pip install) is another client than the one the test names. Idempotent: what is present is left
# alone; apt-get update only when something must be installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

missing=()
for pkg in awscli s3cmd; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; install them (needs root): apt-get install ${missing[*]}"
  log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
    || die "apt-get install ${missing[*]} failed"
fi
printf '%-9s %s\n' "awscli:" "$(/usr/bin/aws --version 2>&1 | head -1)"
printf '%-9s %s\n' "s3cmd:" "$(s3cmd --version 2>&1 | head -1)"
