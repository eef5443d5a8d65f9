"""The example DAGs: they import cleanly on both Airflow lines, follow the conventions the docs rely on, and
each one runs to success against the emulator, writing what it claims to write.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import sqlite3
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"
EXAMPLE_FILES = sorted(EXAMPLES.glob("example_*.py"))
DAG_IDS = [path.stem for path in EXAMPLE_FILES]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


docs_hooks = _load("_docs_hooks", ROOT / "scripts" / "mkdocs_hooks.py")
demo = _load("_demo", ROOT / "scripts" / "demo.py")


def _dag_bag() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3: never loads Airflow's own examples
    except ImportError:  # Airflow 2.10
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

        return DagBag(dag_folder=str(EXAMPLES), include_examples=False)  # type: ignore[call-arg]
    return DagBag(dag_folder=str(EXAMPLES))


# -- parsing ---------------------------------------------------------------------------------------------


def test_the_seven_capabilities_have_an_example():
    assert DAG_IDS == [
        "example_expertsender_assets",
        "example_expertsender_bulk_writes",
        "example_expertsender_custom_event",
        "example_expertsender_customers",
        "example_expertsender_orders",
        "example_expertsender_settings",
        "example_expertsender_warehouse_sync",
    ]


def test_dag_bag_imports_without_errors_or_deprecation_warnings(airflow_db, monkeypatch):
    """No import error, and no warning (deprecated imports above all) raised from the examples' code."""

    # Parsing must not need the network or a connection: any socket connection attempt fails the import.
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an example DAG touched the network at parse time")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    for name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_")]:
        monkeypatch.delenv(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = _dag_bag()
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == DAG_IDS
    # Airflow 3 reports deprecated imports as UserWarning, 2.10 as RemovedInAirflow3Warning: any warning
    # attributed to an example's own lines fails, whatever its category.
    from_examples = [
        f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})"
        for w in caught
        if Path(w.filename).resolve().is_relative_to(EXAMPLES)
    ]
    assert from_examples == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=DAG_IDS)
def test_example_follows_the_conventions(path: Path, airflow_db):
    bag = _dag_bag()
    dag = bag.get_dag(path.stem)
    assert dag is not None, f"{path.name} must define the DAG {path.stem!r} (the demo runs DAGs by file name)"
    assert dag.fileloc == str(path)
    assert set(dag.tags) >= {"expertsender", "example"}
    assert dag.catchup is False
    assert dag.start_date is not None
    timetable = type(dag.timetable).__name__
    # Scheduled on the provider's Assets (Datasets on 2.10): the data-aware example; every other one by hand.
    expected = "AssetTriggeredTimetable" if path.stem == "example_expertsender_assets" else "NullTimetable"
    if expected == "AssetTriggeredTimetable" and timetable == "DatasetTriggeredTimetable":
        expected = timetable
    assert timetable == expected, f"schedule must be {expected}, got {timetable}"
    assert dag.doc_md, "the module docstring is the DAG's documentation"
    text = path.read_text()
    assert "from airflow.sdk import" in text, "Airflow 3 imports come first"
    sections = docs_hooks.sections(text)
    assert sections, "documented examples carry [START name] / [END name] markers"
    assert all(body.strip() for body in sections.values())


def test_section_names_are_unique_across_examples():
    seen: dict[str, str] = {}
    for path in EXAMPLE_FILES:
        for name in docs_hooks.sections(path.read_text()):
            assert name not in seen, f"section {name!r} is in both {seen[name]} and {path.name}"
            seen[name] = path.name


def test_every_docs_include_resolves():
    """Each ``--8<-- "file:section"`` line of the docs points at an existing section (no drifting copies)."""
    includes = [
        (page.relative_to(ROOT), match["path"], match["section"])
        for page in sorted((ROOT / "docs").rglob("*.md"))
        for match in docs_hooks.INCLUDE.finditer(page.read_text())
    ]
    assert includes, "the docs include the examples"
    for page, path, section in includes:
        try:
            docs_hooks.snippet(path, section)
        except docs_hooks.ExampleIncludeError as err:
            pytest.fail(f"{page}: {err}")


_DOC_IMPORT = re.compile(
    r"^\s*from (airflow_provider_expertsender[\w.]*) import \(?([\w, \n]+?)\)?\s*$", re.MULTILINE
)


def test_imports_shown_in_the_docs_exist():
    """Code in the README and the docs that is not included from a tested file at least imports real names."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    shown = [
        (page.relative_to(ROOT), match[1], name.strip())
        for page in pages
        if page.exists()
        for match in _DOC_IMPORT.finditer(page.read_text())
        for name in match[2].replace("\n", " ").split(",")
        if name.strip()
    ]
    assert shown
    missing = [
        f"{page}: from {module} import {name}"
        for page, module, name in shown
        if not hasattr(importlib.import_module(module), name)
    ]
    assert missing == []


def test_include_rejects_unbalanced_markers():
    with pytest.raises(docs_hooks.ExampleIncludeError, match="never closed"):
        docs_hooks.sections("# [START a]\nx = 1\n")
    with pytest.raises(docs_hooks.ExampleIncludeError, match="without being opened"):
        docs_hooks.sections("x = 1\n# [END a]\n")
    with pytest.raises(docs_hooks.ExampleIncludeError, match="no section 'nope'"):
        docs_hooks.snippet("example_dags/example_expertsender_orders.py", "nope")
    assert docs_hooks.sections("if x:\n    # [START a]\n    y = 1\n    # [END a]\n") == {"a": "y = 1"}


# -- running against the emulator ------------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path, monkeypatch) -> dict[str, Any]:
    """The sample warehouse (sqlite) and landing folder of the warehouse-sync example, as in the demo."""
    try:
        import airflow.providers.sqlite  # noqa: F401
    except ImportError:
        pytest.fail("the warehouse example reads sqlite: needs apache-airflow-providers-sqlite (test extra)")
    data = demo.make_sample_data(tmp_path / "data")
    monkeypatch.setenv(f"AIRFLOW_CONN_{demo.WAREHOUSE_CONN_ID.upper()}", data["warehouse_conn"])
    return data


def _store(emulator: Any) -> Any:
    return emulator.store(emulator.api_key)


def _no_key_in_xcom(result: Any, emulator: Any) -> None:
    dumped = json.dumps(list(result._xcoms.values()), default=str)
    assert emulator.api_key not in dumped


@pytest.mark.dag
def test_customers_example(run_dag, expertsender_conn, emulator):
    result = run_dag(EXAMPLES / "example_expertsender_customers.py", "example_expertsender_customers")
    assert result.state == "success", result.task_states
    summary = result.xcom("upsert_customers")
    assert (summary["read"], summary["accepted"], summary["rejected"]) == (2, 2, 0)
    assert result.xcom("upsert_signups")["accepted"] == 2
    customers = _store(emulator).customers
    assert {c["email"] for c in customers} == {
        "ada@example.com",
        "alan@example.com",
        "grace@example.com",
        "edsger@example.com",
    }
    ada = _store(emulator).customer(email="ada@example.com")
    assert ada["customAttributes"] == [{"name": "loyalty_tier", "value": "gold"}]
    assert result.xcom("get_customer")["email"] == "ada@example.com"
    assert ("wait_for_customer", "return_value", -1) not in result._xcoms  # do_xcom_push=False
    _no_key_in_xcom(result, emulator)


@pytest.mark.dag
def test_orders_example(run_dag, expertsender_conn, emulator):
    result = run_dag(EXAMPLES / "example_expertsender_orders.py", "example_expertsender_orders")
    assert result.state == "success", result.task_states
    assert result.xcom("register_order")["accepted"] == 1
    assert result.xcom("mark_completed")["status"] == "completed"
    assert result.xcom("get_order")["status"] == "completed"
    assert result.xcom("delete_order") == {"order_id": "EX-1001", "deleted": True}
    (order,) = _store(emulator).orders
    assert (order["id"], order["status"], order["isDeleted"]) == ("EX-1001", "completed", True)
    assert _store(emulator).counters["status_changes"] == 2
    _no_key_in_xcom(result, emulator)


@pytest.mark.dag
def test_custom_event_example(run_dag, expertsender_conn, emulator):
    result = run_dag(EXAMPLES / "example_expertsender_custom_event.py", "example_expertsender_custom_event")
    assert result.state == "success", result.task_states
    assert result.xcom("send_custom_event") == {
        "custom_event_id": 12,
        "identifier": "email",
        "data_fields": 4,
    }
    (event,) = _store(emulator).events
    assert event["customEventId"] == 12
    assert {f["name"]: (f["type"], f["value"]) for f in event["dataFields"]} == {
        "coupon_code": ("String", "SPRING-25"),
        "discount": ("Money", "25.00"),
        "valid_until": ("Date", "2025-04-30"),
        "first_order": ("Boolean", "true"),
    }


@pytest.mark.dag
def test_settings_example(run_dag, expertsender_conn, emulator):
    result = run_dag(EXAMPLES / "example_expertsender_settings.py", "example_expertsender_settings")
    assert result.state == "success", result.task_states
    names = {item["name"] for item in result.xcom("list_customer_attributes")}
    assert {"loyalty_tier", "points", "city"} <= names
    assert [c["name"] for c in result.xcom("list_consents")][:1] == ["Newsletter"]
    # "points": "n/a" does not fit the Number attribute: skipped locally, the two others land.
    summary = result.xcom("upsert_customers")
    assert (summary["read"], summary["invalid"], summary["accepted"]) == (3, 1, 2)
    ada = _store(emulator).customer(email="ada@example.com")
    assert {a["name"] for a in ada["customAttributes"]} == {"loyalty_tier", "points", "city"}
    assert ada["consentsData"]["consents"] == [{"id": 1, "value": "True"}]
    assert _store(emulator).customer(email="alan@example.com") is None


@pytest.mark.dag
def test_settings_example_fails_when_an_order_attribute_is_gone(run_dag, expertsender_conn, emulator):
    store = _store(emulator)
    store.set_settings(
        "order_attributes", [s for s in store.settings("order_attributes") if s.name != "shipping_method"]
    )
    result = run_dag(EXAMPLES / "example_expertsender_settings.py", "example_expertsender_settings")
    assert result.state == "failed"
    assert result.task_states["check_order_attributes"] == "failed"
    assert result.task_states["upsert_customers"] == "success"


@pytest.mark.dag
def test_warehouse_sync_example(run_dag, expertsender_conn, emulator, warehouse, tmp_path):
    dead_letters = tmp_path / "dead-letters"
    result = run_dag(
        EXAMPLES / "example_expertsender_warehouse_sync.py",
        "example_expertsender_warehouse_sync",
        conf=demo.warehouse_conf(warehouse, dead_letters),
    )
    assert result.state == "success", result.task_states
    assert len(result.mapped_xcoms("customers_from_sql")) == 4  # one mapped task per partition
    store = _store(emulator)
    assert len(store.customers) == warehouse["customers"] - 3
    assert len(store.orders) == warehouse["orders"] - 1
    two_lines = store.order("WH-00000")
    assert len(two_lines["products"]) == 2
    assert two_lines["orderAttributes"] == [{"name": "shipping_method", "value": "courier"}]
    letters = [json.loads(line) for path in sorted(dead_letters.rglob("*.jsonl")) for line in path.open()]
    assert len(letters) == warehouse["invalid"]
    assert sorted(letter["stage"] for letter in letters) == ["api", "validation", "validation", "validation"]
    totals = result.xcom("report")
    assert totals["accepted"] == len(store.customers) + len(store.orders)
    assert totals["invalid"] + totals["rejected"] == warehouse["invalid"]
    _no_key_in_xcom(result, emulator)


def test_warehouse_sync_example_runs_its_writes_in_the_demo_pool(airflow_db):
    dag = _dag_bag().get_dag("example_expertsender_warehouse_sync")
    writes = [t for t in dag.tasks if t.task_id.startswith(("customers_", "orders_"))]
    assert len(writes) == 4
    assert {t.pool for t in writes} == {demo.POOL}


def test_sample_data_has_the_invalid_records_it_announces(tmp_path):
    data = demo.make_sample_data(tmp_path / "data")
    with sqlite3.connect(data["warehouse_path"]) as db:
        customers = db.execute("select count(*) from customers").fetchone()[0]
        orders = db.execute("select count(distinct id) from orders").fetchone()[0]
        lines = db.execute("select count(*) from orders").fetchone()[0]
    file_customers = sum(
        len(p.read_text().splitlines()) - 1 for p in Path(data["landing_path"]).glob("customers/*.csv")
    )
    file_orders = len((Path(data["landing_path"]) / "orders" / "orders.jsonl").read_text().splitlines())
    assert customers + file_customers == data["customers"]
    assert orders + file_orders == data["orders"]
    assert lines > orders  # some orders have two product lines


def test_demo_reads_what_the_emulator_process_holds(tmp_path):
    """The demo's view of the standalone emulator (CLI + admin API), which CI does not otherwise exercise."""
    import requests

    with demo.EmulatorProcess("demo-test-key", tmp_path / "emulator.log") as emulator:
        assert emulator.url.startswith("http://127.0.0.1:")
        before = emulator.counters()
        response = requests.post(
            f"{emulator.url}/customers",
            json={"mode": "AddOrUpdate", "matchBy": "Email", "data": [{"email": "ada@example.com"}]},
            headers={"x-api-key": "demo-test-key"},
            timeout=10,
        )
        assert response.status_code == 201
        after = emulator.counters()
        assert demo._written(before, after) == 1
        assert after["requests"] - before.get("requests", 0) == 1
        assert emulator.holdings() == {"customers": 1, "orders": 0, "deleted orders": 0, "custom events": 0}
    assert "demo-test-key" not in (tmp_path / "emulator.log").read_text()
    with pytest.raises(OSError):
        requests.get(f"{emulator.url}/customerattributes", timeout=2)


@pytest.mark.dag
def test_bulk_writes_example(run_dag, expertsender_conn, emulator):
    result = run_dag(EXAMPLES / "example_expertsender_bulk_writes.py", "example_expertsender_bulk_writes")
    assert result.state == "success", result.task_states
    fired = result.xcom("send_custom_events")
    assert (fired["resource"], fired["accepted"], fired["in_doubt"]) == ("custom_events", 20, 0)
    events = _store(emulator).events
    assert len({e["customerEmail"] for e in events}) == len(events) == 20
    assert {f["name"] for f in events[0]["dataFields"]} == {"product", "new_price"}
    assert result.xcom("update_order_statuses")["accepted"] == 4
    deleted = result.xcom("delete_orders")
    assert (deleted["accepted"], deleted["already_gone"]) == (3, 1)
    orders = {o["id"]: o for o in _store(emulator).orders}
    assert orders["BULK-0"]["status"] == "completed"
    assert orders["BULK-5"]["isDeleted"] is True
    _no_key_in_xcom(result, emulator)


def test_assets_example_reports_what_the_triggering_events_carry(run_dag, expertsender_conn, emulator):
    """Triggered by hand (as ``make demo`` and ``dag.test()`` do) it finds no event; on a deployment the
    scheduler runs it after the other examples land customers or orders (``make e2e`` checks that)."""
    result = run_dag(EXAMPLES / "example_expertsender_assets.py", "example_expertsender_assets")
    assert result.state == "success", result.task_states
    assert result.xcom("report_what_landed") == {}
    assert emulator.requests == []  # it reads Airflow's events, never the API
