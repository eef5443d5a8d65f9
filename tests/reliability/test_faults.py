"""Faults over real HTTP (the emulator's switches): outcome, time spent, and what the store holds afterwards.

For every fault of the issue: 429 storms with ``Retry-After``, 5xx bursts, an HTML 502 page, latency above the
read timeout, connections dropped before and after the server applied the request, a server that never
answers, a truncated body and an empty 200.

* idempotent writes (``AddOrUpdate`` customers, ``AddOrReplace`` orders) through the bulk engine succeed after
  retries and the store holds every record exactly once;
* non-idempotent calls (``Add`` writes, custom events) are never sent twice without ``retry_unsafe=True``, and
  a failure whose request may have been applied says so (``maybe_applied``);
* reads fail with a typed error that names what happened when the budget is spent, on both hooks;
* the time spent stays within what ``max_retries``, the backoff, ``Retry-After`` and the timeouts allow.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderError,
    ExpertSenderRateLimitError,
    ExpertSenderResponseError,
    ExpertSenderServerError,
    ExpertSenderTransportError,
)
from tests.reliability.conftest import (
    HOOK_LOGGER,
    api_customer,
    customer,
    customer_ledger,
    customers,
    order,
    order_ledger,
    posts,
)

RETRYING = {"max_retries": 8, "backoff_base": 0.01, "backoff_max": 0.05, "read_timeout": 2}


# -- fault scripts ------------------------------------------------------------------------------------------


@contextmanager
def for_a_while(emulator: Any, seconds: float, **switches: Any) -> Iterator[None]:
    """Set ``switches`` now and restore their defaults after ``seconds`` (from a timer thread)."""
    saved = {name: getattr(emulator.switches, name) for name in switches}
    emulator.switches.update(**switches)
    timer = threading.Timer(seconds, lambda: emulator.switches.update(**saved))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        emulator.switches.update(**saved)
        # A request that was already waiting out the latency is applied when it ends: let it end here, so it
        # cannot write into the (reset) store of the next test.
        time.sleep(switches.get("latency_ms", 0) / 1000 + (0.1 if "latency_ms" in switches else 0))


@contextmanager
def for_requests(emulator: Any, count: int, **switches: Any) -> Iterator[None]:
    """Set ``switches`` until the emulator has logged ``count`` more requests, then restore them."""
    saved = {name: getattr(emulator.switches, name) for name in switches}
    start = len(emulator.requests)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set() and len(emulator.requests) - start < count:
            time.sleep(0.002)
        emulator.switches.update(**saved)

    emulator.switches.update(**switches)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        emulator.switches.update(**saved)


@contextmanager
def _queued(emulator: Any, queue: Callable[[Any], Any]) -> Iterator[None]:
    queue(emulator.switches)
    yield
    emulator.switches.clear_faults()


#: name -> (what to do to the emulator around the call, as a context manager factory)
FAULTS: dict[str, Callable[[Any], Any]] = {
    "429 storm, Retry-After": lambda e: _queued(e, lambda s: s.fail_next(6, status=429, retry_after=0.1)),
    "5xx burst": lambda e: _queued(
        e, lambda s: (s.fail_next(2, status=500), s.fail_next(2, status=503), s.fail_next(2, status=504))
    ),
    "HTML 502 page": lambda e: _queued(e, lambda s: s.fail_next(5, status=502, html=True)),
    "drop before apply": lambda e: _queued(e, lambda s: s.drop_next(5)),
    "drop after apply": lambda e: _queued(e, lambda s: s.drop_next(5, after_apply=True)),
    "latency > read timeout": lambda e: for_a_while(e, 0.7, latency_ms=450.0),
    "never answers": lambda e: for_a_while(e, 0.7, hang=True),
    "truncated body": lambda e: for_requests(e, 5, truncated_body=True),
    "empty 200": lambda e: for_requests(e, 5, empty_200=True),
}


# -- idempotent bulk writes succeed, every record stored exactly once ------------------------------------


@pytest.mark.parametrize("fault", list(FAULTS))
def test_idempotent_customer_sync_survives(fault: str, emulator: Any, make_hook: Callable[..., Any]) -> None:
    from airflow_provider_expertsender.sync import run_write

    hook = make_hook(read_timeout=0.3, max_retries=10, backoff_base=0.01, backoff_max=0.05)
    records = list(customers(600))
    with FAULTS[fault](emulator):
        summary = run_write(
            hook, resource="customers", records=records, mode="AddOrUpdate", batch_size=50, max_concurrency=4
        )
    store = emulator.store(emulator.api_key)
    ledger = customer_ledger(store, [r["email"] for r in records])
    assert (ledger.lost, ledger.duplicated, ledger.unexpected) == (0, 0, 0)
    assert (summary["read"], summary["accepted"], summary["rejected"]) == (600, 600, 0)
    stored = {c["email"]: c for c in store.customers}
    assert all(stored[r["email"]]["firstName"] == r["first_name"] for r in records)
    if fault not in ("empty 200",):
        assert hook.waits, "the fault never reached the hook: the test proves nothing"
    assert len(hook.waits) <= 10 * summary["batches"]


@pytest.mark.parametrize(
    "fault", ["429 storm, Retry-After", "5xx burst", "drop after apply", "truncated body"]
)
def test_idempotent_order_sync_survives(fault: str, emulator: Any, make_hook: Callable[..., Any]) -> None:
    from airflow_provider_expertsender.sync import run_write

    hook = make_hook(**RETRYING)
    records = [order(i) for i in range(300)]
    with FAULTS[fault](emulator):
        summary = run_write(hook, resource="orders", records=records, mode="AddOrReplace", batch_size=40)
    ledger = order_ledger(emulator.store(emulator.api_key), [r["id"] for r in records])
    assert (ledger.lost, ledger.duplicated, ledger.unexpected) == (0, 0, 0)
    assert summary["accepted"] == 300
    assert hook.waits


def test_an_idempotent_sync_that_gives_up_explains_and_a_rerun_completes(
    emulator: Any, make_hook: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The API goes down for good after three batches: the task fails with the server's error and says a
    re-run is safe; the re-run (an Airflow task retry) then stores every record exactly once."""
    from airflow_provider_expertsender.sync import run_write

    hook = make_hook(max_retries=3)
    records = list(customers(200))
    attempts = {"n": 0}
    send_once = hook._send_once

    def outage_after_three(*args: Any, **kwargs: Any) -> Any:
        attempts["n"] += 1
        if attempts["n"] == 4:
            emulator.switches.error_rate = 1.0  # every request from now on: 503
        return send_once(*args, **kwargs)

    hook._send_once = outage_after_three
    with caplog.at_level(logging.INFO), pytest.raises(ExpertSenderServerError) as info:
        run_write(
            hook,
            resource="customers",
            records=records,
            mode="AddOrUpdate",
            batch_size=20,
            max_concurrency=1,
            logger=logging.getLogger(HOOK_LOGGER),
        )
    assert "POST /customers: ExpertSender server error (503" in info.value.message
    assert "re-running the task re-sends every record safely" in caplog.text
    assert len(hook.waits) <= 3 * 3  # the retry budget of at most the batches in flight after the outage
    stored_before = len(emulator.store(emulator.api_key).customers)
    assert 60 <= stored_before < 200

    emulator.switches.error_rate = 0.0
    summary = run_write(make_hook("es_rerun"), resource="customers", records=records, mode="AddOrUpdate")
    ledger = customer_ledger(emulator.store(emulator.api_key), [r["email"] for r in records])
    assert (ledger.lost, ledger.duplicated, ledger.unexpected) == (0, 0, 0)
    assert summary["accepted"] == 200


def test_429_waits_are_the_servers_retry_after(emulator: Any, make_hook: Callable[..., Any]) -> None:
    hook = make_hook(**RETRYING)
    emulator.switches.fail_next(3, status=429, retry_after=0.2)
    started = time.monotonic()
    result = hook.upsert_customers([api_customer(1)])
    elapsed = time.monotonic() - started
    assert result.accepted == 1
    assert hook.waits == [0.2] * 3  # exactly the hint, not the (shorter) backoff
    assert elapsed >= 0.6


def test_a_real_rate_limit_is_honoured_under_concurrency(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    """A token bucket of 40 requests/s against 8 senders: 429 + Retry-After storms, nothing lost."""
    from airflow_provider_expertsender.sync import run_write

    hook = make_hook(max_retries=10, backoff_base=0.01, backoff_max=0.05)
    emulator.switches.rate_limit_per_second = 40.0
    records = list(customers(1200))
    summary = run_write(
        hook, resource="customers", records=records, mode="AddOrUpdate", batch_size=20, max_concurrency=8
    )
    ledger = customer_ledger(emulator.store(emulator.api_key), [r["email"] for r in records])
    assert (ledger.lost, ledger.duplicated) == (0, 0)
    assert summary["accepted"] == 1200
    limited = [r for r in emulator.requests if r.status == 429]
    assert limited, "the rate limit never bit: the test proves nothing"
    # Every 429 was followed by a wait of at least its Retry-After (whole seconds, at least 1).
    assert len([w for w in hook.waits if w >= 1.0]) == len(limited)


# -- the time a call may take ---------------------------------------------------------------------------


def test_a_server_that_never_answers_costs_attempts_times_read_timeout(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    hook = make_hook(read_timeout=0.3, max_retries=2, backoff_base=0.01, backoff_max=0.05)
    emulator.switches.hang = True
    started = time.monotonic()
    with pytest.raises(ExpertSenderTransportError) as info:
        hook.list_consents()
    elapsed = time.monotonic() - started
    assert "no response within read_timeout=0.3 s" in info.value.message
    assert info.value.maybe_applied is True
    assert len(hook.waits) == 2
    # 3 attempts of 0.3 s plus two short waits; generous slack for a loaded CI machine.
    assert 0.9 <= elapsed <= 0.9 + sum(hook.waits) + 1.5


def test_max_retry_time_bounds_a_call_whatever_max_retries_says(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    hook = make_hook(
        read_timeout=0.2, max_retries=1000, backoff_base=0.01, backoff_max=0.05, max_retry_time=1.0
    )
    emulator.switches.hang = True
    started = time.monotonic()
    with pytest.raises(ExpertSenderTransportError):
        hook.get_customer(email="nobody@example.com")
    elapsed = time.monotonic() - started
    # The budget is checked before each wait: the last attempt may start just inside it.
    assert 1.0 - 0.2 <= elapsed <= 1.0 + 0.2 + 1.5
    assert len(hook.waits) < 10


def test_retry_after_is_capped_by_retry_after_max(emulator: Any, make_hook: Callable[..., Any]) -> None:
    hook = make_hook(max_retries=2, retry_after_max=0.1)
    emulator.switches.fail_next(3, status=429, retry_after=3600)
    started = time.monotonic()
    with pytest.raises(ExpertSenderRateLimitError) as info:
        hook.list_consents()
    # Waits are recorded, not slept: the bound only proves no real 3600 s sleep. It is generous because the
    # first call reads the connection, which takes seconds on Airflow 2.10 on a loaded 2-core machine.
    assert time.monotonic() - started < 60
    assert hook.waits == [0.1, 0.1]
    assert info.value.retry_after == 3600
    assert "rate limited (429, Retry-After 3600 s)" in info.value.message


# -- non-idempotent calls: never twice without the opt-in ----------------------------------------------------

#: fault -> (is the request applied by the emulator, does the hook retry a non-idempotent call)
NON_IDEMPOTENT = {
    "429 storm, Retry-After": ("applied once, after the retries", True),
    "5xx burst": ("not applied", False),
    "HTML 502 page": ("not applied", False),
    "drop before apply": ("not applied", False),
    "drop after apply": ("applied", False),
    "latency > read timeout": ("applied, after the client gave up", False),
    "never answers": ("not applied", False),
    "truncated body": ("applied", False),
    "empty 200": ("applied", True),
}


def _settle(emulator: Any, route: str, attempts: int) -> None:
    """Wait until the server has finished every attempt (a request the client gave up on may still be
    running there: latency), so the store is final when the test reads it."""
    deadline = time.monotonic() + 5
    while len(posts(emulator, route)) < attempts and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("fault", list(NON_IDEMPOTENT))
def test_add_mode_is_never_sent_twice(fault: str, emulator: Any, make_hook: Callable[..., Any]) -> None:
    hook = make_hook(read_timeout=0.3, max_retries=8, backoff_base=0.01, backoff_max=0.05)
    applied, succeeds = NON_IDEMPOTENT[fault]
    records = [api_customer(i) for i in range(5)]
    with FAULTS[fault](emulator):
        if succeeds:
            assert hook.upsert_customers(records, mode="Add").accepted == 5
        else:
            with pytest.raises(ExpertSenderError) as info:
                hook.upsert_customers(records, mode="Add")
            assert getattr(info.value, "maybe_applied", None) is True, info.value
            assert "POST /customers" in info.value.message
    expected_attempts = 7 if fault == "429 storm, Retry-After" else 1  # 429s are not processed: repeated
    _settle(emulator, "/customers", expected_attempts)
    time.sleep(0.05)  # a (wrong) extra attempt would show up here
    store = emulator.store(emulator.api_key)
    attempts = posts(emulator, "/customers")
    assert len(attempts) == expected_attempts, [r.status for r in attempts]
    ledger = customer_ledger(store, [r["email"] for r in records])
    assert ledger.duplicated == 0
    assert store.counters.get("items_rejected", 0) == 0  # an Add repeated would be refused as "exists"
    assert ledger.lost == (5 if applied == "not applied" else 0)


@pytest.mark.parametrize(
    "fault", ["5xx burst", "drop after apply", "latency > read timeout", "truncated body"]
)
def test_order_add_is_never_sent_twice(fault: str, emulator: Any, make_hook: Callable[..., Any]) -> None:
    from airflow_provider_expertsender.models import order_payload

    hook = make_hook(read_timeout=0.3, max_retries=8, backoff_base=0.01, backoff_max=0.05)
    applied, _ = NON_IDEMPOTENT[fault]
    records = [order_payload(order(i)) for i in range(5)]
    with FAULTS[fault](emulator), pytest.raises(ExpertSenderError) as info:
        hook.register_orders(records, mode="Add")
    assert getattr(info.value, "maybe_applied", None) is True
    _settle(emulator, "/orders", 1)
    time.sleep(0.05)
    store = emulator.store(emulator.api_key)
    assert len(posts(emulator, "/orders")) == 1
    assert store.counters.get("items_rejected", 0) == 0
    ledger = order_ledger(store, [r["id"] for r in records])
    assert ledger.duplicated == 0
    assert ledger.lost == (5 if applied == "not applied" else 0)


@pytest.mark.parametrize("fault", list(NON_IDEMPOTENT))
def test_custom_event_is_never_fired_twice(fault: str, emulator: Any, make_hook: Callable[..., Any]) -> None:
    hook = make_hook(read_timeout=0.3, max_retries=8, backoff_base=0.01, backoff_max=0.05)
    applied, succeeds = NON_IDEMPOTENT[fault]
    with FAULTS[fault](emulator):
        if succeeds:
            hook.send_custom_event(7, email="jane@example.com")
        else:
            with pytest.raises(ExpertSenderError) as info:
                hook.send_custom_event(7, email="jane@example.com")
            assert getattr(info.value, "maybe_applied", None) is True
            assert "POST /scenariocustomevents" in info.value.message
            assert "jane" not in str(info.value)
    expected_attempts = 7 if fault == "429 storm, Retry-After" else 1
    _settle(emulator, "/scenariocustomevents", expected_attempts)
    time.sleep(0.05)
    events = emulator.store(emulator.api_key).events
    assert len(events) == (0 if applied == "not applied" else 1)
    assert len(posts(emulator, "/scenariocustomevents")) == expected_attempts


def test_custom_event_retry_unsafe_is_the_only_way_to_repeat(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    hook = make_hook()
    emulator.switches.drop_next(1, after_apply=True)
    hook.send_custom_event(7, email="jane@example.com", retry_unsafe=True)
    # The user accepted the duplicate: the first request was applied, its answer lost, the repeat applied.
    assert len(emulator.store(emulator.api_key).events) == 2
    assert len(hook.waits) == 1


def test_add_mode_bulk_sync_reports_what_may_not_have_arrived(
    emulator: Any, make_hook: Callable[..., Any], caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    """Add mode, a connection dropped after the server applied batch 3: the engine stops without re-sending
    and the task's outputs (error, log, dead-letter file) say which records are in doubt."""
    from airflow_provider_expertsender.sync import run_write

    hook = make_hook()
    records = list(customers(100))
    dead = tmp_path / "dead.jsonl"
    # Batches of 10, one at a time: requests 1 and 2 land, the third is applied and its answer lost.
    attempts = {"n": 0}
    send_once = hook._send_once

    def drop_the_third_answer(*args: Any, **kwargs: Any) -> Any:
        attempts["n"] += 1
        if attempts["n"] == 3:
            emulator.switches.drop_next(1, after_apply=True)
        return send_once(*args, **kwargs)

    hook._send_once = drop_the_third_answer
    with caplog.at_level(logging.INFO), pytest.raises(ExpertSenderTransportError) as info:
        run_write(
            hook,
            resource="customers",
            records=records,
            mode="Add",
            batch_size=10,
            max_concurrency=1,
            dead_letter_path=str(dead),
            logger=logging.getLogger(HOOK_LOGGER),
        )
    assert info.value.maybe_applied is True
    store = emulator.store(emulator.api_key)
    stored = {c["email"] for c in store.customers}
    assert {r["email"] for r in records[:30]} <= stored  # batches 1-3 applied (the third's answer lost)
    assert store.counters.get("items_rejected", 0) == 0  # no Add was repeated: it would be refused
    # The counts the engine reports add up with what is in doubt: accepted + in doubt == stored.
    accepted = int(re.findall(r"accepted (\d+)", caplog.text)[-1])
    assert accepted + 10 == len(stored)
    in_doubt = set(range(20, 30))
    reported = _positions_in(caplog.text + "\n" + str(info.value)) | _dead_letter_positions(dead)
    missing = in_doubt - reported
    assert not missing, (
        f"records #20-#29 may or may not have been added; nothing says so ({len(missing)} unnamed)"
    )
    # The dead-letter file holds exactly those records, as in doubt (not as refused).
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert {(line["position"], line["stage"]) for line in letters} == {(p, "in_doubt") for p in in_doubt}


def test_add_mode_in_doubt_under_concurrency(
    emulator: Any, make_hook: Callable[..., Any], tmp_path: Any
) -> None:
    """Four batches in flight when one answer is lost: exactly that batch is in doubt, the others count."""
    from airflow_provider_expertsender.sync import run_write

    hook = make_hook()
    records = list(customers(200))
    dead = tmp_path / "dead.jsonl"
    attempts = {"n": 0}
    lock = threading.Lock()
    send_once = hook._send_once

    def drop_the_fifth_answer(*args: Any, **kwargs: Any) -> Any:
        with lock:
            attempts["n"] += 1
            if attempts["n"] == 5:
                emulator.switches.drop_next(1, after_apply=True)
        return send_once(*args, **kwargs)

    hook._send_once = drop_the_fifth_answer
    with pytest.raises(ExpertSenderTransportError):
        run_write(
            hook,
            resource="customers",
            records=records,
            mode="Add",
            batch_size=10,
            max_concurrency=4,
            dead_letter_path=str(dead),
        )
    store = emulator.store(emulator.api_key)
    stored = {c["email"] for c in store.customers}
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    doubt = sorted(line["position"] for line in letters if line["stage"] == "in_doubt")
    assert len(doubt) == 10
    assert doubt == list(range(doubt[0], doubt[0] + 10))  # one whole batch
    assert doubt[0] % 10 == 0
    assert {records[p]["email"] for p in doubt} <= stored  # it was applied: its answer was lost
    assert store.counters.get("items_rejected", 0) == 0  # nothing was sent twice
    assert len(posts(emulator, "/customers")) == len(stored) // 10  # one request per stored batch


def _positions_in(text: str) -> set[int]:
    found: set[int] = set()
    for low, high in re.findall(r"#(\d+)\s*(?:-|\u2013|\.\.|to)\s*#?(\d+)", text):
        found.update(range(int(low), int(high) + 1))
    found.update(int(n) for n in re.findall(r"#(\d+)", text))
    return found


def _dead_letter_positions(path: Any) -> set[int]:
    if not path.exists():
        return set()
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {line["position"] for line in lines if line.get("stage") != "validation"}


# -- reads: typed errors that say what happened --------------------------------------------------------------

READ_FAILURES: dict[str, tuple[Callable[[Any], Any], type[ExpertSenderError], str]] = {
    "429 storm, Retry-After": (
        lambda s: s.fail_next(10, status=429, retry_after=0.01),
        ExpertSenderRateLimitError,
        r"rate limited \(429",
    ),
    "5xx burst": (lambda s: s.fail_next(10, status=503), ExpertSenderServerError, r"server error \(503"),
    "HTML 502 page": (
        lambda s: s.fail_next(10, status=502, html=True),
        ExpertSenderServerError,
        r"server error \(502: non-JSON body",
    ),
    "drop before apply": (lambda s: s.drop_next(10), ExpertSenderTransportError, "connection dropped"),
    "never answers": (lambda s: setattr(s, "hang", True), ExpertSenderTransportError, "no response within"),
    "truncated body": (
        lambda s: setattr(s, "truncated_body", True),
        ExpertSenderTransportError,
        "IncompleteRead|ContentLength|ClientPayloadError",
    ),
    "empty 200": (lambda s: setattr(s, "empty_200", True), ExpertSenderResponseError, "empty body"),
}


@pytest.mark.parametrize("fault", list(READ_FAILURES))
def test_reads_give_up_with_an_error_naming_the_failure(
    fault: str, emulator: Any, make_hook: Callable[..., Any]
) -> None:
    hook = make_hook(read_timeout=0.3, max_retries=2, backoff_base=0.01, backoff_max=0.05)
    apply, error, words = READ_FAILURES[fault]
    apply(emulator.switches)
    with pytest.raises(error) as info:
        hook.get_customer(email="jane@example.com")
    assert re.search(words, info.value.message), info.value.message
    assert "GET /customers/email/{value}" in info.value.message
    assert "jane" not in info.value.message
    assert emulator.api_key not in str(info.value) + repr(info.value) + repr(vars(info.value))
    expected_waits = 0 if fault == "empty 200" else 2
    assert len(hook.waits) == expected_waits


@pytest.mark.parametrize("fault", list(READ_FAILURES))
def test_async_reads_give_up_with_the_same_error(
    fault: str, emulator: Any, make_hook: Callable[..., Any]
) -> None:
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook

    make_hook("es_rel_async", read_timeout=0.3, max_retries=2, backoff_base=0.01, backoff_max=0.05)
    apply, error, words = READ_FAILURES[fault]
    apply(emulator.switches)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    async def run() -> None:
        hook: Any = ExpertSenderAsyncHook(expertsender_conn_id="es_rel_async")
        hook._sleep = record
        hook._log = logging.getLogger(HOOK_LOGGER)
        await hook.get_customer(email="jane@example.com")

    with pytest.raises(error) as info:
        asyncio.run(run())
    assert re.search(words, info.value.message), info.value.message
    assert len(waits) == (0 if fault == "empty 200" else 2)


@pytest.mark.parametrize("fault", ["5xx burst", "drop before apply", "never answers", "truncated body"])
def test_reads_recover_when_the_fault_passes(
    fault: str, emulator: Any, make_hook: Callable[..., Any]
) -> None:
    hook = make_hook(read_timeout=0.3, max_retries=10, backoff_base=0.01, backoff_max=0.05)
    hook.upsert_customers([api_customer(1)])
    with FAULTS[fault](emulator):
        found = hook.get_customer(email=customer(1)["email"])
    assert found["firstName"] == "F1"
    assert hook.waits


# -- Airflow task retries are a second layer of repetition ---------------------------------------------------


def test_the_custom_event_operator_fails_without_task_retries_when_in_doubt(
    emulator: Any, expertsender_conn: str
) -> None:
    """The hook does not repeat the event; the operator must not let Airflow repeat it either."""
    from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventOperator

    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # Airflow 2
        from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

    op = ExpertSenderSendCustomEventOperator(
        task_id="event", custom_event_id=7, email="jane@example.com", retries=3
    )
    emulator.switches.drop_next(1, after_apply=True)
    with pytest.raises(AirflowFailException) as info:
        op.execute(context={})
    assert "may have been fired" in str(info.value)
    assert len(emulator.store(emulator.api_key).events) == 1
    assert len(posts(emulator, "/scenariocustomevents")) == 1


ADD_DAG = """
from __future__ import annotations

import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator

with DAG(dag_id="expertsender_add_in_doubt", schedule=None, start_date=datetime.datetime(2025, 1, 1)):
    ExpertSenderUpsertCustomersOperator(
        task_id="add",
        customers=[{"email": f"add{i}@example.com"} for i in range(6)],
        mode="Add",
        batch_size=2,
        max_concurrency=1,
        retries=2,
        retry_delay=datetime.timedelta(seconds=0),
    )
"""


@pytest.mark.dag
def test_a_bulk_add_in_doubt_is_not_re_sent_by_task_retries(
    run_dag: Callable[..., Any], emulator: Any, expertsender_conn: str
) -> None:
    emulator.switches.drop_next(1, after_apply=True)  # the first batch lands, its answer is lost
    result = run_dag(ADD_DAG, "expertsender_add_in_doubt")
    assert result.state == "failed"
    store = emulator.store(emulator.api_key)
    # A retry of the task would send every record again in mode Add: the API refuses the ones it has.
    assert store.counters.get("items_rejected", 0) == 0, "records were sent twice (task retries)"
    assert len(posts(emulator, "/customers")) <= 3
