"""Fixtures that run real DAGs: a migrated metadata DB and ``run_dag`` (``dag.test()`` on both Airflow lines).

Airflow 3 only runs ``dag.test()`` for a DAG whose file sits in the dags folder, so ``run_dag`` writes the DAG
source there, parses it with ``DagBag`` (failing loudly on import errors) and runs it in-process; deferred
tasks' triggers run inline. ``dag.test()`` does not raise when a task fails: callers assert ``result.state``.
"""

from __future__ import annotations

import json
import logging
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class DagResult:
    """The outcome of one ``run_dag`` call."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str | None] = field(default_factory=dict)
    _xcoms: dict[tuple[str, str, int], Any] = field(default_factory=dict, repr=False)

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """Return the XCom value pushed by ``task_id`` (``KeyError`` when there is none)."""
        return self._xcoms[(task_id, key, map_index)]

    def mapped_xcoms(self, task_id: str, key: str = "return_value") -> list[Any]:
        """Return the XCom values of every mapped instance of ``task_id``, by map index."""
        found = sorted((mi, v) for (t, k, mi), v in self._xcoms.items() if t == task_id and k == key)
        return [v for _, v in found]


def _text(state: Any) -> str | None:
    """A DagRun/TaskInstance state as plain text (``"success"``), whatever enum type the line uses."""
    return None if state is None else str(getattr(state, "value", state))


def _dag_bag(path: Path) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    except ImportError:  # Airflow 2.10
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(path))


def _xcoms_of(dag_id: str, run_id: str) -> dict[tuple[str, str, int], Any]:
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel as model  # Airflow 3
    except ImportError:
        from airflow.models.xcom import XCom as model  # type: ignore[assignment]
    out: dict[tuple[str, str, int], Any] = {}
    with create_session() as session:
        rows = session.query(model).filter(model.dag_id == dag_id, model.run_id == run_id).all()
        for row in rows:
            value = row.value
            if isinstance(value, (bytes, str)):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            out[(row.task_id, row.key, row.map_index)] = value
    return out


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the session's sqlite metadata DB once (2-4 s)."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def dags_folder() -> Path:
    """The session's dags folder (``AIRFLOW__CORE__DAGS_FOLDER``)."""
    return Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture
def run_dag(airflow_db: None, dags_folder: Path) -> Callable[..., DagResult]:
    """Run a DAG given as source text (or an existing file) with ``dag.test()`` and collect its outcome.

    ``run_dag(source, dag_id, conf=None, file_name=None)``; ``source`` is dedented. Passing a
    :class:`~pathlib.Path` copies that file instead.
    """

    def _run(
        source: str | Path, dag_id: str, conf: dict[str, Any] | None = None, file_name: str | None = None
    ) -> DagResult:
        text = source.read_text() if isinstance(source, Path) else textwrap.dedent(source)
        path = dags_folder / (file_name or f"{dag_id}.py")
        path.write_text(text)
        bag = _dag_bag(path)
        assert not bag.import_errors, f"DAG file failed to import: {bag.import_errors}"
        dag = bag.get_dag(dag_id)
        assert dag is not None, f"{dag_id!r} not found in {path.name}; DAGs there: {sorted(bag.dag_ids)}"
        # Airflow 2.10's dag.test() adds a StreamHandler bound to the sys.stdout of the moment (pytest's
        # capture stream) to the "airflow.task" logger and never removes it; once that stream is closed, every
        # later task-logger record prints "--- Logging error ---" with the call stack. Restore the handlers.
        task_logger = logging.getLogger("airflow.task")
        handlers = list(task_logger.handlers)
        try:
            dag_run = dag.test(run_conf=conf) if conf else dag.test()
        finally:
            for handler in task_logger.handlers[:]:
                if handler not in handlers:
                    task_logger.removeHandler(handler)
        states = {
            ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": ti.state
            for ti in dag_run.get_task_instances()
        }
        return DagResult(
            dag_id=dag_id,
            run_id=dag_run.run_id,
            state=_text(dag_run.state) or "none",
            task_states={k: _text(v) for k, v in states.items()},
            _xcoms=_xcoms_of(dag_id, dag_run.run_id),
        )

    return _run
