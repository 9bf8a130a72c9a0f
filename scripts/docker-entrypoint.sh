#!/usr/bin/env bash
# The image's entry point: run migrations first only when told to (RUN_MIGRATIONS=1), so that
# several replicas starting at once do not race to upgrade the schema.
set -euo pipefail
if [[ "${RUN_MIGRATIONS:-0}" == "1" ]]; then
  .venv/bin/flask db upgrade
fi
exec "$@"
