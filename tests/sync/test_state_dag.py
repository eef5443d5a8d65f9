"""The warehouse example DAG run twice with its incremental state: the second run sends nothing again."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_dags" / "example_expertsender_warehouse_sync.py"


def _sample_data() -> Any:
    spec = importlib.util.spec_from_file_location(
        "_state_sample_data", EXAMPLE.parent / "expertsender_sample_data.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_state_is_forgotten_with_new_sample_data(tmp_path, airflow_db):
    """The DAG's default state folder is the one the sample-data script empties: new sample data (for a new
    emulator) is sent again rather than compared with what an earlier business unit received."""
    sample = _sample_data()
    source = EXAMPLE.read_text()
    assert f'"state_path": "{sample.DEFAULT_FOLDER / "state"}"' in source
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "customers-sql-0.sqlite").write_bytes(b"old")
    sample.make_sample_data(tmp_path)
    assert not (tmp_path / "state").exists()


@pytest.mark.dag
def test_warehouse_example_second_run_sends_only_what_changed(
    run_dag, expertsender_conn, emulator, tmp_path, monkeypatch
):
    pytest.importorskip("airflow.providers.sqlite", reason="the warehouse example reads sqlite")
    sample = _sample_data()
    data = sample.make_sample_data(tmp_path / "data")
    monkeypatch.setenv(f"AIRFLOW_CONN_{sample.WAREHOUSE_CONN_ID.upper()}", data["warehouse_conn"])
    conf = {
        "warehouse_conn_id": sample.WAREHOUSE_CONN_ID,
        "landing_path": data["landing_path"],
        "dead_letter_path": str(tmp_path / "dead-letters"),
        "state_path": str(tmp_path / "state"),
    }
    first = run_dag(EXAMPLE, "example_expertsender_warehouse_sync", conf=conf)
    assert first.state == "success", first.task_states
    sql_writes = [*first.mapped_xcoms("customers_from_sql"), first.xcom("orders_from_sql")]
    assert sum(s["new"] for s in sql_writes) == sum(s["read"] - s["invalid"] for s in sql_writes)
    assert sorted(p.name for p in (tmp_path / "state").iterdir() if p.suffix == ".sqlite") == [
        "customers-sql-0.sqlite",
        "customers-sql-1.sqlite",
        "customers-sql-2.sqlite",
        "customers-sql-3.sqlite",
        "orders-sql.sqlite",
    ]

    emulator.reset()  # an empty business unit: what it holds after the second run is what that run sent
    second = run_dag(EXAMPLE, "example_expertsender_warehouse_sync", conf=conf)
    assert second.state == "success", second.task_states
    customers = second.mapped_xcoms("customers_from_sql")
    orders = second.xcom("orders_from_sql")
    assert sum(s["sent"] for s in customers) == 0
    assert orders["sent"] == 0
    # The records refused by the API in the first run were not confirmed: they are tried again.
    assert sum(s["new"] for s in customers) + orders["new"] == sum(s["rejected"] for s in sql_writes)
    assert sum(s["unchanged"] for s in customers) + orders["unchanged"] == sum(
        s["accepted"] for s in sql_writes
    )
    store = emulator.store(emulator.api_key)
    files = second.xcom("customers_from_files")["accepted"]
    assert len(store.customers) == files + sum(s["accepted"] for s in customers)  # the files carry no state
    assert len(store.orders) == second.xcom("orders_from_files")["accepted"] + orders["accepted"]
