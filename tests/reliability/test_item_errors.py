"""Per-item errors in a 2xx answer, in every shape the API might use ([UNK], emulator switch
``item_error_shape``): a record the server reports as failed is never counted as landed.

An error that names the record (by position or by identifier) rejects that record; one that names none makes
the outcome of every other record of the request unknown: they are dead-lettered ``in_doubt`` and count
against ``max_rejected``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_expertsender.emulator.switches import ITEM_ERROR_SHAPES
from airflow_provider_expertsender.exceptions import ExpertSenderRejectedRecordsError
from airflow_provider_expertsender.hooks._responses import parse_item_errors, write_result
from airflow_provider_expertsender.sync import run_write
from tests.reliability.conftest import customer, order

NAMING_SHAPES = [s for s in ITEM_ERROR_SHAPES if s != "unattributed"]


def _dead_letters(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _add_existing(make_hook: Any, emulator: Any, shape: str, resource: str = "customers") -> Any:
    """A hook whose second Add of record #3 is refused with a 2xx naming it the way ``shape`` says."""
    emulator.switches.update(item_error_style="errors_2xx", item_error_shape=shape)
    hook = make_hook()
    if resource == "customers":
        hook.upsert_customers([{"email": "c3@example.com"}], mode="Add")
    else:
        payload = dict(order(3), customer={"email": "c3@example.com"})
        hook.register_orders([payload], mode="Add")
    return hook


@pytest.mark.parametrize("shape", NAMING_SHAPES)
@pytest.mark.parametrize("resource", ["customers", "orders"])
def test_an_item_error_naming_the_record_in_any_shape_rejects_it(
    make_hook, emulator, tmp_path, shape, resource
):
    hook = _add_existing(make_hook, emulator, shape, resource)
    dead = tmp_path / "dead.jsonl"
    records = [customer(i) for i in range(10)] if resource == "customers" else [order(i) for i in range(10)]

    with pytest.raises(ExpertSenderRejectedRecordsError) as caught:
        run_write(
            hook, resource=resource, records=records, mode="Add", batch_size=10, dead_letter_path=str(dead)
        )

    summary = caught.value.summary
    assert (summary["sent"], summary["accepted"], summary["rejected"]) == (10, 9, 1)
    [line] = _dead_letters(dead)
    assert (line["position"], line["stage"]) == (3, "api")


@pytest.mark.parametrize("resource", ["customers", "orders"])
def test_an_item_error_naming_no_record_leaves_the_batch_in_doubt(make_hook, emulator, tmp_path, resource):
    hook = _add_existing(make_hook, emulator, "unattributed", resource)
    dead = tmp_path / "dead.jsonl"
    records = [customer(i) for i in range(10)] if resource == "customers" else [order(i) for i in range(10)]

    with pytest.raises(ExpertSenderRejectedRecordsError, match="10 in doubt") as caught:
        run_write(
            hook, resource=resource, records=records, mode="Add", batch_size=10, dead_letter_path=str(dead)
        )

    summary = caught.value.summary
    assert (summary["sent"], summary["accepted"], summary["in_doubt"]) == (10, 0, 10)
    lines = _dead_letters(dead)
    assert [line["position"] for line in lines] == list(range(10))
    assert {line["stage"] for line in lines} == {"in_doubt"}
    assert "naming no record" in lines[0]["reason"]


def test_in_doubt_records_count_against_max_rejected(make_hook, emulator):
    hook = _add_existing(make_hook, emulator, "unattributed")

    summary = run_write(
        hook, resource="customers", records=[customer(i) for i in range(10)], mode="Add", max_rejected=10
    )

    assert (summary["accepted"], summary["in_doubt"]) == (0, 10)


def test_the_issue_body_blocked_by_email_is_rejected_not_accepted():
    """The answer of the report: ``201 {"errors":[{"email":"c3@example.com","message":"blocked"}]}``."""
    records = [{"email": f"c{i}@example.com"} for i in range(10)]
    body = {"errors": [{"email": "C3@example.com", "message": "blocked"}]}

    result = write_result(201, body, 10, records)

    assert (result.accepted, sorted(result.rejected_indexes), result.in_doubt) == (9, [3], 0)
    unknown = write_result(
        201, {"errors": [{"email": "nobody@example.com", "message": "blocked"}]}, 10, records
    )
    assert (unknown.accepted, unknown.in_doubt) == (0, 10)
    assert write_result(201, {"errors": ["blocked"]}, 10, records).accepted == 0


def test_every_identifier_spelling_ties_the_error_to_its_record():
    customers = [{"email": "a@x.io", "phone": "+48111", "crmId": "C-1", "visitorId": "v1", "guid": "g1"}]
    for key, value in [
        ("Email", "A@X.IO"),
        ("phone_number", "+48111"),
        ("crm_id", "C-1"),
        ("VisitorId", "v1"),
        ("guid", "g1"),
    ]:
        [error] = parse_item_errors([{key: value, "error": "no"}], records=customers)
        assert error.index == 0, key
    orders = [{"id": "O-1", "websiteId": 2}, {"id": "O-2"}]
    assert [e.index for e in parse_item_errors([{"orderId": "O-2", "message": "x"}], records=orders)] == [1]
    assert [e.index for e in parse_item_errors([{"id": "O-1", "message": "x"}], records=orders)] == [0]


# One-record writes (custom events, status changes, deletes): a 2xx whose body reports errors is a refusal.


def test_a_custom_event_answered_201_with_errors_is_not_counted_as_fired(make_hook, emulator):
    from airflow_provider_expertsender.exceptions import ExpertSenderValidationError

    emulator.switches.event_unknown_customer = "201_errors"
    hook = make_hook()

    with pytest.raises(
        ExpertSenderValidationError, match="answered 201 but its body reports errors"
    ) as caught:
        hook.send_custom_event(7, email="nobody@example.com")

    assert caught.value.errors == ["customerId: The customer does not exist."]
    assert not caught.value.maybe_applied


def test_bulk_custom_events_answered_201_with_errors_are_rejected(make_hook, emulator):
    emulator.switches.event_unknown_customer = "201_errors"
    hook = make_hook()
    hook.upsert_customers([{"email": "known@example.com"}])
    events = [{"email": "known@example.com"}, {"email": "nobody@example.com"}]

    with pytest.raises(ExpertSenderRejectedRecordsError) as caught:
        run_write(hook, resource="custom_events", custom_event_id=7, records=events)

    summary = caught.value.summary
    assert (summary["sent"], summary["accepted"], summary["rejected"]) == (2, 1, 1)
