"""The write engine against the emulator: batching, isolation of refused records, limits, dead letters."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderConfigError,
    ExpertSenderInvalidInputError,
    ExpertSenderRejectedRecordsError,
)
from airflow_provider_expertsender.models import SettingsCatalog
from airflow_provider_expertsender.sync import run_write
from airflow_provider_expertsender.sync.limits import parse_max_rejected
from tests.sync.conftest import customer, order

SUMMARY_KEYS = {
    "resource",
    "mode",
    "match_by",
    "read",
    "invalid",
    "sent",
    "in_doubt",
    "accepted",
    "rejected",
    "batches",
    "requests",
    "dead_letter_path",
    "duration_s",
    "dry_run",
}
STYLES = ["reject_batch", "errors_2xx"]


def write(hook: Any, resource: str = "customers", **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("mode", "AddOrUpdate" if resource == "customers" else "AddOrReplace")
    if resource == "customers":
        kwargs.setdefault("match_by", "Email")
    return run_write(hook, resource=resource, **kwargs)


def emails(store: Any) -> set[str]:
    return {c["email"] for c in store.customers}


def test_batches_and_summary(hook, store):
    summary = write(hook, records=[customer(i) for i in range(250)], batch_size=100, max_concurrency=3)

    assert set(summary) == SUMMARY_KEYS
    assert summary["read"] == summary["sent"] == summary["accepted"] == 250
    assert (summary["invalid"], summary["rejected"]) == (0, 0)
    assert summary["batches"] == summary["requests"] == 3
    assert summary["dead_letter_path"] is None
    assert summary["dry_run"] is False
    assert emails(store) == {f"user{i}@example.com" for i in range(250)}
    assert store.counters["max_batch_items"] == 100


def test_connection_batch_size_is_the_default(hook, store, emulator, monkeypatch):
    from tests.plugins.emulator import connection_json

    monkeypatch.setenv("AIRFLOW_CONN_EXPERTSENDER_DEFAULT", connection_json(emulator, batch_size=7))
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

    summary = write(ExpertSenderHook(), records=[customer(i) for i in range(20)])
    assert summary["batches"] == 3
    assert store.counters["max_batch_items"] == 7


# One record the API refuses (but local validation cannot know it), for every mode of both resources.
# (resource, mode, set-up records already stored, records to write with the bad one at index 2)
MODE_CASES = {
    "customers-AddOrUpdate": (
        "customers",
        "AddOrUpdate",
        [],
        [
            customer(0),
            customer(1),
            customer(2, custom_attributes=[{"name": "no_such_attribute", "value": "1"}]),
            customer(3),
            customer(4),
        ],
    ),
    "customers-Add": (
        "customers",
        "Add",
        [customer(2)],
        [customer(0), customer(1), customer(2), customer(3), customer(4)],
    ),
    "customers-Update": (
        "customers",
        "Update",
        [customer(0), customer(1), customer(3), customer(4)],
        [customer(0), customer(1), customer(2), customer(3), customer(4)],
    ),
    "orders-AddOrReplace": (
        "orders",
        "AddOrReplace",
        [],
        [
            order(0),
            order(1),
            order(2, order_attributes=[{"name": "unknown", "value": "x"}]),
            order(3),
            order(4),
        ],
    ),
    "orders-Add": ("orders", "Add", [order(2)], [order(i) for i in range(5)]),
    "orders-Replace": (
        "orders",
        "Replace",
        [order(0), order(1), order(3), order(4)],
        [order(i) for i in range(5)],
    ),
}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("case", list(MODE_CASES))
def test_one_refused_record_the_rest_land(hook, store, emulator, tmp_path, caplog, case, style):
    resource, mode, existing, records = MODE_CASES[case]
    if existing:
        write(hook, resource, records=existing)
    emulator.switches.item_error_style = style
    dead = tmp_path / "dead.jsonl"

    with caplog.at_level(logging.WARNING), pytest.raises(ExpertSenderRejectedRecordsError) as err:
        write(hook, resource, records=records, mode=mode, batch_size=5, dead_letter_path=str(dead))

    summary = err.value.summary
    assert (summary["read"], summary["accepted"], summary["rejected"], summary["invalid"]) == (5, 4, 1, 0)
    assert "1 of 5" in str(err.value)
    assert str(dead) in str(err.value)
    lines = [json.loads(line) for line in dead.read_text().splitlines()]
    assert len(lines) == 1
    assert lines[0]["position"] == 2
    assert lines[0]["stage"] == "api"
    assert lines[0]["reason"]
    assert lines[0]["record"] == records[2]
    refused = [r.getMessage() for r in caplog.records if "Rejected by the API" in r.getMessage()]
    assert len(refused) == 1
    assert "#2" in refused[0]
    if resource == "customers":
        assert "user2@example.com" in refused[0]
        expected = {f"user{i}@example.com" for i in range(5)}
        if mode != "Add":
            expected.discard("user2@example.com")
        assert emails(store) == (expected | {c["email"] for c in existing})
    else:
        assert "ORD-2" in refused[0]
        landed = {o["id"] for o in store.orders}
        assert {"ORD-0", "ORD-1", "ORD-3", "ORD-4"} <= landed


def test_refused_record_counted_against_max_rejected(hook, store):
    records = [customer(i) for i in range(10)]
    records[4] = customer(4, custom_attributes=[{"name": "no_such_attribute", "value": "1"}])

    summary = write(hook, records=records, batch_size=10, max_rejected=1)

    assert (summary["accepted"], summary["rejected"]) == (9, 1)
    # reject_batch: the 400 names data[4]; the other nine are sent again in one request.
    assert summary["requests"] == 2
    assert len(store.customers) == 9


def test_unnamed_refusals_are_isolated_by_bisection(hook, store, emulator):
    # With strict_match_by, a matchBy other than the business unit's default is refused for the whole
    # request, naming the matchBy field but no item: the engine can only bisect, down to single records.
    emulator.switches.strict_match_by = True
    records = [customer(i, crm_id=f"C{i}") for i in range(4)]

    with pytest.raises(ExpertSenderRejectedRecordsError) as err:
        write(hook, records=records, match_by="CrmId", batch_size=4)

    summary = err.value.summary
    assert summary["rejected"] == 4
    assert summary["accepted"] == 0
    assert summary["requests"] == 7  # 4 -> 2 + 2 -> 1 + 1 + 1 + 1
    assert store.customers == []


@pytest.mark.parametrize("status", [400, 413])
def test_batch_limit_below_batch_size_is_learned(hook, store, emulator, caplog, status):
    emulator.switches.max_batch_size = 30
    emulator.switches.batch_limit_status = status

    with caplog.at_level(logging.WARNING):
        summary = write(hook, records=[customer(i) for i in range(600)], batch_size=100, max_concurrency=1)

    assert summary["accepted"] == 600
    assert summary["rejected"] == 0
    assert summary["learned_batch_limit"] <= 30
    assert len(store.customers) == 600
    assert store.counters["max_batch_items"] <= 30
    # Discovery costs a few requests once; afterwards batches are cut to the learned size.
    assert summary["requests"] <= math.ceil(600 / summary["learned_batch_limit"]) + 8
    warnings = [r.getMessage() for r in caplog.records if "per-request limit" in r.getMessage()]
    assert len(warnings) == 1
    assert f"batch_size={summary['learned_batch_limit']}" in warnings[0]


def test_on_invalid_fail_sends_nothing(hook, store, tmp_path):
    records = [customer(i) for i in range(300)]
    records[250] = customer(250, email="not-an-email")
    records[7] = {"first_name": "no identifier"}
    records.append("not a record")
    dead = tmp_path / "dead.jsonl"

    with pytest.raises(ExpertSenderInvalidInputError) as err:
        write(hook, records=records, batch_size=10, dead_letter_path=str(dead))

    assert store.request_count == 0
    assert err.value.total == 3
    assert "3 invalid record(s), nothing was sent" in str(err.value)
    assert "record #7" in str(err.value)
    assert "record #250" in str(err.value)
    lines = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [line["position"] for line in lines] == [7, 250, 300]
    assert {line["stage"] for line in lines} == {"validation"}
    assert lines[1]["problems"][0]["field"] == "email"
    assert lines[2]["record"] == "not a record"


def test_on_invalid_skip_sends_the_valid_ones(hook, store):
    records = [customer(i) for i in range(20)]
    records[3] = customer(3, email="broken")

    with pytest.raises(ExpertSenderRejectedRecordsError) as err:
        write(hook, records=records, on_invalid="skip", batch_size=5)
    assert err.value.summary["invalid"] == 1
    assert err.value.summary["accepted"] == 19
    assert "1 invalid, 0 rejected by the API" in str(err.value)
    assert len(store.customers) == 19

    summary = write(hook, records=records, on_invalid="skip", batch_size=5, max_rejected=1)
    assert summary["invalid"] == 1
    assert summary["accepted"] == 19


@pytest.mark.parametrize(("max_rejected", "fails"), [(0.01, True), (0.02, False), (2, False), (1, True)])
def test_max_rejected_as_count_or_fraction(hook, max_rejected, fails):
    records = [customer(i) for i in range(100)]
    records[10] = customer(10, email="x")
    records[20] = customer(20, email="y")

    if fails:
        with pytest.raises(ExpertSenderRejectedRecordsError):
            write(hook, records=records, on_invalid="skip", max_rejected=max_rejected)
    else:
        assert write(hook, records=records, on_invalid="skip", max_rejected=max_rejected)["accepted"] == 98


@pytest.mark.parametrize("value", [-1, 1.5, True, "5", float("nan")])
def test_max_rejected_rejects_nonsense(value):
    with pytest.raises(ExpertSenderConfigError):
        parse_max_rejected(value)


def test_max_rejected_integral_float_is_a_count():
    assert parse_max_rejected(3.0) == 3
    assert isinstance(parse_max_rejected(3.0), int)
    assert parse_max_rejected(0.25) == 0.25


def test_dry_run_sends_nothing(hook, store):
    records = [customer(i) for i in range(25)]

    summary = write(hook, records=records, batch_size=10, dry_run=True)

    assert store.request_count == 0
    assert summary["dry_run"] is True
    assert (summary["read"], summary["batches"], summary["sent"], summary["requests"]) == (25, 3, 0, 0)


def test_dry_run_reports_invalid_records_like_the_real_run(hook, store):
    records = [customer(1), customer(2, email="bad")]
    with pytest.raises(ExpertSenderInvalidInputError):
        write(hook, records=records, dry_run=True)
    summary = write(hook, records=records, dry_run=True, on_invalid="skip", max_rejected=1)
    assert summary["invalid"] == 1
    assert store.request_count == 0


def test_writes_of_one_customer_keep_input_order_under_concurrency(hook, store, emulator):
    # Two batches of the same ten customers, sent two at a time. The first request is answered 429 with
    # Retry-After, so a naive sender lands the second batch first and the retried first batch overwrites it.
    emulator.switches.fail_next(1, status=429, retry_after=0.3)
    records = [customer(i, first_name=f"round{r}") for r in range(2) for i in range(10)]

    summary = write(hook, records=records, batch_size=10, max_concurrency=2)

    assert summary["accepted"] == 20
    assert {c["firstName"] for c in store.customers} == {"round1"}


def test_memory_is_bounded_by_batches_in_flight(hook, store):
    batch_size, concurrency = 10, 2
    bound = (2 * concurrency + 1) * batch_size
    lags: list[int] = []

    def records() -> Iterator[dict[str, Any]]:
        for i in range(400):
            lags.append(i - len(store.customers))
            yield customer(i)

    summary = write(
        hook, records=records(), on_invalid="skip", batch_size=batch_size, max_concurrency=concurrency
    )

    assert summary["accepted"] == 400
    assert max(lags) <= bound


def test_on_invalid_fail_spools_to_disk_past_the_memory_threshold(hook, store, monkeypatch):
    monkeypatch.setattr("airflow_provider_expertsender.sync.engine.SPOOL_MEMORY_BYTES", 1024)

    summary = write(hook, records=[customer(i) for i in range(300)], batch_size=50)

    assert summary["accepted"] == 300
    assert len(store.customers) == 300


def test_transient_failures_are_retried_by_the_hook(hook, store, emulator):
    emulator.switches.fail_next(2, status=503)

    summary = write(hook, records=[customer(i) for i in range(30)], batch_size=10, max_concurrency=1)

    assert summary["accepted"] == 30
    assert summary["requests"] == 3
    assert len(store.customers) == 30


def test_a_failing_request_stops_the_write(hook, store, emulator, caplog):
    emulator.switches.forbidden_resources = ("customers",)

    with caplog.at_level(logging.ERROR), pytest.raises(ExpertSenderAuthError):
        write(hook, records=[customer(i) for i in range(50)], batch_size=10, max_concurrency=2)

    assert store.customers == []
    assert any("Stopped after a request failed" in r.getMessage() for r in caplog.records)


def test_systematic_refusal_stops_early(hook, store, emulator):
    emulator.switches.strict_match_by = True
    records = [customer(i, crm_id=f"C{i}") for i in range(400)]

    with pytest.raises(ExpertSenderRejectedRecordsError) as err:
        write(hook, records=records, match_by="CrmId", batch_size=4, max_concurrency=1, on_invalid="skip")

    summary = err.value.summary
    assert summary["stopped_early"] is True
    assert summary["read"] < 400
    assert summary["requests"] < 7 * 10
    assert "systematic" in str(err.value)


def test_settings_catalog_makes_unknown_attributes_invalid_locally(hook, store):
    catalog = SettingsCatalog.from_lists(
        customer_attributes=hook.list_customer_attributes(), consents=hook.list_consents()
    )
    requests_before = store.request_count
    records = [customer(1), customer(2, custom_attributes=[{"name": "no_such_attribute", "value": "1"}])]

    with pytest.raises(ExpertSenderInvalidInputError, match="unknown customer attribute"):
        write(hook, records=records, settings=catalog)
    assert store.request_count == requests_before


def test_orders_are_written(hook, store):
    summary = write(hook, "orders", records=[order(i) for i in range(12)], batch_size=5)

    assert "match_by" not in summary
    assert summary["accepted"] == 12
    assert summary["batches"] == 3
    assert {o["id"] for o in store.orders} == {f"ORD-{i}" for i in range(12)}


def test_bad_arguments(hook):
    with pytest.raises(ExpertSenderConfigError, match="on_invalid"):
        write(hook, records=[], on_invalid="ignore")
    with pytest.raises(ExpertSenderConfigError, match="batch_size"):
        write(hook, records=[], batch_size=0)
    with pytest.raises(ExpertSenderConfigError, match="resource"):
        run_write(hook, resource="events", records=[], mode="Add")
    with pytest.raises(ExpertSenderConfigError):
        write(hook, records=[], mode="Upsert")


def test_empty_input(hook, store):
    summary = write(hook, records=[])
    assert (summary["read"], summary["batches"], summary["requests"]) == (0, 0, 0)
    assert store.request_count == 0


def test_dead_letters_keep_the_original_records_through_the_spool(hook, store, tmp_path, monkeypatch):
    from datetime import datetime, timezone

    monkeypatch.setattr("airflow_provider_expertsender.sync.engine.SPOOL_MEMORY_BYTES", 512)
    born = datetime(1990, 4, 2, tzinfo=timezone.utc)
    records = [customer(i, date_of_birth=born) for i in range(30)]
    records[17] = customer(
        17, date_of_birth=born, custom_attributes=[{"name": "no_such_attribute", "value": "1"}]
    )
    dead = tmp_path / "dead.jsonl"

    summary = write(hook, records=records, batch_size=7, max_rejected=1, dead_letter_path=str(dead))

    assert summary["accepted"] == 29
    [line] = [json.loads(text) for text in dead.read_text().splitlines()]
    assert line["position"] == 17
    assert line["record"]["date_of_birth"] == "1990-04-02T00:00:00+00:00"
    assert line["record"]["custom_attributes"] == [{"name": "no_such_attribute", "value": "1"}]


def test_dead_letters_through_object_storage(hook, store, tmp_path):
    records = [customer(1), customer(2, email="broken")]

    summary = write(
        hook,
        records=records,
        on_invalid="skip",
        max_rejected=1,
        dead_letter_path=f"file://{tmp_path}/dead/customers.jsonl",
    )

    assert summary["dead_letter_path"] == f"file://{tmp_path}/dead/customers.jsonl"
    [line] = [json.loads(text) for text in (tmp_path / "dead" / "customers.jsonl").read_text().splitlines()]
    assert line["position"] == 1
    assert line["record"] == records[1]


def test_no_dead_letter_file_when_everything_landed(hook, store, tmp_path):
    summary = write(hook, records=[customer(1)], dead_letter_path=str(tmp_path / "dead.jsonl"))
    assert summary["dead_letter_path"] is None
    assert not (tmp_path / "dead.jsonl").exists()


def test_unreadable_rows_are_invalid_records(hook, store, tmp_path):
    from airflow_provider_expertsender.sync.mapping import RowError

    records = [
        customer(0),
        RowError("a.jsonl line 2: not valid JSON (Expecting value)", "{oops"),
        customer(2),
    ]
    dead = tmp_path / "dead.jsonl"

    summary = write(hook, records=records, on_invalid="skip", max_rejected=1, dead_letter_path=str(dead))

    assert (summary["invalid"], summary["accepted"]) == (1, 2)
    [line] = [json.loads(text) for text in dead.read_text().splitlines()]
    assert line["position"] == 1
    assert line["problems"] == [
        {"field": "(row)", "rule": "a.jsonl line 2: not valid JSON (Expecting value)"}
    ]
    assert line["record"] == "{oops"


def test_progress_lines(hook, store, caplog):
    with caplog.at_level(logging.INFO):
        write(hook, records=[customer(i) for i in range(30)], batch_size=10, progress_interval=0)

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress (")]
    assert len(lines) >= 2
    assert "read 30, invalid 0, sent 30, accepted 30, rejected 0, 3 request(s)" in lines[-1]
    assert "records/s" in lines[-1]
    assert "elapsed" in lines[-1]


def test_customers_matched_by_guid_keep_their_order(hook, store, emulator):
    emulator.switches.fail_next(1, status=429, retry_after=0.3)
    guid = "4b1c2f5e-8d4a-4f0e-9a5b-0c1d2e3f4a5b"
    records = [{"guid": guid, "email": "g@example.com", "first_name": f"round{r}"} for r in range(2)]

    summary = write(hook, records=records, match_by="GUID", batch_size=1, max_concurrency=2)

    assert summary["accepted"] == 2
    assert [c["firstName"] for c in store.customers] == ["round1"]


class _UnattributedErrorsHook:
    """The emulator always names items; a 2xx whose errors name none can only come from a stand-in hook."""

    class config:
        batch_size = 10
        max_concurrency = 2

    def upsert_customers(
        self, records: list[Any], mode: str, match_by: str, retry_unsafe: bool = False, validate: bool = True
    ) -> Any:
        from airflow_provider_expertsender.hooks._responses import ItemError, WriteResult

        return WriteResult(status=201, sent=len(records), item_errors=(ItemError(None, "something failed"),))


def test_errors_naming_no_record_are_reported_and_leave_the_records_in_doubt(caplog):
    with caplog.at_level(logging.WARNING):
        summary = write(_UnattributedErrorsHook(), records=[customer(i) for i in range(25)], max_rejected=25)

    assert (summary["accepted"], summary["rejected"], summary["unattributed_errors"]) == (0, 0, 3)
    assert summary["in_doubt"] == 25
    assert "did not tie to a record: something failed" in caplog.text
