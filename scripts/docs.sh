#!/usr/bin/env bash
# Build the documentation site in strict mode (a broken link, reference or example include fails the build).
#
#   bash scripts/docs.sh           build into site/
#   bash scripts/docs.sh serve     live preview on http://127.0.0.1:8000
#
# Uses .venvs/docs, created on first use with the `docs` dependency group of pyproject.toml (MkDocs Material and
# mkdocstrings). The API reference is read from the source by static analysis, so neither Airflow nor the
# package is installed there. The build needs no network: no web fonts, no CDN, no online plugins.
#
# The diagrams (docs/diagrams/*.dot) are rendered to SVG during the build by Graphviz's `dot`
# (scripts/mkdocs_diagrams.py). When `dot` is missing, this script installs the Debian package `graphviz` if it
# runs as root with apt-get, and otherwise stops with what to install. DOCS_DIAGRAMS=skip builds without them
# (a placeholder names each diagram's source).
set -euo pipefail

cd "$(dirname "$0")/.."
venv=.venvs/docs
python=${PYTHON:-python3}

# The `docs` group, plus ruff (from the `lint` group), which mkdocstrings uses to format long signatures.
requirements=$("$python" - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    groups = tomllib.load(f)["dependency-groups"]
print("\n".join(groups["docs"] + [r for r in groups["lint"] if r.startswith("ruff")]))
PY
)
stamp="$venv/.docs-requirements"
if [[ ! -x "$venv/bin/mkdocs" || ! -f "$stamp" || "$(cat "$stamp")" != "$requirements" ]]; then
    echo "docs: installing the docs tools into $venv" >&2
    "$python" -m venv "$venv"
    mapfile -t reqs <<<"$requirements"
    "$venv/bin/pip" install -q --disable-pip-version-check "${reqs[@]}"
    printf '%s' "$requirements" >"$stamp"
fi

if [[ "${DOCS_DIAGRAMS:-}" != "skip" ]] && ! command -v dot >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "docs: installing Graphviz (Debian package graphviz) to render the diagrams" >&2
        apt-get install -y -qq graphviz >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq graphviz >/dev/null 2>&1; } ||
            { echo "docs: apt-get install graphviz failed; install it, or set DOCS_DIAGRAMS=skip" >&2; exit 1; }
    else
        echo "docs: the diagrams need Graphviz's dot (Debian/Ubuntu: sudo apt-get install graphviz;" \
            "macOS: brew install graphviz). Or build without them: DOCS_DIAGRAMS=skip bash scripts/docs.sh" >&2
        exit 1
    fi
fi

export NO_MKDOCS_2_WARNING=1  # Material's end-of-life banner: noise in CI logs
if [[ "${1:-build}" == "serve" ]]; then
    exec "$venv/bin/mkdocs" serve --strict
fi
exec "$venv/bin/mkdocs" build --strict --clean --site-dir site
