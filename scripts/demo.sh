#!/usr/bin/env bash
# The one-command demo: every example DAG, end to end, against a local ExpertSender emulator.
#
#   bash scripts/demo.sh                 (or: make demo)
#   bash scripts/demo.sh --dag example_expertsender_orders     only some DAGs
#
# 1. creates .venvs/demo with Apache Airflow and this package (editable, `sql` extra, plus the sqlite provider
#    the warehouse example reads from); reused while pyproject.toml and the Airflow version are unchanged;
# 2. runs scripts/demo.py inside it: a fresh AIRFLOW_HOME under .demo/ (sqlite, no bundled examples), the
#    emulator on a free loopback port, `airflow dags test` for each DAG in example_dags/, then a summary.
# Exits non-zero if any DAG failed. Nothing leaves this machine: no real ExpertSender account is used.
#
# Environment: DEMO_AIRFLOW_VERSION (default 3.3.2), PYTHON_BIN (interpreter for the venv; see venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

airflow_version=${DEMO_AIRFLOW_VERSION:-3.3.2}

if ! grep -qs "apache-airflow==$airflow_version " .venvs/demo/.stamp; then
    # Figures measured on a shared 2-core machine (docs/getting-started.md): 50 s for 3.3.2 with pip's cache
    # warm, 191 s for 2.10.5 with part of it to download.
    echo "demo: installing Apache Airflow $airflow_version, the sqlite provider and this package into .venvs/demo"
    echo "      (about 300 MB; about a minute with a warm pip cache, a few minutes when it downloads)."
    echo "      Later runs reuse it. Then each example DAG runs in 10-30 s."
fi
started=$SECONDS
ensure_venv demo "apache-airflow==$airflow_version apache-airflow-providers-sqlite" sql
if ((SECONDS - started > 5)); then
    echo "==> .venvs/demo ready in $((SECONDS - started)) s"
fi

exec .venvs/demo/bin/python scripts/demo.py "$@"
