"""Bulk writes: streaming sources (records, files, SQL), mapping of rows to records, the batch engine.

``run_write`` is imported on first use (PEP 562), so a DAG file that only builds a write operator imports
nothing but :mod:`~airflow_provider_expertsender.sync.limits` from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_expertsender.sync.engine import run_write

__all__ = ["run_write"]


def __getattr__(name: str) -> Any:
    if name == "run_write":
        from airflow_provider_expertsender.sync.engine import run_write

        return run_write
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
