#!/usr/bin/env bash
# Installs the browser the dashboard test drives: Debian's chromium (playwright-core launches it through
# executablePath; no browser is ever downloaded by a test tool), and a font for the text of its screenshots
# (chromium only recommends one). Idempotent: what is present is left alone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages chromium=chromium
if ! dpkg -s fonts-liberation >/dev/null 2>&1; then
  log "installing fonts-liberation with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends fonts-liberation >/dev/null \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends fonts-liberation >/dev/null; } \
    || die "apt-get install fonts-liberation failed"
fi
printf '%-9s %s\n' "browser:" "$(chromium --version 2>/dev/null || echo 'chromium installed')"
