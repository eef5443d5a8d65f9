"""Incremental sync through the operators, against the emulator: files, PostgreSQL, object storage, failures.

Between two runs the emulator is reset (empty business unit, empty request log), so what it holds after the
second run is exactly what that run sent.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderInvalidInputError,
    ExpertSenderRejectedRecordsError,
    ExpertSenderStateError,
)
from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.operators.orders import ExpertSenderRegisterOrdersOperator
from airflow_provider_expertsender.sync.options import WriteOptions
from airflow_provider_expertsender.sync.statefile import state_file


@pytest.fixture
def run_op(expertsender_conn: str) -> Any:
    """``run_op(operator, **context)``: render the templates, then ``execute()`` (the default connection
    points at the emulator)."""

    def _run(operator: Any, **context: Any) -> Any:
        context.setdefault("params", {})
        operator.render_template_fields(context)
        return operator.execute(context)

    return _run


def row(i: int, **extra: Any) -> dict[str, Any]:
    return {"email": f"user{i}@example.com", "first_name": f"User{i}", "attr_city": "Gdansk", **extra}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def upsert(**kwargs: Any) -> ExpertSenderUpsertCustomersOperator:
    kwargs.setdefault("batch_size", 50)
    return ExpertSenderUpsertCustomersOperator(task_id="upsert", **kwargs)


def emails(store: Any) -> set[str]:
    return {c["email"] for c in store.customers}


def fresh(emulator: Any) -> Any:
    """Forget what the emulator holds; return the (now empty) business unit."""
    emulator.reset()
    return emulator.store(emulator.api_key)


def test_second_run_sends_nothing_and_then_exactly_the_changes(tmp_path, emulator, store, run_op):
    state = tmp_path / "state" / "customers.sqlite"
    rows = [row(i) for i in range(500)]
    source = write_jsonl(tmp_path / "customers.jsonl", rows)

    first = run_op(upsert(source_path=str(source), state_path=str(state)))
    assert first["sent"] == first["accepted"] == first["new"] == 500
    assert len(store.customers) == 500

    store = fresh(emulator)
    second = run_op(upsert(source_path=str(source), state_path=str(state)))
    assert (second["sent"], second["requests"], second["unchanged"]) == (0, 0, 500)
    assert emulator.requests == []
    assert second["state_keys"] == 500
    assert second["state_bytes"] > 0
    assert second["state_path"] == str(state)

    changed = {7, 123, 499}
    rows = [row(i, last_name="Moved") if i in changed else r for i, r in enumerate(rows)]
    rows = [r for i, r in enumerate(rows) if i not in (1, 2)] + [row(1000)]
    write_jsonl(source, rows)
    store = fresh(emulator)
    third = run_op(upsert(source_path=str(source), state_path=str(state)))
    assert emails(store) == {f"user{i}@example.com" for i in (*changed, 1000)}
    assert (third["new"], third["changed"], third["unchanged"]) == (1, 3, 495)
    assert third["missing_from_input"] == 2  # reported, nothing deleted
    assert third["state_keys"] == 501


def test_csv_with_reordered_columns_is_unchanged(tmp_path, emulator, run_op):
    state = tmp_path / "state.sqlite"
    source = tmp_path / "customers.csv"
    for columns in (["email", "first_name", "attr_city"], ["attr_city", "first_name", "email"]):
        with source.open("w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(row(i) for i in range(20))
        summary = run_op(upsert(source_path=str(source), state_path=str(state)))
    assert (summary["sent"], summary["unchanged"]) == (0, 20)


def test_records_the_api_refused_are_sent_again(tmp_path, emulator, store, run_op):
    state = tmp_path / "state.sqlite"
    rows = [row(i) for i in range(10)]
    rows[4] = row(4, attr_no_such_attribute="x")  # valid locally, refused by the business unit
    op = upsert(customers=rows, state_path=str(state), max_rejected=1)
    first = run_op(op)
    assert (first["accepted"], first["rejected"], first["state_keys"]) == (9, 1, 9)

    fresh(emulator)
    second = run_op(upsert(customers=rows, state_path=str(state), max_rejected=1))
    assert (second["new"], second["unchanged"], second["rejected"]) == (1, 9, 1)


def test_records_in_doubt_are_sent_again(tmp_path, emulator, store, run_op):
    """Errors that name no record leave the batch in doubt: none of its records is confirmed."""
    emulator.switches.item_error_style = "errors_2xx"
    emulator.switches.item_error_shape = "unattributed"
    state = tmp_path / "state.sqlite"
    rows = [row(i) for i in range(10)]
    rows[3] = row(3, attr_no_such_attribute="x")
    with pytest.raises(ExpertSenderRejectedRecordsError) as caught:
        run_op(upsert(customers=rows, state_path=str(state), batch_size=5))
    summary = caught.value.summary
    assert summary["in_doubt"] == 5
    assert summary["state_keys"] == 5  # the other batch

    fresh(emulator)
    second = run_op(upsert(customers=rows[:3] + rows[4:] + [row(3)], state_path=str(state), batch_size=5))
    assert (second["new"], second["unchanged"]) == (5, 5)


def test_a_run_that_dies_midway_keeps_what_was_confirmed(tmp_path, emulator, store, run_op):
    state = tmp_path / "state.sqlite"
    rows = [row(i) for i in range(200)]
    # The 3rd request fails for good; batches are sent one at a time.
    op = upsert(customers=rows, state_path=str(state), batch_size=50, max_concurrency=1)
    calls = {"n": 0}
    original = op.hook.upsert_customers

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise ExpertSenderError("the API went away")
        return original(*args, **kwargs)

    op.hook.upsert_customers = flaky  # type: ignore[method-assign]
    with pytest.raises(ExpertSenderError, match="went away"):
        run_op(op)
    landed = emails(store)  # batches 1, 2 and the one already queued behind the failed one
    assert len(landed) in (100, 150)
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM confirmed").fetchone()[0] == len(landed)

    store = fresh(emulator)
    second = run_op(upsert(customers=rows, state_path=str(state)))
    assert (second["new"], second["unchanged"]) == (200 - len(landed), len(landed))
    assert emails(store) == {f"user{i}@example.com" for i in range(200)} - landed


def test_a_dropped_request_leaves_its_records_out_of_the_state(tmp_path, emulator, store, run_op):
    """Applied by the API but never answered: the records are sent again next run, even unchanged."""
    state = tmp_path / "state.sqlite"
    rows = [row(i) for i in range(100)]
    run_op(upsert(customers=rows[:50], state_path=str(state)))
    changed = [row(i, last_name="New") if i < 50 else r for i, r in enumerate(rows)]
    emulator.switches.drop_next(20, after_apply=True)
    with pytest.raises(ExpertSenderError):
        run_op(upsert(customers=changed, state_path=str(state), batch_size=100, max_concurrency=1))
    store = fresh(emulator)
    third = run_op(upsert(customers=rows, state_path=str(state)))  # back to the first data
    assert third["new"] == 100  # the 50 that were in flight left the state before the request
    assert len(store.customers) == 100


def test_invalid_input_with_on_invalid_fail_confirms_nothing(tmp_path, emulator, store, run_op):
    state = tmp_path / "state.sqlite"
    rows = [row(i) for i in range(30)] + [{"first_name": "no e-mail"}]
    with pytest.raises(ExpertSenderInvalidInputError):
        run_op(upsert(customers=rows, state_path=str(state)))
    assert store.request_count == 0
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM confirmed").fetchone()[0] == 0
    summary = run_op(upsert(customers=rows[:30], state_path=str(state)))
    assert summary["new"] == 30


def test_dry_run_reports_the_diff_and_changes_nothing(tmp_path, emulator, store, run_op):
    state = tmp_path / "state.sqlite"
    rows = [row(i) for i in range(20)]
    dry = run_op(upsert(customers=rows, state_path=str(state), dry_run=True))
    assert (dry["new"], dry["batches"], dry["requests"]) == (20, 1, 0)
    assert list(tmp_path.iterdir()) == []  # no state, no lock file
    run_op(upsert(customers=rows[:15], state_path=str(state)))
    before = state.read_bytes()
    dry = run_op(upsert(customers=rows, state_path=str(state), dry_run=True))
    assert (dry["new"], dry["unchanged"]) == (5, 15)
    assert state.read_bytes() == before


def test_full_refresh_sends_everything_and_rebuilds(tmp_path, emulator, store, run_op):
    state = tmp_path / "state.sqlite"
    rows = [row(i) for i in range(20)]
    run_op(upsert(customers=rows, state_path=str(state)))
    store = fresh(emulator)
    summary = run_op(upsert(customers=rows[:10], state_path=str(state), full_refresh=True))
    assert (summary["sent"], summary["state_keys"], summary["full_refresh"]) == (10, 10, True)
    assert len(store.customers) == 10
    with pytest.raises(ExpertSenderConfigError, match="state_path"):
        upsert(customers=rows, full_refresh=True)


def test_a_state_in_use_fails_before_sending(tmp_path, emulator, store, run_op):
    state = tmp_path / "state.sqlite"
    with (
        state_file(str(state), owner="example/other_partition/run/3", log=None),
        pytest.raises(ExpertSenderStateError, match="in use by example/other_partition/run/3"),
    ):
        run_op(upsert(customers=[row(1)], state_path=str(state)))
    assert store.request_count == 0


def test_a_state_built_for_another_key_is_refused(tmp_path, emulator, run_op):
    state = tmp_path / "state.sqlite"
    run_op(upsert(customers=[row(1, crm_id="C1")], state_path=str(state)))
    with pytest.raises(ExpertSenderStateError, match="CrmId"):
        run_op(upsert(customers=[row(1, crm_id="C1")], state_path=str(state), match_by="CrmId"))


def test_state_on_object_storage(tmp_path, emulator, store, run_op):
    (tmp_path / "bucket").mkdir()
    rows = [row(i) for i in range(30)]
    op = upsert(customers=rows, state_path=f"file://{tmp_path}/bucket/customers.sqlite")
    run_op(op)
    assert (tmp_path / "bucket" / "customers.sqlite").exists()
    fresh(emulator)
    summary = run_op(upsert(customers=rows, state_path=f"file://{tmp_path}/bucket/customers.sqlite"))
    assert (summary["sent"], summary["unchanged"]) == (0, 30)
    assert sorted(p.name for p in (tmp_path / "bucket").iterdir()) == ["customers.sqlite"]


def test_state_path_is_templated(tmp_path, emulator, run_op):
    op = upsert(customers=[row(1)], state_path=str(tmp_path) + "/{{ params.part }}.sqlite")
    run_op(op, params={"part": "p1"})
    assert (tmp_path / "p1.sqlite").exists()
    assert "state_path" in WriteOptions.template_fields
    assert "options" in ExpertSenderRegisterOrdersOperator.template_fields


def test_state_path_applies_to_upserts_only():
    from airflow_provider_expertsender.operators.orders import ExpertSenderDeleteOrdersOperator

    with pytest.raises(ExpertSenderConfigError, match="state_path applies to customers and orders only"):
        ExpertSenderDeleteOrdersOperator(task_id="d", order_ids=["O-1"], state_path="/tmp/x.sqlite")


def order(i: int, website_id: int | None = None, **extra: Any) -> dict[str, Any]:
    record = {
        "id": f"ORD-{i}",
        "date": "2025-11-03T14:05:00Z",
        "currency": "PLN",
        "total_value": 10.5,
        "customer": {"email": "jane@example.com"},
        "products": [{"id": "SKU-1", "name": "Shoe", "price": 10.5, "quantity": 1}],
        **extra,
    }
    if website_id is not None:
        record["website_id"] = website_id
    return record


def test_orders_are_keyed_by_website_and_id(tmp_path, emulator, store, run_op):
    state = tmp_path / "orders.sqlite"
    orders = [order(i) for i in range(10)] + [order(1, website_id=2)]
    first = run_op(ExpertSenderRegisterOrdersOperator(task_id="orders", orders=orders, state_path=str(state)))
    assert (first["new"], first["state_keys"]) == (11, 11)
    orders[0] = order(0, total_value="10.50")  # the same number, written differently: unchanged
    orders[10] = order(1, website_id=2, status="Paid")
    store = fresh(emulator)
    second = run_op(
        ExpertSenderRegisterOrdersOperator(task_id="orders", orders=orders, state_path=str(state))
    )
    assert (second["changed"], second["unchanged"]) == (1, 10)
    assert [(o["id"], o.get("websiteId")) for o in store.orders] == [("ORD-1", 2)]


# --------------------------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_source(tmp_path, emulator, store, run_op, pg_customers):
    con, table = pg_customers
    state = tmp_path / "state.sqlite"
    sql = f"SELECT email, first_name, attr_lifetime_value, attr_signup_date FROM {table} ORDER BY n"

    def sync() -> dict[str, Any]:
        return run_op(upsert(sql=sql, sql_conn_id="pg_state", state_path=str(state), batch_size=500))

    assert sync()["new"] == 3000
    store = fresh(emulator)
    second = sync()  # Decimal and date columns: the input cache hashes them too
    assert (second["unchanged"], second["requests"]) == (3000, 0)
    with con.cursor() as cur:
        cur.execute(f"UPDATE {table} SET first_name = 'Renamed' WHERE n IN (10, 20, 30)")
        cur.execute(f"DELETE FROM {table} WHERE n = 40")
    store = fresh(emulator)
    third = sync()
    assert (third["changed"], third["unchanged"], third["missing_from_input"]) == (3, 2996, 1)
    assert emails(store) == {"user10@example.com", "user20@example.com", "user30@example.com"}
