#!/usr/bin/env bash
# Debian packages some tests and benchmarks drive for real: a Prometheus server and a
# Pushgateway (monitoring), wrk (load generation), headless Chromium and its driver (the admin
# browser tests; Selenium is given /usr/bin/chromedriver, never downloads one). Installed once;
# skipped when present.
set -euo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# the browser tests use these exact paths (tests/browser/conftest.py), not whatever is on PATH
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: cannot install ${missing[*]} (need root and apt-get); tests that drive them will be skipped" >&2
  exit 0
fi
echo "Installing system packages: ${missing[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
# The Debian packages start services on install where an init system exists; our tests start
# their own instances on free ports, so stop any that were started.
for svc in prometheus prometheus-pushgateway prometheus-node-exporter; do
  pkill -f "/usr/bin/$svc" 2>/dev/null || true
done
