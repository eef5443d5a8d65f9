"""What the provider writes where Airflow stores or shows it: exceptions, test results, trigger events.

Issue 11, findings 10 (a server that echoes the API key), 15 (personal data in trigger events, which the real
triggerer logs) and 16 (the connection form's bounds and Test vs the runtime).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_expertsender import CONN_FIELDS, get_provider_info
from airflow_provider_expertsender._extras import NUMERIC_EXTRAS
from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderConfigError,
    ExpertSenderNotFoundError,
    ExpertSenderServerError,
    ExpertSenderValidationError,
)
from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook, scrub
from tests.reliability.conftest import api_customer, order
from tests.sensors.runner import run_sensor

SECRET = "sk-live-0123456789abcdef"


def _everything_in(error: Exception) -> str:
    """Every text an exception carries: message, args, problem-details attributes."""
    parts = [str(error), repr(error.args)]
    for attr in ("message", "title", "detail", "substatus", "errors"):
        parts.append(json.dumps(getattr(error, attr, None), default=str))
    return "\n".join(parts)


# -- finding 10: server text is scrubbed and cut short ------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda hook: hook.get_customer(email="nobody@example.com"), ExpertSenderNotFoundError),
        (
            lambda hook: hook.upsert_customers([{"email": "not an e-mail"}], validate=False),
            ExpertSenderValidationError,
        ),
        (lambda hook: hook.list_consents(), ExpertSenderServerError),
        (lambda hook: hook.list_order_attributes(), ExpertSenderAuthError),
    ],
    ids=["404", "400", "503", "403"],
)
def test_a_server_echoing_the_key_never_puts_it_in_an_exception(
    emulator: Any, make_hook: Callable[..., Any], call: Any, expected: type
) -> None:
    emulator.switches.echo_api_key = True
    emulator.switches.forbidden_resources = ["orderattributes"]
    emulator.switches.fail_next(1, status=503) if expected is ExpertSenderServerError else None
    hook = make_hook(max_retries=0)
    with pytest.raises(expected) as info:
        call(hook)
    assert info.value.status != 401
    text = _everything_in(info.value)
    assert "***" in text, "the server did not echo the key: the test proves nothing"
    assert emulator.api_key not in text


def test_a_server_echoing_the_key_never_puts_it_in_a_test_connection_message(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    emulator.switches.echo_api_key = True
    emulator.switches.fail_next(1, status=503)
    ok, message = make_hook(max_retries=0).test_connection()
    assert not ok
    assert "***" in message
    assert emulator.api_key not in message


def test_a_server_echoing_the_key_never_puts_it_in_a_trigger_event(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    from airflow_provider_expertsender.triggers.expertsender import ExpertSenderOrderTrigger

    emulator.switches.echo_api_key = True
    emulator.switches.forbidden_resources = ["orders"]
    hook = make_hook(max_retries=0)
    trigger = ExpertSenderOrderTrigger(
        order_id="O-1", expertsender_conn_id=hook.expertsender_conn_id, poll_interval=0.05, deadline=9e9
    )

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["status"] == "error"
    assert "***" in payload["message"]
    assert emulator.api_key not in json.dumps(payload)


def test_server_text_is_cut_short_and_cannot_forge_log_lines() -> None:
    said = scrub(
        {"title": "x" * 100_000, "detail": f"a\nFAKE LOG LINE {SECRET}", "errors": {SECRET: ["m"]}}, [SECRET]
    )
    assert len(said["title"]) <= 500
    assert "\n" not in said["detail"]
    assert SECRET not in json.dumps(said)


# -- finding 15: trigger events carry no personal data ---------------------------------------------------


def _deferred_sensor(kind: str, conn_id: str) -> Any:
    from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor
    from airflow_provider_expertsender.sensors.orders import ExpertSenderOrderSensor

    common = {"expertsender_conn_id": conn_id, "poke_interval": 0.05, "timeout": 30, "deferrable": True}
    if kind == "order":
        return ExpertSenderOrderSensor(task_id="wait_order", order_id="O-1", **common)
    return ExpertSenderCustomerSensor(
        task_id="wait_customer", email="c1@example.com", check=lambda c: c.get("firstName") == "F1", **common
    )


@pytest.mark.parametrize("kind", ["order", "customer"])
def test_a_deferred_sensors_trigger_event_carries_no_personal_data(
    emulator: Any, make_hook: Callable[..., Any], kind: str
) -> None:
    hook = make_hook()
    emulator.switches.hidden_reads = 1  # the first look misses (however late it comes): the sensor defers
    hook.register_orders([order(1)]) if kind == "order" else hook.upsert_customers([api_customer(1)])
    run = run_sensor(_deferred_sensor(kind, hook.expertsender_conn_id))
    assert run.deferrals, "the sensor never deferred: the test proves nothing"
    events = json.dumps([d.event for d in run.deferrals])
    assert "c1@example.com" not in events
    # The record still reaches XCom: the task read it on the worker after resuming.
    assert "c1@example.com" in json.dumps(run.result)


# -- finding 16: one set of bounds for the form and the runtime; Test reports unknown extras -----------------


def test_the_connection_forms_bounds_are_the_runtimes() -> None:
    from airflow_provider_expertsender.connection import _PARSERS

    (conn_type,) = get_provider_info()["connection-types"]
    for name, field in conn_type["conn-fields"].items():
        schema, spec = field["schema"], NUMERIC_EXTRAS[name]
        parse = _PARSERS[name]
        parse("c", name, schema["minimum"])  # the form's extremes are accepted at run time
        parse("c", name, schema["maximum"])
        below = schema["minimum"] - (1 if spec.kind == "integer" else 0.001)
        with pytest.raises(ExpertSenderConfigError):
            parse("c", name, below)  # and what the form refuses is refused at run time
        with pytest.raises(ExpertSenderConfigError):
            parse("c", name, schema["maximum"] + 1)
    assert {"connect_timeout", "read_timeout", "batch_size"} <= set(CONN_FIELDS)


@pytest.mark.parametrize("extra", [{"read_timeout": 0}, {"batch_size": 0}, {"connect_timeout": "0"}])
def test_a_value_the_form_refuses_is_refused_by_test_connection_without_airflows_temporary_id(
    emulator: Any, make_hook: Callable[..., Any], extra: dict[str, Any]
) -> None:
    ok, message = make_hook(conn_id="tmp_8f3a1c", **extra).test_connection()
    assert not ok
    assert "tmp_8f3a1c" not in message
    assert message.startswith("The connection: extra")


def test_test_connection_reports_a_misspelt_extra(emulator: Any, make_hook: Callable[..., Any]) -> None:
    ok, message = make_hook(read_timout=5).test_connection()
    assert not ok
    assert "'read_timout' (did you mean 'read_timeout'?)" in message


def test_async_hook_reads_the_same_bounds(emulator: Any, make_hook: Callable[..., Any]) -> None:
    hook = make_hook(max_retries=1001)
    with pytest.raises(ExpertSenderConfigError, match="from 0 to 1000"):
        asyncio.run(ExpertSenderAsyncHook(expertsender_conn_id=hook.expertsender_conn_id).get_config())
