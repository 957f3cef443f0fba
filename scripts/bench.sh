#!/usr/bin/env bash
# `make bench`: every benchmark, one table. Needs PostgreSQL on 127.0.0.1:5432 (trust auth).
# BENCH_ARGS="--quick" shrinks the data sets; BENCH_ARGS="--only sync" runs one.
set -euo pipefail
cd "$(dirname "$0")/../backend"
# The read benchmark drives the API with wrk (Debian's package).
if ! command -v wrk >/dev/null; then
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
fi
exec .venv/bin/python -m bench.run_all ${BENCH_ARGS:-}
