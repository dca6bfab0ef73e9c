#!/usr/bin/env bash
# Installs Debian's chromium when it is missing and we may install packages (root with apt-get).
# Browser tests skip with a reason when no chromium is found, so a machine without root still tests.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium for the browser tests..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    echo "chromium not found and cannot install it here: browser tests will be skipped" >&2
fi
