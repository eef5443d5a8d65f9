#!/usr/bin/env bash
# Run the local ECDP emulator in the foreground: `make emulator` or `bash scripts/emulator.sh --port 9000`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
ensure_venv af3 "apache-airflow==${AIRFLOW_NEW:-3.3.2}" test,lint,parquet
exec .venvs/af3/bin/python -m airflow_provider_expertsender.emulator --port "${PORT:-8080}" --api-key "${API_KEY:-emulator-key}" "$@"
