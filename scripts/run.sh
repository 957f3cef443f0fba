#!/usr/bin/env bash
# Local run: migrate the database, start the bundled ACE sandbox unless ACE_API_URL points
# elsewhere, then serve the API on 127.0.0.1:8000 until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../backend"
ACEHUB=.venv/bin/acehub
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
SANDBOX_PORT=${SANDBOX_PORT:-8100}

env_file_value() {  # the value of $1 in ../.env, if the file sets it
  [ -f ../.env ] && sed -n "s/^$1=//p" ../.env | tail -n 1
}

$ACEHUB migrate

sandbox_pid=""
worker_pid=""
cleanup() {
  [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null || true
  [ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ -z "${ACE_API_URL:-}" ] && [ -z "$(env_file_value ACE_API_URL)" ]; then
  $ACEHUB sandbox --host 127.0.0.1 --port "$SANDBOX_PORT" --log-level warning &
  sandbox_pid=$!
  export ACE_API_URL="http://127.0.0.1:${SANDBOX_PORT}/"
  for _ in $(seq 1 50); do
    if curl -fsS -o /dev/null "${ACE_API_URL}?fct=getpublicsettings&accountid=demo&format=iso8601"; then break; fi
    sleep 0.2
  done
  echo "ACE sandbox with demo data on ${ACE_API_URL}"
  # Mirror the demo accounts once, so their tasks are there to query right away.
  ACE_PASSWORD=demo-password $ACEHUB sync --account-id demo --username admin
  ACE_PASSWORD=demo-password $ACEHUB sync --account-id acme --username carol
fi

# On PostgreSQL, syncs run on the job queue: one job worker beside the API.
database_url=${DATABASE_URL:-$(env_file_value DATABASE_URL || true)}
case "$database_url" in
  postgres*)
    $ACEHUB worker --name local &
    worker_pid=$!
    echo "job worker started (syncs run on the queue)"
    ;;
esac

cat <<MSG

  acehub API:   http://${HOST}:${PORT}/docs
  Dashboard:    http://${HOST}:${PORT}/dashboard (account demo, alice or admin, demo-password)
  ACE API:      ${ACE_API_URL:-$(env_file_value ACE_API_URL)}
  Demo sign-in: POST /user/login {"account_id": "demo", "username": "alice", "password": "demo-password"}

MSG
$ACEHUB serve --host "$HOST" --port "$PORT"
