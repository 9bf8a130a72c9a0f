#!/usr/bin/env bash
# Install what the portal needs into .venv and static/vendor. Safe to run again: it only does
# what is missing or out of date. `--dev` adds the test and lint tools.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
requirements=requirements.txt
dev=
if [[ "${1:-}" == "--dev" ]]; then requirements=requirements-dev.txt; dev=1; fi

if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)-$(basename "$requirements")
if [[ ! -f "$stamp" ]]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  touch "$stamp"
fi

# htmx and other front-end packages come from npm, pinned by package-lock.json. (The Docker image
# fetches them in a stage of its own and sets SKIP_FRONTEND.)
if [[ -z "${SKIP_FRONTEND:-}" ]] && [[ ! -f static/vendor/htmx.min.js || package-lock.json -nt static/vendor/htmx.min.js || ( -n "$dev" && ! -f node_modules/axe-core/axe.min.js ) ]]; then
  npm ci --no-audit --no-fund --loglevel=error
  mkdir -p static/vendor
  cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
fi
mkdir -p instance

# The browser tests drive Debian's Chromium (a browser download never works here).
if [[ -n "$dev" ]] && ! command -v chromium >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chromium for the browser tests..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is not installed: the browser tests will be skipped (apt-get install chromium)."
  fi
fi

# The shared task queue's test and the throttle test (gunicorn workers sharing their counters)
# start a throwaway redis-server (Debian's), as they do PostgreSQL.
if [[ -n "$dev" ]] && ! command -v redis-server >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing redis-server for the shared task queue's and the throttle's tests..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is not installed: the tests that need it will be skipped (apt-get install redis-server)."
  fi
fi
