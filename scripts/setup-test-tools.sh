#!/usr/bin/env bash
# Debian packages only the test suite needs, installed when missing (run by `make test`):
#   chromium    driven by Playwright from PyPI in tests/ui/test_ui_browser.py (never `playwright install`)
#   prometheus  promtool for `make deploy-check`, the server binary for tests/deploy/test_deploy.py
# Needs root (or passwordless sudo) and apt-get; elsewhere it says what is missing and the tests
# that need it skip (deploy-check needs promtool).
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } \
  || missing+=(prometheus)
if [ ${#missing[@]} -eq 0 ]; then
  echo "test tools present: chromium, prometheus"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing ${missing[*]} and no apt-get: install them yourself" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "missing ${missing[*]}: run as root (or with sudo) to install them" >&2
    exit 0
  fi
fi
echo "== installing ${missing[*]} (apt)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
