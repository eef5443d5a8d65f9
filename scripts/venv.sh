# Sourced by the scripts in this folder: creates or refreshes a project virtualenv.
#   ensure_venv NAME "REQUIREMENT ..." EXTRAS   -> .venvs/NAME with the requirements and this package installed
#                                                 editable with those extras (e.g. "test,lint")
# A venv is rebuilt only when its requirements or pyproject.toml changed (a stamp file records them).

PYTHON_BIN=${PYTHON_BIN:-}
if [ -z "$PYTHON_BIN" ]; then
  for candidate in python3.11 python3.12 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON_BIN=$candidate; break; fi
  done
fi

ensure_venv() {
  local name=$1 reqs=$2 extras=${3:-} dir=".venvs/$1" stamp target=.
  [ -n "$extras" ] && target=".[$extras]"
  stamp="$("$PYTHON_BIN" --version 2>&1) | $reqs | $extras | $(cksum < pyproject.toml)"
  if [ -x "$dir/bin/python" ] && [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    return 0
  fi
  echo "==> creating $dir: $reqs $target"
  rm -rf "$dir"
  "$PYTHON_BIN" -m venv "$dir"
  # shellcheck disable=SC2086
  if ! "$dir/bin/pip" install --quiet --disable-pip-version-check $reqs -e "$target" > "$dir.pip.log" 2>&1; then
    grep -v "is ignored: it is neither" "$dir.pip.log" | tail -n 30
    echo "pip install into $dir failed (full log: $dir.pip.log)" >&2
    return 1
  fi
  # Import from outside the work tree, so the check sees the installed package, not the folder.
  (cd / && "$OLDPWD/$dir/bin/python" -c "import airflow_provider_expertsender") || return 1
  echo "$stamp" > "$dir/.stamp"
}
