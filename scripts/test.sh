#!/usr/bin/env bash
# The test command (README, .ci/run, `make test`):
#   1. packaging: build the sdist and the wheel (.venvs/dist), `twine check --strict` them;
#   2. ruff and mypy, once; the docs (mkdocs build --strict) while the tests run;
#   3. the whole pytest suite on each CI line, in parallel, each in its own virtualenv under .venvs/ (created
#      on first run, reused while pyproject.toml and the line's constraints are unchanged):
#        af3    Airflow 3.3 (newest), Python 3.13, newest dependencies
#        af30   Airflow 3.0 (the Airflow 3 line managed services offer first), Python 3.11, newest providers
#               that support it; constraints/airflow-3.0.txt
#        af2    Airflow 2.10.5 on Python 3.12 with the official image's pins as constraints
#               (constraints/airflow-2.10.5-image-pins.txt), the BUILT WHEEL installed as users install it,
#               and the suite run from a copy of the repository without the package folder (so it tests the
#               wheel); a test checks that no pinned version moved
#        floor  every direct dependency at its declared floor (Airflow 2.10.0, pydantic 2.5...), Python 3.10
#   Extra arguments go to pytest, e.g. `bash scripts/test.sh -k hook`. LINES="af3 af2" picks lines;
#   `--lint-only` stops after step 2. Each line's log: .venvs/<line>.pytest.log.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

AIRFLOW_NEW=${AIRFLOW_NEW:-3.3.2}
AIRFLOW_30=${AIRFLOW_30:-3.0.6}
AIRFLOW_OLD=${AIRFLOW_OLD:-2.10.5}
PINS=constraints/airflow-$AIRFLOW_OLD-image-pins.txt
LINES=${LINES:-af3 af30 af2 floor}
started=$SECONDS
lint_only=
if [ "${1:-}" = "--lint-only" ]; then lint_only=1; shift; fi

echo "==> packaging"
ensure_tools
rm -rf .venvs/dist
"$UV" build --quiet --out-dir .venvs/dist . > .venvs/build.log 2>&1 || { tail -n 30 .venvs/build.log; exit 1; }
if grep -i "warn" .venvs/build.log; then echo "the build warns (above)" >&2; exit 1; fi
.venvs/tools/bin/twine check --strict .venvs/dist/*
wheel=$(ls .venvs/dist/*.whl)

# Virtualenvs: af3 first (ruff and mypy need it), the others in parallel with the lint.
ensure_venv af3 "apache-airflow==$AIRFLOW_NEW" test,lint,parquet
make_venv() {
  case $1 in
    af3) ;;
    af30) VENV_CONSTRAINTS=constraints/airflow-3.0.txt ensure_venv af30 "apache-airflow==$AIRFLOW_30" test,parquet ;;
    af2) VENV_CONSTRAINTS=$PINS VENV_WHEEL=$wheel ensure_venv af2 "apache-airflow==$AIRFLOW_OLD" test,parquet ;;
    # Airflow 2.10 allows universal-pathlib 0.3, with which its ObjectStoragePath fails on every URI: 2.10's
    # own constraints pin 0.2.x, as docs/compatibility.md tells 2.10 users to. The tests' PostgreSQL provider
    # is the image's: 6.1.x declares common-sql>=1.20 but imports a module common-sql 1.21 (our floor) lacks.
    floor) VENV_FLOORS=1 ensure_venv floor "universal-pathlib<0.3 apache-airflow-providers-postgres==6.0.0" \
      test,sql,parquet,openlineage ;;
    *) echo "unknown line $1 (af3 af30 af2 floor)" >&2; return 1 ;;
  esac
}
pids=()
if [ -z "$lint_only" ]; then
  for line in $LINES; do make_venv "$line" & pids+=($!); done
fi

# PostgreSQL is a service of the machine; start it if it is installed but stopped (tests skip when unreachable).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start 2>/dev/null || true
fi

echo "==> ruff"
.venvs/af3/bin/ruff check .
.venvs/af3/bin/ruff format --check .
echo "==> mypy"
.venvs/af3/bin/mypy
if [ -n "$lint_only" ]; then exit 0; fi
for pid in "${pids[@]}"; do wait "$pid"; done
echo "==> virtualenvs ready after $((SECONDS - started)) s"

(bash scripts/docs.sh > .venvs/docs-build.log 2>&1; echo $? > .venvs/docs-build.rc) &
docs_pid=$!

# af2 tests the built wheel: run the suite from a copy of the repository without the package folder.
shadow=.venvs/af2-root
rm -rf "$shadow"
mkdir -p "$shadow"
git ls-files --cached --others --exclude-standard -z | grep -zv '^airflow_provider_expertsender/' \
  | xargs -0 cp --parents -t "$shadow" 2>/dev/null || true

run_line() {
  local line=$1 version start=$SECONDS dir=$PWD log="$PWD/.venvs/$1.pytest.log"
  shift
  version=$(".venvs/$line/bin/python" -c "import airflow; print(airflow.__version__)")
  local rc=0
  if [ "$line" = af2 ]; then
    (cd "$shadow" && env -u PYTHONPATH EXPERTSENDER_CONSTRAINTS="$PINS" "$dir/.venvs/$line/bin/python" -m pytest "$@") \
      > "$log" 2>&1 || rc=$?
  else
    env -u PYTHONPATH ".venvs/$line/bin/python" -m pytest "$@" > "$log" 2>&1 || rc=$?
  fi
  echo "==> $line (Airflow $version): $(tail -n 1 "$log" | tr -d '=') in $((SECONDS - start)) s"
  return $rc
}
echo "==> pytest on: $LINES (in parallel; logs in .venvs/<line>.pytest.log)"
declare -A line_pids=()
for line in $LINES; do run_line "$line" "$@" & line_pids[$line]=$!; done
status=0
for line in $LINES; do
  if ! wait "${line_pids[$line]}"; then
    status=1
    echo "---- $line failed; the end of .venvs/$line.pytest.log:"
    grep -E "^(FAILED|ERROR) " ".venvs/$line.pytest.log" | head -n 30 || tail -n 30 ".venvs/$line.pytest.log"
  fi
done
wait "$docs_pid"
if [ "$(cat .venvs/docs-build.rc)" != 0 ]; then
  status=1
  echo "---- docs build failed:"
  tail -n 40 .venvs/docs-build.log
fi
echo "==> make test took $((SECONDS - started)) s"
exit $status
