"""The package's layout rules: what is shared between packages has a public home."""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_expertsender

ROOT = Path(airflow_provider_expertsender.__file__).parent
PREFIX = "airflow_provider_expertsender."


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name.startswith(PREFIX)]


def _private_of_another_package(importer: Path, module: str) -> bool:
    parts = module[len(PREFIX) :].split(".")
    private = next(
        (i for i, part in enumerate(parts) if part.startswith("_") and not part.endswith("__")), None
    )
    if private is None:
        return False
    owner = parts[:private]  # the package that holds the private module
    here = list(importer.relative_to(ROOT).parent.parts)
    # A private module is private to its package and the packages inside it (root ``_compat`` serves all).
    return here[: len(owner)] != owner


def test_no_module_imports_a_private_module_of_another_package():
    found = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted(ROOT.rglob("*.py"))
        for module in _imports(path)
        if _private_of_another_package(path, module)
    ]
    assert found == []


def test_nothing_outside_the_emulator_imports_it():
    """The emulator ships in the wheel but no task, hook or trigger ever loads it (docs/emulator.md)."""
    found = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).parts[0] != "emulator"
        for module in _imports(path)
        if module.startswith(f"{PREFIX}emulator")
    ]
    assert found == []
