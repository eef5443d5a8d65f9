# Sourced by the scripts in this folder: creates or refreshes a project virtualenv.
#   ensure_venv NAME "PIP REQUIREMENT ..."   -> .venvs/NAME with those requirements and this package (editable)
# A venv is reinstalled only when its requirements or pyproject.toml changed (a stamp file records them).

PYTHON_BIN=${PYTHON_BIN:-}
if [ -z "$PYTHON_BIN" ]; then
  for candidate in python3.11 python3.12 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON_BIN=$candidate; break; fi
  done
fi

ensure_venv() {
  local name=$1 reqs=$2 dir=".venvs/$1"
  local stamp
  stamp="$("$PYTHON_BIN" --version 2>&1) | $reqs | $(cksum < pyproject.toml)"
  if [ -x "$dir/bin/python" ] && [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    return 0
  fi
  echo "==> creating $dir ($reqs)"
  rm -rf "$dir"
  "$PYTHON_BIN" -m venv "$dir"
  # shellcheck disable=SC2086
  "$dir/bin/pip" install --quiet --disable-pip-version-check $reqs -e . 2>&1 | grep -v "is ignored: it is neither" || true
  "$dir/bin/python" -c "import airflow_provider_expertsender" # fails loudly if the install did not work
  echo "$stamp" > "$dir/.stamp"
}
