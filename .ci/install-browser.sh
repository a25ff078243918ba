#!/usr/bin/env bash
# Installs what tests/test_browser.py needs: Debian's chromium and its chromedriver (never a
# downloaded browser build). Idempotent; skips quietly where it cannot install (not root, no
# apt), and the browser test then skips with the reason.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: cannot install chromium here (needs root and apt); the browser test will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; } >/dev/null 2>&1; then
    echo "install-browser: apt-get could not install chromium; the browser test will skip" >&2
fi
exit 0
