#!/usr/bin/env bash
# The whole suite: lint, then every test on SQLite and, beside it, again on PostgreSQL, then the
# end-to-end tests once more on SQLite with webhooks shuffled and doubled.
# On a machine without PostgreSQL the second half says so and is skipped, except under CI=true,
# where it must run. The shared task queue's test starts its own throwaway redis-server (setup.sh
# --dev installs it) and, like PostgreSQL, must run under CI=true. Extra arguments go to pytest
# (e.g. scripts/test.sh -k webhooks).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .

# The two halves run side by side (a machine has two cores or more, and each half keeps about
# one busy): the PostgreSQL half's output is kept and shown after the SQLite half's.
pg_log=$(mktemp)
pg_pid=
trap '[[ -n "$pg_pid" ]] && kill "$pg_pid" 2>/dev/null; rm -f "$pg_log"' EXIT
if pg_url=$(scripts/postgres.sh); then
  TEST_DATABASE_URL="$pg_url" .venv/bin/python -m pytest "$@" >"$pg_log" 2>&1 &
  pg_pid=$!
elif [[ "${CI:-}" == "true" ]]; then
  echo "PostgreSQL is required under CI=true but could not be started." >&2
  exit 1
else
  echo "PostgreSQL is not available on this machine: the PostgreSQL half is skipped."
fi

failed=0
echo "== Tests on SQLite"
TEST_DATABASE_URL= .venv/bin/python -m pytest "$@" || failed=1

# Stripe promises neither the order of events nor a single delivery: the end-to-end tests (the
# portal served against a live stand-in, tests/live.py) run once more with every event delivered
# after a random wait and one in three twice.
echo "== End-to-end tests on SQLite, webhooks shuffled and doubled"
SANDBOX_WEBHOOK_CHAOS=1 TEST_DATABASE_URL= .venv/bin/python -m pytest "$@" \
  tests/coaches/test_journey.py tests/billing tests/admin/test_live.py \
  tests/payouts/test_onboarding.py tests/payouts/test_payouts.py tests/browser || failed=1

if [[ -n "$pg_pid" ]]; then
  echo "== Tests on PostgreSQL"
  wait "$pg_pid" || failed=1
  pg_pid=
  cat "$pg_log"
fi
exit "$failed"
