#!/usr/bin/env bash
# Prints the Debian mirror this machine's apt is set up with, for build-base.sh's debootstrap: the first
# enabled `deb` source whose URI is a Debian archive (its path ends in /debian), security archives left
# out. Prints nothing when there is none (an Ubuntu host, no apt at all): the caller then leaves the choice
# to debootstrap's own default. Files are read in apt's order: etc/apt/sources.list (one-line format),
# then sources.list.d/ by name, *.list one-line and *.sources deb822 (stanzas of Types/URIs/Suites/Enabled).
# Usage: apt-mirror.sh [root]   (root: where etc/apt is; default /; tests pass a fixture tree)
set -euo pipefail
APT="${1:-}/etc/apt"

files=()
[ -f "$APT/sources.list" ] && files+=("$APT/sources.list")
for f in "$APT"/sources.list.d/*; do # the glob is sorted, as apt reads them
  case "$f" in *.list | *.sources) [ -f "$f" ] && files+=("$f") ;; esac
done
[ ${#files[@]} -eq 0 ] && exit 0

awk '
  function archive(uri) { return uri ~ /^https?:\/\/[^\/]+(\/.*)?\/debian\/?$/ }
  function found(uri) { sub(/\/$/, "", uri); print uri; done = 1; exit }
  # A deb822 stanza ends at a blank line or the end of its file.
  function stanza_end(   n, i, uris) {
    if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no" && suites !~ /^[^ ]*-security( [^ ]*-security)*$/) {
      n = split(uri_list, uris, " ")
      for (i = 1; i <= n; i++) if (archive(uris[i])) found(uris[i])
    }
    types = ""; uri_list = ""; suites = ""; enabled = ""
  }
  FNR == 1 && deb822 { stanza_end() }
  FNR == 1 { deb822 = FILENAME ~ /\.sources$/ }
  /^[ \t]*#/ { next }
  deb822 {
    if ($0 ~ /^[ \t]*$/) { stanza_end(); next }
    field = tolower($1); value = $0; sub(/^[^:]*:[ \t]*/, "", value); gsub(/[ \t]+/, " ", value)
    if (field == "types:") types = value
    else if (field == "uris:") uri_list = value
    else if (field == "suites:") suites = value
    else if (field == "enabled:") enabled = value
    next
  }
  $1 == "deb" {
    line = $0; sub(/^[ \t]+/, "", line); sub(/\[[^]]*\]/, "", line); split(line, f, /[ \t]+/)
    if (f[3] !~ /-security$/ && archive(f[2])) found(f[2])
  }
  END { if (!done && deb822) stanza_end() }
' "${files[@]}"
