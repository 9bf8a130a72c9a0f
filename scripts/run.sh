#!/usr/bin/env bash
# Start the portal on SQLite with demo data at http://127.0.0.1:5000.
#
# With no STRIPE_SECRET_KEY, the offline Stripe stand-in (stripe_sandbox) starts beside the
# portal on SANDBOX_PORT, and the portal talks to it as it would to Stripe: hosted Checkout and
# onboarding pages, signed webhooks back to the portal. With a real test-mode key, nothing of the
# stand-in runs and the portal talks to Stripe. The stand-in keeps its state in
# instance/stripe_sandbox.sqlite3 (SANDBOX_STATE_FILE), so stopping and running again keeps the
# demo coaches' accounts; SANDBOX_FRESH=1 starts it empty.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=wsgi
host=${HOST:-127.0.0.1}
port=${PORT:-5000}

if [[ -z "${STRIPE_SECRET_KEY:-}" ]]; then
  sandbox_port=${SANDBOX_PORT:-12111}
  sandbox_url="http://127.0.0.1:${sandbox_port}"
  export STRIPE_SECRET_KEY=sk_test_offline_sandbox
  export STRIPE_API_BASE="$sandbox_url"
  export STRIPE_SANDBOX_PUBLIC_URL="$sandbox_url"
  export STRIPE_WEBHOOK_SECRET=whsec_sandbox_platform
  export STRIPE_CONNECT_WEBHOOK_SECRET=whsec_sandbox_connect
  SANDBOX_PUBLIC_URL="$sandbox_url" \
  SANDBOX_WEBHOOK_URL="http://${host}:${port}/webhooks/stripe" \
  SANDBOX_CONNECT_WEBHOOK_URL="http://${host}:${port}/webhooks/stripe/connect" \
  SANDBOX_WEBHOOK_SECRET="$STRIPE_WEBHOOK_SECRET" \
  SANDBOX_CONNECT_WEBHOOK_SECRET="$STRIPE_CONNECT_WEBHOOK_SECRET" \
  SANDBOX_AVAILABLE_AFTER="${SANDBOX_AVAILABLE_AFTER:-120}" \
  SANDBOX_PAYOUT_ARRIVAL="${SANDBOX_PAYOUT_ARRIVAL:-60}" \
  SANDBOX_STATE_FILE="${SANDBOX_STATE_FILE:-instance/stripe_sandbox.sqlite3}" \
    .venv/bin/python -m stripe_sandbox --host 127.0.0.1 --port "$sandbox_port" &
  sandbox_pid=$!
  trap 'kill "$sandbox_pid" 2>/dev/null || true' EXIT INT TERM
  echo "Offline Stripe stand-in: $sandbox_url (no Stripe account or network needed)"
fi

.venv/bin/flask db upgrade
.venv/bin/flask seed-demo
echo "Portal: http://${host}:${port}"
echo "Mail: each message is written as an .eml file in ${MAIL_FILE_PATH:-$PWD/instance/mail}"
.venv/bin/flask run --host "$host" --port "$port" &
portal_pid=$!
.venv/bin/flask jobs worker &  # the schedule and queued tasks (payouts, holds, reconciliation)
worker_pid=$!
stop() {
  kill "$portal_pid" "$worker_pid" ${sandbox_pid:-} 2>/dev/null || true
  wait 2>/dev/null || true
}
# Ctrl-C (or make's TERM) is how the demo ends: stop everything and end cleanly, so make does
# not report the interrupted wait as an error.
trap 'stop; exit 0' INT TERM
trap stop EXIT
if [[ -n "${sandbox_pid:-}" ]]; then
  # With the stand-in, the demo coaches finish onboarding at once, so they can be booked.
  .venv/bin/python scripts/onboard_demo_coaches.py "http://${host}:${port}" || true
fi
for _ in $(seq 50); do  # the logins again once the portal answers, below its start-up lines
  if .venv/bin/python -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
      "http://${host}:${port}/healthz" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
echo "Portal: http://${host}:${port}"
.venv/bin/flask demo-logins
wait "$portal_pid"
