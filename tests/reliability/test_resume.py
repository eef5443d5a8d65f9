"""Never send twice across task tries (issue 11 finding 2, issue 12): a try ended by a kill, a timeout or a
SIGTERM leaves a checkpoint; the next try resumes from it, holding back what may have reached the API.

The worker-kill test runs the write in a real subprocess and SIGKILLs it while requests are in flight; the
timeout tests run real DAGs whose tasks hit ``execution_timeout`` and are retried by Airflow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventsOperator
from tests.reliability.conftest import posts

EVENTS = 120

WORKER = textwrap.dedent(
    """
    import sys
    from types import SimpleNamespace
    from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventsOperator

    events = [{"email": f"kill{i}@example.com"} for i in range(int(sys.argv[1]))]
    ti = SimpleNamespace(dag_id="resume", task_id="events", run_id="r1", map_index=-1, try_number=1)
    ti.xcom_push = lambda **kwargs: None
    op = ExpertSenderSendCustomEventsOperator(
        task_id="events", custom_event_id=7, events=events, max_concurrency=4
    )
    print("started", flush=True)
    op.execute({"ti": ti})
    print("finished", flush=True)
    """
)


def _context(try_number: int) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="resume", task_id="events", run_id="r1", map_index=-1, try_number=try_number)
    ti.xcom_push = lambda **kwargs: None
    return {"ti": ti}


def test_events_are_never_sent_twice_across_a_retry_after_the_worker_was_killed(
    emulator: Any, expertsender_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    emulator.switches.latency_ms = 150  # requests stay in flight long enough to be cut off
    store = emulator.store(emulator.api_key)
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(EVENTS)], env=os.environ.copy(), stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while len(store.events) < 30:
            assert worker.poll() is None, "the worker ended before it could be killed"
            assert time.monotonic() < deadline, "the worker sent nothing"
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)  # a lost worker: no finally, no on_kill, no flush
    finally:
        worker.wait(10)
    time.sleep(0.5)  # the requests the dead worker had in flight reach the emulator
    emulator.switches.latency_ms = 0
    before = Counter(e["customerEmail"] for e in store.events)
    assert len(before) < EVENTS, "the kill came too late to test anything"

    dead = tmp_path / "dead.jsonl"
    retry = ExpertSenderSendCustomEventsOperator(
        task_id="events",
        custom_event_id=7,
        events=[{"email": f"kill{i}@example.com"} for i in range(EVENTS)],
        max_concurrency=4,
        max_rejected=10,
        dead_letter_path=str(dead),
    )
    summary = retry.execute(_context(2))

    fired = Counter(e["customerEmail"] for e in store.events)
    assert max(fired.values()) == 1, f"events fired twice: {[k for k, v in fired.items() if v > 1]}"
    doubt = [json.loads(line) for line in dead.read_text().splitlines()] if dead.exists() else []
    assert all(line["stage"] == "in_doubt" for line in doubt)
    assert summary["in_doubt"] == len(doubt)
    # Whatever the first try had in flight (at most max_concurrency requests) is in doubt, not re-sent.
    assert 0 < summary["in_doubt"] <= 4 + 4  # in flight, plus answers whose confirmation the kill cut off
    assert summary["resumed"] + summary["in_doubt"] + summary["accepted"] == EVENTS
    never_fired = {f"kill{i}@example.com" for i in range(EVENTS)} - set(fired)
    assert never_fired <= {line["record"]["email"] for line in doubt}  # only an event in doubt may be missing


TIMEOUT_DAG = """
from __future__ import annotations

import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventOperator

with DAG(dag_id="expertsender_timeout_retries", schedule=None, start_date=datetime.datetime(2025, 1, 1)):
    ExpertSenderSendCustomEventOperator(
        task_id="event",
        custom_event_id=7,
        email="slow@example.com",
        retries=3,
        retry_delay=datetime.timedelta(seconds=0),
        execution_timeout=datetime.timedelta(seconds=1),
    )
    ExpertSenderUpsertCustomersOperator(
        task_id="add",
        customers=[{"email": f"slow{i}@example.com"} for i in range(4)],
        mode="Add",
        batch_size=2,
        max_concurrency=2,
        retries=3,
        retry_delay=datetime.timedelta(seconds=0),
        execution_timeout=datetime.timedelta(seconds=1),
    )
"""


@pytest.mark.dag
def test_execution_timeout_never_leads_a_retry_to_send_again_in_a_dag_run(
    run_dag: Callable[..., Any], emulator: Any, expertsender_conn: str
) -> None:
    """The server answers after 2 s, the tasks time out after 1 s and have 3 retries: the event and the
    customers reach the API once; the retries find the checkpoint and hold the records back as in doubt."""
    import airflow

    if airflow.__version__.startswith("2."):
        pytest.skip(
            "Airflow 2.10's dag.test() lets AirflowTaskTimeout (a BaseException) escape instead of retrying"
        )
    emulator.switches.latency_ms = 2000
    result = run_dag(TIMEOUT_DAG, "expertsender_timeout_retries")
    time.sleep(2.5)  # the requests cut off by the timeouts are processed by now
    store = emulator.store(emulator.api_key)
    assert result.state == "failed"
    assert [e["customerEmail"] for e in store.events] == ["slow@example.com"]
    assert len(posts(emulator, "/scenariocustomevents")) == 1
    assert store.counters.get("items_rejected", 0) == 0, "an Add was repeated"
    assert len(posts(emulator, "/customers")) == 2  # two batches in flight, once each


def _airflow_timeout(seconds: int) -> Any:
    """The context manager Airflow wraps ``execute()`` in for ``execution_timeout`` (SIGALRM)."""
    try:
        from airflow.sdk.execution_time.timeout import TimeoutPosix
    except ImportError:  # Airflow 2
        from airflow.utils.timeout import TimeoutPosix  # type: ignore[no-redef]
    return TimeoutPosix(seconds=seconds)


def test_a_timed_out_custom_event_is_not_sent_again_by_the_next_try(
    emulator: Any, expertsender_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventOperator

    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # Airflow 2
        from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    emulator.switches.latency_ms = 2000

    def op() -> ExpertSenderSendCustomEventOperator:
        return ExpertSenderSendCustomEventOperator(task_id="events", custom_event_id=7, email="t@example.com")

    with pytest.raises(BaseException) as first, _airflow_timeout(1):
        op().execute(_context(1))
    assert type(first.value).__name__ == "AirflowTaskTimeout"
    with pytest.raises(AirflowFailException, match="earlier try"):
        op().execute(_context(2))
    time.sleep(1.5)
    assert [e["customerEmail"] for e in emulator.store(emulator.api_key).events] == ["t@example.com"]
    assert len(posts(emulator, "/scenariocustomevents")) == 1


def test_a_timed_out_bulk_add_reports_its_requests_in_flight_in_doubt_and_the_retry_holds_them(
    emulator: Any, expertsender_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 2: the batches in flight when execution_timeout fires are dead-lettered in_doubt; the next
    try sends nothing of them (mode Add must not be repeated) and the customers are stored once."""
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook
    from airflow_provider_expertsender.sync import engine
    from airflow_provider_expertsender.sync.checkpoint import TaskTry

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(engine, "INTERRUPT_GRACE", 0.2)  # the answers come after 1.5 s: too late
    emulator.switches.latency_ms = 1500
    customers = [{"email": f"add{i}@example.com"} for i in range(4)]
    dead = tmp_path / "dead.jsonl"
    hook = ExpertSenderHook()
    assert hook.config.base_url  # read the connection and import the models before the clock starts
    import airflow_provider_expertsender.models  # noqa: F401

    def write(try_number: int) -> dict[str, Any]:
        return engine.run_write(
            hook,
            resource="customers",
            records=customers,
            mode="Add",
            batch_size=2,
            max_concurrency=2,
            max_rejected=4,
            dead_letter_path=str(dead),
            task=TaskTry("resume", "add", "r1", None, try_number),
        )

    with pytest.raises(BaseException) as first, _airflow_timeout(1):
        write(1)
    assert type(first.value).__name__ == "AirflowTaskTimeout"
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert sorted(line["position"] for line in letters if line["stage"] == "in_doubt") == [0, 1, 2, 3]
    time.sleep(1.0)  # the emulator applies the two requests the timed-out try had sent
    emulator.switches.latency_ms = 0

    summary = write(2)

    assert (summary["in_doubt"], summary["sent"]) == (4, 0)
    assert len(posts(emulator, "/customers")) == 2
    store = emulator.store(emulator.api_key)
    assert sorted(c["email"] for c in store.customers) == sorted(c["email"] for c in customers)
    assert store.counters.get("items_rejected", 0) == 0


def test_an_upsert_that_died_midway_resumes_from_its_checkpoint(
    emulator: Any, expertsender_conn: str, tmp_path: Path
) -> None:
    """An idempotent write with checkpoint_path: the retry sends only what the first try did not confirm."""
    from airflow_provider_expertsender.exceptions import ExpertSenderServerError
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook
    from airflow_provider_expertsender.sync import run_write
    from airflow_provider_expertsender.sync.checkpoint import TaskTry

    customers = [{"email": f"up{i}@example.com", "first_name": f"U{i}"} for i in range(50)]
    hook = ExpertSenderHook()
    calls = {"n": 0}
    send_once = hook._send_once

    def fail_from_the_fourth_request(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:
            emulator.switches.fail_next(10, status=503)  # more than the retries: the write stops
        return send_once(*args, **kwargs)

    hook._send_once = fail_from_the_fourth_request  # type: ignore[method-assign]

    def write(try_number: int) -> dict[str, Any]:
        return run_write(
            hook,
            resource="customers",
            records=customers,
            mode="AddOrUpdate",
            batch_size=10,
            max_concurrency=1,
            checkpoint_path=str(tmp_path / "checkpoints"),
            task=TaskTry("resume", "upsert", "r1", None, try_number),
        )

    with pytest.raises(ExpertSenderServerError):
        write(1)
    emulator.switches.clear_faults()
    requests_before = len(posts(emulator, "/customers"))

    summary = write(2)

    assert summary["resumed"] == 30  # the three batches the first try had confirmed
    assert summary["accepted"] == 20
    assert len(posts(emulator, "/customers")) - requests_before == 2
    stored = {c["email"] for c in emulator.store(emulator.api_key).customers}
    assert stored == {c["email"] for c in customers}
