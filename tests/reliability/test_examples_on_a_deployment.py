"""Issue 11, finding 17: the example DAGs on a real deployment.

The examples' sensors never deferred (the condition held at the first check), and the warehouse sync needed
run configuration, a pool and sample data that were not shipped. ``make e2e`` runs them on a CeleryExecutor
deployment (scripts/e2e.py); these tests pin the two properties it relies on, under ``dag.test()``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "example_dags"


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.dag
def test_the_customer_sensor_example_waits_for_a_write_that_becomes_readable_later(
    run_dag, expertsender_conn, emulator
):
    """Writes readable only later (as on a platform that processes them asynchronously): the customers
    example's deferrable sensor finds nothing at its first check, defers, and succeeds once the customer is
    readable. (The example polls every 30 s; the copy run here every second.)"""
    # Long enough for the upsert task to finish and the sensor task to start, also on Airflow 3.0, whose
    # dag.test() takes seconds per task (2 s let the first check find the customer there).
    emulator.switches.update(visibility_delay_s=8.0)
    source = (EXAMPLES / "example_expertsender_customers.py").read_text()
    source, replaced = re.subn(r"poke_interval=30,", "poke_interval=1,", source)
    assert replaced == 1, "the customers example's sensor no longer says poke_interval=30"
    result = run_dag(source, "example_expertsender_customers")
    assert result.state == "success", result.task_states
    lookups = [r.status for r in emulator.requests if r.method == "GET" and r.path.startswith("/customers/")]
    # The sensor's first check (on the worker) misses, the trigger's polls find the customer later.
    assert lookups[0] == 404
    assert 200 in lookups[1:]


def test_the_warehouse_sync_example_runs_with_its_documented_set_up_and_no_run_configuration(
    airflow_db, tmp_path, capsys
):
    """The steps of the example's docstring (sample-data script, pool, sqlite connection) and the DAG's
    parameter defaults point at the same places, so a fresh deployment runs it without a run configuration
    (``make e2e`` runs those steps as written)."""
    sample = _load("_sample_data", EXAMPLES / "expertsender_sample_data.py")
    path = str(EXAMPLES / "example_expertsender_warehouse_sync.py")
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3: never loads Airflow's own examples

        bag = DagBag(dag_folder=path)
    except ImportError:  # Airflow 2.10
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

        bag = DagBag(dag_folder=path, include_examples=False)  # type: ignore[call-arg]
    dag = bag.get_dag("example_expertsender_warehouse_sync")
    params = {key: dag.params[key] for key in ("warehouse_conn_id", "landing_path", "dead_letter_path")}
    folder = sample.DEFAULT_FOLDER
    assert params == {
        "warehouse_conn_id": sample.WAREHOUSE_CONN_ID,
        "landing_path": str(folder / "landing"),
        "dead_letter_path": str(folder / "dead-letters"),
    }
    assert sample.main([str(tmp_path / "data")]) == 0
    printed = capsys.readouterr().out
    for step in (
        f"airflow pools set {sample.POOL} {sample.POOL_SLOTS}",
        f"airflow connections add {sample.WAREHOUSE_CONN_ID} --conn-type sqlite",
    ):
        assert step in printed  # what the script tells the user to run...
        assert step in dag.doc_md  # ...is what the DAG's documentation says
    assert {t.pool for t in dag.tasks if t.task_id.startswith(("customers_", "orders_"))} == {sample.POOL}


#: Template variables that exist only in a run with a logical date.
_NEEDS_LOGICAL_DATE = re.compile(
    r"\{\{[^}]*\b(ds|ds_nodash|ts|ts_nodash|ts_nodash_with_tz|logical_date|data_interval_start|"
    r"data_interval_end|prev_ds|next_ds|execution_date)\b"
)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("example_*.py")), ids=lambda p: p.stem)
def test_an_example_triggered_by_hand_renders_its_templates(path):
    """The examples have no schedule: they are triggered from the UI or the REST API, and on Airflow 3 such a
    run has no logical date, so ``{{ ds }}`` fails to render and the task fails (``make e2e`` found it in the
    bulk-writes example; ``dag.test()`` always sets a logical date and could not)."""
    source = path.read_text(encoding="utf-8")
    # By hand, or by an Asset update (example_expertsender_assets): on Airflow 3 neither has a logical date.
    assert "schedule=None" in source or "schedule=expertsender_asset(" in source
    assert _NEEDS_LOGICAL_DATE.findall(source) == []
