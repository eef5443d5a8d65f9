"""The input cache on rows *as read*: an unchanged row of a file or query is recognised by its bytes (no
decoding, mapping or validation), and nothing that changes a row's record may be mistaken for unchanged.

Through the operators, against the emulator; ``record_calls`` counts the rows that had to be decoded and
mapped (``MappedRows.record``), which is what the cache saves.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.operators.orders import ExpertSenderRegisterOrdersOperator
from airflow_provider_expertsender.sync import state as state_module
from airflow_provider_expertsender.sync.mapping import MappedRows
from airflow_provider_expertsender.sync.state import CHUNK

from .test_state_operators import emails, fresh, row, write_jsonl


@pytest.fixture
def run_op(expertsender_conn: str) -> Any:
    def _run(operator: Any) -> Any:
        context: dict[str, Any] = {"params": {}}
        operator.render_template_fields(context)
        return operator.execute(context)

    return _run


@pytest.fixture
def record_calls(monkeypatch) -> list[int]:
    """How many units were decoded and mapped, per run (a new entry each time it is read and reset)."""
    calls = [0]
    original = MappedRows.record

    def counting(self: MappedRows, unit: Any) -> Any:
        calls[0] += 1
        return original(self, unit)

    monkeypatch.setattr(MappedRows, "record", counting)
    return calls


def upsert(**kwargs: Any) -> ExpertSenderUpsertCustomersOperator:
    kwargs.setdefault("batch_size", 100)
    return ExpertSenderUpsertCustomersOperator(task_id="upsert", **kwargs)


def write_csv(path: Path, columns: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def test_unchanged_lines_are_neither_decoded_nor_validated(tmp_path, emulator, store, run_op, record_calls):
    state = tmp_path / "state.sqlite"
    source = write_jsonl(tmp_path / "c.jsonl", [row(i) for i in range(3 * CHUNK)])
    first = run_op(upsert(source_path=str(source), state_path=str(state)))
    assert first["new"] == 3 * CHUNK
    assert record_calls[0] == 3 * CHUNK  # the first run decodes every line

    record_calls[0] = 0
    fresh(emulator)
    second = run_op(upsert(source_path=str(source), state_path=str(state)))
    assert (second["unchanged"], second["requests"], second["missing_from_input"]) == (3 * CHUNK, 0, 0)
    assert record_calls[0] == 0

    lines = source.read_text().splitlines(keepends=True)
    lines[5] = json.dumps(row(5, last_name="New")) + "\n"
    source.write_text("".join(lines))
    record_calls[0] = 0
    store = fresh(emulator)
    third = run_op(upsert(source_path=str(source), state_path=str(state)))
    assert (third["changed"], third["unchanged"]) == (1, 3 * CHUNK - 1)
    assert record_calls[0] == 1  # only the changed line
    assert emails(store) == {"user5@example.com"}


def test_a_line_whose_key_was_confirmed_with_other_data_since_is_sent(tmp_path, emulator, store, run_op):
    """Line A is cached; the key's data then changes through another line, which is confirmed; when line A
    comes back it must be sent (the cache entry of A no longer matches what the state confirmed)."""
    state = tmp_path / "state.sqlite"
    original = write_jsonl(tmp_path / "a.jsonl", [row(0), row(1)])
    other = write_jsonl(tmp_path / "b.jsonl", [row(0, last_name="Elsewhere"), row(1)])
    run_op(upsert(source_path=str(original), state_path=str(state)))
    fresh(emulator)
    assert run_op(upsert(source_path=str(other), state_path=str(state)))["changed"] == 1
    store = fresh(emulator)
    back = run_op(upsert(source_path=str(original), state_path=str(state)))
    assert (back["changed"], back["unchanged"]) == (1, 1)
    assert emails(store) == {"user0@example.com"}
    assert store.customers[0].get("lastName") is None


def test_the_same_cells_under_another_header_are_another_record(tmp_path, emulator, store, run_op):
    state = tmp_path / "state.sqlite"
    cells = [[f"user{i}@example.com", "Ann"] for i in range(5)]
    source = write_csv(tmp_path / "c.csv", ["email", "first_name"], cells)
    run_op(upsert(source_path=str(source), state_path=str(state)))
    write_csv(source, ["email", "last_name"], cells)
    store = fresh(emulator)
    second = run_op(upsert(source_path=str(source), state_path=str(state)))
    assert second["changed"] == 5
    assert all(c.get("lastName") == "Ann" for c in store.customers)


def test_another_field_map_makes_other_records(tmp_path, emulator, store, run_op, record_calls):
    state = tmp_path / "state.sqlite"
    source = write_jsonl(tmp_path / "c.jsonl", [{"mail": f"u{i}@example.com", "name": "A"} for i in range(5)])
    first = {"mail": "email", "name": "first_name"}
    run_op(upsert(source_path=str(source), state_path=str(state), field_map=first))
    record_calls[0] = 0
    store = fresh(emulator)
    second = run_op(
        upsert(source_path=str(source), state_path=str(state), field_map={**first, "name": "last_name"})
    )
    assert second["changed"] == 5
    assert record_calls[0] == 5
    assert all(c.get("lastName") == "A" for c in store.customers)


def test_a_row_mapper_is_run_on_every_row(tmp_path, emulator, store, run_op, record_calls):
    """User code may depend on anything (a date, a lookup table): its rows are never skipped by their
    bytes; the cache then keys on what the row_mapper returned."""
    state = tmp_path / "state.sqlite"
    source = write_jsonl(tmp_path / "c.jsonl", [row(i) for i in range(5)])
    suffix = ["A"]

    def mapper(r: dict[str, Any]) -> dict[str, Any]:
        return {**r, "last_name": suffix[0]}

    run_op(upsert(source_path=str(source), state_path=str(state), row_mapper=mapper))
    fresh(emulator)
    assert run_op(upsert(source_path=str(source), state_path=str(state), row_mapper=mapper))["unchanged"] == 5
    suffix[0] = "B"
    store = fresh(emulator)
    third = run_op(upsert(source_path=str(source), state_path=str(state), row_mapper=mapper))
    assert third["changed"] == 5
    assert {c["lastName"] for c in store.customers} == {"B"}
    assert record_calls[0] == 0  # not taken as units at all


def test_the_last_occurrence_of_a_key_wins_across_chunks(tmp_path, emulator, store, run_op):
    state = tmp_path / "state.sqlite"
    source = write_jsonl(tmp_path / "c.jsonl", [row(0, last_name="A")])
    run_op(upsert(source_path=str(source), state_path=str(state)))
    rows = [row(0, last_name="B")] + [row(i) for i in range(1, CHUNK + 10)] + [row(0, last_name="A")]
    write_jsonl(source, rows)
    store = fresh(emulator)
    summary = run_op(upsert(source_path=str(source), state_path=str(state), max_concurrency=1))
    assert summary["sent"] == len(rows)  # user0 twice (B, then back to the confirmed data), the rest new
    assert next(c for c in store.customers if c["email"] == "user0@example.com")["lastName"] == "A"


def test_bad_lines_are_invalid_records_naming_file_and_line(tmp_path, emulator, store, run_op):
    state = tmp_path / "state.sqlite"
    source = tmp_path / "c.jsonl"
    source.write_text(json.dumps(row(0)) + "\n{not json\n" + json.dumps(row(2)) + "\n")
    summary = run_op(
        upsert(source_path=str(source), state_path=str(state), on_invalid="skip", max_rejected=1)
    )
    assert (summary["invalid"], summary["new"]) == (1, 2)
    source.write_text(json.dumps(row(0)) + "\n{not json\n")
    with pytest.raises(Exception) as raised:
        run_op(upsert(source_path=str(source), state_path=str(state)))
    assert f"{source} line 2: not valid JSON" in str(raised.value)


def test_parquet_rows_are_cached_as_records(tmp_path, emulator, store, run_op, record_calls):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    state = tmp_path / "state.sqlite"
    source = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist([row(i) for i in range(50)]), source)
    assert run_op(upsert(source_path=str(source), state_path=str(state)))["new"] == 50
    fresh(emulator)
    second = run_op(upsert(source_path=str(source), state_path=str(state)))
    assert (second["unchanged"], second["requests"]) == (50, 0)


def test_orders_with_product_lines_are_grouped_before_hashing(tmp_path, emulator, store, run_op):
    """One order spans several rows: it is never judged by one row's bytes."""
    state = tmp_path / "orders.sqlite"
    base = {"date": "2025-11-03T14:05:00Z", "currency": "PLN", "customer_email": "j@example.com"}
    base = {**base, "order_id": "O-1", "total_value": 3, "product_quantity": 1}
    lines = [
        {**base, "product_id": "A", "product_name": "a", "product_price": 1},
        {**base, "product_id": "B", "product_name": "b", "product_price": 2},
    ]
    source = write_jsonl(tmp_path / "orders.jsonl", lines)

    def register() -> dict[str, Any]:
        return run_op(
            ExpertSenderRegisterOrdersOperator(task_id="o", source_path=str(source), state_path=str(state))
        )

    assert register()["new"] == 1
    fresh(emulator)
    assert register()["unchanged"] == 1
    lines[1]["product_quantity"] = 5  # the second line of the order changes
    write_jsonl(source, lines)
    store = fresh(emulator)
    assert register()["changed"] == 1
    assert [p["quantity"] for p in store.orders[0]["products"]] == [1, 5]


@pytest.mark.postgres
def test_postgres_rows_are_cached_by_their_values(
    tmp_path, emulator, store, run_op, record_calls, pg_customers
):
    con, table = pg_customers
    sql = f"SELECT email, attr_lifetime_value, attr_signup_date FROM {table} ORDER BY n"
    state = tmp_path / "state.sqlite"
    run_op(upsert(sql=sql, sql_conn_id="pg_state", state_path=str(state), batch_size=500))
    record_calls[0] = 0
    fresh(emulator)
    second = run_op(upsert(sql=sql, sql_conn_id="pg_state", state_path=str(state)))
    assert (second["unchanged"], record_calls[0]) == (3000, 0)  # Decimal and date values hashed too
    with con.cursor() as cur:
        cur.execute(f"UPDATE {table} SET attr_lifetime_value = attr_lifetime_value + 0.25 WHERE n = 7")
    store = fresh(emulator)
    third = run_op(upsert(sql=sql, sql_conn_id="pg_state", state_path=str(state)))
    assert (third["changed"], record_calls[0]) == (1, 1)
    assert emails(store) == {"user7@example.com"}


# ------------------------------------------------------------------------------------ the file and the run


def _format_1_state(path: Path) -> None:
    """A state as format 1 left it: a cache entry whose key has since been confirmed with other data."""
    from airflow_provider_expertsender.sync.state import StateStore

    store = StateStore(str(path), identity={"resource": "customers", "key": "Email", "target": "t"})
    store.note([1, 2], [(0, 1, 10), (1, 2, 20)], [])
    store.confirm([0, 1])
    store.merge()
    with store.lock:
        store.db.execute("INSERT INTO inputs (r, k, h) VALUES (100, 1, 10), (200, 2, 99)")
        store.db.execute("PRAGMA user_version = 1")
    store.close()


def test_a_format_1_state_is_upgraded_and_its_stale_cache_dropped(tmp_path):
    from airflow_provider_expertsender.sync.state import FORMAT_VERSION, StateStore

    path = tmp_path / "state.sqlite"
    _format_1_state(path)
    identity = {"resource": "customers", "key": "Email", "target": "t"}
    read_only = StateStore(str(path), identity=identity, read_only=True)
    assert read_only.version == 1  # a dry run changes nothing, and does not trust that cache
    read_only.close()
    store = StateStore(str(path), identity=identity)
    assert store.version == FORMAT_VERSION == 2
    assert store.cached([100, 200]) == [(0, 1, 10, None)]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert dict(db.execute("SELECT name, value FROM meta"))["format"] == "2"


def test_a_dry_run_on_a_format_1_state_validates_every_row(tmp_path):
    from airflow_provider_expertsender.sync.state import open_sync

    path = tmp_path / "state.sqlite"
    _format_1_state(path)
    sync = open_sync(
        str(path),
        identity={"resource": "customers", "key": "Email", "target": "t"},
        key_of=lambda p: p["email"],
        cache_context="ctx",
        read_only=True,
    )
    assert sync.use_cache is False
    sync.close(complete=True)


def test_the_cache_of_another_provider_version_is_dropped(tmp_path):
    from airflow_provider_expertsender.sync.state import open_sync

    path = tmp_path / "state.sqlite"
    identity = {"resource": "customers", "key": "Email", "target": "t"}

    runs = [0]

    def entries(context: str) -> int:
        runs[0] += 1
        sync = open_sync(str(path), identity=identity, key_of=lambda p: p["email"], cache_context=context)
        sync.store.note([1], [(0, 1, 10)], [(100 + runs[0], 1, 10)])
        sync.store.confirm([0])
        sync.close(complete=True)
        with sqlite3.connect(path) as db:
            return int(db.execute("SELECT count(*) FROM inputs").fetchone()[0])

    assert entries("provider 1.0") == 1
    assert entries("provider 1.0") == 2
    assert entries("provider 1.1") == 1  # the old entries could never match again


def test_the_scratch_folder_of_a_killed_run_is_removed_by_the_next(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    root = Path(tempfile.gettempdir())
    leftover = root / f"{state_module._SCRATCH_PREFIX}{pid}-abc"
    mine = root / f"{state_module._SCRATCH_PREFIX}{os.getpid()}-abc"
    leftover.mkdir()
    mine.mkdir()
    (leftover / "seen.sqlite").write_bytes(b"x" * 100)
    try:
        store = state_module.StateStore(
            str(tmp_path / "s.sqlite"), identity={"resource": "customers", "key": "Email", "target": "t"}
        )
        store.close()
        assert not leftover.exists()
        assert mine.exists()  # this process is alive
    finally:
        for folder in (leftover, mine):
            if folder.exists():
                for f in folder.iterdir():
                    f.unlink()
                folder.rmdir()
