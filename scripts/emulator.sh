#!/usr/bin/env bash
# Run the local ECDP emulator in the foreground: `make emulator` or `bash scripts/emulator.sh --port 9000`.
#
# The emulator needs only the Python standard library (3.10+), so nothing is installed: it runs straight from
# this checkout with the first suitable interpreter (PYTHON_BIN overrides; see venv.sh). Flags are passed on
# (`--admin`, `--item-error-style errors_2xx`...; `--help` lists them). PORT and API_KEY set the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh  # only for PYTHON_BIN, the interpreter choice; no virtualenv is created
if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "emulator: needs Python 3.10 or newer; $PYTHON_BIN is $("$PYTHON_BIN" --version 2>&1). Set PYTHON_BIN." >&2
    exit 1
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON_BIN" -m airflow_provider_expertsender.emulator --port "${PORT:-8080}" --api-key "${API_KEY:-emulator-key}" "$@"
