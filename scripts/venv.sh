# Sourced by the scripts in this folder: creates or refreshes the project's virtualenvs under .venvs/.
#
#   ensure_venv NAME "REQUIREMENT ..." "NAMES"
#       .venvs/NAME with the requirements and this package (editable), plus NAMES: extras of the package
#       ([project.optional-dependencies], e.g. parquet) or dependency groups ([dependency-groups], e.g. test).
#   Per call, through variables set in front of it:
#       VENV_PYTHON="3.12 3.11"    the interpreter's version, first found (default: the line's, below; else
#                                  $PYTHON_BIN)
#       VENV_CONSTRAINTS=FILE      pip-style constraints every install must respect (e.g. the image's pins)
#       VENV_FLOORS=1              every direct dependency at its declared floor (uv --resolution lowest-direct
#                                  plus a constraints file generated from pyproject.toml's floors)
#       VENV_WHEEL=FILE            install this built wheel instead of the editable project (as users do)
#   ensure_tools    .venvs/tools with uv, build and twine; sets $UV
#
# Installs go through uv (from PyPI, pinned below): one download cache for every line, and fast. A venv is
# rebuilt only when its inputs changed: the interpreter, the arguments, pyproject.toml, the constraints file.

UV_VERSION=${UV_VERSION:-0.13.9}

# The Python of each CI line's venv (scripts/test.sh; bench.sh and emulator.sh share af3), first choice first:
# the newest Airflow 3.3 supports, 3.11 for 3.0, the 2.10.5 image's default, the oldest for the floors. On a
# machine without the first choice the next installed one is used (the line's header says which). e2e-af2 is
# `make e2e`'s Airflow 2.10.5 deployment: the image's Python, as af2.
declare -A LINE_PYTHON=([af3]="3.13 3.12 3.11" [af30]="3.11 3.12 3.10" [af2]="3.12 3.11 3.10" [floor]="3.10 3.11"
  [e2e-af2]="3.12 3.11 3.10")
TOOLS_REQUIREMENTS="uv==$UV_VERSION build==1.3.0 twine==6.2.0"

# The interpreter of the given version ("3.12"): on PATH, else in pyenv's versions folder.
find_python() {
  local version=$1 candidate
  for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "" >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

PYTHON_BIN=${PYTHON_BIN:-}
if [ -z "$PYTHON_BIN" ]; then
  for candidate in 3.11 3.12 3.13 3.10; do
    if PYTHON_BIN=$(find_python "$candidate"); then break; fi
  done
  [ -n "$PYTHON_BIN" ] || PYTHON_BIN=python3
fi

ensure_tools() {
  local dir=.venvs/tools
  UV="$PWD/$dir/bin/uv"
  if [ -x "$UV" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$TOOLS_REQUIREMENTS" ]; then return 0; fi
  echo "==> creating $dir: $TOOLS_REQUIREMENTS"
  rm -rf "$dir"
  mkdir -p .venvs
  "$PYTHON_BIN" -m venv "$dir"
  # shellcheck disable=SC2086
  "$dir/bin/pip" install --quiet --disable-pip-version-check $TOOLS_REQUIREMENTS > "$dir.pip.log" 2>&1 \
    || { tail -n 20 "$dir.pip.log"; echo "installing the tools into $dir failed" >&2; return 1; }
  echo "$TOOLS_REQUIREMENTS" > "$dir/.stamp"
}

# "extras groups" of NAMES (comma separated), split by what pyproject.toml declares.
_split_names() {
  "$PYTHON_BIN" - "$1" <<'PY'
import sys, tomllib
with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)
extras, groups = project["project"].get("optional-dependencies", {}), project.get("dependency-groups", {})
names = [n for n in sys.argv[1].split(",") if n]
unknown = [n for n in names if n not in extras and n not in groups]
if unknown:
    sys.exit(f"unknown extra or dependency group: {', '.join(unknown)}")
print(",".join(n for n in names if n in extras), " ".join(f"--group {n}" for n in names if n in groups))
PY
}

# A constraints file pinning every direct dependency (and the extras in NAMES) to its declared floor.
_floors() {
  "$PYTHON_BIN" - "$1" <<'PY'
import re, sys, tomllib
with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
requirements = list(project["dependencies"])
for extra in filter(None, sys.argv[1].split(",")):
    requirements += project.get("optional-dependencies", {}).get(extra, [])
for requirement in requirements:
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][0-9.]*)\s*(,.*)?", requirement.split(";")[0].strip())
    if not match:
        sys.exit(f"{requirement!r} has no '>=' floor: every direct dependency needs one")
    print(f"{match[1]}=={match[3]}")
PY
}

ensure_venv() {
  local name=$1 reqs=$2 names=${3:-} dir=".venvs/$1" stamp python split extras groups target constraints=()
  local versions=${VENV_PYTHON:-${LINE_PYTHON[$name]:-}} version
  python=$PYTHON_BIN
  if [ -n "$versions" ]; then
    python=
    for version in $versions; do python=$(find_python "$version") && break; done
    [ -n "$python" ] || { echo "$name needs Python $versions (one of), none is installed" >&2; return 1; }
  fi
  ensure_tools
  split=$(_split_names "$names") || return 1
  extras=${split%% *}
  groups=${split#* }
  target=.
  [ -n "$extras" ] && target=".[$extras]"
  stamp="$("$python" --version 2>&1) | $reqs | $names | ${VENV_FLOORS:-} | ${VENV_WHEEL:+wheel} | $(cksum < pyproject.toml)"
  [ -n "${VENV_CONSTRAINTS:-}" ] && stamp="$stamp | $(cksum < "$VENV_CONSTRAINTS")"
  if [ -x "$dir/bin/python" ] && [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    if [ -n "${VENV_WHEEL:-}" ]; then  # the package itself is rebuilt every run: put the new wheel in
      VIRTUAL_ENV="$PWD/$dir" "$UV" pip install --quiet --reinstall-package airflow-provider-expertsender --no-deps \
        "$VENV_WHEEL" || return 1
    fi
    return 0
  fi
  echo "==> creating $dir ($("$python" --version 2>&1)): $reqs ${VENV_WHEEL:-$target} $groups"
  rm -rf "$dir"
  "$UV" venv --quiet --python "$python" "$dir" || return 1
  [ -n "${VENV_CONSTRAINTS:-}" ] && constraints=(--constraint "$VENV_CONSTRAINTS")
  local install=("$UV" pip install --python "$dir/bin/python")
  {
    if [ -n "${VENV_FLOORS:-}" ]; then
      # 1. the package and its direct dependencies at their floors (transitive ones as new as they allow);
      # 2. the dependency groups, constrained to what step 1 installed, so that nothing moves.
      _floors "$extras" > "$dir.floors.txt" || return 1
      # shellcheck disable=SC2086
      "${install[@]}" --resolution lowest-direct --constraint "$dir.floors.txt" "${constraints[@]}" $reqs -e "$target" \
        && "$UV" pip freeze --python "$dir/bin/python" | grep -v "^-e " > "$dir.installed.txt" \
        && { [ -z "$groups" ] || "${install[@]}" --constraint "$dir.installed.txt" $groups; }
    elif [ -n "${VENV_WHEEL:-}" ]; then
      local wheel=$VENV_WHEEL
      [ -n "$extras" ] && wheel="airflow-provider-expertsender[$extras] @ file://$PWD/$VENV_WHEEL"
      # shellcheck disable=SC2086
      "${install[@]}" "${constraints[@]}" $reqs "$wheel" $groups
    else
      # shellcheck disable=SC2086
      "${install[@]}" "${constraints[@]}" $reqs -e "$target" $groups
    fi
  } > "$dir.install.log" 2>&1 || {
    tail -n 30 "$dir.install.log"
    echo "installing into $dir failed (full log: $dir.install.log)" >&2
    return 1
  }
  # Import from outside the work tree, so the check sees the installed package, not the folder.
  (cd / && "$OLDPWD/$dir/bin/python" -c "import airflow_provider_expertsender") || return 1
  echo "$stamp" > "$dir/.stamp"
}
