#!/usr/bin/env bash
# `make e2e`: every example DAG on a real Airflow 3.3 CeleryExecutor deployment on this machine, then the
# connection form in a real browser (Airflow 3.3's UI and Airflow 2.10's webserver).
#
#   bash scripts/e2e.sh                  deployment + browser test
#   bash scripts/e2e.sh --no-browser     the deployment only
#   bash scripts/e2e.sh --browser-only   the browser test only
#
# 1. creates .venvs/e2e (Airflow 3.3.2 with the celery and postgres extras, this package with `sql`, the sqlite
#    provider, playwright) and, for the browser test, .venvs/e2e-af2 (Airflow 2.10.5);
# 2. scripts/e2e.py: its own PostgreSQL database (created, dropped at the end) and Redis DB number, the emulator,
#    api-server, scheduler, dag-processor, triggerer and one Celery worker; every example DAG triggered through
#    the REST API and checked in the emulator; the logs the api-server serves scanned for secrets;
# 3. scripts/e2e_browser.py: the ExpertSender connection form in headless Chromium (Debian's package,
#    installed here when missing; the test skips with the reason when it cannot be).
# Every process is started in its own process group and stopped by its PID; the trap below repeats the clean-up
# (processes, database) whatever ends the run. Output and logs: .e2e/ (see the summary at the end).
#
# Environment: E2E_PG (default postgresql://postgres@127.0.0.1:5432), E2E_REDIS_DB (default 13).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

run_deployment=1 run_browser=1
case "${1:-}" in
  --no-browser) run_browser=0 ;;
  --browser-only) run_deployment=0 ;;
  "") ;;
  *) echo "usage: $0 [--no-browser|--browser-only]" >&2; exit 2 ;;
esac

export E2E_HOME="$PWD/.e2e"
export E2E_PG=${E2E_PG:-postgresql://postgres@127.0.0.1:5432}
export E2E_REDIS_DB=${E2E_REDIS_DB:-13}
export E2E_DB="airflow_e2e_$$"
mkdir -p "$E2E_HOME"
# One run per folder: a second one would share the logs, the screenshots and the list of PIDs to stop.
exec 9> "$E2E_HOME/lock"
if ! flock -n 9; then
  echo "another make e2e is running in $E2E_HOME; wait for it" >&2
  exit 1
fi
: > "$E2E_HOME/pids"

child=""
cleanup() {
  local status=$?
  stop_child
  # Stop whatever a script left running (each line: PID of a process-group leader it started).
  while read -r pid; do
    [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true
  done < "$E2E_HOME/pids"
  sleep 1
  while read -r pid; do
    [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null || true
  done < "$E2E_HOME/pids"
  if command -v psql >/dev/null 2>&1; then
    psql "$E2E_PG/postgres" -q -c "DROP DATABASE IF EXISTS $E2E_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  exit $status
}
# The Python scripts run in the background so that a signal reaches this shell at once: it is passed on
# (SIGTERM), the script stops its processes and drops its database, then the EXIT trap checks again.
stop_child() {
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
    child=""
  fi
}
run() {
  "$@" &
  child=$!
  wait "$child"
  local rc=$?
  child=""
  return $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# PostgreSQL and Redis are services of the machine; start them if installed but stopped.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start 2>/dev/null || true
fi
if command -v redis-server >/dev/null 2>&1 && ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
fi

started=$SECONDS
# celery<5.7: celery 5.7.0 removed `celery.backends.database.retry`, which apache-airflow-providers-celery
# 3.26.0 imports (the worker does not start). Airflow's constraints for 3.3.2 pin celery 5.6.x; they are not
# reachable from this machine, so the one pin that matters is stated here.
ensure_venv e2e "apache-airflow[celery,postgres]==3.3.2 celery<5.7 apache-airflow-providers-sqlite playwright" sql
if ((run_browser)); then
  ensure_venv e2e-af2 "apache-airflow==2.10.5 universal-pathlib<0.3" ""
fi
echo "==> e2e virtualenvs ready in $((SECONDS - started)) s"

status=0
if ((run_deployment)); then
  run .venvs/e2e/bin/python scripts/e2e.py || status=1
fi
if ((run_browser)); then
  run .venvs/e2e/bin/python scripts/e2e_browser.py || status=1
fi
echo "==> make e2e took $((SECONDS - started)) s"
exit $status
