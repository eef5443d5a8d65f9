"""Pytest fixtures for the local ECDP emulator (loaded by ``tests/conftest.py``; usable in any project).

- ``emulator_server`` (session): one running :class:`Emulator` with two random API keys (two business units).
- ``emulator``: the same server, reset (empty stores, default switches, empty request log) before each test.
- ``expertsender_conn``: ``AIRFLOW_CONN_EXPERTSENDER_DEFAULT`` pointing at the emulator with fast retry
  settings; yields the connection id ``"expertsender_default"``.

The keys are random per session, so a test can search logs/XCom for ``emulator.api_key`` to prove it leaked
nowhere. Importing this module does not import Airflow.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest

from airflow_provider_expertsender.emulator import Emulator

CONN_ID = "expertsender_default"
FAST_EXTRAS = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "max_retries": 3,
    "backoff_base": 0.01,
    "backoff_max": 0.1,
}


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    keys = [f"es-emu-{secrets.token_hex(12)}", f"es-emu-{secrets.token_hex(12)}"]
    with Emulator(api_keys=keys) as emu:
        yield emu


@pytest.fixture
def emulator(emulator_server: Emulator) -> Iterator[Emulator]:
    emulator_server.reset()
    yield emulator_server
    # Release requests a test left hanging and stop faults leaking into the next test's set-up.
    emulator_server.reset()


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


@pytest.fixture
def expertsender_conn(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(emulator))
    return CONN_ID
