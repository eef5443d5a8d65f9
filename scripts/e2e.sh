#!/usr/bin/env bash
# `make e2e`: every example DAG on two real CeleryExecutor deployments on this machine, Airflow 3.3.2, then
# Airflow 2.10.5 as the official 2.10.5 image (MWAA, Cloud Composer) has it, then the connection form in a real
# browser (Airflow 3.3's UI and Airflow 2.10's webserver).
#
#   bash scripts/e2e.sh                  both deployments + browser test
#   bash scripts/e2e.sh --no-browser     both deployments only
#   bash scripts/e2e.sh --af3-only       the Airflow 3.3 deployment only (no browser test)
#   bash scripts/e2e.sh --af2-only       the Airflow 2.10 deployment only (no browser test)
#   bash scripts/e2e.sh --browser-only   the browser test only
#
# 1. creates .venvs/e2e (Airflow 3.3.2 with the celery and postgres extras, this package with `sql`, the sqlite
#    provider, playwright) and .venvs/e2e-af2 (Airflow 2.10.5 with the celery and postgres extras and the redis
#    client, under the image's pins: constraints/airflow-2.10.5-image-pins.txt and -image-celery-pins.txt, and
#    this package's BUILT WHEEL with `sql`, as users of the image install a provider);
# 2. scripts/e2e.py, once per deployment, one after the other (two deployments at once would share the 2 cores
#    and blur the timings): its own PostgreSQL database (created, dropped at the end) and Redis DB number, the
#    emulator, the line's processes (3.3: api-server, scheduler, dag-processor, triggerer, Celery worker; 2.10:
#    webserver, scheduler, triggerer, Celery worker); every example DAG triggered through the REST API and
#    checked in the emulator; the logs the api-server / webserver serves scanned for secrets;
# 3. scripts/e2e_browser.py: the ExpertSender connection form in headless Chromium (Debian's package,
#    installed here when missing; the test skips with the reason when it cannot be).
# Every process is started in its own process group and stopped by its PID; the trap below repeats the clean-up
# (processes, databases) whatever ends the run. Output and logs: .e2e/ (see the summary at the end).
#
# Environment: E2E_PG (default postgresql://postgres@127.0.0.1:5432), E2E_REDIS_DB (default 13, Airflow 3.3's
# broker), E2E_AF2_REDIS_DB (default 14, Airflow 2.10's).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

deployments="3 2" run_browser=1
case "${1:-}" in
  --no-browser) run_browser=0 ;;
  --af3-only) deployments=3 run_browser=0 ;;
  --af2-only) deployments=2 run_browser=0 ;;
  --browser-only) deployments="" ;;
  "") ;;
  *) echo "usage: $0 [--no-browser|--af3-only|--af2-only|--browser-only]" >&2; exit 2 ;;
esac

export E2E_HOME="$PWD/.e2e"
export E2E_PG=${E2E_PG:-postgresql://postgres@127.0.0.1:5432}
export E2E_REDIS_DB=${E2E_REDIS_DB:-13}
export E2E_AF2_REDIS_DB=${E2E_AF2_REDIS_DB:-14}
export E2E_DB="airflow_e2e_$$" E2E_AF2_DB="airflow_e2e_af2_$$"
if [ "$E2E_REDIS_DB" = "$E2E_AF2_REDIS_DB" ]; then
  echo "E2E_REDIS_DB and E2E_AF2_REDIS_DB must differ (each deployment flushes its own)" >&2
  exit 2
fi
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
    for db in "$E2E_DB" "$E2E_AF2_DB"; do
      psql "$E2E_PG/postgres" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
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
# reachable from this machine, so the one pin that matters is stated here. The scripts run with this venv's
# interpreter (psycopg2, redis, playwright), whichever deployment they drive.
ensure_venv e2e "apache-airflow[celery,postgres]==3.3.2 celery<5.7 apache-airflow-providers-sqlite playwright" sql
if [[ " $deployments " == *" 2 "* ]] || ((run_browser)); then
  # The 2.10.5 image's way: the provider's built wheel installed under the image's pins (the browser test's
  # webserver runs from this venv too).
  rm -rf .venvs/e2e-dist
  "$UV" build --quiet --wheel --out-dir .venvs/e2e-dist . > .venvs/e2e-dist.log 2>&1 \
    || { tail -n 30 .venvs/e2e-dist.log; exit 1; }
  cat constraints/airflow-2.10.5-image-pins.txt constraints/airflow-2.10.5-image-celery-pins.txt \
    > .venvs/e2e-af2.constraints.txt
  VENV_CONSTRAINTS=.venvs/e2e-af2.constraints.txt VENV_WHEEL=$(ls .venvs/e2e-dist/*.whl) \
    ensure_venv e2e-af2 "apache-airflow[celery,postgres]==2.10.5 redis" sql
fi
echo "==> e2e virtualenvs ready in $((SECONDS - started)) s"

status=0
if [ -n "$deployments" ]; then
  # shellcheck disable=SC2086
  run .venvs/e2e/bin/python scripts/e2e.py --airflow $deployments || status=1
fi
if ((run_browser)); then
  run .venvs/e2e/bin/python scripts/e2e_browser.py || status=1
fi
echo "==> make e2e took $((SECONDS - started)) s"
exit $status
