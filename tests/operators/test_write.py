"""ExpertSenderBulkWriteOperator through its subclasses: inputs, templating, XComArg, DAG runs, checks."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderInvalidInputError,
    ExpertSenderRejectedRecordsError,
)
from airflow_provider_expertsender.operators._write import ExpertSenderBulkWriteOperator
from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.operators.orders import ExpertSenderRegisterOrdersOperator


def upsert(**kwargs: Any) -> ExpertSenderUpsertCustomersOperator:
    return ExpertSenderUpsertCustomersOperator(task_id="upsert", **kwargs)


def lines(path: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------------------------ DAG-parse checks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of customers, source_path, sql; none"),
        ({"customers": [], "source_path": "/x.csv"}, "got 2"),
        ({"sql": "SELECT 1"}, "sql needs sql_conn_id"),
        ({"customers": [], "on_invalid": "ignore"}, "on_invalid"),
        ({"customers": [], "max_rejected": -1}, "max_rejected"),
        ({"customers": [], "max_rejected": 1.5}, "max_rejected"),
        ({"customers": [], "batch_size": 0}, "batch_size"),
        ({"customers": [], "max_concurrency": True}, "max_concurrency"),
        ({"customers": [], "row_mapper": "not a path"}, "row_mapper"),
        ({"customers": [], "mode": ""}, "needs a mode"),
    ],
)
def test_arguments_checked_when_the_dag_is_parsed(kwargs, message):
    with pytest.raises(ExpertSenderConfigError, match=message):
        upsert(**kwargs)


def test_two_inputs_one_templated_is_checked_after_rendering(emulator, store, run_op, expertsender_conn):
    op = upsert(customers="{{ params.records }}", source_path="{{ params.path }}")
    with pytest.raises(ExpertSenderConfigError, match="got 2"):
        run_op(op, params={"records": '[{"email": "a@example.com"}]', "path": "/tmp/x.jsonl"})
    assert store.request_count == 0


def test_dry_run_does_not_shadow_base_operator_dry_run():
    from airflow_provider_expertsender._compat import BaseOperator

    if not hasattr(BaseOperator, "dry_run"):
        pytest.skip("this Airflow's BaseOperator has no dry_run() (3.0)")
    op = upsert(customers=[], dry_run=True)
    assert op.options.dry_run is True
    assert callable(op.dry_run)


def test_records_param_is_templated_in_any_subclass():
    class Custom(ExpertSenderBulkWriteOperator):
        resource = "customers"
        records_param = "people"

        def __init__(self, *, people: Any = None, **kwargs: Any) -> None:
            super().__init__(records=people, mode="AddOrUpdate", match_by="Email", **kwargs)

    op = Custom(task_id="t", people=[{"email": "a@example.com"}])
    assert "people" in Custom.template_fields
    assert op.people == [{"email": "a@example.com"}]
    assert "customers" in ExpertSenderUpsertCustomersOperator.template_fields
    assert "orders" in ExpertSenderRegisterOrdersOperator.template_fields


# ------------------------------------------------------------------------------------------------- inputs


def test_templated_records_rendered_as_json(store, run_op, expertsender_conn):
    op = upsert(customers="{{ params.records | tojson }}", batch_size=1)
    summary = run_op(op, params={"records": [{"email": "a@example.com"}, {"email": "b@example.com"}]})
    assert summary["accepted"] == 2
    assert summary["requests"] == 2
    assert {c["email"] for c in store.customers} == {"a@example.com", "b@example.com"}


def test_templated_records_rendered_as_a_python_literal(store, run_op, expertsender_conn):
    # "{{ ti.xcom_pull(...) }}" without native rendering gives the list's repr.
    op = upsert(customers="{{ params.records }}")
    summary = run_op(op, params={"records": [{"email": "a@example.com", "attr_city": "Oslo"}]})
    assert summary["accepted"] == 1
    assert store.customer(email="a@example.com")["customAttributes"] == [{"name": "city", "value": "Oslo"}]


def test_file_source_templated_path_field_map_and_dead_letters(
    tmp_path, store, run_op, expertsender_conn, caplog, capsys
):
    day = tmp_path / "2025-11-03"
    day.mkdir()
    (day / "part-1.csv").write_text(
        "Mail,first_name,attr_city,consent_1\n"
        "a@example.com,Ann,Oslo,yes\n"
        "not-an-email,Bob,,\n"
        "c@example.com,Cid,,no\n"
    )
    op = upsert(
        source_path=f"{tmp_path}/{{{{ ds }}}}/",
        field_map={"Mail": "email"},
        on_invalid="skip",
        max_rejected=1,
        dead_letter_path=f"{tmp_path}/dead/{{{{ ds }}}}.jsonl",
    )

    with caplog.at_level(logging.INFO):
        summary = run_op(op, ds="2025-11-03")

    assert (summary["read"], summary["invalid"], summary["accepted"]) == (3, 1, 2)
    assert summary["dead_letter_path"] == f"{tmp_path}/dead/2025-11-03.jsonl"
    [dead] = lines(tmp_path / "dead" / "2025-11-03.jsonl")
    assert dead["position"] == 1
    assert dead["stage"] == "validation"
    assert dead["record"] == {"email": "not-an-email", "first_name": "Bob"}
    ann = store.customer(email="a@example.com")
    assert ann["customAttributes"] == [{"name": "city", "value": "Oslo"}]
    assert ann["consentsData"]["consents"] == [{"id": 1, "value": "True"}]
    # self.log is stdlib logging on Airflow 2 and structlog (printed) on Airflow 3.
    assert f"Reading {day}/part-1.csv" in caplog.text + capsys.readouterr().out


@pytest.fixture
def orders_db(tmp_path, monkeypatch) -> str:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        con.executescript(
            """
            CREATE TABLE lines (order_id TEXT, date TEXT, customer_email TEXT, total_value REAL,
                                attr_coupon_code TEXT, product_id TEXT, product_name TEXT,
                                product_price REAL, product_quantity INTEGER, product_attr_size TEXT);
            INSERT INTO lines VALUES
              ('O-1', '2025-11-03T10:00:00Z', 'a@example.com', 30, 'XMAS', 'SKU-1', 'Shoe', 10, 1, '42'),
              ('O-1', '2025-11-03T10:00:00Z', 'a@example.com', 30, 'XMAS', 'SKU-2', 'Sock', 20, 1, NULL),
              ('O-2', '2025-11-04T10:00:00Z', 'b@example.com', 5, NULL, 'SKU-3', 'Lace', 5, 1, NULL);
            """
        )
    monkeypatch.setenv("AIRFLOW_CONN_SHOP", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return "shop"


def test_sql_source_one_row_per_product_line(orders_db, store, run_op, expertsender_conn):
    op = ExpertSenderRegisterOrdersOperator(
        task_id="orders",
        sql="SELECT * FROM lines WHERE date >= '{{ ds }}' ORDER BY order_id",
        sql_conn_id="{{ params.conn }}",
    )

    summary = run_op(op, ds="2025-11-01", params={"conn": orders_db})

    assert (summary["read"], summary["accepted"]) == (2, 2)
    o1 = store.order("O-1")
    assert [p["id"] for p in o1["products"]] == ["SKU-1", "SKU-2"]
    assert o1["products"][0]["productAttributes"] == [{"name": "size", "value": "42"}]
    assert o1["orderAttributes"] == [{"name": "coupon_code", "value": "XMAS"}]
    assert o1["customer"]["email"] == "a@example.com"


def test_row_mapper_by_import_path(store, run_op, expertsender_conn):
    op = upsert(customers=[{"mail": "A@X.COM", "town": "oslo"}], row_mapper="tests.sync.test_mapping:shout")
    run_op(op)
    assert store.customer(email="a@x.com")["customAttributes"] == [{"name": "city", "value": "OSLO"}]


def test_dry_run_sends_nothing(store, run_op, expertsender_conn):
    summary = run_op(upsert(customers=[{"email": "a@example.com"}], dry_run=True))
    assert summary["dry_run"] is True
    assert summary["read"] == 1
    assert store.request_count == 0


def test_validate_against_settings_reads_the_lists_once(emulator, store, run_op, expertsender_conn):
    records = [
        {"email": "a@example.com", "attr_loyalty_tier": "gold"},
        {"email": "b@example.com", "attr_no_such_attribute": "x"},
    ]
    with pytest.raises(ExpertSenderInvalidInputError, match="unknown customer attribute"):
        run_op(upsert(customers=records, validate_against_settings=True))
    assert [r.path for r in emulator.requests] == ["/customerattributes", "/customerconsents"]
    assert store.customers == []


def test_rejections_fail_the_task_after_the_valid_records_landed(store, run_op, expertsender_conn):
    records = [{"email": "a@example.com"}, {"email": "b@example.com", "attr_no_such_attribute": "x"}]
    op = upsert(customers=records)
    ti = _RecordingTI()
    with pytest.raises(ExpertSenderRejectedRecordsError, match="1 of 2 customers record") as err:
        run_op(op, ti=ti)
    assert [c["email"] for c in store.customers] == ["a@example.com"]
    assert ti.pushed == [("return_value", err.value.summary)]


class _RecordingTI:
    """Enough of a TaskInstance for execute() to push the summary of a failed write."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))


# ----------------------------------------------------------------------------------------------- DAG runs

XCOM_DAG = """
from __future__ import annotations

import pendulum
try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator

with DAG("write_from_xcom", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False):

    @task
    def extract():
        return [{"email": f"user{i}@example.com", "attr_city": "Oslo"} for i in range(25)] + EXTRA

    ExpertSenderUpsertCustomersOperator(task_id="load", customers=extract(), batch_size=10)
"""


def _xcom_dag(extra: str) -> str:
    return XCOM_DAG.replace("EXTRA", extra)


@pytest.mark.dag
def test_xcom_arg_input_in_a_dag_run(run_dag, store, expertsender_conn):
    result = run_dag(_xcom_dag("[]"), "write_from_xcom")

    assert result.state == "success"
    summary = result.xcom("load")
    assert (summary["read"], summary["accepted"], summary["batches"]) == (25, 25, 3)
    assert len(store.customers) == 25


@pytest.mark.dag
def test_a_failed_write_still_publishes_its_summary(run_dag, store, expertsender_conn, emulator):
    result = run_dag(
        _xcom_dag('[{"email": "bad@example.com", "attr_no_such_attribute": "x"}]'), "write_from_xcom"
    )

    assert result.state == "failed"
    assert result.task_states["load"] == "failed"
    summary = result.xcom("load")
    assert (summary["accepted"], summary["rejected"]) == (25, 1)
    assert emulator.api_key not in json.dumps(summary)
