"""Test set-up of this Airflow project: a throwaway Airflow home whose DAGs folder is ``dags/``.

The emulator fixtures (``expertsender_emulator``, ``expertsender_conn``) come with the provider: nothing to
declare here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before Airflow is imported anywhere: Airflow 3 runs dag.test() only for a DAG file inside the DAGs folder.
_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parent.parent / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
    }
)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh metadata database for the session (a few seconds)."""
    from airflow.utils import db

    db.resetdb()
