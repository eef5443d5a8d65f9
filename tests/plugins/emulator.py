"""The emulator fixtures of this project's test suite (loaded by ``tests/conftest.py``).

They live in the package (``airflow_provider_expertsender.emulator.pytest_plugin``) so users can enable
the same fixtures in their own CI; see docs/emulator.md.
"""

from __future__ import annotations

from airflow_provider_expertsender.emulator.pytest_plugin import (
    CONN_ID,
    FAST_EXTRAS,
    connection_json,
    emulator,
    emulator_server,
    expertsender_conn,
)

__all__ = ["CONN_ID", "FAST_EXTRAS", "connection_json", "emulator", "emulator_server", "expertsender_conn"]
