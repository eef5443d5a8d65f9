"""The fast paths of customer_payload and order_payload return exactly what the models return, or give up.

``models/_fast.py`` builds the API JSON of common records without the models. It may never accept a record
the model refuses, nor produce a different payload (values, types or key order). These tests compare the two
on generated records close to valid (every field, each spelling, each boundary, wrong types) and on the
general garbage of ``test_properties``.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from airflow_provider_expertsender.models import SettingsCatalog, customer_payload, order_payload
from airflow_provider_expertsender.models.customers import Customer, _fast_customer
from airflow_provider_expertsender.models.orders import Order, _fast_order
from tests.models.test_properties import CATALOG, CUSTOMER_KEYS, ORDER_KEYS, records

SETTINGS = settings(
    max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
MATCH_BY = ["Email", "PhoneNumber", "CrmId", "GUID", "VisitorId"]
CATALOGS = [
    None,
    CATALOG,
    SettingsCatalog.from_lists(
        customer_attributes=[
            {"id": 1, "name": "City", "type": "String"},
            {"id": 2, "name": "points", "type": "Number"},
            {"id": 3, "name": "vip", "type": "Boolean"},
            {"id": 4, "name": "since", "type": "Date"},
        ],
        consents=[{"id": 1, "name": "n", "type": "Email"}, {"id": 7, "name": "s", "type": "Sms"}],
        order_attributes=[
            {"id": 1, "name": "city", "type": "String"},
            {"id": 2, "name": "vip", "type": "Boolean"},
        ],
        product_attributes=[
            {"id": 1, "name": "points", "type": "Number"},
            {"id": 2, "name": "a", "type": "Url"},
        ],
    ),
]


def model_payload(record: Any, match_by: str, catalog: SettingsCatalog | None) -> dict[str, Any] | None:
    """The model's answer: the API JSON, or None when it refuses the record."""
    try:
        model = Customer.model_validate(record, context={"match_by": match_by, "settings": catalog})
    except ValidationError:
        return None
    return model.to_api()


def model_order(record: Any, catalog: SettingsCatalog | None) -> dict[str, Any] | None:
    try:
        model = Order.model_validate(record, context={"settings": catalog})
    except ValidationError:
        return None
    return model.to_api()


def assert_same(
    record: Any, match_by: str | None, catalog: SettingsCatalog | None, note: Any = lambda _: None
) -> dict[str, Any] | None:
    """Compare the fast path with the model: a customer with ``match_by``, an order without."""
    if match_by is None:
        fast, expected = _fast_order(record, catalog), model_order(record, catalog)
    else:
        fast, expected = _fast_customer(record, match_by, catalog), model_payload(record, match_by, catalog)
    if fast is None:
        note("fast path gave up" if expected is not None else "invalid")
        return None
    note("fast path")
    assert expected is not None, f"the fast path accepted a record the model refuses: {record!r}"
    # json.dumps compares key order and types too ("3" vs 3, 1 vs 1.0 vs true).
    assert json.dumps(fast) == json.dumps(expected)
    assert fast == expected
    return fast


# True nine times in ten (hypothesis draws small integers far more often than large ones).
MOSTLY = st.sampled_from([True] * 9 + [False])


# Values near the rules: right and wrong types, each side of each length limit, odd text.
def texts(limit: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=8),
        st.sampled_from(["", " ", "Zażółć", "x\ud800", "a b", "\x00"]),
        st.integers(limit - 1, limit + 1).map(lambda n: "x" * max(n, 0)),
    )


identifiers = st.one_of(
    st.integers(-5, 10**25),
    st.just(2**1400),
    st.booleans(),
    st.floats(allow_nan=False, max_value=1e6),
    st.uuids(),
)
attribute_values = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.sampled_from(["12.5", "true", "2025-01-02", "2025-01-02T03:04:05Z", "x\udc00"]),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.decimals(allow_nan=False, places=3),
    st.booleans(),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, timezone.utc])),
    st.lists(st.integers(), max_size=1),
)
valid_attribute_values = st.one_of(
    st.text(max_size=6), st.integers(0, 10**6), st.booleans(), st.dates(), st.decimals(0, 10**6, places=2)
)
attribute_names = st.one_of(
    st.sampled_from(["city", "City", "CITY", "points", "vip", "since", "a", "b", ""]), texts(256)
)
attribute_items = st.one_of(
    st.fixed_dictionaries({"name": attribute_names}, optional={"value": attribute_values}),
    st.fixed_dictionaries({"Name": attribute_names, "Value": attribute_values}),
    st.fixed_dictionaries({"name": attribute_names, "value": attribute_values, "other": st.just(1)}),
    st.just("not an object"),
)
attributes = st.one_of(
    st.lists(attribute_items, max_size=4),
    st.dictionaries(attribute_names, attribute_values, max_size=3),
    st.tuples(attribute_items),
    st.just("city=Gdansk"),
)
consent_ids = st.one_of(
    st.integers(-1, 8), st.just(2**31), st.sampled_from(["7", " 1", "x", 1.0, 1.5, True, Decimal(1)])
)
consent_values = st.one_of(
    st.booleans(), st.sampled_from(["True", "false", "awaiting_confirmation", "yes", 1, None])
)
consents = st.one_of(
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"id": consent_ids, "value": consent_values}),
            st.fixed_dictionaries({"Id": consent_ids}, optional={"Value": consent_values}),
        ),
        max_size=3,
    ),
    st.dictionaries(consent_ids, consent_values, max_size=3),
    st.just(None),
    st.just("1=True"),
)
consents_data = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "consents": consents,
            "force": st.sampled_from([True, False, 1, "true", None]),
            "confirmationMessageId": consent_ids,
            "confirmation_message_id": consent_ids,
            "unknown": st.just(1),
        },
    ),
    st.just([]),
)
# Valid values, drawn most of the time so that whole records are often valid.
VALID: dict[str, st.SearchStrategy[Any]] = {
    "email": st.emails(),
    "phone": st.one_of(st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True), st.integers(0, 10**19)),
    "crmId": st.one_of(st.text(min_size=1, max_size=12), st.integers(-(10**12), 10**12)),
    "visitorId": st.one_of(st.uuids().map(str), st.integers(0, 10**9)),
    "guid": st.uuids().map(str),
    "firstName": st.text(max_size=12),
    "lastName": st.text(max_size=12),
    "dateOfBirth": st.one_of(st.dates(), st.just("1990-04-02")),
    "gender": st.sampled_from(["male", "Female", "NOT_SPECIFIED", "notspecified"]),
    "customAttributes": st.one_of(
        st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["city", "points", "vip", "since", "a", "b"])},
                optional={"value": attribute_values},
            ),
            max_size=3,
        ),
        st.dictionaries(st.sampled_from(["city", "points", "a"]), attribute_values, max_size=2),
    ),
    "consentsData": st.fixed_dictionaries(
        {},
        optional={
            "consents": st.lists(
                st.fixed_dictionaries(
                    {"id": st.sampled_from([1, 7, "7"]), "value": st.sampled_from([True, "false"])}
                ),
                max_size=2,
            ),
            "force": st.booleans(),
            "confirmationMessageId": st.integers(1, 2**31 - 1),
        },
    ),
    "consents": st.dictionaries(st.sampled_from([1, 7]), st.booleans(), max_size=2),
}
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "email": st.one_of(
        st.emails(), texts(320), st.sampled_from(["a@b", "a@@b", "@b", "a @b", "x" * 316 + "@b.c"])
    ),
    "phone": st.one_of(st.from_regex(r"\+?[0-9]{1,21}", fullmatch=True), texts(20), identifiers),
    "crmId": st.one_of(texts(128), identifiers),
    "visitorId": st.one_of(texts(38), identifiers),
    "guid": st.one_of(st.uuids().map(str), st.uuids().map(lambda u: "{" + str(u) + "}"), texts(38)),
    "firstName": texts(256),
    "lastName": texts(256),
    "dateOfBirth": st.one_of(
        st.dates(),
        st.datetimes(timezones=st.sampled_from([None, timezone.utc])),
        st.sampled_from(["1990-04-02", "1990-04-02T23:00:00-05:00", "1990-02-30", "yesterday", 19900402]),
    ),
    "gender": st.sampled_from(["male", "Female", "NOT_SPECIFIED", "other", 1, None]),
    "customAttributes": attributes,
    "consentsData": consents_data,
    "consents": consents,
}
SPELLINGS = {
    "crmId": ["crmId", "crm_id", "CrmId", "CRM_ID"],
    "firstName": ["firstName", "first_name", "FirstName"],
    "customAttributes": ["customAttributes", "custom_attributes"],
    "consentsData": ["consentsData", "consents_data"],
}


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {}
    names = draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=8))
    for name in [draw(st.sampled_from(["email", "phone", "crmId", "guid", "visitorId"])), *names]:
        key = draw(st.sampled_from(SPELLINGS.get(name, [name])))
        valid = draw(MOSTLY)
        record[key] = draw(VALID[name] if valid else FIELDS[name])
    if not draw(MOSTLY):  # the same field under a second spelling, or an unknown key
        record[draw(st.sampled_from(["Email", "email_address", "crm_id", "FIRST_NAME", 7]))] = draw(
            st.one_of(st.none(), FIELDS["email"])
        )
    return record


@SETTINGS
@given(
    record=near_valid(),
    match_by=st.sampled_from(MATCH_BY),
    catalog=st.sampled_from(CATALOGS),
)
def test_fast_path_agrees_with_the_model_on_near_valid_records(record, match_by, catalog):
    assert_same(record, match_by, catalog, event)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    record=records(CUSTOMER_KEYS),
    match_by=st.sampled_from(MATCH_BY),
    catalog=st.sampled_from(CATALOGS),
)
def test_fast_path_agrees_with_the_model_on_any_input(record, match_by, catalog):
    assert_same(record, match_by, catalog, event)


TYPICAL = {
    "email": "jane.doe@example.com",
    "crm_id": 10042,
    "first_name": "Zofia",
    "last_name": "Wójcik",
    "gender": "female",
    "date_of_birth": date(1991, 6, 30),
    "customAttributes": [{"name": "city", "value": "Gdańsk"}, {"name": "points", "value": 120}],
    "consentsData": {"consents": [{"id": 1, "value": "True"}]},
}


@pytest.mark.parametrize(
    "record",
    [
        TYPICAL,
        {"email": "a@example.com", "firstName": "Jane"},
        {"email": "a@example.com", "custom_attributes": {"tier": "gold", "since": datetime(2020, 1, 2)}},
        {"email": "a@example.com", "consents": {1: True, "7": "awaitingconfirmation"}},
        {"email": "a@example.com", "consents_data": {"consents": [], "force": True}},
    ],
)
@pytest.mark.parametrize("catalog", [None, CATALOGS[2]])
def test_common_records_take_the_fast_path(record, catalog):
    if catalog is not None:  # only attribute names the catalog knows (case-insensitively)
        record = {key: value for key, value in record.items() if key != "custom_attributes"}
        if "customAttributes" in record:
            record["customAttributes"] = [{"name": "city", "value": "x"}]
    fast = assert_same(record, "Email", catalog)
    assert fast is not None, "a common record should not need the model"
    assert customer_payload(record, match_by="email", settings=catalog) == fast


def test_a_new_key_spelling_takes_the_model_once_then_the_fast_path():
    record = {"EMAIL_": "x@example.com", "First_Name": "Jane"}
    assert customer_payload(record, match_by="Email") == {"email": "x@example.com", "firstName": "Jane"}
    assert _fast_customer(record, "Email", None) == {"email": "x@example.com", "firstName": "Jane"}


@pytest.mark.parametrize(
    "record",
    [
        {"email": "a@example.com", "Email": "b@example.com"},  # given twice
        {"email": "a@example.com", "firstName": "x\ud800"},  # lone surrogate
        {"email": "a@example.com", "crmId": True},  # a bool is not an identifier
        {"email": "a@example.com", "consents": {1: True}, "consentsData": {"force": True}},
        {"email": "a@example.com", "customAttributes": [{"name": "a"}, {"name": "A"}]},
        {"crmId": "7"},  # match_by Email without an e-mail
    ],
)
def test_unusual_records_are_left_to_the_model(record):
    assert _fast_customer(record, "Email", None) is None


# ------------------------------------------------------------------------------------------------- orders

amounts = st.one_of(
    st.integers(-1, 2**54),
    st.decimals(allow_nan=False, places=2, max_value=10**6),
    st.decimals(allow_nan=True),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["12.50", "1e3", "-1", "x", True, "0.1"]),
)
VALID_AMOUNTS = st.one_of(
    st.integers(0, 10**9), st.decimals(min_value=0, max_value=10**6, places=2), st.floats(0, 1e6)
)
order_attributes = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {"name": st.sampled_from(["city", "vip", "points", "a"])},
            optional={"value": valid_attribute_values},
        ),
        max_size=2,
    ),
    st.dictionaries(st.sampled_from(["city", "vip", "a"]), valid_attribute_values, max_size=2),
)
order_customers = st.one_of(
    st.fixed_dictionaries(
        {}, optional={"email": FIELDS["email"], "phone": FIELDS["phone"], "crm_id": FIELDS["crmId"]}
    ),
    st.fixed_dictionaries({"email": st.emails()}, optional={"crmId": VALID["crmId"]}),
    st.just("jane@example.com"),
)
PRODUCT_FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "name": (st.text(max_size=10), texts(10)),
    "price": (VALID_AMOUNTS, amounts),
    "quantity": (st.integers(0, 10), amounts),
    "returned": (st.just(0), amounts),
    "url": (st.just("https://shop.example/p/1"), texts(5)),
    "image_url": (st.just("https://shop.example/i/1.jpg"), identifiers),
    "category": (st.text(max_size=10), identifiers),
    "productAttributes": (order_attributes, attributes),
}
ORDER_FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "time_zone": (st.just("Europe/Warsaw"), texts(100)),
    "websiteId": (st.integers(-(2**31), 2**31 - 1), consent_ids),
    "status": (st.sampled_from(["paid", "Cancelled", "PLACED"]), st.sampled_from(["shipped", 1, ""])),
    "currency": (st.sampled_from(["PLN", "eur"]), st.sampled_from(["EURO", "P1N", "zł", 978])),
    "totalValue": (VALID_AMOUNTS, amounts),
    "returns_value": (VALID_AMOUNTS, amounts),
    "orderAttributes": (order_attributes, attributes),
}


@st.composite
def fields_of(
    draw: st.DrawFn, table: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]]
) -> Any:
    record: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(sorted(table)), unique=True, max_size=len(table))):
        valid, edge = table[name]
        record[name] = draw(valid if draw(MOSTLY) else edge)
    return record


@st.composite
def near_valid_orders(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = draw(fields_of(ORDER_FIELDS))
    valid = draw(MOSTLY)
    record["id"] = draw(
        st.one_of(st.text(min_size=1, max_size=10), st.integers(0, 10**12)) if valid else FIELDS["crmId"]
    )
    record["date"] = draw(
        st.one_of(
            st.datetimes(timezones=st.sampled_from([None, timezone.utc])), st.just("2025-11-03T14:05:00Z")
        )
        if draw(MOSTLY)
        else FIELDS["dateOfBirth"]
    )
    record["customer"] = draw(
        order_customers
        if not draw(MOSTLY)
        else st.fixed_dictionaries({"email": st.emails()}, optional={"crmId": VALID["crmId"]})
    )
    products = draw(st.lists(fields_of(PRODUCT_FIELDS), max_size=3))
    for product in products:
        product["id"] = draw(
            st.one_of(st.text(min_size=1, max_size=8), st.integers(0, 99)) if draw(MOSTLY) else identifiers
        )
    record["products"] = products if draw(MOSTLY) else draw(st.sampled_from([tuple(products), None]))
    for required in ("id", "date", "customer", "products"):
        if not draw(MOSTLY):
            del record[required]
    return record


@SETTINGS
@given(record=near_valid_orders(), catalog=st.sampled_from(CATALOGS))
def test_order_fast_path_agrees_with_the_model_on_near_valid_orders(record, catalog):
    assert_same(record, None, catalog, event)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records(ORDER_KEYS), catalog=st.sampled_from(CATALOGS))
def test_order_fast_path_agrees_with_the_model_on_any_input(record, catalog):
    assert_same(record, None, catalog, event)


ORDER = {
    "id": 100000231,
    "date": datetime(2025, 11, 3, 14, 5, tzinfo=timezone.utc),
    "time_zone": "Europe/Warsaw",
    "website_id": 7,
    "status": "paid",
    "currency": "pln",
    "total_value": Decimal("259.98"),
    "returns_value": 0,
    "customer": {"email": "jane.doe@example.com", "crm_id": 10042},
    "products": [
        {
            "id": "SKU-77",
            "name": "Trail shoe",
            "price": Decimal("129.99"),
            "quantity": 2,
            "url": "https://shop.example/p/77",
            "image_url": "https://shop.example/i/77.jpg",
            "product_attributes": {"points": 3},
        }
    ],
    "order_attributes": {"city": "Gdańsk"},
}


@pytest.mark.parametrize("catalog", [None, CATALOGS[2]])
def test_a_common_order_takes_the_fast_path(catalog):
    fast = assert_same(ORDER, None, catalog)
    assert fast is not None, "a common order should not need the model"
    assert order_payload(ORDER, settings=catalog) == fast
    assert fast["products"][0]["price"] == 129.99
    assert fast["totalValue"] == 259.98


@pytest.mark.parametrize(
    "record",
    [
        {**ORDER, "products": ()},  # a tuple: the model decides
        {**ORDER, "customer": {}},  # no identifier
        {key: value for key, value in ORDER.items() if key != "date"},
        {**ORDER, "currency": "zł "},
    ],
)
def test_unusual_orders_are_left_to_the_model(record):
    assert _fast_order(record, None) is None
