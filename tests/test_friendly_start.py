"""The first five minutes: ``make`` lists the targets, ``make emulator`` installs nothing and the emulator
says once where it listens, the demo explains its deliberate dead letters and ends with next steps.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EMULATOR = "airflow_provider_expertsender.emulator"


def _load_demo() -> Any:
    spec = importlib.util.spec_from_file_location("_demo_friendly", ROOT / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_demo_friendly"] = module
    spec.loader.exec_module(module)
    return module


# -- make help ---------------------------------------------------------------------------------------------


def _documented_targets() -> dict[str, str]:
    """Target -> its ``##`` text, read from the Makefile itself."""
    found = re.findall(r"^([A-Za-z0-9_.-]+):[^\n#]*## (.+)$", (ROOT / "Makefile").read_text(), re.M)
    return {target: text.strip() for target, text in found}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("argv", [[], ["help"]], ids=["bare make", "make help"])
def test_make_lists_every_documented_target(argv):
    targets = _documented_targets()
    assert {"help", "demo", "test", "docs", "emulator"} <= set(targets)
    done = subprocess.run(
        ["make", "-s", "--no-print-directory", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    listed = dict(re.findall(r"^\s+make (\S+)\s+(.+)$", done.stdout, re.M))
    assert listed == targets
    assert not done.stderr


def test_every_phony_target_is_documented():
    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split())  # type: ignore[union-attr]
    assert phony <= set(_documented_targets()), "give each target a `## text` so that `make help` shows it"


# -- the emulator ------------------------------------------------------------------------------------------


def _system_python() -> str | None:
    """An interpreter (3.10+) that is not this virtualenv's, to show the emulator needs nothing installed."""
    for name in ("python3.12", "python3.11", "python3.10", "python3"):
        path = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")
        if path and Path(path).resolve() != Path(sys.executable).resolve():
            version = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info >= (3, 10))"],
                capture_output=True,
                text=True,
                check=False,
            )
            if version.stdout.strip() == "True":
                return path
    return None


def test_the_emulator_imports_only_the_standard_library():
    code = (
        "import sys\n"
        f"import {EMULATOR}.__main__\n"
        "outside = sorted({name.split('.')[0] for name in sys.modules}"
        " - set(sys.stdlib_module_names) - {'airflow_provider_expertsender'})\n"
        "print(','.join(n for n in outside if not n.startswith('_')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.stdout.strip() == ""


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    return out, err


def test_the_emulator_prints_its_start_line_once():
    proc = subprocess.Popen(
        [sys.executable, "-m", EMULATOR, "--port", "0", "--api-key", "start-line-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    out, err = _stop(proc)
    assert re.match(r"ECDP emulator listening on http://127\.0\.0\.1:\d+ ", first)
    assert (first + out + err).count("listening on") == 1
    assert "start-line-key" not in first + out + err


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.skipif(
    not (ROOT / "airflow_provider_expertsender").is_dir(),
    reason="needs a checkout: the package folder beside the tests (this run tests an installed wheel)",
)
def test_make_emulator_runs_without_installing_anything():
    """``scripts/emulator.sh`` with a bare system interpreter: no virtualenv, no pip, no Airflow."""
    python = _system_python()
    if python is None:
        pytest.skip("no system Python 3.10+ outside this virtualenv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PYTHON_BIN=python, PORT="0")
    proc = subprocess.Popen(
        ["bash", "scripts/emulator.sh", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    out, err = _stop(proc)
    assert "listening on http://127.0.0.1:" in first, err
    assert "API key(s)" in first
    assert "creating" not in out + err


# -- the demo ----------------------------------------------------------------------------------------------


def test_demo_says_its_dead_letters_are_deliberate(tmp_path):
    demo = _load_demo()
    letters = []
    for name, lines in (("customers.jsonl", 3), ("orders.jsonl", 1)):
        path = tmp_path / name
        path.write_text('{"reason": "x"}\n' * lines)
        letters.append(path)
    report = demo.dead_letter_report(letters, expected=4)
    assert report.startswith("demo: 4 records did not land, on purpose")
    assert str(letters[0]) in report
    assert str(letters[1]) in report
    unexpected = demo.dead_letter_report(letters[:1], expected=4)
    assert "on purpose" not in unexpected
    assert "4 were expected" in unexpected


def test_demo_sample_data_has_as_many_deliberate_errors_as_it_says(tmp_path):
    demo = _load_demo()
    assert demo.make_sample_data(tmp_path / "data", customers=60, orders=30)["invalid"] == 4


def test_demo_ends_with_next_steps_without_a_key():
    demo = _load_demo()
    steps = demo.NEXT_STEPS
    assert "docs/getting-started.md" in steps
    assert "make emulator" in steps
    assert "sandbox" in steps
    assert "AIRFLOW_CONN_EXPERTSENDER_DEFAULT" in steps
    assert demo.API_KEY not in steps
