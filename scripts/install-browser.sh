#!/usr/bin/env bash
# Install the headless browser the review page's tests drive: Debian's `chromium` and
# `chromium-driver` (chromedriver at /usr/bin/chromedriver; Selenium is told that path, so
# Selenium Manager never downloads a driver). Without them the `browser` tests skip with
# the reason. Never fails the caller: without apt or root it says what to do instead.
set -u
if command -v chromium >/dev/null 2>&1 && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "robustloss setup: installing Debian packages chromium chromium-driver (browser tests)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >/dev/null; then
        echo "robustloss setup: warning: apt-get could not install chromium/chromium-driver;" \
             "the browser tests will be skipped" >&2
    fi
else
    echo "robustloss setup: note: not root or no apt-get; the browser tests will be skipped" \
         "(or run: sudo apt-get install chromium chromium-driver)" >&2
fi
exit 0
