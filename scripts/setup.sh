#!/usr/bin/env bash
# Installs what the tests and benchmarks need, only what is missing:
#   Debian packages  postgresql postgresql-contrib (the throwaway test server), chromium chromium-driver
#                    (the browser tests), nginx and caddy (the gateway tests), wrk (bench/), curl,
#                    python3-pip when pip is missing
#   PyPI             tests/requirements.txt (pytest, selenium, requests, standardwebhooks, ...)
# `apt-get update` runs once, and only when a package is missing. Nothing that is already there is
# upgraded. Run as root (or with sudo available); otherwise it says what is missing and goes on, and the
# tests that need it are skipped (PostgreSQL) or fail saying what is missing (the browser).
# Called by scripts/test.sh; KEYSMITH_NO_SETUP=1 (or scripts/test.sh --no-setup) skips it.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if command -v dpkg-query >/dev/null 2>&1; then installed postgresql-contrib || missing+=(postgresql-contrib); fi
have psql || missing+=(postgresql-client)
have chromium || missing+=(chromium)
have chromedriver || missing+=(chromium-driver)
have nginx || missing+=(nginx)
have caddy || missing+=(caddy)
have wrk || missing+=(wrk)
have curl || missing+=(curl)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 126
  fi
}

if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "== setup: missing ${missing[*]}, and there is no apt-get here: install them by hand" >&2
  elif ! as_root true; then
    echo "== setup: missing ${missing[*]}; not root and no sudo: install them by hand (apt-get install ${missing[*]})" >&2
  else
    echo "== setup: apt-get install ${missing[*]}"
    # Packages' install scripts would start their services (postgresql's `main` cluster on 5432, nginx on
    # port 80, caddy on 80 and its admin API on 2019); the tests start their own, so keep those from
    # starting while installing.
    policy=/usr/sbin/policy-rc.d made_policy=""
    if [ ! -e "$policy" ]; then
      as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy" && made_policy=1
    fi
    rc=0
    as_root apt-get update -qq || rc=$?
    if [ "$rc" = 0 ]; then
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/tmp/keysmith-apt.log 2>&1 || rc=$?
    fi
    [ -n "$made_policy" ] && as_root rm -f "$policy"
    if [ "$rc" != 0 ]; then
      echo "== setup: apt-get failed ($rc); the tests that need ${missing[*]} will be skipped or fail:" >&2
      tail -n 20 /tmp/keysmith-apt.log >&2 2>/dev/null || true
    fi
  fi
fi

# PyPI: only when a requirement is not met (pip answers "already satisfied" without the network then).
pip_args=(install -q --disable-pip-version-check --no-warn-script-location -r tests/requirements.txt)
if [ "$(id -u)" = 0 ]; then
  pip_args+=(--root-user-action=ignore)
elif [ "$(python3 -c 'import sys; print(sys.prefix != sys.base_prefix)')" = False ] && [ ! -w "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" ]; then
  pip_args+=(--user)  # not root, no virtualenv, site-packages not writable: the user's own site-packages
fi
if python3 -m pip --version >/dev/null 2>&1; then
  if ! out=$(python3 -m pip "${pip_args[@]}" 2>&1); then
    if grep -q externally-managed-environment <<<"$out"; then
      # Debian's own python3 (PEP 668): these are test-only packages on a test machine.
      python3 -m pip "${pip_args[@]}" --break-system-packages || echo "== setup: pip install failed" >&2
    else
      echo "$out" >&2
      echo "== setup: pip install -r tests/requirements.txt failed" >&2
    fi
  fi
  # trufflehog3 pins attrs==20.3.0, which schemathesis's jsonschema cannot share; it runs with the newer
  # attrs and PyYAML that the requirements bring, so it is installed apart, without its own pins.
  if ! python3 -m pip show trufflehog3 >/dev/null 2>&1; then
    python3 -m pip install -q --disable-pip-version-check --no-warn-script-location --no-deps trufflehog3==3.0.10 \
      "${pip_args[@]:6}" 2>/dev/null \
      || python3 -m pip install -q --disable-pip-version-check --no-warn-script-location --no-deps trufflehog3==3.0.10 \
        "${pip_args[@]:6}" --break-system-packages \
      || echo "== setup: pip install --no-deps trufflehog3==3.0.10 failed" >&2
  fi
else
  echo "== setup: no pip for $(command -v python3): install tests/requirements.txt by hand" >&2
fi
