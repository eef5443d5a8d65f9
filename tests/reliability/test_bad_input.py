"""Input that is wrong in one place: duplicate column names (finding 6), one unreadable row (finding 7) and a
misnamed order id column (finding 11). Nothing is silently lost or merged; one bad row is one invalid record
naming its file and line, not the end of the run."""

from __future__ import annotations

import json
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderRejectedRecordsError,
    ExpertSenderSourceError,
)
from airflow_provider_expertsender.sync import run_write, sources
from airflow_provider_expertsender.sync.mapping import RowError, RowMapper


def _write(make_hook: Any, rows: Any, tmp_path: Path, resource: str = "customers", **kwargs: Any) -> Any:
    """Rows -> mapping -> engine, as the operators run them, skipping invalid records into dead letters."""
    return run_write(
        make_hook(),
        resource=resource,
        records=RowMapper(resource, field_map=kwargs.pop("field_map", None)).map(rows),
        mode="AddOrUpdate" if resource == "customers" else "AddOrReplace",
        on_invalid="skip",
        dead_letter_path=str(tmp_path / "dead.jsonl"),
        **kwargs,
    )


def _dead(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]


# ------------------------------------------------------------------------- finding 6: duplicate column names


def test_a_csv_with_duplicate_column_names_is_refused_naming_them(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("email,first_name,email\na@x.example,Ann,b@x.example\n")

    with pytest.raises(
        ExpertSenderSourceError, match=r"in.csv \(header\) has duplicate column names: 'email'"
    ):
        list(sources.files_rows(path))


def test_a_parquet_file_with_duplicate_column_names_is_refused_naming_them(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (the [parquet] extra)")
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays(
        [pa.array(["a@x.example"]), pa.array(["Ann"]), pa.array(["b@x.example"])],
        names=["email", "first_name", "email"],
    )
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)

    with pytest.raises(ExpertSenderSourceError, match=r"duplicate column names: 'email'"):
        list(sources.files_rows(path))


def _postgres_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def pg_join(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Two PostgreSQL tables both holding an ``email`` column; the query selecting both."""
    if not _postgres_up():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg2

    a, b = f"es_dup_a_{uuid.uuid4().hex[:8]}", f"es_dup_b_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {a} (id int, email text, first_name text)")
        cur.execute(f"CREATE TABLE {b} (id int, email text)")
        cur.execute(f"INSERT INTO {a} VALUES (1, 'a@x.example', 'Ann')")
        cur.execute(f"INSERT INTO {b} VALUES (1, 'b@x.example')")
    monkeypatch.setenv("AIRFLOW_CONN_ES_DUP_PG", "postgres://postgres@127.0.0.1:5432/test")
    yield f"SELECT {a}.email, {a}.first_name, {b}.email FROM {a} JOIN {b} USING (id)"
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {a}, {b}")
    conn.close()


@pytest.mark.postgres
def test_a_postgres_query_with_duplicate_column_names_is_refused_naming_them(pg_join):
    with pytest.raises(ExpertSenderSourceError, match=r"duplicate column names: 'email'.*AS"):
        list(sources.sql_rows(pg_join, "es_dup_pg"))


def test_a_sqlite_query_with_duplicate_column_names_is_refused_naming_them(tmp_path, monkeypatch):
    db = tmp_path / "src.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE a (id INTEGER, email TEXT)")
        con.execute("CREATE TABLE b (id INTEGER, email TEXT)")
        con.execute("INSERT INTO a VALUES (1, 'a@x.example')")
        con.execute("INSERT INTO b VALUES (1, 'b@x.example')")
    monkeypatch.setenv("AIRFLOW_CONN_ES_DUP_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(db)}))

    with pytest.raises(ExpertSenderSourceError, match=r"duplicate column names: 'email'"):
        list(sources.sql_rows("SELECT a.email, b.email FROM a JOIN b USING (id)", "es_dup_sqlite"))


def test_a_json_object_naming_a_key_twice_is_an_invalid_row(emulator, make_hook, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"email": "a@x.example"}\n{"email": "b@x.example", "email": "c@x.example"}\n')

    with pytest.raises(ExpertSenderRejectedRecordsError):
        _write(make_hook, sources.files_rows(path), tmp_path)

    [letter] = _dead(tmp_path)
    assert letter["position"] == 1
    assert "in.jsonl line 2" in letter["reason"]
    assert "'email' given twice" in letter["reason"]


@pytest.mark.parametrize(
    "text", ['[{"email": "a@x.example", "email": "b@x.example"}]', "[{'email': 'a@x.example', 'email': 'b'}]"]
)
def test_a_records_string_naming_a_key_twice_is_refused(text):
    with pytest.raises(ExpertSenderConfigError, match=r"'email' given twice|twice in one dict: 'email'"):
        sources.records_rows(text)


def test_a_field_map_onto_an_existing_column_is_refused_naming_both(emulator, make_hook, tmp_path):
    rows = [{"mail": "a@x.example", "email": "b@x.example"}]

    with pytest.raises(ExpertSenderConfigError, match=r"'mail' and 'email' both become 'email'"):
        _write(make_hook, rows, tmp_path, field_map={"mail": "email"})


# ------------------------------------------------------------------ finding 7: one bad row, not a crashed run


def test_malformed_json_in_a_json_column_is_one_invalid_record_naming_file_and_line(
    emulator, make_hook, tmp_path
):
    path = tmp_path / "in.csv"
    path.write_text(
        "email,customAttributes\n"
        'a@x.example,\nb@x.example,"[{""name"": ""tier"", ""value"": "\nc@x.example,\n'
    )

    with pytest.raises(ExpertSenderRejectedRecordsError) as caught:
        _write(make_hook, sources.files_rows(path), tmp_path)

    assert (caught.value.summary["accepted"], caught.value.summary["invalid"]) == (2, 1)
    [letter] = _dead(tmp_path)
    assert letter["position"] == 1
    assert "in.csv line 3: column 'customAttributes': not valid JSON" in letter["reason"]
    assert emulator.store(emulator.api_key).customers[-1]["email"] == "c@x.example"


@pytest.fixture
def pg_broken_json(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A PostgreSQL table whose text column ``custom_attributes`` holds broken JSON in its second row."""
    if not _postgres_up():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg2

    table = f"es_badjson_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (n int, email text, custom_attributes text)")
        cur.execute(
            f"""INSERT INTO {table} VALUES (1, 'a@x.example', NULL), (2, 'b@x.example', '[{{"name": '),
            (3, 'c@x.example', '[]')"""
        )
    monkeypatch.setenv("AIRFLOW_CONN_ES_BADJSON_PG", "postgres://postgres@127.0.0.1:5432/test")
    yield f"SELECT email, custom_attributes FROM {table} ORDER BY n"
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")
    conn.close()


@pytest.mark.postgres
def test_malformed_json_in_a_postgres_column_is_one_invalid_record_naming_the_row(
    pg_broken_json, emulator, make_hook, tmp_path
):
    with pytest.raises(ExpertSenderRejectedRecordsError) as caught:
        _write(make_hook, sources.sql_rows(pg_broken_json, "es_badjson_pg"), tmp_path)

    assert (caught.value.summary["accepted"], caught.value.summary["invalid"]) == (2, 1)
    [letter] = _dead(tmp_path)
    assert "the source query row 2: column 'custom_attributes': not valid JSON" in letter["reason"]


def test_a_deeply_nested_json_line_is_one_invalid_record(emulator, make_hook, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"email": "a@x.example"}\n' + "[" * 100_000 + "\n" + '{"email": "c@x.example"}\n')

    with pytest.raises(ExpertSenderRejectedRecordsError) as caught:
        _write(make_hook, sources.files_rows(path), tmp_path)

    assert (caught.value.summary["accepted"], caught.value.summary["invalid"]) == (2, 1)
    [letter] = _dead(tmp_path)
    assert "in.jsonl line 2: not valid JSON (nested too deeply)" in letter["reason"]


def test_a_json_array_file_that_does_not_parse_fails_naming_it(tmp_path):
    """Not one invalid record: a whole file of records unread must not pass max_rejected as one."""
    path = tmp_path / "in.json"
    path.write_text('[{"email": "a@x.example"},\n {"email": "b@x.example", "email": "c@x.example"}]')

    with pytest.raises(ExpertSenderSourceError, match=r"in\.json: the JSON array is not valid JSON"):
        list(sources.files_rows(path))


def test_a_deeply_nested_json_column_is_one_invalid_record(emulator, make_hook, tmp_path):
    rows = [{"email": "a@x.example", "customAttributes": "[" * 100_000}, {"email": "b@x.example"}]

    with pytest.raises(ExpertSenderRejectedRecordsError) as caught:
        _write(make_hook, rows, tmp_path)

    assert (caught.value.summary["accepted"], caught.value.summary["invalid"]) == (1, 1)


def test_a_csv_line_with_broken_quoting_is_one_invalid_record(emulator, make_hook, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('email,first_name\na@x.example,Ann\nb@x.example,"Bob"by\nc@x.example,Cid\n')

    with pytest.raises(ExpertSenderRejectedRecordsError) as caught:
        _write(make_hook, sources.files_rows(path), tmp_path)

    assert (caught.value.summary["accepted"], caught.value.summary["invalid"]) == (2, 1)
    assert "in.csv line 3: broken CSV" in _dead(tmp_path)[0]["reason"]


def test_a_parquet_value_python_cannot_hold_is_one_invalid_record(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (the [parquet] extra)")
    import pyarrow.parquet as pq

    # Timestamps beyond Python's year 9999: pyarrow stores them, datetime cannot hold them.
    micros = pa.array([0, 400_000_000_000_000_000, 1_000_000], type=pa.timestamp("us"))
    table = pa.Table.from_arrays(
        [pa.array(["a@x.example", "b@x.example", "c@x.example"]), micros], names=["email", "seen"]
    )
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)

    rows = list(sources.files_rows(path))

    assert [type(r) is RowError for r in rows] == [False, True, False]
    assert "in.parquet row 2" in rows[1].reason


def test_a_file_that_is_not_parquet_fails_naming_it(tmp_path):
    pytest.importorskip("pyarrow", reason="pyarrow is not installed (the [parquet] extra)")
    path = tmp_path / "in.parquet"
    path.write_bytes(b"email\na@x.example\n")

    with pytest.raises(ExpertSenderSourceError, match=r"in\.parquet: not a readable Parquet file"):
        list(sources.files_rows(path))


# ------------------------------------------------------------- finding 11: a misnamed order id column


ORDER_LINES = "{id},2025-01-02T03:04:05Z,c{n}@x.example,P-{n},9.5,1\n"


@pytest.mark.parametrize("column", ["Order_Id", "ORDER_ID", "OrderId", "ID"])
def test_a_differently_spelt_order_id_column_never_merges_orders(emulator, make_hook, tmp_path, column):
    path = tmp_path / "orders.csv"
    path.write_text(
        f"{column},date,customer_email,product_id,product_price,product_quantity\n"
        + "".join(ORDER_LINES.format(id=f"O-{n}", n=n) for n in range(5))
    )

    summary = _write(make_hook, sources.files_rows(path), tmp_path, resource="orders")

    assert (summary["read"], summary["accepted"], summary["invalid"]) == (5, 5, 0)
    stored = emulator.store(emulator.api_key).orders
    assert sorted(o["id"] for o in stored) == [f"O-{n}" for n in range(5)]
    assert all(len(o["products"]) == 1 for o in stored)


def test_product_lines_without_an_order_id_are_never_merged(emulator, make_hook, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_number,date,customer_email,product_id,product_price,product_quantity\n"
        + "".join(ORDER_LINES.format(id=f"O-{n}", n=n) for n in range(5))
    )

    with pytest.raises(ExpertSenderRejectedRecordsError) as caught:
        _write(make_hook, sources.files_rows(path), tmp_path, resource="orders")

    assert (caught.value.summary["read"], caught.value.summary["invalid"]) == (5, 5)
    assert all(len(letter["record"]["products"]) == 1 for letter in _dead(tmp_path))


# ------------------------------- finding 6's class in the per-record resources: one column silently winning


def _dry(make_hook: Any, resource: str, records: list[dict[str, Any]], tmp_path: Path, **kwargs: Any) -> Any:
    run_write(
        make_hook(),
        resource=resource,
        records=records,
        dry_run=True,
        on_invalid="skip",
        max_rejected=len(records),
        dead_letter_path=str(tmp_path / "dead.jsonl"),
        **kwargs,
    )
    return {line["position"]: line["reason"] for line in _dead(tmp_path)}


def test_two_order_id_columns_with_different_values_make_a_status_change_invalid(
    emulator, make_hook, tmp_path
):
    records = [
        {"id": 17, "order_id": "O-1", "status": "paid"},  # a surrogate row id next to the order id
        {"id": "O-2", "order_id": "O-2", "status": "paid"},  # the same value twice is fine
    ]

    reasons = _dry(make_hook, "order_statuses", records, tmp_path)

    assert list(reasons) == [0]
    assert "given twice (as 'id' and 'order_id')" in reasons[0]


def test_two_spellings_of_one_event_identifier_with_different_values_are_invalid(
    emulator, make_hook, tmp_path
):
    records = [
        {"email": "a@x.example", "customer_email": "b@x.example"},
        {"email": "c@x.example", "data_coupon": "X", "data_fields": {"coupon": "Y"}},
        {"email": "d@x.example", "customerEmail": "d@x.example"},
    ]

    reasons = _dry(make_hook, "custom_events", records, tmp_path, custom_event_id=7)

    assert sorted(reasons) == [0, 1]
    assert "email given twice" in reasons[0]
    assert "coupon given in dataFields and as data_* columns" in reasons[1]
