#!/usr/bin/env bash
# Benchmarks (figures printed as tables; nothing is asserted): `make bench`, or `bash scripts/bench.sh --small`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
ensure_venv af3 "apache-airflow==${AIRFLOW_NEW:-3.3.2}" test,lint,parquet
.venvs/af3/bin/python tests/benchmarks/bench_emulator.py "$@"
.venvs/af3/bin/python tests/benchmarks/bench_sync.py "$@"
