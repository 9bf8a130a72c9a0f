#!/usr/bin/env bash
# The whole suite: lint, then every test on SQLite, then again on PostgreSQL.
# On a machine without PostgreSQL the second half says so and is skipped, except under CI=true,
# where it must run. The shared task queue's test starts its own throwaway redis-server (setup.sh
# --dev installs it) and, like PostgreSQL, must run under CI=true. Extra arguments go to pytest
# (e.g. scripts/test.sh -k webhooks).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== Tests on SQLite"
TEST_DATABASE_URL= .venv/bin/python -m pytest "$@"

echo "== Tests on PostgreSQL"
if ! pg_url=$(scripts/postgres.sh); then
  if [[ "${CI:-}" == "true" ]]; then
    echo "PostgreSQL is required under CI=true but could not be started." >&2
    exit 1
  fi
  echo "PostgreSQL is not available on this machine: the PostgreSQL half is skipped."
  exit 0
fi
TEST_DATABASE_URL="$pg_url" .venv/bin/python -m pytest "$@"
