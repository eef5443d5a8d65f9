"""Differential property test: every record the models accept, the emulator accepts too (201).

The emulator is the project's executable reading of the API documentation, written independently of the
models; a record that passes local validation but that it refuses would fail a whole batch at run time.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_expertsender.models import SettingsCatalog, customer_payload, order_payload

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    # The emulator is reset once per test, not per example: every example is an upsert, so order is harmless.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SETTINGS_PATHS = {
    "customer_attributes": "/customerattributes",
    "consents": "/customerconsents",
    "order_attributes": "/orderattributes",
    "product_attributes": "/productattributes",
}

timezones = st.sampled_from(
    [None, timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=timezones)
texts = st.text(max_size=60)
numbers = st.one_of(
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
    st.decimals(places=2, min_value=-(10**9), max_value=10**9),
)
amounts = st.one_of(
    st.integers(0, 10**9),
    st.floats(min_value=0, max_value=1e9),
    st.decimals(places=2, min_value=0, max_value=10**9),
)
emails = st.emails().filter(lambda e: len(e) <= 320)

customers = st.fixed_dictionaries(
    {"email": emails},
    optional={
        "phone": st.from_regex(r"\+?[0-9]{1,19}", fullmatch=True),
        "crm_id": st.one_of(st.text(min_size=1, max_size=128), st.integers(0, 10**12)),
        "visitor_id": st.text(min_size=1, max_size=38),
        "first_name": st.text(max_size=256),
        "last_name": st.text(max_size=256),
        "date_of_birth": st.one_of(st.dates(), moments),
        "gender": st.sampled_from(["male", "Female", "not_specified"]),
        "custom_attributes": st.fixed_dictionaries(
            {},
            optional={
                "loyalty_tier": st.sampled_from(["bronze", "SILVER", "gold"]),
                "points": numbers,
                "lifetime_value": amounts,
                "signup_date": st.dates(),
                "last_login": st.one_of(moments, st.dates()),
                "newsletter_opt_in": st.booleans(),
                "profile_url": st.sampled_from(["https://jane.example/", "http://x.example/p?q=1#a"]),
                "notes": st.text(max_size=2000),
                "city": texts,
            },
        ),
        "consents": st.dictionaries(
            st.integers(1, 3), st.one_of(st.booleans(), st.sampled_from(["awaiting_confirmation", "FALSE"]))
        ),
    },
)
products = st.fixed_dictionaries(
    {"id": st.one_of(st.text(min_size=1, max_size=64), st.integers(0, 10**9))},
    optional={
        "name": texts,
        "price": amounts,
        "quantity": st.one_of(st.integers(0, 1000), st.decimals(places=3, min_value=0, max_value=1000)),
        "returned": st.integers(0, 5),
        "url": texts,
        "image_url": texts,
        "category": texts,
        "product_attributes": st.fixed_dictionaries(
            {}, optional={"size": texts, "color": texts, "weight_kg": numbers, "material": texts}
        ),
    },
)
orders = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(min_size=1, max_size=128), st.integers(0, 10**12)),
        "date": st.one_of(st.dates(), moments),
        "customer": st.one_of(
            st.fixed_dictionaries({"email": emails}, optional={"crm_id": st.text(min_size=1, max_size=128)}),
            st.fixed_dictionaries({"crm_id": st.integers(0, 10**9)}),
        ),
        "products": st.lists(products, max_size=4),
    },
    optional={
        "time_zone": st.sampled_from(["UTC", "Europe/Warsaw"]),
        "website_id": st.integers(1, 2**31 - 1),
        "status": st.sampled_from(["placed", "PAID", "Completed", "Cancelled"]),
        "currency": st.sampled_from(["pln", "EUR", "usd"]),
        "total_value": amounts,
        "returns_value": amounts,
        "order_attributes": st.fixed_dictionaries(
            {},
            optional={
                "shipping_method": st.sampled_from(["courier", "pickup", "post"]),
                "coupon_code": texts,
                "gift_wrap": st.booleans(),
                "delivery_date": st.dates(),
            },
        ),
    },
)


@pytest.fixture
def post(emulator):
    session = requests.Session()
    session.headers.update({"x-api-key": emulator.api_key})

    def call(path: str, body: object) -> requests.Response:
        # The body goes through json.dumps exactly as the hook sends it (no NaN, no custom encoder).
        data = json.dumps(body, allow_nan=False)
        return session.post(
            emulator.url + path, data=data, headers={"Content-Type": "application/json"}, timeout=10
        )

    yield call
    session.close()


@pytest.fixture
def catalog(emulator):
    lists = {}
    for name, path in SETTINGS_PATHS.items():
        response = requests.get(emulator.url + path, headers={"x-api-key": emulator.api_key}, timeout=10)
        lists[name] = response.json()["data"]
    return SettingsCatalog.from_lists(**lists)


@SETTINGS
@given(record=customers)
def test_every_customer_the_models_accept_the_emulator_accepts(post, catalog, record):
    payload = customer_payload(record, match_by="Email", settings=catalog)
    response = post("/customers", {"mode": "AddOrUpdate", "matchBy": "Email", "data": [payload]})
    assert response.status_code == 201, response.text


@SETTINGS
@given(record=orders)
def test_every_order_the_models_accept_the_emulator_accepts(post, catalog, record):
    payload = order_payload(record, settings=catalog)
    response = post("/orders", {"mode": "AddOrReplace", "data": [payload]})
    assert response.status_code == 201, response.text
