#!/usr/bin/env bash
# Install Debian's Chromium (/usr/bin/chromium) for the end-to-end test (e2e/requester.spec.js
# drives it through playwright-core, which never downloads a browser of its own). Idempotent:
# nothing happens when it is already installed. Needs apt-get and root; without them it says
# so and leaves it to the end-to-end test to report itself skipped (or failed under CI).
set -euo pipefail
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "Chromium not found at $CHROMIUM and apt-get is not available: the end-to-end test will be skipped" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "Chromium not found at $CHROMIUM; installing it needs root (apt-get install chromium): the end-to-end test will be skipped" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
install() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }
echo "installing Chromium (Debian package chromium)" >&2
if ! install >/tmp/setup_browser.$$.log 2>&1; then
  # Most often the package lists are missing or stale (fresh containers have none).
  echo "apt-get install failed; updating the package lists and trying again" >&2
  $SUDO apt-get update -q >/dev/null
  if ! install >/tmp/setup_browser.$$.log 2>&1; then
    cat /tmp/setup_browser.$$.log >&2
    rm -f /tmp/setup_browser.$$.log
    echo "could not install Chromium" >&2
    exit 1
  fi
fi
rm -f /tmp/setup_browser.$$.log
[ -x "$CHROMIUM" ] || echo "chromium is installed, but not at $CHROMIUM (set CHROMIUM_PATH)" >&2
