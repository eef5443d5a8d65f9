"""The pytest plugin itself: the emulator fixture is reset per test and the connection points at it."""

from __future__ import annotations

import json
import os

import requests


def test_emulator_fixture_serves_and_is_reset(emulator):
    assert not emulator.requests
    assert emulator.store(emulator.api_key).customers == []
    response = requests.get(
        f"{emulator.url}/customerconsents", headers={"x-api-key": emulator.api_key}, timeout=5
    )
    assert response.status_code == 200
    emulator.switches.latency_ms = 5
    emulator.switches.fail_next(3)


def test_previous_test_left_nothing_behind(emulator):
    assert emulator.requests == []
    assert emulator.switches.latency_ms == 0
    assert emulator.switches.pending_faults == 0
    assert emulator.store(emulator.api_key).request_count == 0


def test_two_business_units_with_random_keys(emulator):
    first, second = emulator.api_keys
    assert first != second
    assert first.startswith("es-emu-")
    assert len(first) > 20


def test_expertsender_conn_points_at_the_emulator(expertsender_conn, emulator):
    assert expertsender_conn == "expertsender_default"
    conn = json.loads(os.environ["AIRFLOW_CONN_EXPERTSENDER_DEFAULT"])
    assert conn["conn_type"] == "expertsender"
    assert conn["host"] == emulator.url
    assert conn["password"] == emulator.api_key
    assert conn["extra"]["max_retries"] == 3
    assert conn["extra"]["backoff_max"] == 0.1


def test_docs_example_hook_retries_against_the_emulator(expertsender_conn, expertsender_emulator):
    """The example of docs/emulator.md, run as written."""
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

    expertsender_emulator.switches.fail_next(status=503)  # first call fails, the hook retries
    ExpertSenderHook(expertsender_conn).upsert_customers([{"email": "jane@example.com"}])
    unit = expertsender_emulator.store(expertsender_emulator.api_key)
    assert unit.customer(email="jane@example.com") is not None
    assert [r.status for r in expertsender_emulator.requests] == [503, 201]


def test_loading_the_plugin_imports_neither_airflow_nor_the_emulator():
    import subprocess
    import sys

    heavy = ("airflow", "airflow_provider_expertsender.emulator.server")
    code = (
        "import sys, airflow_provider_expertsender.emulator.pytest_plugin; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
