"""Bulk writes: streaming sources (records, files, SQL), mapping of rows to records, the batch engine.

Imported only when a write operator executes (never at DAG-parse time).
"""

from __future__ import annotations

from airflow_provider_expertsender.sync.engine import run_write

__all__ = ["run_write"]
