"""The dead-letter file: it describes the current try only, loses no line the log reported (even when the
process is killed), says when the run did not finish, is strict JSON and is readable by its owner only."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_expertsender.emulator.pytest_plugin import connection_json
from airflow_provider_expertsender.exceptions import ExpertSenderRejectedRecordsError
from airflow_provider_expertsender.sync import run_write
from airflow_provider_expertsender.sync.deadletter import DeadLetterWriter
from tests.reliability.conftest import customer


def _strict_lines(path: Path) -> list[dict[str, Any]]:
    """The file's lines parsed as strict JSON (``NaN``/``Infinity`` refused, as non-Python readers do)."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")

    return [
        json.loads(line, parse_constant=refuse) for line in path.read_bytes().decode("utf-8").splitlines()
    ]


# ------------------------------------------------------------------------------------------ finding 8


def test_a_try_that_rejects_nothing_removes_the_earlier_trys_dead_letters(make_hook, tmp_path):
    dead = tmp_path / "dead.jsonl"
    hook = make_hook()
    first_try = [customer(i) for i in range(5)] + [{"email": "broken"}]
    with pytest.raises(ExpertSenderRejectedRecordsError):
        run_write(
            hook,
            resource="customers",
            records=first_try,
            mode="AddOrUpdate",
            on_invalid="skip",
            dead_letter_path=str(dead),
        )
    assert len(_strict_lines(dead)) == 1

    summary = run_write(
        hook,
        resource="customers",
        records=[customer(i) for i in range(5)],
        mode="AddOrUpdate",
        dead_letter_path=str(dead),
    )

    assert summary["dead_letter_path"] is None
    assert not dead.exists()


def test_a_try_that_rejects_fewer_records_replaces_the_file(make_hook, tmp_path):
    dead = tmp_path / "dead.jsonl"
    dead.write_text('{"stage": "in_doubt", "position": 0}\n' * 20)

    with pytest.raises(ExpertSenderRejectedRecordsError):
        run_write(
            make_hook(),
            resource="customers",
            records=[{"email": "broken"}],
            mode="AddOrUpdate",
            on_invalid="skip",
            dead_letter_path=str(dead),
        )

    assert [line["stage"] for line in _strict_lines(dead)] == ["validation"]


# ------------------------------------------------------------------------------------------ finding 9


def _start(emulator: Any, tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    dead = tmp_path / "dead.jsonl"
    env = dict(os.environ, AIRFLOW_CONN_ES_KILL=connection_json(emulator))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._kill_target", str(dead), mode],
        stdout=subprocess.PIPE,  # the log: stdlib on Airflow 2.10, structlog (to stdout) on Airflow 3
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    return process, dead


def _logged_positions(process: subprocess.Popen[str], until: int) -> set[int]:
    """Read the process's log until it reported invalid record ``#until``; the positions it reported."""
    assert process.stdout is not None
    seen: set[int] = set()
    output: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        match = re.search(r"Invalid customer record #(\d+)", line)
        if match:
            seen.add(int(match.group(1)))
            if int(match.group(1)) >= until:
                return seen
    tail = "".join(output[-30:])
    raise AssertionError(f"the write never reported record #{until}; logged {sorted(seen)}; output:\n{tail}")


def test_a_killed_write_keeps_every_dead_letter_its_log_reported(emulator, tmp_path):
    process, dead = _start(emulator, tmp_path, "engine")
    try:
        logged = _logged_positions(process, until=40)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        process.kill()

    in_file = {line["position"] for line in _strict_lines(dead)}
    assert logged <= in_file, f"reported in the log but not in the file: {sorted(logged - in_file)}"


def test_a_terminated_operator_marks_its_dead_letters_incomplete(emulator, tmp_path):
    process, dead = _start(emulator, tmp_path, "operator")
    try:
        logged = _logged_positions(process, until=40)
        process.send_signal(signal.SIGTERM)
        assert process.stdout is not None
        while "on_kill returned" not in process.stdout.readline():
            pass
        time.sleep(0.2)  # the task goes on after on_kill, as on Airflow 3, until the supervisor's SIGKILL
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        process.kill()

    lines = _strict_lines(dead)
    assert logged <= {line["position"] for line in lines}
    markers = [line for line in lines if line["stage"] == "incomplete"]
    assert len(markers) == 1
    assert "killed" in markers[0]["reason"]
    assert markers[0]["record"] is None


def test_a_kill_after_the_run_unwound_still_marks_the_file(tmp_path):
    """execution_timeout: the timeout unwinds the run (the file is closed), then Airflow calls on_kill."""
    dead = tmp_path / "dead.jsonl"
    with DeadLetterWriter(str(dead)) as writer:
        writer.write(position=0, identifier=None, stage="validation", reason="x", record={"a": 1})
    writer.interrupt("killed by a timeout")

    assert [line["stage"] for line in _strict_lines(dead)] == ["validation", "incomplete"]


# ----------------------------------------------------------------------------------------- finding 12


def test_dead_letters_are_strict_json_whatever_the_record_holds(make_hook, tmp_path):
    dead = tmp_path / "dead.jsonl"
    nested: Any = "bottom"
    for _ in range(5000):
        nested = [nested]
    records = [
        {"email": "nan", "score": math.nan, "ratio": math.inf, "low": -math.inf},
        {"email": "surrogate", "first_name": "\ud800"},
        {"email": "nested", "deep": nested},
        {"email": "tuple-keys", "attr": {(1, 2): "x", 3: math.nan}},
    ]

    with pytest.raises(ExpertSenderRejectedRecordsError):
        run_write(
            make_hook(),
            resource="customers",
            records=records,
            mode="AddOrUpdate",
            on_invalid="skip",
            dead_letter_path=str(dead),
        )

    lines = _strict_lines(dead)
    assert [line["position"] for line in lines] == [0, 1, 2, 3]
    assert lines[0]["record"] == {"email": "nan", "score": "NaN", "ratio": "Infinity", "low": "-Infinity"}
    assert lines[1]["record"]["first_name"] == "\ud800"
    assert lines[3]["record"]["attr"] == {"(1, 2)": "x", "3": "NaN"}


@pytest.mark.parametrize(("existing", "uri"), [(False, False), (True, False), (False, True)])
def test_dead_letter_files_are_created_owner_only(make_hook, tmp_path, existing, uri):
    dead = tmp_path / "out" / "dead.jsonl"
    location = f"file://{dead}" if uri else str(dead)
    if existing:
        dead.parent.mkdir()
        dead.write_text("old\n")
        dead.chmod(0o644)
    old_umask = os.umask(0o022)
    try:
        with pytest.raises(ExpertSenderRejectedRecordsError):
            run_write(
                make_hook(),
                resource="customers",
                records=[{"email": "broken"}],
                mode="AddOrUpdate",
                on_invalid="skip",
                dead_letter_path=location,
            )
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(dead.stat().st_mode) == 0o600
