#!/usr/bin/env bash
# `make bench`: every benchmark, one table. Needs PostgreSQL on 127.0.0.1:5432 (trust auth).
# BENCH_ARGS="--quick" shrinks the data sets; BENCH_ARGS="--only sync" runs one.
set -euo pipefail
cd "$(dirname "$0")/../backend"
exec .venv/bin/python -m bench.run_all ${BENCH_ARGS:-}
