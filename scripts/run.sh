#!/usr/bin/env bash
# Start the portal on SQLite with demo data. With no STRIPE_SECRET_KEY, the offline Stripe
# stand-in starts beside it and the portal talks to it instead of Stripe.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=wsgi
.venv/bin/flask db upgrade
.venv/bin/flask seed-demo
exec .venv/bin/flask run --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
