"""Pytest fixtures for testing DAGs against the emulator: loaded automatically wherever the provider is
installed (the ``pytest11`` entry point ``airflow_provider_expertsender.emulator.pytest_plugin``).

- ``expertsender_emulator_server`` (session): one running :class:`Emulator` on a free loopback port with two
  random API keys (two business units). Started on first use only.
- ``expertsender_emulator``: the same server, reset (empty stores, initial switches, empty request log) before
  and after each test.
- ``expertsender_conn``: ``AIRFLOW_CONN_EXPERTSENDER_DEFAULT`` set to the emulator with fast retry settings
  for the test; the value is the connection id ``"expertsender_default"``.

The keys are random per session, so a test can search logs, XCom or rendered templates for
``expertsender_emulator.api_key`` to prove it leaked nowhere. Loading the plugin imports neither Airflow nor
the emulator (a test that uses no fixture of it pays nothing); disable it with
``-p no:airflow_provider_expertsender.emulator.pytest_plugin``. See docs/testing-your-dags.md.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_expertsender.emulator.server import Emulator

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
def expertsender_emulator_server() -> Iterator[Emulator]:
    """One emulator for the whole session (two business units with random keys)."""
    from airflow_provider_expertsender.emulator.server import Emulator

    keys = [f"es-emu-{secrets.token_hex(12)}", f"es-emu-{secrets.token_hex(12)}"]
    with Emulator(api_keys=keys) as emu:
        yield emu


@pytest.fixture
def expertsender_emulator(expertsender_emulator_server: Emulator) -> Iterator[Emulator]:
    """The session's emulator, reset before and after the test."""
    expertsender_emulator_server.reset()
    yield expertsender_emulator_server
    # Releases requests a test left hanging; stops faults leaking into the next test's set-up.
    expertsender_emulator_server.reset()


@pytest.fixture
def expertsender_conn(expertsender_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``AIRFLOW_CONN_EXPERTSENDER_DEFAULT`` pointing at the emulator; returns the connection id."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(expertsender_emulator))
    return CONN_ID
