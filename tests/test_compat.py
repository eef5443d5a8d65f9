"""The compatibility module: the only place that imports Airflow, and every name it offers resolves on the
Airflow line under test (2.10.5 with the official image's pins, 3.0, 3.3, the lowest declared versions)."""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import airflow_provider_expertsender as provider
from airflow_provider_expertsender import _compat

PACKAGE_DIR = Path(provider.__file__).parent  # the checkout's, or the installed wheel's on the af2 line
ROOT = PACKAGE_DIR.parent
TESTS_ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages([str(PACKAGE_DIR)], f"{provider.__name__}.")
    if not any(part.startswith("_") for part in m.name.split(".")[1:])
)
# Names that come from an optional provider: (name, distribution that brings it).
OPTIONAL = {
    "DbApiHook": "apache-airflow-providers-common-sql",
    "SQLParser": "apache-airflow-providers-openlineage",
    "OperatorLineage": "apache-airflow-providers-openlineage",
    "OpenLineageDataset": "apache-airflow-providers-openlineage",
    "OutputDataset": "apache-airflow-providers-openlineage",
    "OutputStatisticsOutputDatasetFacet": "apache-airflow-providers-openlineage",
}


def _installed(distribution: str) -> bool:
    try:
        version(distribution)
    except PackageNotFoundError:
        return False
    return True


def _airflow_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        found += [f"{where}: {name}" for name in names if name.split(".")[0] == "airflow"]
    return found


def test_only_the_compat_module_imports_airflow() -> None:
    paths = [path for path in sorted(PACKAGE_DIR.rglob("*.py")) if path.name != "_compat.py"]
    offenders = [hit for path in paths for hit in _airflow_imports(path)]
    assert offenders == [], "import these from airflow_provider_expertsender._compat instead"


def test_every_compat_name_resolves_on_this_line_without_deprecation_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in _compat.__all__:
            distribution = OPTIONAL.get(name)
            if distribution and not _installed(distribution):
                continue
            assert getattr(_compat, name) is not None, name
    ours = [w for w in caught if Path(w.filename).is_relative_to(PACKAGE_DIR)]
    assert [str(w.message) for w in ours] == []


def test_exceptions_are_the_ones_the_task_runner_catches() -> None:
    """A failing or skipping task raises the very classes this Airflow line's task runner handles."""
    names = ("AirflowFailException", "AirflowSkipException", "AirflowSensorTimeout")
    modules = {getattr(_compat, name).__module__ for name in names}
    sdk_has_them = _compat.AIRFLOW_V_3_0_PLUS and hasattr(
        importlib.import_module("airflow.sdk.exceptions"), "AirflowFailException"
    )
    assert modules == {"airflow.sdk.exceptions" if sdk_has_them else "airflow.exceptions"}
    assert issubclass(_compat.AirflowFailException, _compat.AirflowException)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        _compat.NoSuchThing  # noqa: B018


def test_every_public_module_imports_in_a_fresh_interpreter() -> None:
    """As DAG files import them: a hook, operator, sensor and trigger module first, each in its own
    interpreter, then every public module in one (earlier imports cannot hide a missing name or a cycle)."""
    firsts = ["hooks.expertsender", "operators.customers", "sensors.orders", "triggers.expertsender"]
    codes = [f"import {provider.__name__}.{module}" for module in firsts]
    codes.append("; ".join(f"import {module}" for module in PUBLIC_MODULES))
    runs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for code in codes
    ]
    failed = {}
    for code, run in zip(codes, runs, strict=True):
        _, err = run.communicate(timeout=300)
        if run.returncode:
            failed[code[:80]] = err[-2000:]
    assert failed == {}


def test_importing_the_compat_module_imports_no_airflow() -> None:
    code = "import sys, airflow_provider_expertsender._compat; print('airflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


@pytest.mark.skipif(
    not os.environ.get("EXPERTSENDER_CONSTRAINTS"),
    reason="not a constrained line (scripts/test.sh sets EXPERTSENDER_CONSTRAINTS for the image-pins line)",
)
def test_installed_versions_are_the_constrained_ones() -> None:
    """The image-pins line: installing this provider moved none of the versions the image pins."""
    pins = _pins(TESTS_ROOT / os.environ["EXPERTSENDER_CONSTRAINTS"])
    installed = {name: version(name) for name in pins if _installed(name)}
    assert installed["apache-airflow"] == pins["apache-airflow"]
    moved = {name: (pins[name], got) for name, got in installed.items() if got != pins[name]}
    assert moved == {}, json.dumps(moved)


# Declared runtime dependencies the package does not import, each with the reason docs/compatibility.md gives.
DECLARED_NOT_IMPORTED: dict[str, str] = {}  # name -> why it is declared although not imported
IMPORT_NAMES = {"apache-airflow": "airflow"}


def _imported_top_level_names() -> set[str]:
    names = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_declared_dependency_is_imported_or_explained() -> None:
    """From the installed metadata (the wheel's on the af2 line): each runtime requirement is imported."""
    from importlib.metadata import requires

    runtime = [Requirement(r) for r in requires(provider.PACKAGE_NAME) or []]
    declared = [r.name for r in runtime if r.marker is None]
    imported = _imported_top_level_names()

    def unimported(name: str) -> bool:
        return IMPORT_NAMES.get(name, name.replace("-", "_")) not in imported

    unexplained = [name for name in declared if unimported(name) and name not in DECLARED_NOT_IMPORTED]
    assert unexplained == [], "drop them, or say in docs/compatibility.md why they are declared"
    stale = [name for name in DECLARED_NOT_IMPORTED if name not in declared or not unimported(name)]
    assert stale == [], "no longer true: update DECLARED_NOT_IMPORTED and docs/compatibility.md"
