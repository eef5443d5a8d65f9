"""Fixtures of the trigger tests (shared with the sensor tests)."""

from __future__ import annotations

from tests.sensors.ecdp_data import bad_key_conn, ecdp, store

__all__ = ["bad_key_conn", "ecdp", "store"]
