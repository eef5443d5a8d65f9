"""OpenLineage datasets of the write operators (skipped without the OpenLineage provider)."""

from __future__ import annotations

import json
import uuid

import pytest

from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.sync.lineage import file_dataset_name

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("s3://aws_default@bucket/exports/2025-11-03/", ("s3://bucket", "exports/2025-11-03/")),
        ("gs://bucket/a/b.jsonl", ("gs://bucket", "a/b.jsonl")),
        ("file:///data/x.csv", ("file", "/data/x.csv")),
        ("/data/x.csv", ("file", "/data/x.csv")),
    ],
)
def test_file_dataset_names(location, expected):
    assert file_dataset_name(location) == expected


@pytest.fixture
def openlineage():
    return pytest.importorskip(
        "airflow.providers.openlineage", reason="apache-airflow-providers-openlineage is not installed"
    )


def test_file_input_and_customers_output(openlineage, tmp_path, store, run_op, expertsender_conn, emulator):
    path = tmp_path / "customers.jsonl"
    path.write_text('{"email": "a@example.com"}\n{"email": "b@example.com"}\n')
    op = ExpertSenderUpsertCustomersOperator(task_id="upsert", source_path=str(path))
    run_op(op)

    lineage = op.get_openlineage_facets_on_complete(None)

    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", str(path))]
    [output] = lineage.outputs
    # The names of the customers Asset of this connection (expertsender://expertsender_default/customers).
    assert (output.namespace, output.name) == ("expertsender://expertsender_default", "customers")
    assert output.outputFacets["outputStatistics"].rowCount == 2
    assert emulator.api_key not in repr(lineage)


def test_records_have_no_input_dataset(openlineage, store, run_op, expertsender_conn):
    op = ExpertSenderUpsertCustomersOperator(task_id="upsert", customers=[{"email": "a@example.com"}])
    run_op(op)
    lineage = op.get_openlineage_facets_on_complete(None)
    assert lineage.inputs == []
    assert lineage.outputs[0].name == "customers"


@pytest.mark.postgres
def test_sql_input_tables(openlineage, store, run_op, expertsender_conn, monkeypatch):
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        con = psycopg2.connect(connect_timeout=2, **PG)
    except psycopg2.OperationalError as err:
        pytest.skip(f"PostgreSQL at {PG['host']}:{PG['port']} is unreachable: {err}".strip())
    table = f"es_lineage_{uuid.uuid4().hex[:8]}"
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} AS SELECT 'a@example.com'::text AS email")
    monkeypatch.setenv(
        "AIRFLOW_CONN_PG_LINEAGE",
        json.dumps(
            {"conn_type": "postgres", "host": PG["host"], "login": PG["user"], "schema": PG["dbname"]}
        ),
    )
    try:
        op = ExpertSenderUpsertCustomersOperator(
            task_id="upsert", sql=f"SELECT email FROM {table}", sql_conn_id="pg_lineage"
        )
        run_op(op)
        lineage = op.get_openlineage_facets_on_complete(None)
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")
        con.close()

    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (f"postgres://{PG['host']}:{PG['port']}", f"{PG['dbname']}.public.{table}")
    ]
    assert lineage.outputs[0].outputFacets["outputStatistics"].rowCount == 1
