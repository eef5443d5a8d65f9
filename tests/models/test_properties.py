"""Property tests: any input validates into JSON-safe API JSON or raises the project's error, nothing else."""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderInvalidRecordError,
    InvalidRecord,
)
from airflow_provider_expertsender.models import (
    SettingsCatalog,
    custom_event_payload,
    customer_payload,
    data_fields_payload,
    order_payload,
    record_identifier,
    status_change_payload,
)

# No example database: nothing is written into the working tree.
SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

timezones = st.sampled_from(
    [None, timezone.utc, timezone(timedelta(hours=5)), timezone(timedelta(hours=-11))]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([16, 500, 5000]).map(lambda digits: -(10**digits)),  # huge: str() refuses > 4300 digits
    st.floats(),
    st.text(max_size=30),
    st.decimals(),
    st.dates(),
    st.datetimes(timezones=timezones),
)
keys = st.one_of(st.text(max_size=12), st.integers())
json_ish = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
emails = st.one_of(st.emails(), st.text(max_size=10))

# Plausible values per key (mixed with garbage below), so both outcomes are exercised.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "email": emails,
    "Email": emails,
    "guid": st.one_of(st.uuids().map(str), st.text(max_size=40)),
    "phone": st.one_of(st.from_regex(r"\+?[0-9]{3,20}", fullmatch=True), st.text(max_size=22), st.integers()),
    "crmId": st.one_of(st.text(min_size=1, max_size=130), st.integers()),
    "crm_id": st.one_of(st.text(min_size=1, max_size=130), st.integers()),
    "gender": st.sampled_from(["male", "FEMALE", "not_specified", "other"]),
    "dateOfBirth": st.one_of(st.dates(), st.datetimes(timezones=timezones), st.text(max_size=25)),
    "date": st.one_of(st.dates(), st.datetimes(timezones=timezones), st.just("2025-11-03T14:05:00Z")),
    "status": st.sampled_from(["paid", "Cancelled", "PLACED", "shipped"]),
    "currency": st.one_of(st.text(alphabet=string.ascii_letters, min_size=2, max_size=4), st.just("pln")),
    "totalValue": st.one_of(st.decimals(), st.floats(), st.integers(), st.text(max_size=8)),
    "returns_value": st.one_of(st.decimals(places=2), st.floats(min_value=0), st.integers(min_value=0)),
    "customAttributes": st.dictionaries(st.text(max_size=10), scalars, max_size=3),
    "custom_attributes": st.lists(
        st.fixed_dictionaries({"name": st.text(max_size=10), "value": scalars}), max_size=3
    ),
    "consents": st.dictionaries(
        st.one_of(st.integers(), st.text(max_size=3)),
        st.one_of(st.booleans(), st.text(max_size=8)),
        max_size=3,
    ),
    "customer": st.one_of(
        st.fixed_dictionaries({}, optional={"email": emails, "crmId": st.integers()}), json_ish
    ),
    "products": st.lists(
        st.fixed_dictionaries(
            {"id": st.one_of(st.text(max_size=5), st.integers())},
            optional={
                "price": st.one_of(st.decimals(), st.floats()),
                "quantity": st.integers(),
                "productAttributes": json_ish,
            },
        ),
        max_size=3,
    ),
}
CUSTOMER_KEYS = ["email", "Email", "guid", "phone", "crmId", "crm_id", "visitorId", "firstName", "last_name",
                 "dateOfBirth", "gender", "customAttributes", "custom_attributes", "consentsData",
                 "consents"]  # fmt: skip
ORDER_KEYS = ["id", "date", "timeZone", "websiteId", "status", "currency", "totalValue", "returns_value",
              "customer", "products", "orderAttributes"]  # fmt: skip
CATALOG = SettingsCatalog.from_lists(
    customer_attributes=[
        {"id": 1, "name": "a", "type": "Number"},
        {"id": 2, "name": "b", "type": "DateTime"},
    ],
    consents=[{"id": 1, "name": "n", "type": "Email"}],
    order_attributes=[{"id": 1, "name": "a", "type": "Boolean"}],
    product_attributes=[{"id": 1, "name": "a", "type": "Url"}],
)


def records(known_keys: list[str]) -> st.SearchStrategy[Any]:
    """Records mixing known keys with plausible or garbage values, unknown keys, and non-records."""
    values = {key: st.one_of(PLAUSIBLE.get(key, json_ish), json_ish) for key in known_keys}
    known = st.fixed_dictionaries({}, optional=values)
    extra = st.dictionaries(keys, json_ish, max_size=2)
    return st.one_of(known, st.builds(lambda a, b: {**b, **a}, known, extra), json_ish)


def outcome(call: Callable[[], Any]) -> tuple[Any, InvalidRecord | None]:
    """(payload, None) or (None, the invalid record); any other exception fails the test."""
    try:
        payload = call()
    except ExpertSenderInvalidRecordError as err:
        event("invalid")
        return None, err.record
    event("valid")
    return payload, None


def assert_api_json(payload: object) -> None:
    assert isinstance(payload, (dict, list))
    json.dumps(payload, allow_nan=False)  # no Decimal, date, NaN or other non-JSON value gets out


def assert_well_formed(invalid: InvalidRecord, index: int) -> None:
    assert invalid.index == index
    assert invalid.problems
    assert all(p.field and p.rule for p in invalid.problems)
    assert invalid.describe().startswith(f"record #{index}")


@SETTINGS
@given(
    record=records(CUSTOMER_KEYS),
    match_by=st.sampled_from(["Email", "crm_id", "phone", "GUID", "VisitorId"]),
    catalog=st.sampled_from([None, CATALOG]),
)
def test_customer_payload_validates_or_raises_the_project_error(record, match_by, catalog):
    payload, invalid = outcome(lambda: customer_payload(record, match_by=match_by, index=3, settings=catalog))
    if invalid is not None:
        assert_well_formed(invalid, 3)
    else:
        assert_api_json(payload)
        # API JSON is a fixed point: validating the output again gives the same output.
        assert customer_payload(payload, match_by=match_by, settings=catalog) == payload


@SETTINGS
@given(record=records(ORDER_KEYS), catalog=st.sampled_from([None, CATALOG]))
def test_order_payload_validates_or_raises_the_project_error(record, catalog):
    payload, invalid = outcome(lambda: order_payload(record, index=5, settings=catalog))
    if invalid is not None:
        assert_well_formed(invalid, 5)
    else:
        assert_api_json(payload)
        assert order_payload(payload, settings=catalog) == payload


@SETTINGS
@given(data_fields=json_ish)
def test_data_fields_payload_validates_or_raises_the_project_error(data_fields):
    payload, invalid = outcome(lambda: data_fields_payload(data_fields))
    if invalid is not None:
        assert_well_formed(invalid, 0)
    else:
        assert_api_json(payload)
        assert data_fields_payload(payload) == payload


@SETTINGS
@given(
    custom_event_id=json_ish,
    identifier=st.sampled_from(["customer_id", "email", "email_md5", "email_sha256", "phone", "crm_id"]),
    value=json_ish,
    data_fields=json_ish,
)
def test_custom_event_payload_validates_or_raises_the_project_error(
    custom_event_id, identifier, value, data_fields
):
    def call() -> Any:
        return custom_event_payload(custom_event_id, **{identifier: value}, data_fields=data_fields)

    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        try:
            call()
        except ExpertSenderConfigError:
            return
        raise AssertionError("no identifier (None, blank) or a bool must be a config error (arguments.py)")
    payload, invalid = outcome(call)
    if invalid is not None:
        assert_well_formed(invalid, 0)
    else:
        assert_api_json(payload)


@SETTINGS
@given(order_id=json_ish, status=json_ish, website_id=json_ish)
def test_status_change_payload_validates_or_raises_the_project_error(order_id, status, website_id):
    payload, invalid = outcome(lambda: status_change_payload(order_id, status, website_id))
    if invalid is not None:
        assert_well_formed(invalid, 0)
    else:
        assert_api_json(payload)


@SETTINGS
@given(record=json_ish, kind=st.sampled_from(["customer", "order"]))
def test_record_identifier_never_raises(record, kind):
    identifier = record_identifier(kind, record)
    assert identifier is None or (isinstance(identifier, str) and len(identifier) <= 128)


@SETTINGS
@given(
    value=st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=Decimal("1e13"))
)
def test_two_place_decimal_money_is_exact(value):
    record = {
        "id": "1",
        "date": "2025-01-01",
        "customer": {"crmId": "1"},
        "products": [],
        "totalValue": value,
    }
    assert Decimal(json.dumps(order_payload(record)["totalValue"])) == value


# ------------------------------------------------------------------------------------------- valid inputs

names = st.from_regex(r"[a-z][a-z_]{0,19}", fullmatch=True)
later = st.datetimes(min_value=datetime(1900, 1, 1), timezones=timezones)
attribute_values = st.one_of(
    st.text(max_size=40),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12),
    st.dates(),
    later,
)
money = st.one_of(
    st.decimals(places=2, min_value=0, max_value=10**12),
    st.floats(min_value=0, max_value=1e15),
    st.integers(min_value=0, max_value=2**53),
    st.decimals(places=2, min_value=0, max_value=10**9).map(str),
)
valid_emails = st.emails().filter(lambda e: len(e) <= 320)
valid_customers = st.fixed_dictionaries(
    {"email": valid_emails},
    optional={
        "phone": st.from_regex(r"\+?[0-9]{1,19}", fullmatch=True),
        "crm_id": st.one_of(st.text(min_size=1, max_size=128), st.integers()),
        "visitorId": st.text(min_size=1, max_size=38),
        "first_name": st.text(max_size=256),
        "lastName": st.text(max_size=256),
        "date_of_birth": st.one_of(st.dates(), later),
        "gender": st.sampled_from(["Male", "female", "NOT_SPECIFIED"]),
        "custom_attributes": st.dictionaries(names, st.one_of(st.none(), attribute_values), max_size=4),
        "consents": st.dictionaries(
            st.integers(1, 2**31 - 1),
            st.one_of(st.booleans(), st.sampled_from(["true", "awaitingConfirmation"])),
        ),
    },
)
valid_products = st.fixed_dictionaries(
    {"id": st.one_of(st.text(min_size=1, max_size=40), st.integers())},
    optional={
        "name": st.text(max_size=40),
        "price": money,
        "quantity": st.one_of(st.integers(0, 1000), st.decimals(places=3, min_value=0, max_value=1000)),
        "returned": st.integers(0, 10),
        "url": st.text(max_size=30),
        "image_url": st.text(max_size=30),
        "category": st.text(max_size=30),
        "product_attributes": st.dictionaries(names, attribute_values, max_size=3),
    },
)
valid_orders = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(min_size=1, max_size=128), st.integers()),
        "date": st.one_of(st.dates(), later),
        "customer": st.fixed_dictionaries(
            {"crm_id": st.text(min_size=1, max_size=128)}, optional={"email": valid_emails}
        ),
        "products": st.lists(valid_products, max_size=4),
    },
    optional={
        "time_zone": st.sampled_from(["UTC", "Europe/Warsaw"]),
        "websiteId": st.integers(-(2**31), 2**31 - 1),
        "status": st.sampled_from(["placed", "PAID", "Completed", "cancelled"]),
        "currency": st.from_regex(r"[A-Za-z]{3}", fullmatch=True),
        "total_value": money,
        "returnsValue": money,
        "order_attributes": st.dictionaries(names, attribute_values, max_size=3),
    },
)


@SETTINGS
@given(record=valid_customers)
def test_valid_customers_serialize_to_a_fixed_point(record):
    payload = customer_payload(record, match_by="Email")
    assert_api_json(payload)
    assert payload["email"] == record["email"]
    assert all("_" not in key for key in payload)
    assert customer_payload(payload, match_by="Email") == payload


@SETTINGS
@given(record=valid_orders)
def test_valid_orders_serialize_to_a_fixed_point(record):
    payload = order_payload(record)
    assert_api_json(payload)
    assert payload["date"].endswith("Z")
    assert len(payload["products"]) == len(record["products"])
    assert order_payload(payload) == payload
