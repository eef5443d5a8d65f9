"""Fixtures of the sensor tests (defined in ``ecdp_data.py``, shared with the trigger tests)."""

from __future__ import annotations

from tests.sensors.ecdp_data import bad_key_conn, ecdp, store

__all__ = ["bad_key_conn", "ecdp", "store"]
