"""docs/testing-your-dags.md: its example project (a DAG and its tests) passes as a user would run it.

The example runs in a subprocess, in a copy of ``docs/examples/testing-your-dags`` outside this repository,
with the provider importable and its ``pytest11`` entry point visible (from the installed metadata, or, when
that predates the entry point, from a ``.dist-info`` made of pyproject.toml's declaration): the fixtures
must arrive through the entry point, as they do for a user.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "testing-your-dags"
PLUGIN = "airflow_provider_expertsender.emulator.pytest_plugin"


def _declared_entry_points() -> dict[str, str]:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["entry-points"]["pytest11"]


def test_pyproject_declares_the_plugin_under_its_module_name():
    assert _declared_entry_points() == {PLUGIN: PLUGIN}


def _entry_point_path(tmp_path: Path) -> list[str]:
    if any(ep.value == PLUGIN for ep in importlib.metadata.entry_points(group="pytest11")):
        return []
    dist_info = tmp_path / "site" / "expertsender_entry_points-0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: expertsender-entry-points\nVersion: 0\n"
    )
    lines = [f"{name} = {value}" for name, value in _declared_entry_points().items()]
    (dist_info / "entry_points.txt").write_text("[pytest11]\n" + "\n".join(lines) + "\n")
    return [str(dist_info.parent)]


@pytest.mark.dag
def test_the_pages_example_project_passes(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *_entry_point_path(tmp_path)])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "tests"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
