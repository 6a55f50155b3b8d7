#!/usr/bin/env bash
# Prints the path of a headless-capable chromium, installing Debian's package
# first when none is found and we may (root with apt-get, as on CI).
# The status page tests call it; nothing else needs a browser.
set -euo pipefail
for name in chromium chromium-browser; do
  if path="$(command -v "$name")"; then echo "$path"; exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-chromium: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
  command -v chromium
  exit 0
fi
echo "ensure-chromium: chromium not found; install it (Debian: apt-get install chromium)" >&2
exit 1
