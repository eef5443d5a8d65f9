#!/usr/bin/env bash
# The test command (README, .ci/run): ruff, mypy, then pytest on the oldest and newest supported Airflow lines,
# each in its own virtualenv under .venvs/ (created on first run, reused while pyproject.toml is unchanged).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k hook`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

AIRFLOW_NEW=${AIRFLOW_NEW:-3.3.2}
AIRFLOW_OLD=${AIRFLOW_OLD:-2.10.5}

ensure_venv af3 "apache-airflow==$AIRFLOW_NEW" test,lint,parquet
# Airflow 2.10 allows universal-pathlib 0.3, with which its ObjectStoragePath fails on every URI: pin 0.2.x there
# (docs/bulk-sync.md tells 2.10 users the same).
ensure_venv af2 "apache-airflow==$AIRFLOW_OLD universal-pathlib<0.3" test

# PostgreSQL is a service of the machine; start it if it is installed but stopped (tests skip when unreachable).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start 2>/dev/null || true
fi

echo "==> ruff"
.venvs/af3/bin/ruff check .
.venvs/af3/bin/ruff format --check .
echo "==> mypy"
.venvs/af3/bin/mypy
if [ "${1:-}" = "--lint-only" ]; then exit 0; fi
echo "==> docs (mkdocs build --strict)"
bash scripts/docs.sh > .venvs/docs-build.log 2>&1 || { tail -n 40 .venvs/docs-build.log; exit 1; }

status=0
for line in af3 af2; do
  version=$(".venvs/$line/bin/python" -c "import airflow; print(airflow.__version__)")
  echo "==> pytest on Airflow $version"
  start=$(date +%s)
  ".venvs/$line/bin/python" -m pytest "$@" || status=1
  echo "==> Airflow $version: pytest took $(( $(date +%s) - start )) s"
done
exit $status
