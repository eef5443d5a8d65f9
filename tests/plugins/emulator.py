"""The emulator fixtures of this project's test suite (loaded by ``tests/conftest.py``).

The fixtures themselves are the package's pytest plugin
(``airflow_provider_expertsender.emulator.pytest_plugin``, the one users get through the ``pytest11`` entry
point); ``tests/conftest.py`` loads it by name, which works with or without the entry point installed. Here:
the short name this suite uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_expertsender.emulator.pytest_plugin import CONN_ID, FAST_EXTRAS, connection_json

if TYPE_CHECKING:
    from airflow_provider_expertsender.emulator import Emulator

__all__ = ["CONN_ID", "FAST_EXTRAS", "connection_json", "emulator"]


@pytest.fixture
def emulator(expertsender_emulator: Emulator) -> Emulator:
    """The session's emulator, reset before and after the test (``expertsender_emulator``)."""
    return expertsender_emulator
