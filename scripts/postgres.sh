#!/usr/bin/env bash
# Make sure a local PostgreSQL answers, and print a URL for it. Exits 1 when there is none.
# Uses TEST_DATABASE_URL or DATABASE_URL when either points at PostgreSQL already.
set -uo pipefail

for url in "${TEST_DATABASE_URL:-}" "${DATABASE_URL:-}"; do
  if [[ "$url" == postgres* ]]; then echo "$url"; exit 0; fi
done

url="postgresql:///postgres"
if psql "$url" -Atc 'select 1' >/dev/null 2>&1; then echo "$url"; exit 0; fi
command -v pg_lsclusters >/dev/null 2>&1 || exit 1

cluster=$(pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1" "$2}')
[[ -n "$cluster" ]] || exit 1
# shellcheck disable=SC2086
pg_ctlcluster --skip-systemctl-redirect $cluster start >/dev/null 2>&1 || true
if [[ "$(id -u)" == 0 ]]; then
  su postgres -c "createuser -s $(id -un)" >/dev/null 2>&1 || true
fi
for _ in $(seq 1 30); do
  if psql "$url" -Atc 'select 1' >/dev/null 2>&1; then echo "$url"; exit 0; fi
  sleep 1
done
exit 1
