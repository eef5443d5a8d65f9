"""Pytest fixtures for the emulator, for this project's tests and for yours.

Enable them in a ``conftest.py``::

    pytest_plugins = ["airflow_provider_expertsender.emulator.pytest_plugin"]

- ``emulator_server`` (session): one running :class:`Emulator` with two random API keys (two business units).
- ``emulator``: the same server, reset (empty stores, initial switches, empty request log) before and after
  each test.
- ``expertsender_conn``: ``AIRFLOW_CONN_EXPERTSENDER_DEFAULT`` set to the emulator with fast retry settings;
  the value is the connection id ``"expertsender_default"``.

The keys are random per session, so a test can search logs, XCom or rendered templates for
``emulator.api_key`` to prove it leaked nowhere. Nothing here imports Airflow.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

import pytest

from airflow_provider_expertsender.emulator.server import Emulator

if TYPE_CHECKING:
    from collections.abc import Iterator

CONN_ID = "expertsender_default"
FAST_EXTRAS = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "max_retries": 3,
    "backoff_base": 0.01,
    "backoff_max": 0.1,
}


def connection_json(emu: Emulator, api_key: str | None = None, **extra: object) -> str:
    """The JSON form of an ``expertsender`` connection to ``emu`` (fast retries unless overridden)."""
    return json.dumps(
        {
            "conn_type": "expertsender",
            "host": emu.url,
            "password": api_key or emu.api_key,
            "extra": {**FAST_EXTRAS, **extra},
        }
    )


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    """One emulator for the whole session (two business units with random keys)."""
    keys = [f"es-emu-{secrets.token_hex(12)}", f"es-emu-{secrets.token_hex(12)}"]
    with Emulator(api_keys=keys) as emu:
        yield emu


@pytest.fixture
def emulator(emulator_server: Emulator) -> Iterator[Emulator]:
    """The session's emulator, reset before and after the test."""
    emulator_server.reset()
    yield emulator_server
    # Releases requests a test left hanging; stops faults leaking into the next test's set-up.
    emulator_server.reset()


@pytest.fixture
def expertsender_conn(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``AIRFLOW_CONN_EXPERTSENDER_DEFAULT`` pointing at the emulator; returns the connection id."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(emulator))
    return CONN_ID
