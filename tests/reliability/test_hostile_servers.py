"""A hostile server cannot hold a call past its budget, fill the worker's memory or crash the parser.

Findings 1, 4 and 5 of issue 11. Every server here is the emulator with one of its hostile-answer switches
(docs/emulator.md), so users can point their own DAG tests at the same behaviour. Time limits are asserted
with generous slack (the machine is shared); the figures for docs/reliability.md come from
``tests/benchmarks/bench_hostile.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderServerError,
    ExpertSenderTransportError,
    ExpertSenderValidationError,
)
from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook
from tests.reliability.conftest import api_customer, posts

# A trickle of 0.2 s per byte against read_timeout=0.6 and max_retry_time=1.5: before the fix a call lasted
# (body bytes x 0.2 s), tens of seconds.
BUDGET = {
    "read_timeout": 0.6,
    "max_retry_time": 1.5,
    "max_retries": 5,
    "backoff_base": 0.05,
    "backoff_max": 0.1,
}
SLACK = 1.5


def _async_hook(make_hook: Callable[..., Any], **extras: Any) -> ExpertSenderAsyncHook:
    sync = make_hook(**extras)  # writes the connection into the environment
    hook = ExpertSenderAsyncHook(expertsender_conn_id=sync.expertsender_conn_id)
    hook._log = sync.log
    return hook


def _seed(make_hook: Callable[..., Any]) -> None:
    make_hook(conn_id="es_seed").upsert_customers([api_customer(1)])


# -- finding 1: every attempt and every call ends within its budget ----------------------------------------


@pytest.mark.timeout(60)
def test_a_trickled_body_ends_the_sync_call_within_max_retry_time(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    _seed(make_hook)
    hook = make_hook(**BUDGET)
    emulator.switches.trickle_body_s = 0.2
    started = time.monotonic()
    with pytest.raises(ExpertSenderTransportError) as info:
        hook.get_customer(email="c1@example.com")
    elapsed = time.monotonic() - started
    assert elapsed <= BUDGET["max_retry_time"] + SLACK, elapsed
    assert "read timeout" in info.value.message
    assert "connection dropped" not in info.value.message


@pytest.mark.timeout(60)
def test_a_trickled_body_ends_one_attempt_at_read_timeout(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    _seed(make_hook)
    hook = make_hook(read_timeout=0.6, max_retries=0)
    emulator.switches.trickle_body_s = 0.2
    started = time.monotonic()
    with pytest.raises(ExpertSenderTransportError, match=r"no response within read_timeout=0\.6 s"):
        hook.get_customer(email="c1@example.com")
    assert time.monotonic() - started <= 0.6 + SLACK


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_trickled_headers_end_the_call_within_max_retry_time(
    emulator: Any, make_hook: Callable[..., Any], kind: str
) -> None:
    _seed(make_hook)
    hook = make_hook(**BUDGET) if kind == "sync" else _async_hook(make_hook, **BUDGET)
    emulator.switches.trickle_body_s = 0.2
    emulator.switches.trickle_headers = True
    if kind == "sync":
        call = lambda: hook.get_customer(email="c1@example.com")  # noqa: E731
    else:
        call = lambda: asyncio.run(hook.get_customer(email="c1@example.com"))  # noqa: E731
    started = time.monotonic()
    with pytest.raises(ExpertSenderTransportError) as info:
        call()
    assert time.monotonic() - started <= BUDGET["max_retry_time"] + SLACK
    assert "read timeout" in info.value.message


@pytest.mark.timeout(60)
def test_a_trickled_body_ends_the_async_call_within_max_retry_time(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    _seed(make_hook)
    hook = _async_hook(make_hook, **BUDGET)
    emulator.switches.trickle_body_s = 0.2
    started = time.monotonic()
    with pytest.raises(ExpertSenderTransportError) as info:
        asyncio.run(hook.get_customer(email="c1@example.com"))
    assert time.monotonic() - started <= BUDGET["max_retry_time"] + SLACK
    assert "read timeout" in info.value.message


@pytest.mark.timeout(60)
def test_a_trickled_body_cannot_hold_a_deferred_sensor_past_its_deadline(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    from airflow_provider_expertsender.triggers.expertsender import ExpertSenderCustomerTrigger

    _seed(make_hook)
    hook = make_hook(read_timeout=30, max_retry_time=60)  # the hook's own budget is far away
    emulator.switches.trickle_body_s = 0.2
    trigger = ExpertSenderCustomerTrigger(
        identifier="email",
        value="c1@example.com",
        expertsender_conn_id=hook.expertsender_conn_id,
        poll_interval=0.1,
        deadline=time.time() + 1.5,
    )

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload

    started = time.monotonic()
    payload = asyncio.run(first_event())
    assert payload["status"] == "timeout", payload
    assert time.monotonic() - started <= 1.5 + SLACK


# -- finding 4: response size --------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("status", [None, 503])
@pytest.mark.parametrize("switch", ["bloated_body_mb", "endless_body", "gzip_bomb_mb"])
def test_a_huge_response_is_refused_past_the_cap_sync(
    emulator: Any, make_hook: Callable[..., Any], switch: str, status: int | None
) -> None:
    _seed(make_hook)
    hook = make_hook(max_retries=0, read_timeout=60)
    setattr(emulator.switches, switch, True if switch == "endless_body" else 300.0)
    emulator.switches.hostile_status = status
    expected = ExpertSenderServerError if status == 503 else ExpertSenderTransportError
    with pytest.raises(expected) as info:
        hook.get_customer(email="c1@example.com")
    assert "not read" in info.value.message
    assert info.value.maybe_applied is True


@pytest.mark.timeout(120)
@pytest.mark.parametrize("status", [None, 503])
@pytest.mark.parametrize("switch", ["bloated_body_mb", "endless_body", "gzip_bomb_mb"])
def test_a_huge_response_is_refused_past_the_cap_async(
    emulator: Any, make_hook: Callable[..., Any], switch: str, status: int | None
) -> None:
    _seed(make_hook)
    hook = _async_hook(make_hook, max_retries=0, read_timeout=60)
    setattr(emulator.switches, switch, True if switch == "endless_body" else 300.0)
    emulator.switches.hostile_status = status
    expected = ExpertSenderServerError if status == 503 else ExpertSenderTransportError
    with pytest.raises(expected) as info:
        asyncio.run(hook.get_customer(email="c1@example.com"))
    assert "not read" in info.value.message


def test_a_small_gzip_answer_is_still_read(emulator: Any, make_hook: Callable[..., Any]) -> None:
    """The cap is on the inflated size: gzip itself keeps working (a 1 MB inflated body is JSON here)."""
    _seed(make_hook)
    hook = make_hook(max_retries=0)
    emulator.switches.gzip_bomb_mb = 1.0  # one MB of "0": inflated fine, then not JSON
    with pytest.raises(ExpertSenderTransportError, match="not JSON"):
        hook.get_customer(email="c1@example.com")


# -- finding 5: deeply nested JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201])
def test_deeply_nested_json_in_a_2xx_is_a_maybe_applied_transport_error(
    emulator: Any, make_hook: Callable[..., Any], status: int
) -> None:
    _seed(make_hook)
    hook = make_hook(max_retries=0)
    emulator.switches.nested_json_depth = 100_000
    emulator.switches.hostile_status = status
    with pytest.raises(ExpertSenderTransportError, match="not JSON") as info:
        hook.get_customer(email="c1@example.com")
    assert info.value.maybe_applied is True


def test_deeply_nested_json_in_a_400_is_a_validation_error(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    _seed(make_hook)
    hook = make_hook(max_retries=0)
    emulator.switches.nested_json_depth = 100_000
    emulator.switches.hostile_status = 400
    with pytest.raises(ExpertSenderValidationError):
        hook.get_customer(email="c1@example.com")


def test_deeply_nested_json_answering_an_add_is_in_doubt_and_never_resent(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    hook = make_hook(max_retries=5, backoff_base=0.01, backoff_max=0.02)
    emulator.switches.nested_json_depth = 100_000
    with pytest.raises(ExpertSenderTransportError) as info:
        hook.upsert_customers([api_customer(i) for i in range(5)], mode="Add")
    assert info.value.maybe_applied is True
    assert len(posts(emulator, "/customers")) == 1
    assert len(emulator.store(emulator.api_key).customers) == 5  # applied: the error says "in doubt"


def test_deeply_nested_json_async(emulator: Any, make_hook: Callable[..., Any]) -> None:
    _seed(make_hook)
    hook = _async_hook(make_hook, max_retries=0)
    emulator.switches.nested_json_depth = 100_000
    with pytest.raises(ExpertSenderTransportError, match="not JSON"):
        asyncio.run(hook.get_customer(email="c1@example.com"))


# -- the same classes elsewhere: the emulator itself ---------------------------------------------------------


def test_the_emulator_answers_deeply_nested_json_with_a_400(emulator: Any) -> None:
    """A client sending ``[[[[...]]]]`` got no answer at all (the handler thread died of RecursionError)."""
    import requests

    answer = requests.post(
        f"{emulator.url}/customers",
        data=b'{"mode":"AddOrUpdate","matchBy":"Email","data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        headers={"x-api-key": emulator.api_key, "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert "nested too deeply" in answer.text
