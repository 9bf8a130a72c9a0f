#!/usr/bin/env bash
# A long run of the random-operations test: `scripts/soak.sh --operations 10000 [--postgres]`.
# One example of that many steps, through the portal's pages and the offline Stripe stand-in,
# every invariant checked after every step (tests/test_random_operations.py).
set -euo pipefail
cd "$(dirname "$0")/.."

operations=10000
database=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --operations) operations=$2; shift 2 ;;
    --postgres) database=$(scripts/postgres.sh); shift ;;
    *) echo "usage: scripts/soak.sh [--operations N] [--postgres]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --dev
start=$(date +%s)
MONEY_SOAK_OPERATIONS=$operations TEST_DATABASE_URL=$database \
  .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_random_operations.py
echo "soak: $operations operations in $(( $(date +%s) - start )) s, no drift"
