"""The emulator (the project's executable reading of the API docs) accepts what the models emit.

Raw HTTP with ``requests`` on purpose: this checks the models' output, not the hook.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests

from airflow_provider_expertsender.models import (
    SettingsCatalog,
    custom_event_payload,
    customer_payload,
    order_payload,
    status_change_payload,
)
from tests.models.helpers import SNAKE_ORDER, problems

CUSTOMERS = [
    {
        "email": "jane.doe@example.com",
        "crm_id": 10042,
        "first_name": "Jane",
        "last_name": "Doe",
        "gender": "female",
        "date_of_birth": date(1991, 6, 30),
        "custom_attributes": {
            "loyalty_tier": "Gold",
            "points": 120,
            "lifetime_value": Decimal("1234.50"),
            "signup_date": date(2024, 2, 29),
            "last_login": datetime(2025, 11, 3, 14, 5, tzinfo=timezone(timedelta(hours=1))),
            "newsletter_opt_in": True,
            "profile_url": "https://jane.example/",
            "notes": "x" * 1000,
            "CITY": "Kraków",
        },
        "consents": {1: True, "2": "awaiting_confirmation", 3: False},
    },
    {"Email": "john@example.com", "phone": 48600100200, "consentsData": {"force": True, "consents": []}},
]
ORDER = {
    **SNAKE_ORDER,
    "status": "Paid",
    "products": [
        {**SNAKE_ORDER["products"][0], "product_attributes": {"size": 42, "weight_kg": Decimal("0.85")}}
    ],
    "order_attributes": {
        "shipping_method": "courier",
        "gift_wrap": False,
        "delivery_date": date(2025, 11, 5),
    },
}
SETTINGS_PATHS = {
    "customer_attributes": "/customerattributes",
    "consents": "/customerconsents",
    "order_attributes": "/orderattributes",
    "product_attributes": "/productattributes",
}


@pytest.fixture
def api(emulator):
    session = requests.Session()
    session.headers.update({"x-api-key": emulator.api_key, "Content-Type": "application/json"})

    def call(method: str, path: str, body: object = None) -> requests.Response:
        return session.request(method, emulator.url + path, json=body, timeout=10)

    yield call
    session.close()


@pytest.fixture
def catalog(api):
    lists = {}
    for name, path in SETTINGS_PATHS.items():
        response = api("GET", path)
        assert response.status_code == 200
        lists[name] = response.json()["data"]
    return SettingsCatalog.from_lists(**lists)


def test_customers_orders_status_changes_and_events_are_accepted(api, catalog, emulator):
    customers = [
        customer_payload(c, match_by="email", index=i, settings=catalog) for i, c in enumerate(CUSTOMERS)
    ]
    response = api("POST", "/customers", {"mode": "AddOrUpdate", "matchBy": "Email", "data": customers})
    assert response.status_code == 201, response.text

    order = order_payload(ORDER, settings=catalog)
    response = api("POST", "/orders", {"mode": "AddOrReplace", "data": [order]})
    assert response.status_code == 201, response.text

    response = api("PUT", "/orders/status", status_change_payload(100000231, "Cancelled", website_id=7))
    assert response.status_code == 200, response.text

    event = custom_event_payload(
        5,
        email="jane.doe@example.com",
        data_fields={
            "coupon": "SPRING",
            "amount": Decimal("9.90"),
            "link": {"type": "URL", "value": "https://x.example"},
        },
    )
    response = api("POST", "/scenariocustomevents", event)
    assert response.status_code == 201, response.text

    store = emulator.store(emulator.api_key)
    stored = store.customer(email="jane.doe@example.com")
    assert stored is not None
    assert stored["crmId"] == "10042"
    assert stored["dateOfBirth"].startswith("1991-06-30")
    assert store.order("100000231", 7)["status"] == "canceled"
    assert len(store.events) == 1


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"points": "many"}, "customAttributes[0].value"),
        ({"signup_date": "29/02/2024"}, "customAttributes[0].value"),
        ({"newsletter_opt_in": "yes"}, "customAttributes[0].value"),
        ({"profile_url": "jane.example"}, "customAttributes[0].value"),
        ({"favourite_colour": "red"}, "customAttributes[0].name"),
    ],
)
def test_what_the_catalog_rejects_the_emulator_rejects_too(api, catalog, attributes, field):
    record = {"email": "a@example.com", "customAttributes": attributes}
    assert list(problems(lambda: customer_payload(record, match_by="Email", settings=catalog))) == [field]
    # Without the catalog the record is well-formed, and the API (here: the emulator) refuses it.
    payload = customer_payload(record, match_by="Email")
    response = api("POST", "/customers", {"mode": "AddOrUpdate", "matchBy": "Email", "data": [payload]})
    assert response.status_code == 400
