"""The polling triggers, driven directly with asyncio against the emulator over real HTTP.

Every run collects *all* the events the trigger yields: exactly one, then the generator returns.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import time
from typing import Any

import pytest

from airflow_provider_expertsender.triggers.expertsender import (
    ExpertSenderCustomerTrigger,
    ExpertSenderOrderTrigger,
)
from tests.sensors.ecdp_data import API_KEY_MARKER, EMAIL, request_counter

FAST = 0.05  # poll interval of these tests (seconds)


def run_trigger(trigger: Any) -> tuple[dict[str, Any], float]:
    """Run ``trigger`` to completion; return its one event's payload and the seconds it took."""

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    started = time.monotonic()
    events = asyncio.run(collect())
    elapsed = time.monotonic() - started
    assert len(events) == 1, f"a trigger yields exactly one event, got {len(events)}"
    payload = events[0].payload
    json.dumps(payload)  # small JSON, no pickled objects
    return payload, elapsed


def customer_trigger(conn_id: str = "expertsender_default", *, timeout: float = 20, **kwargs: Any) -> Any:
    kwargs.setdefault("identifier", "email")
    kwargs.setdefault("value", EMAIL)
    kwargs.setdefault("include_record", True)  # what triggers serialized by older versions ask for
    return ExpertSenderCustomerTrigger(
        expertsender_conn_id=conn_id, poll_interval=FAST, deadline=time.time() + timeout, **kwargs
    )


def order_trigger(conn_id: str = "expertsender_default", *, timeout: float = 20, **kwargs: Any) -> Any:
    kwargs.setdefault("order_id", "ORD-1")
    kwargs.setdefault("include_record", True)  # what triggers serialized by older versions ask for
    return ExpertSenderOrderTrigger(
        expertsender_conn_id=conn_id, poll_interval=FAST, deadline=time.time() + timeout, **kwargs
    )


def max_retries(conn_id: str) -> int:
    extra = json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"]).get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra)
    return int(extra.get("max_retries", 5))


class TestSerialize:
    @pytest.mark.parametrize(
        "trigger",
        [
            ExpertSenderCustomerTrigger(
                identifier="crm_id", value="CRM-42", expertsender_conn_id="es", poll_interval=30, deadline=1e9
            ),
            ExpertSenderOrderTrigger(
                order_id="ORD-1",
                target_statuses=["paid", "completed"],
                failure_statuses=["canceled"],
                expertsender_conn_id="es",
                poll_interval=5.5,
                deadline=1_900_000_000.25,
                include_record=False,
                delay_first_poll=True,
            ),
        ],
        ids=["customer", "order"],
    )
    def test_round_trip(self, trigger: Any) -> None:
        classpath, kwargs = trigger.serialize()
        module, _, name = classpath.rpartition(".")
        rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
        assert type(rebuilt) is type(trigger)
        assert rebuilt.serialize() == (classpath, kwargs)
        assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON: no callables, no objects

    def test_holds_only_the_documented_arguments(self) -> None:
        _, kwargs = order_trigger(target_statuses=["paid"]).serialize()
        assert set(kwargs) == {
            "expertsender_conn_id",
            "order_id",
            "target_statuses",
            "failure_statuses",
            "poll_interval",
            "deadline",
            "include_record",
            "delay_first_poll",
        }
        _, kwargs = customer_trigger().serialize()
        assert set(kwargs) == {
            "expertsender_conn_id",
            "identifier",
            "value",
            "poll_interval",
            "deadline",
            "include_record",
            "delay_first_poll",
        }


@pytest.mark.usefixtures("expertsender_conn")
class TestCustomerTrigger:
    def test_customer_appearing_after_a_few_polls(self, emulator: Any, ecdp: Any, store: Any) -> None:
        requests = request_counter(store)
        ecdp.after_gets(2, ecdp.customer, firstName="Jane")
        event, _ = run_trigger(customer_trigger())
        assert event["status"] == "success"
        assert event["record"]["email"] == EMAIL
        assert event["record"]["firstName"] == "Jane"
        assert requests() >= 4  # GET not found (twice), the write, GET found

    @pytest.mark.parametrize("style", ["404", "200_null"])
    def test_not_found_in_either_style_means_not_yet(self, emulator: Any, ecdp: Any, style: str) -> None:
        emulator.switches.not_found_style = style
        ecdp.after_gets(1, ecdp.customer)
        event, _ = run_trigger(customer_trigger())
        assert event["status"] == "success"

    def test_record_left_out_when_not_needed(self, ecdp: Any) -> None:
        ecdp.customer()
        event, _ = run_trigger(customer_trigger(include_record=False))
        assert event["status"] == "success"
        assert event["record"] is None

    def test_other_identifiers(self, ecdp: Any, store: Any) -> None:
        ecdp.customer(crmId="CRM-42", phone="+48500100200")
        customer_id = store.customer(email=EMAIL)["id"]
        for identifier, value in [
            ("crm_id", "CRM-42"),
            ("phone", "+48500100200"),
            ("customer_id", customer_id),
        ]:
            event, _ = run_trigger(customer_trigger(identifier=identifier, value=value))
            assert event["status"] == "success", identifier
            assert event["record"]["id"] == customer_id

    def test_deadline_reached(self, store: Any, expertsender_conn: str) -> None:
        requests = request_counter(store)
        event, elapsed = run_trigger(customer_trigger(timeout=0.4))
        assert event["status"] == "timeout"
        assert "the customer (by email)" in event["message"]
        assert EMAIL not in json.dumps(event)
        assert 0.35 <= elapsed < 10
        assert requests() >= 2

    def test_deadline_already_passed_means_no_request(self, ecdp: Any, store: Any) -> None:
        ecdp.customer()
        requests = request_counter(store)
        event, _ = run_trigger(customer_trigger(timeout=-1))
        assert event["status"] == "timeout"
        assert requests() == 0

    def test_delay_first_poll(self, ecdp: Any, store: Any) -> None:
        ecdp.customer()
        requests = request_counter(store)
        trigger = ExpertSenderCustomerTrigger(
            identifier="email",
            value=EMAIL,
            expertsender_conn_id="expertsender_default",
            poll_interval=0.4,
            deadline=time.time() + 20,
            delay_first_poll=True,
        )
        event, elapsed = run_trigger(trigger)
        assert event["status"] == "success"
        assert elapsed >= 0.35
        assert requests() == 1

    def test_auth_failure_is_one_error_event(self, emulator: Any, bad_key_conn: str) -> None:
        event, _ = run_trigger(customer_trigger(bad_key_conn))
        assert event["status"] == "error"
        assert event["error"] == "ExpertSenderAuthError"
        assert event["http_status"] == 401
        assert API_KEY_MARKER not in json.dumps(event)

    def test_transient_errors_count_as_failed_polls(
        self, emulator: Any, ecdp: Any, expertsender_conn: str
    ) -> None:
        ecdp.customer()
        # Enough 503s to exhaust the hook's retries on the first poll: the trigger polls again.
        emulator.switches.fail_next(max_retries(expertsender_conn) + 1, status=503)
        event, _ = run_trigger(customer_trigger())
        assert event["status"] == "success"
        assert event["record"]["email"] == EMAIL

    def test_unknown_identifier_is_an_error_event(self) -> None:
        event, _ = run_trigger(customer_trigger(identifier="visitor_id"))
        assert event["status"] == "error"
        assert "visitor_id" in event["message"]

    def test_missing_connection_is_an_error_event(self, emulator: Any) -> None:
        event, _ = run_trigger(customer_trigger("no_such_connection"))
        assert event["status"] == "error"
        assert "no_such_connection" in event["message"]


@pytest.mark.usefixtures("expertsender_conn")
class TestOrderTrigger:
    def test_order_reaching_paid(self, ecdp: Any) -> None:
        ecdp.order("ORD-1", status="placed")
        ecdp.after_gets(1, ecdp.status, "ORD-1", "paid")
        event, _ = run_trigger(order_trigger(target_statuses=["Paid"]))
        assert event["status"] == "success"
        assert event["record"]["id"] == "ORD-1"
        assert event["record"]["status"] == "paid"

    def test_order_appearing_without_target_statuses(self, ecdp: Any) -> None:
        ecdp.after_gets(1, ecdp.order, "ORD-1", status=None)
        event, _ = run_trigger(order_trigger())
        assert event["status"] == "success"

    def test_canceled_fails_fast(self, emulator: Any, ecdp: Any) -> None:
        ecdp.order("ORD-1", status="placed")
        ecdp.after_gets(1, ecdp.status, "ORD-1", "canceled")
        event, elapsed = run_trigger(order_trigger(target_statuses=["paid"], timeout=30))
        assert event == {
            "status": "failure",
            "message": event["message"],
            "order_status": "canceled",
            "deleted": False,
        }
        assert "ORD-1" in event["message"]
        assert elapsed < 10  # did not wait for the deadline

    def test_deleted_fails_fast(self, ecdp: Any) -> None:
        ecdp.order("ORD-1", status="placed")
        ecdp.delete("ORD-1")
        event, _ = run_trigger(order_trigger(target_statuses=["paid"]))
        # [UNK] Whether the real API still returns a deleted order: if it does, the wait fails at once.
        assert event["status"] == "failure"
        assert event["deleted"] is True

    def test_canceled_is_a_success_when_it_is_the_target(self, ecdp: Any) -> None:
        ecdp.order("ORD-1", status="canceled")
        event, _ = run_trigger(order_trigger(target_statuses=["Cancelled"]))
        assert event["status"] == "success"

    def test_deadline_reached_while_placed(self, ecdp: Any) -> None:
        ecdp.order("ORD-1", status="placed")
        event, _ = run_trigger(order_trigger(target_statuses=["paid"], timeout=0.3))
        assert event["status"] == "timeout"
        assert "order ORD-1" in event["message"]

    def test_bad_status_is_an_error_event_before_any_request(
        self, store: Any, expertsender_conn: str
    ) -> None:
        requests = request_counter(store)
        event, _ = run_trigger(order_trigger(target_statuses=["shipped"]))
        assert event["status"] == "error"
        assert event["error"] == "ExpertSenderConfigError"
        assert requests() == 0
