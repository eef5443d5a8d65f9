"""The per-record bulk operators: custom events, order status changes, order deletes.

From lists, JSON Lines and CSV files, sqlite and PostgreSQL, against the emulator; in-doubt events are never
sent twice (also across task tries; the real process kill is in tests/reliability/test_resume.py).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError, ExpertSenderRejectedRecordsError
from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventsOperator
from airflow_provider_expertsender.operators.orders import (
    ExpertSenderDeleteOrdersOperator,
    ExpertSenderUpdateOrderStatusesOperator,
)
from tests.operators.conftest import order_record

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


def lines(path: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def task_context(try_number: int = 1, **extra: Any) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="bulk", task_id="events", run_id="manual__1", map_index=-1, try_number=try_number
    )
    ti.xcom_push = lambda **kwargs: None
    return {"ti": ti, "params": {}, **extra}


@pytest.fixture(autouse=True)
def airflow_home(tmp_path, monkeypatch) -> Any:
    """Default checkpoints go under $AIRFLOW_HOME: one per test."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow-home"))
    return tmp_path / "airflow-home"


# -------------------------------------------------------------------------------------------- custom events


def test_events_from_a_list_every_identifier_and_data_fields_shape(store, run_op, expertsender_conn):
    events = [
        {"email": "a@example.com", "data_fields": {"coupon": "X-1", "points": 12}},
        {"customerEmail": "b@example.com", "data_coupon": "X-2"},
        {"crm_id": "CRM-9", "dataFields": [{"name": "coupon", "type": "String", "value": "X-3"}]},
        {"phone": "+48500100200", "custom_event_id": 8},
        {"email_md5": "0" * 32},
        {"customer_id": 17, "data_fields": '{"coupon": "X-6"}'},
    ]
    op = ExpertSenderSendCustomEventsOperator(task_id="events", custom_event_id=7, events=events)

    summary = run_op(op)

    assert summary["resource"] == "custom_events"
    assert (summary["read"], summary["sent"], summary["accepted"], summary["in_doubt"]) == (6, 6, 6, 0)
    assert summary["requests"] == 6
    stored = store.events
    assert len(stored) == 6
    by_email = {e.get("customerEmail"): e for e in stored}
    assert by_email["a@example.com"]["dataFields"] == [
        {"name": "coupon", "type": "String", "value": "X-1"},
        {"name": "points", "type": "Number", "value": "12"},
    ]
    assert by_email["b@example.com"]["dataFields"] == [{"name": "coupon", "type": "String", "value": "X-2"}]
    assert sorted(e["customEventId"] for e in stored) == [7, 7, 7, 7, 7, 8]
    assert next(e for e in stored if e.get("customerId") == 17)["dataFields"][0]["value"] == "X-6"


def test_event_rows_need_exactly_one_identifier(store, run_op, expertsender_conn, tmp_path):
    dead = tmp_path / "dead.jsonl"
    op = ExpertSenderSendCustomEventsOperator(
        task_id="events",
        custom_event_id=7,
        events=[{"email": "a@example.com", "crm_id": "C"}, {"first_name": "x"}, {"email": "ok@example.com"}],
        on_invalid="skip",
        max_rejected=2,
        dead_letter_path=str(dead),
    )
    summary = run_op(op)
    assert (summary["invalid"], summary["accepted"]) == (2, 1)
    reasons = [line["reason"] for line in lines(dead)]
    assert "got email, crm_id" in reasons[0]
    assert "got none" in reasons[1]
    assert len(store.events) == 1


def test_events_without_an_event_id_are_invalid_and_nothing_is_sent(store, run_op, expertsender_conn):
    op = ExpertSenderSendCustomEventsOperator(task_id="events", events=[{"email": "a@example.com"}])
    with pytest.raises(Exception, match="customEventId"):
        run_op(op)
    assert store.events == []


def test_events_from_json_lines_and_csv_files(store, run_op, expertsender_conn, tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "a.jsonl").write_text(
        "\n".join(json.dumps({"email": f"j{i}@example.com", "data_fields": {"n": i}}) for i in range(3))
        + "\n"
    )
    with (folder / "b.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "data_coupon", "data_fields"])
        writer.writerow(["c1@example.com", "C-1", ""])
        writer.writerow(["c2@example.com", "", '{"points": 3}'])
    op = ExpertSenderSendCustomEventsOperator(task_id="events", custom_event_id=5, source_path=str(folder))

    summary = run_op(op)

    assert (summary["read"], summary["accepted"]) == (5, 5)
    emails = sorted(e["customerEmail"] for e in store.events)
    assert emails == [
        "c1@example.com",
        "c2@example.com",
        "j0@example.com",
        "j1@example.com",
        "j2@example.com",
    ]


def test_events_from_sqlite(store, run_op, expertsender_conn, tmp_path, monkeypatch):
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as con:
        con.executescript(
            """
            CREATE TABLE drops (email TEXT, data_product TEXT, data_price REAL);
            INSERT INTO drops VALUES ('a@example.com', 'Shoe', 99.5), ('b@example.com', 'Sock', 5);
            """
        )
    monkeypatch.setenv("AIRFLOW_CONN_CRM", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    op = ExpertSenderSendCustomEventsOperator(
        task_id="events", custom_event_id=3, sql="SELECT * FROM drops", sql_conn_id="crm"
    )
    summary = run_op(op)
    assert summary["accepted"] == 2
    fields = {e["customerEmail"]: e["dataFields"] for e in store.events}
    assert {"name": "price", "type": "Number", "value": "99.5"} in fields["a@example.com"]


@pytest.fixture
def pg(monkeypatch) -> Any:
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        con = psycopg2.connect(connect_timeout=2, **PG)
    except psycopg2.OperationalError as err:
        pytest.skip(f"PostgreSQL at {PG['host']}:{PG['port']} is unreachable: {err}".strip())
    con.autocommit = True
    monkeypatch.setenv(
        "AIRFLOW_CONN_PG_BULK",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": PG["host"],
                "port": PG["port"],
                "login": PG["user"],
                "schema": PG["dbname"],
            }
        ),
    )
    tables: list[str] = []

    def table(ddl: str, rows: list[tuple[Any, ...]]) -> str:
        name = f"es_bulk_{uuid.uuid4().hex[:8]}"
        with con.cursor() as cur:
            cur.execute(f"CREATE TABLE {name} ({ddl})")
            for row in rows:
                cur.execute(f"INSERT INTO {name} VALUES ({', '.join(['%s'] * len(row))})", row)
        tables.append(name)
        return name

    yield table
    with con.cursor() as cur:
        for name in tables:
            cur.execute(f"DROP TABLE {name}")
    con.close()


@pytest.mark.postgres
def test_events_statuses_and_deletes_from_postgres(pg, hook, store, run_op, expertsender_conn):
    events = pg("email text, custom_event_id int, data_fields jsonb", [("p@example.com", 4, '{"a": 1}')])
    summary = run_op(
        ExpertSenderSendCustomEventsOperator(
            task_id="events", sql=f"SELECT * FROM {events}", sql_conn_id="pg_bulk"
        )
    )
    assert summary["accepted"] == 1
    assert store.events[0]["customEventId"] == 4
    hook.register_orders([order_record("PG-1"), order_record("PG-2")], mode="AddOrReplace")
    changes = pg("order_id text, status text", [("PG-1", "Paid"), ("PG-2", "completed")])
    summary = run_op(
        ExpertSenderUpdateOrderStatusesOperator(
            task_id="statuses", sql=f"SELECT * FROM {changes} ORDER BY order_id", sql_conn_id="pg_bulk"
        )
    )
    assert summary["accepted"] == 2
    assert (store.order("PG-1")["status"], store.order("PG-2")["status"]) == ("paid", "completed")
    gone = pg("order_id text", [("PG-1",), ("PG-2",)])
    summary = run_op(
        ExpertSenderDeleteOrdersOperator(
            task_id="deletes", sql=f"SELECT * FROM {gone}", sql_conn_id="pg_bulk"
        )
    )
    assert (summary["accepted"], summary["already_gone"]) == (2, 0)
    assert store.order("PG-1")["isDeleted"] is True


def test_an_event_in_doubt_is_dead_lettered_and_never_sent_again(
    emulator, store, run_op, expertsender_conn, tmp_path
):
    """The answer to the second event is lost after the emulator stored it: in doubt, not re-sent, and a
    task retry (try 2, same worker) resumes: it sends only what the first try did not."""
    dead = tmp_path / "dead.jsonl"
    events = [{"email": f"e{i}@example.com"} for i in range(6)]
    sent: dict[str, int] = {"n": 0}

    def op() -> ExpertSenderSendCustomEventsOperator:
        return ExpertSenderSendCustomEventsOperator(
            task_id="events",
            custom_event_id=7,
            events=events,
            max_concurrency=1,
            dead_letter_path=str(dead),
            max_rejected=1,
        )

    emulator.switches.drop_next(1, after_apply=True)
    summary = op().execute(task_context(1))
    sent["n"] = len(store.events)
    assert (summary["accepted"], summary["in_doubt"]) == (5, 1)
    assert sent["n"] == 6  # the dropped one was stored: its answer was lost
    assert [line["stage"] for line in lines(dead)] == ["in_doubt"]

    # The try completed: a deliberate re-run (a cleared task) starts over.
    summary = op().execute(task_context(2))
    assert summary["accepted"] == 6
    assert len(store.events) == 12


def test_a_retry_skips_what_the_first_try_confirmed_and_holds_what_is_in_doubt(
    emulator, store, expertsender_conn, tmp_path
):
    events = [{"email": f"e{i}@example.com"} for i in range(10)]
    dead = tmp_path / "dead.jsonl"

    def op(**kwargs: Any) -> ExpertSenderSendCustomEventsOperator:
        return ExpertSenderSendCustomEventsOperator(
            task_id="events", custom_event_id=7, events=events, max_concurrency=1, dead_letter_path=str(dead),
            **kwargs,
        )  # fmt: skip

    # Try 1: the third answer is lost (in doubt) and, max_rejected=0, the write stops there.
    first_try = op()
    send_once = first_try.hook._send_once
    calls = {"n": 0}

    def third_answer_lost(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            emulator.switches.drop_next(1, after_apply=True)
        return send_once(*args, **kwargs)

    first_try.hook._send_once = third_answer_lost
    with pytest.raises(ExpertSenderRejectedRecordsError) as info:
        first_try.execute(task_context(1))
    first = info.value.summary
    assert first["in_doubt"] == 1
    assert first["stopped_early"] is True
    stored_after_first = len(store.events)  # the third and what was already queued behind it
    assert 3 <= stored_after_first < 10

    summary = op(max_rejected=1).execute(task_context(2))

    assert summary["resumed"] == stored_after_first - 1
    assert summary["in_doubt"] == 1
    assert summary["accepted"] == 10 - stored_after_first
    emails = [e["customerEmail"] for e in store.events]
    assert len(emails) == len(set(emails)) == 10  # every event once, none twice
    assert [line["stage"] for line in lines(dead)] == ["in_doubt"]


def test_retry_unsafe_sends_events_in_doubt_again(emulator, store, expertsender_conn):
    events = [{"email": "a@example.com"}]
    emulator.switches.drop_next(1, after_apply=True)
    op = ExpertSenderSendCustomEventsOperator(task_id="events", custom_event_id=7, events=events)
    with pytest.raises(ExpertSenderRejectedRecordsError):
        op.execute(task_context(1))
    assert len(store.events) == 1
    again = ExpertSenderSendCustomEventsOperator(
        task_id="events", custom_event_id=7, events=events, retry_unsafe=True
    )
    assert again.execute(task_context(2))["accepted"] == 1
    assert len(store.events) == 2  # the duplicate the user accepted


def test_a_retry_on_another_worker_without_a_shared_checkpoint_refuses(store, expertsender_conn):
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # Airflow 2
        from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

    op = ExpertSenderSendCustomEventsOperator(
        task_id="events", custom_event_id=7, events=[{"email": "a@example.com"}]
    )
    with pytest.raises(AirflowFailException, match="checkpoint_path"):
        op.execute(task_context(2))  # try 2, and no trace of try 1 on this machine
    assert store.events == []


# -------------------------------------------------------------------------------------- order status changes


def test_status_changes_from_a_list_and_a_csv_file(hook, store, run_op, expertsender_conn, tmp_path):
    hook.register_orders([order_record(f"S-{i}") for i in range(4)], mode="AddOrReplace")
    summary = run_op(
        ExpertSenderUpdateOrderStatusesOperator(
            task_id="statuses",
            changes=[{"order_id": "S-0", "status": "PAID"}, {"orderId": "S-1", "orderStatus": "canceled"}],
        )
    )
    assert summary["resource"] == "order_statuses"
    assert (summary["accepted"], summary["requests"]) == (2, 2)
    path = tmp_path / "changes.csv"
    path.write_text("order_id,status\nS-2,completed\nS-3,paid\nS-3,completed\n")
    summary = run_op(ExpertSenderUpdateOrderStatusesOperator(task_id="statuses", source_path=str(path)))
    assert summary["accepted"] == 3
    assert [store.order(f"S-{i}")["status"] for i in range(4)] == [
        "paid",
        "canceled",
        "completed",
        "completed",
    ]


def test_a_status_change_of_an_unknown_order_is_rejected(hook, store, run_op, expertsender_conn, tmp_path):
    hook.register_orders([order_record("K-1")], mode="AddOrReplace")
    dead = tmp_path / "dead.jsonl"
    op = ExpertSenderUpdateOrderStatusesOperator(
        task_id="statuses",
        changes=[{"order_id": "K-1", "status": "paid"}, {"order_id": "NOPE", "status": "paid"}],
        dead_letter_path=str(dead),
        max_rejected=1,
    )
    summary = run_op(op)
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert lines(dead)[0]["identifier"] == "NOPE"
    assert lines(dead)[0]["stage"] == "api"


def test_an_invalid_status_is_refused_before_anything_is_sent(store, run_op, expertsender_conn):
    op = ExpertSenderUpdateOrderStatusesOperator(
        task_id="statuses", changes=[{"order_id": "A", "status": "paid"}, {"order_id": "B", "status": "lost"}]
    )
    with pytest.raises(Exception, match="orderStatus"):
        run_op(op)
    assert store.request_count == 0


# ----------------------------------------------------------------------------------------------- deletes


def test_deletes_from_plain_ids_and_already_gone_counts_as_done(hook, store, run_op, expertsender_conn):
    hook.register_orders([order_record("D-1"), order_record("D-2")], mode="AddOrReplace")
    summary = run_op(ExpertSenderDeleteOrdersOperator(task_id="deletes", order_ids=["D-1", "D-2", "D-404"]))
    assert summary["resource"] == "order_deletes"
    assert (summary["accepted"], summary["already_gone"], summary["rejected"]) == (3, 1, 0)
    assert store.order("D-1")["isDeleted"] is True


def test_deletes_from_a_jsonl_file_and_sqlite(hook, store, run_op, expertsender_conn, tmp_path, monkeypatch):
    hook.register_orders([order_record(f"F-{i}") for i in range(4)], mode="AddOrReplace")
    path = tmp_path / "ids.jsonl"
    path.write_text('{"order_id": "F-0"}\n{"orderId": "F-1"}\n')
    assert run_op(ExpertSenderDeleteOrdersOperator(task_id="d", source_path=str(path)))["accepted"] == 2
    db = tmp_path / "ids.db"
    with sqlite3.connect(db) as con:
        con.executescript("CREATE TABLE old (order_id TEXT); INSERT INTO old VALUES ('F-2'), ('F-3');")
    monkeypatch.setenv("AIRFLOW_CONN_OLD", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    op = ExpertSenderDeleteOrdersOperator(task_id="d", sql="SELECT order_id FROM old", sql_conn_id="old")
    assert run_op(op)["accepted"] == 2
    assert all(store.order(f"F-{i}")["isDeleted"] for i in range(4))


def test_an_empty_order_id_is_invalid(store, run_op, expertsender_conn):
    op = ExpertSenderDeleteOrdersOperator(task_id="d", order_ids=["", "X"], on_invalid="skip", max_rejected=1)
    summary = run_op(op)
    assert summary["invalid"] == 1


def test_parse_time_checks(expertsender_conn):
    with pytest.raises(ExpertSenderConfigError, match="exactly one of events, source_path, sql"):
        ExpertSenderSendCustomEventsOperator(task_id="e", custom_event_id=1)
    with pytest.raises(ExpertSenderConfigError, match="max_requests_per_second"):
        ExpertSenderDeleteOrdersOperator(task_id="d", order_ids=["A"], max_requests_per_second=0)
    op = ExpertSenderUpdateOrderStatusesOperator(task_id="s", changes="{{ params.changes }}")
    assert "changes" in op.template_fields
    assert "options" in op.template_fields


def test_templated_options_are_rendered(store, run_op, expertsender_conn, tmp_path):
    op = ExpertSenderDeleteOrdersOperator(
        task_id="d",
        order_ids=["", "A"],
        on_invalid="skip",
        max_rejected=1,
        dead_letter_path="{{ params.folder }}/dead-{{ ds }}.jsonl",
        field_map={"id_col": "{{ params.column }}"},
    )
    run_op(op, ds="2025-01-02", params={"folder": str(tmp_path), "column": "order_id"})
    assert op.options.dead_letter_path == f"{tmp_path}/dead-2025-01-02.jsonl"
    assert op.options.field_map == {"id_col": "order_id"}
    assert lines(tmp_path / "dead-2025-01-02.jsonl")[0]["stage"] == "validation"


def test_a_shared_checkpoint_path_lets_a_retry_on_another_worker_resume(
    emulator, store, expertsender_conn, tmp_path, monkeypatch
):
    shared = tmp_path / "shared-checkpoints"
    events = [{"email": f"w{i}@example.com"} for i in range(5)]

    def op(**kwargs: Any) -> ExpertSenderSendCustomEventsOperator:
        return ExpertSenderSendCustomEventsOperator(
            task_id="events", custom_event_id=7, events=events, checkpoint_path=str(shared), **kwargs
        )

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "worker-1"))
    emulator.switches.drop_next(1, after_apply=True)  # the first event's answer is lost: the try fails
    with pytest.raises(ExpertSenderRejectedRecordsError):
        op(max_concurrency=1).execute(task_context(1))
    sent_by_first = len(store.events)
    assert list((shared / "bulk" / "manual__1" / "events").glob("try-1-*.jsonl"))

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "worker-2"))  # the retry runs on another worker
    second = op(max_rejected=1).execute(task_context(2))

    assert second["in_doubt"] == 1
    assert second["resumed"] == sent_by_first - 1
    assert second["accepted"] == 5 - sent_by_first
    assert sorted(e["customerEmail"] for e in store.events) == sorted(e["email"] for e in events)


# --------------------------------------------------------------------------- every operator x every input

ROWS = {
    "events": [{"email": f"m{i}@example.com", "data_n": i} for i in range(3)],
    "changes": [{"order_id": f"M-{i}", "status": "paid"} for i in range(3)],
    "order_ids": [{"order_id": f"M-{i}"} for i in range(3)],
}
OPERATORS = {
    "events": (ExpertSenderSendCustomEventsOperator, {"custom_event_id": 9}),
    "changes": (ExpertSenderUpdateOrderStatusesOperator, {}),
    "order_ids": (ExpertSenderDeleteOrdersOperator, {}),
}


def _input(kind: str, source: str, tmp_path: Any, monkeypatch: Any, pg: Any) -> dict[str, Any]:
    rows = ROWS[kind]
    columns = list(rows[0])
    if source == "list":
        return {kind: rows}
    if source == "jsonl":
        path = tmp_path / f"{kind}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return {"source_path": str(path)}
    if source == "csv":
        path = tmp_path / f"{kind}.csv"
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, columns)
            writer.writeheader()
            writer.writerows(rows)
        return {"source_path": str(path)}
    values = [tuple(row[c] for c in columns) for row in rows]
    if source == "sqlite":
        db = tmp_path / f"{kind}.db"
        with sqlite3.connect(db) as con:
            con.execute(f"CREATE TABLE t ({', '.join(columns)})")
            con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(columns))})", values)
        monkeypatch.setenv("AIRFLOW_CONN_MATRIX", json.dumps({"conn_type": "sqlite", "host": str(db)}))
        return {"sql": "SELECT * FROM t", "sql_conn_id": "matrix"}
    ddl = ", ".join(f"{c} {'int' if isinstance(rows[0][c], int) else 'text'}" for c in columns)
    return {"sql": f"SELECT * FROM {pg(ddl, values)}", "sql_conn_id": "pg_bulk"}


@pytest.mark.parametrize("source", ["list", "jsonl", "csv", "sqlite", "postgres"])
@pytest.mark.parametrize("kind", ["events", "changes", "order_ids"])
def test_every_bulk_operator_reads_every_input(
    kind, source, hook, store, run_op, expertsender_conn, tmp_path, monkeypatch, request
):
    pg = request.getfixturevalue("pg") if source == "postgres" else None
    hook.register_orders([order_record(f"M-{i}") for i in range(3)], mode="AddOrReplace")
    operator, extra = OPERATORS[kind]
    summary = run_op(operator(task_id="t", **extra, **_input(kind, source, tmp_path, monkeypatch, pg)))
    assert (summary["read"], summary["accepted"], summary["invalid"]) == (3, 3, 0)
    if kind == "events":
        assert sorted(e["customerEmail"] for e in store.events) == [f"m{i}@example.com" for i in range(3)]
        assert store.events[0]["dataFields"][0]["name"] == "n"
    elif kind == "changes":
        assert [store.order(f"M-{i}")["status"] for i in range(3)] == ["paid"] * 3
    else:
        assert all(store.order(f"M-{i}")["isDeleted"] for i in range(3))


def test_a_checkpoint_on_object_storage_is_written_in_segments_and_resumed(
    emulator, store, expertsender_conn, tmp_path, monkeypatch
):
    """An object store has no appends: each write of the journal is a new object (file:// stands in)."""
    events = [{"email": f"o{i}@example.com"} for i in range(40)]
    uri = f"file://{tmp_path}/bucket/checkpoints"

    def op(**kwargs: Any) -> ExpertSenderSendCustomEventsOperator:
        return ExpertSenderSendCustomEventsOperator(
            task_id="events",
            custom_event_id=7,
            events=events,
            checkpoint_path=uri,
            max_concurrency=4,
            **kwargs,
        )

    first = op()
    send_once = first.hook._send_once
    calls = {"n": 0}

    def lose_the_twentieth_answer(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 20:
            emulator.switches.drop_next(1, after_apply=True)
        return send_once(*args, **kwargs)

    first.hook._send_once = lose_the_twentieth_answer
    with pytest.raises(ExpertSenderRejectedRecordsError):
        first.execute(task_context(1))
    segments = list(
        (tmp_path / "bucket" / "checkpoints" / "bulk" / "manual__1" / "events").glob("try-1-*-*.jsonl")
    )
    assert segments
    sent_by_first = len(store.events)

    second = op(max_rejected=1).execute(task_context(2))

    assert (second["resumed"], second["in_doubt"]) == (sent_by_first - 1, 1)
    fired = [e["customerEmail"] for e in store.events]
    assert sorted(fired) == sorted(e["email"] for e in events)  # each once
