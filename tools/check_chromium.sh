#!/usr/bin/env bash
# The dashboard tests open each page in a real headless Chromium; say so in one line when it is missing.
set -euo pipefail
if [ -n "${CHROMIUM:-}" ]; then
  command -v "$CHROMIUM" >/dev/null 2>&1 || { echo "error: CHROMIUM=$CHROMIUM is not an executable" >&2; exit 1; }
  exit 0
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  command -v "$name" >/dev/null 2>&1 && exit 0
done
echo "error: Chromium not found (the dashboard tests run it headless): install it with apt-get install -y chromium, or set CHROMIUM=/path/to/chromium" >&2
exit 1
