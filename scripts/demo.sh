#!/usr/bin/env bash
# The one-command demo: every example DAG, end to end, against a local ExpertSender emulator.
#
#   bash scripts/demo.sh                 (or: make demo)
#   bash scripts/demo.sh --dag example_expertsender_orders     only some DAGs
#
# 1. creates .venvs/demo with Apache Airflow and this package (editable); reused while up to date,
# 2. runs scripts/demo.py inside it: a fresh AIRFLOW_HOME under .demo/ (sqlite, no bundled examples), the
#    emulator on a free loopback port, `airflow dags test` for each DAG in example_dags/, then a summary.
# Exits non-zero if any DAG failed. Nothing leaves this machine: no real ExpertSender account is used.
#
# Environment: PYTHON (interpreter for the venv, default python3), DEMO_AIRFLOW_VERSION (default 3.3.2).
set -euo pipefail

cd "$(dirname "$0")/.."
venv=.venvs/demo
python=${PYTHON:-python3}
airflow_version=${DEMO_AIRFLOW_VERSION:-3.3.2}

# The venv is rebuilt when the Airflow version or the package's dependencies change.
stamp_file="$venv/.demo-stamp"
stamp="airflow=$airflow_version python=$("$python" -c 'import sys; print(sys.version.split()[0])') $(sha256sum pyproject.toml | cut -c1-16)"

quiet_pip() {
    # pip's own noise about unreadable local index folders on some machines is not the user's concern.
    "$venv/bin/pip" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

if [[ ! -x "$venv/bin/airflow" || ! -f "$stamp_file" || "$(cat "$stamp_file")" != "$stamp" ]]; then
    started=$SECONDS
    echo "demo: creating $venv (Apache Airflow $airflow_version + this package; about a minute)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    # The SQL example reads a sqlite warehouse: the `sql` extra plus the sqlite provider.
    quiet_pip install -q --disable-pip-version-check \
        "apache-airflow==$airflow_version" "apache-airflow-providers-sqlite" -e ".[sql]"
    echo "$stamp" >"$stamp_file"
    echo "demo: $venv ready in $((SECONDS - started)) s" >&2
fi

exec "$venv/bin/python" scripts/demo.py "$@"
