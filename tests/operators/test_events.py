"""ExpertSenderSendCustomEventOperator against the emulator: identifiers, data fields, no duplicates."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderInvalidRecordError,
)
from airflow_provider_expertsender.operators.events import (
    EVENT_IDENTIFIERS,
    ExpertSenderSendCustomEventOperator,
)

from .conftest import JANE

EMAIL = JANE["email"]

# operator argument -> (payload member, value for Jane); customer_id is filled in from the store.
IDENTIFIERS = {
    "email": ("customerEmail", EMAIL),
    "email_md5": ("customerEmailMd5", hashlib.md5(EMAIL.encode()).hexdigest()),
    "email_sha256": ("customerEmailSha256", hashlib.sha256(EMAIL.encode()).hexdigest()),
    "phone": ("customerPhone", JANE["phone"]),
    "crm_id": ("customerCrmId", JANE["crmId"]),
}


def _fire(run_op, **kwargs):
    return run_op(ExpertSenderSendCustomEventOperator(task_id="event", **kwargs))


@pytest.mark.parametrize("kind", EVENT_IDENTIFIERS)
def test_fires_the_event_with_each_identifier(kind, customers, store, run_op):
    if kind == "customer_id":
        member, value = "customerId", customers["jane"]["id"]
    else:
        member, value = IDENTIFIERS[kind]
    result = _fire(run_op, custom_event_id=12, **{kind: value})
    assert result == {"custom_event_id": 12, "identifier": kind, "data_fields": 0}
    [event] = store.events
    assert event["customEventId"] == 12
    assert event[member] == value
    others = {"customerId", "customerEmail", "customerEmailMd5", "customerEmailSha256", "customerPhone"}
    others |= {"customerCrmId"}
    assert not [m for m in others - {member} if event.get(m) is not None]


def test_templated_event_id_identifier_and_data_fields(customers, store, run_op):
    op = ExpertSenderSendCustomEventOperator(
        task_id="event",
        custom_event_id="{{ params.event }}",
        crm_id="{{ params.crm }}",
        data_fields={"coupon": "{{ params.coupon }}"},
    )
    result = run_op(op, params={"event": 5, "crm": "CRM-42", "coupon": "X-1"})
    assert result == {"custom_event_id": 5, "identifier": "crm_id", "data_fields": 1}
    [event] = store.events
    assert (event["customEventId"], event["customerCrmId"]) == (5, "CRM-42")
    assert event["dataFields"] == [{"name": "coupon", "type": "String", "value": "X-1"}]


def test_data_fields_in_the_api_shape(customers, store, run_op):
    fields = [
        {"name": "coupon", "type": "String", "value": "X-12"},
        {"name": "discount", "type": "Money", "value": "12.50"},
    ]
    result = _fire(run_op, custom_event_id=3, email=EMAIL, data_fields=fields)
    assert result["data_fields"] == 2
    assert store.events[0]["dataFields"] == fields


def test_data_fields_as_a_plain_dict_are_typed_from_python_values(customers, store, run_op):
    result = _fire(
        run_op,
        custom_event_id=3,
        email=EMAIL,
        data_fields={
            "coupon": "X-12",
            "items": 3,
            "vip": True,
            "amount": Decimal("12.50"),
            "birthday": date(1990, 4, 2),
            "sent_at": datetime(2025, 11, 3, 14, 5, tzinfo=timezone.utc),
        },
    )
    assert result["data_fields"] == 6
    sent = {f["name"]: (f["type"], f["value"]) for f in store.events[0]["dataFields"]}
    assert sent["coupon"] == ("String", "X-12")
    assert sent["items"] == ("Number", "3")
    assert sent["vip"] == ("Boolean", "true")
    assert sent["birthday"] == ("Date", "1990-04-02")
    assert sent["sent_at"] == ("DateTime", "2025-11-03T14:05:00Z")
    assert sent["amount"] == ("Number", "12.50")


class TestInvalidInput:
    def test_no_identifier_fails_when_parsed(self):
        with pytest.raises(ExpertSenderConfigError, match="exactly one of customer_id, email, email_md5"):
            ExpertSenderSendCustomEventOperator(task_id="event", custom_event_id=1)

    def test_two_identifiers_fail_when_parsed(self):
        with pytest.raises(ExpertSenderConfigError, match=r"got 2 \(email, phone\)"):
            ExpertSenderSendCustomEventOperator(
                task_id="e", custom_event_id=1, email=EMAIL, phone="+48500100200"
            )

    def test_literal_bad_data_field_fails_when_parsed(self):
        with pytest.raises(ExpertSenderError, match="dataFields"):
            ExpertSenderSendCustomEventOperator(
                task_id="e",
                custom_event_id=1,
                email=EMAIL,
                data_fields=[{"name": "x", "type": "Nope", "value": "1"}],
            )

    def test_literal_bad_event_id_fails_when_parsed(self):
        with pytest.raises(ExpertSenderError, match="customEventId"):
            ExpertSenderSendCustomEventOperator(task_id="e", custom_event_id="twelve", email=EMAIL)

    def test_rendered_two_identifiers_fail_before_any_request(self, emulator, store, run_op):
        op = ExpertSenderSendCustomEventOperator(
            task_id="e", custom_event_id=1, email="{{ params.email }}", crm_id="{{ params.crm }}"
        )
        with pytest.raises(ExpertSenderConfigError, match=r"got 2 \(email, crm_id\)"):
            run_op(op, params={"email": EMAIL, "crm": "CRM-42"})
        assert store.request_count == 0

    def test_rendered_bad_md5_fails_before_any_request(self, emulator, store, run_op):
        op = ExpertSenderSendCustomEventOperator(task_id="e", custom_event_id=1, email_md5="{{ params.md5 }}")
        with pytest.raises(ExpertSenderInvalidRecordError, match="customerEmailMd5"):
            run_op(op, params={"md5": "not-a-hash"})
        assert store.request_count == 0


class TestNotRepeated:
    """A custom event fires on every request: an ambiguous failure must not become a duplicate."""

    def test_dropped_after_apply_fails_without_task_retries(self, customers, emulator, store, run_op):
        from airflow_provider_expertsender.operators._base import no_task_retry

        fail_exception = type(no_task_retry("probe"))
        emulator.switches.drop_next(1, after_apply=True)
        with pytest.raises(fail_exception, match="may have been fired") as info:
            _fire(run_op, custom_event_id=9, email=EMAIL)
        assert isinstance(info.value.__cause__, ExpertSenderError)
        assert len(store.events) == 1  # applied once, and not sent again

    def test_retry_unsafe_opts_in_to_repeating(self, customers, emulator, store, run_op):
        emulator.switches.drop_next(1, after_apply=True)
        result = _fire(run_op, custom_event_id=9, email=EMAIL, retry_unsafe=True)
        assert result["custom_event_id"] == 9
        assert len(store.events) == 2  # the duplicate the user accepted

    def test_failure_before_sending_keeps_task_retries(self, customers, emulator, store, run_op):
        from airflow_provider_expertsender.operators._base import no_task_retry

        fail_exception = type(no_task_retry("probe"))
        emulator.switches.forbidden_resources = ("scenariocustomevents",)
        with pytest.raises(ExpertSenderError) as info:
            _fire(run_op, custom_event_id=9, email=EMAIL)
        assert not isinstance(info.value, fail_exception)
        assert store.events == []
