#!/usr/bin/env bash
# Make sure the end-to-end tests have a Chromium: Debian's package when we can install it,
# otherwise Playwright's own build (on machines that can download it).
set -euo pipefail
python=${1:-.venv/bin/python}
for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
  [ -x "$candidate" ] && exit 0
done
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing Debian's chromium for the browser tests..."
  $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null && exit 0
fi
echo "No system Chromium; falling back to Playwright's browser download."
"$python" -m playwright install chromium
