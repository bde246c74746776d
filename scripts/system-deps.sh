#!/usr/bin/env bash
# Debian packages some tests and benchmarks drive for real: a Prometheus server and a
# Pushgateway (monitoring), wrk (load generation), headless Chromium and its driver (the admin
# browser tests; Selenium is given /usr/bin/chromedriver, never downloads one). Installed once;
# skipped when present.
#
# Debian starts a packaged daemon on install where it can. Our tests start their own instances on
# free ports, so the install asks for no daemon to be started (policy-rc.d, Debian's switch for
# exactly this) and, should one start anyway, stops only the processes that appeared during this
# install: a Prometheus or Pushgateway the user already runs is never touched.
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
daemons=(/usr/bin/prometheus /usr/bin/prometheus-pushgateway /usr/bin/prometheus-node-exporter)
running_before() { pgrep -f "^($(IFS='|'; echo "${daemons[*]}"))( |$)" || true; }
before=" $(running_before | tr '\n' ' ') "

policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
fi
cleanup() { [ "$made_policy" -eq 1 ] && rm -f "$policy"; return 0; }
trap cleanup EXIT

echo "Installing system packages: ${missing[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

for pid in $(running_before); do
  case "$before" in *" $pid "*) ;; *) kill "$pid" 2>/dev/null || true ;; esac
done
