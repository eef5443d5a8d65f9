"""order_payload and status_change_payload."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pendulum
import pytest

from airflow_provider_expertsender.models import order_payload, status_change_payload
from tests.models.helpers import SNAKE_ORDER, problems, rejected

API_ORDER = {
    "id": "100000231",
    "date": "2025-11-03T14:05:00Z",
    "timeZone": "Europe/Warsaw",
    "websiteId": 7,
    "status": "paid",
    "currency": "PLN",
    "totalValue": 259.98,
    "returnsValue": 0,
    "customer": {"email": "jane.doe@example.com", "crmId": "10042"},
    "products": [
        {
            "id": "SKU-77",
            "name": "Trail shoe",
            "price": 129.99,
            "quantity": 2,
            "returned": 0,
            "url": "https://shop.example/p/77",
            "imageUrl": "https://shop.example/i/77.jpg",
            "category": "Shoes | Running",
            "productAttributes": [{"name": "size", "value": "42"}],
        }
    ],
    "orderAttributes": [{"name": "shipping_method", "value": "courier"}],
}


def test_api_shaped_order_round_trips_unchanged():
    assert order_payload(API_ORDER) == API_ORDER


def test_snake_case_and_python_values_give_the_api_shape():
    payload = order_payload(SNAKE_ORDER)
    assert payload == API_ORDER
    assert json.loads(json.dumps(payload)) == API_ORDER


def test_minimal_order():
    record = {"id": "1", "date": "2025-01-01", "customer": {"crmId": "0"}, "products": []}
    assert order_payload(record) == {
        "id": "1",
        "date": "2025-01-01T00:00:00Z",
        "customer": {"crmId": "0"},
        "products": [],
    }


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (datetime(2025, 11, 3, 14, 5), "2025-11-03T14:05:00Z"),  # naive = UTC
        (datetime(2025, 11, 3, 14, 5, tzinfo=timezone.utc), "2025-11-03T14:05:00Z"),
        (datetime(2025, 11, 3, 14, 5, 0, 123456, tzinfo=timezone.utc), "2025-11-03T14:05:00.123456Z"),
        (datetime(2025, 11, 3, 0, 30, tzinfo=timezone(timedelta(hours=2))), "2025-11-02T22:30:00Z"),
        (pendulum.datetime(2025, 7, 1, 12, tz="Europe/Warsaw"), "2025-07-01T10:00:00Z"),
        (pendulum.datetime(2025, 7, 1, 12), "2025-07-01T12:00:00Z"),
        (date(2025, 11, 3), "2025-11-03T00:00:00Z"),
        ("2025-11-03T14:05:00Z", "2025-11-03T14:05:00Z"),
        ("2025-11-03T14:05:00.000Z", "2025-11-03T14:05:00Z"),
        ("2025-11-03 14:05:00", "2025-11-03T14:05:00Z"),
        ("2025-11-03T16:05:00+02:00", "2025-11-03T14:05:00Z"),
        ("2025-11-03", "2025-11-03T00:00:00Z"),
    ],
)
def test_order_date_is_sent_in_utc_with_z(given, sent):
    record = {"id": "1", "date": given, "customer": {"email": "a@b.co"}, "products": []}
    assert order_payload(record)["date"] == sent


@pytest.mark.parametrize("given", ["03/11/2025", "2025-13-01", "yesterday", 20251103, 1.5, "", None])
def test_invalid_order_dates(given):
    record = {"id": "1", "date": given, "customer": {"email": "a@b.co"}, "products": []}
    found = problems(lambda: order_payload(record))
    assert list(found) == ["date"]
    assert found["date"] == ("required" if given is None else found["date"])
    if given is not None:
        assert found["date"].startswith("must be a date-time")


def test_out_of_range_aware_datetime():
    value = datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=5)))
    record = {"id": "1", "date": value, "customer": {"email": "a@b.co"}, "products": []}
    assert problems(lambda: order_payload(record)) == {"date": "is out of the supported date range"}


@pytest.mark.parametrize(
    ("given", "sent"),
    [("placed", "placed"), ("Paid", "paid"), ("COMPLETED", "completed"), ("canceled", "canceled"),
     ("Cancelled", "canceled"), ("cancelled", "canceled")],
)  # fmt: skip
def test_status_spellings(given, sent):
    record = {
        "id": "1",
        "date": "2025-01-01",
        "status": given,
        "customer": {"email": "a@b.co"},
        "products": [],
    }
    assert order_payload(record)["status"] == sent


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (0, 0),
        (12, 12),
        (12.5, 12.5),
        (Decimal("259.98"), 259.98),
        (Decimal("0.10"), 0.1),
        (Decimal("1234567890.12"), 1234567890.12),
        ("259.98", 259.98),
        # Whole numbers are sent as JSON integers, whatever their Python type.
        (" 7 ", 7),
        (7.0, 7),
        (Decimal("10.00"), 10),
        (Decimal("1E+3"), 1000),
        (-0.0, 0),
        (1e20, 1e20),  # beyond 2**53 a float stays a float
    ],
)
def test_money_keeps_the_decimal_value(given, sent):
    record = {
        "id": "1",
        "date": "2025-01-01",
        "totalValue": given,
        "customer": {"email": "a@b.co"},
        "products": [],
    }
    value = order_payload(record)["totalValue"]
    assert value == sent
    assert type(value) is type(sent)
    if isinstance(given, Decimal):
        # The JSON text carries exactly the decimal value that was given.
        assert Decimal(json.dumps(value)) == given


@pytest.mark.parametrize(
    ("given", "rule"),
    [
        (-0.01, "must be >= 0"),
        (Decimal("-1"), "must be >= 0"),
        ("-5", "must be >= 0"),
        (Decimal("0.12345678901234567890"), "has more significant digits than the API's number type"),
        (Decimal("NaN"), "must be a finite number"),
        (Decimal("sNaN"), "must be a finite number"),
        (float("inf"), "must be a finite number"),
        (Decimal("1E+400"), "must be a finite number within the range of a double"),
        (2**60, "must be at most 9007199254740992"),
        ("12,50", "must be a number"),
        ("\u0661\u0662", "must be a number"),  # Arabic-Indic digits
        ("abc", "must be a number"),
        (True, "must be a number, not true/false"),
        ([1], "must be a number"),
    ],
)
def test_money_rules(given, rule):
    record = {
        "id": "1",
        "date": "2025-01-01",
        "returns_value": given,
        "customer": {"email": "a@b.co"},
        "products": [],
    }
    found = problems(lambda: order_payload(record))
    assert list(found) == ["returnsValue"]
    assert found["returnsValue"].startswith(rule)


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("id", "", "must not be empty"),
        ("id", "o" * 129, "at most 128 characters"),
        ("id", 1.0, "must be a string"),
        ("timeZone", "z" * 101, "at most 100 characters"),
        ("websiteId", 2**31, "must be an integer from -2147483648 to 2147483647"),
        ("websiteId", "seven", "must be an integer from -2147483648 to 2147483647"),
        ("websiteId", 7.5, "must be an integer from -2147483648 to 2147483647"),
        ("websiteId", "\u0667", "must be an integer from -2147483648 to 2147483647"),  # Arabic-Indic 7
        ("status", "shipped", "one of placed, paid, completed, canceled"),
        ("currency", "zł", "must be 3 letters (an ISO 4217 code such as EUR)"),
        ("currency", "EURO", "must be 3 letters (an ISO 4217 code such as EUR)"),
        ("currency", "E1R", "must be 3 letters (an ISO 4217 code such as EUR)"),
        ("currency", 978, "must be a string"),
        ("products", None, "required"),
        ("products", {"id": "x"}, "must be a list"),
        ("customer", "jane@example.com", "must be an object (a mapping)"),
    ],
)
def test_order_field_rules(field, value, rule):
    record = {"id": "1", "date": "2025-01-01", "customer": {"email": "a@b.co"}, "products": [], field: value}
    found = problems(lambda: order_payload(record))
    assert found == {field: rule}


def test_currency_is_upper_cased():
    record = {
        "id": "1",
        "date": "2025-01-01",
        "currency": "eur",
        "customer": {"email": "a@b.co"},
        "products": [],
    }
    assert order_payload(record)["currency"] == "EUR"


def test_customer_needs_an_identifier():
    record = {"id": "1", "date": "2025-01-01", "customer": {"email": None}, "products": []}
    assert problems(lambda: order_payload(record)) == {
        "customer": "needs at least one identifier: email, phone or crmId"
    }


def test_customer_fields_are_checked_and_unknown_ones_rejected():
    record = {
        "id": "1",
        "date": "2025-01-01",
        "customer": {"email": "nope", "phone": "1 2", "crm_id": "c" * 129, "firstName": "Jane"},
        "products": [],
    }
    assert problems(lambda: order_payload(record)) == {
        "customer.email": "must be an e-mail address (name@domain, no spaces)",
        "customer.phone": "must not contain spaces",
        "customer.crmId": "at most 128 characters",
        "customer.firstName": "unknown field; known fields: crmId, email, phone",
    }


def test_product_rules():
    record = {
        "id": "A-1",
        "date": "2025-01-01",
        "customer": {"email": "a@b.co"},
        "products": [
            {"name": "no id"},
            {"id": "p", "price": -1, "quantity": -2, "returned": "x"},
            {"id": "q", "productAttributes": [{"name": ""}], "colour": "red"},
            "SKU-1",
        ],
    }
    invalid = rejected(lambda: order_payload(record, index=9))
    assert invalid.index == 9
    assert invalid.identifier == "A-1"
    assert {p.field: p.rule for p in invalid.problems} == {
        "products[0].id": "required",
        "products[1].price": "must be >= 0",
        "products[1].quantity": "must be >= 0",
        "products[1].returned": "must be a number",
        "products[2].productAttributes[0].name": "must not be empty",
        "products[2].colour": "unknown field; known fields: category, id, imageUrl, name, price, "
        "productAttributes, quantity, returned, url",
        "products[3]": "must be an object (a mapping)",
    }


def test_quantities_from_text_files_are_integers():
    record = {"id": "1", "date": "2025-01-01", "customer": {"email": "a@b.co"},
              "products": [{"id": "p", "quantity": "2", "returned": "0", "price": "10.50"}]}  # fmt: skip
    assert order_payload(record)["products"] == [{"id": "p", "quantity": 2, "returned": 0, "price": 10.5}]
    assert (
        json.dumps(order_payload(record)["products"][0])
        == '{"id": "p", "price": 10.5, "quantity": 2, "returned": 0}'
    )


def test_fractional_quantities_are_kept():
    record = {"id": "1", "date": "2025-01-01", "customer": {"email": "a@b.co"},
              "products": [{"id": "flour", "quantity": Decimal("1.25"), "returned": 0}]}  # fmt: skip
    assert order_payload(record)["products"] == [{"id": "flour", "quantity": 1.25, "returned": 0}]


def test_order_error_uses_the_order_id_as_identifier():
    assert rejected(lambda: order_payload({"id": 77, "date": "x"})).identifier == "77"
    assert rejected(lambda: order_payload({"date": "x"})).identifier is None


def test_every_problem_of_an_order_is_listed_at_once():
    record = {
        "id": "",
        "date": "bad",
        "currency": "EURO",
        "customer": {},
        "products": [{"price": -1}],
        "bogus": 1,
    }
    assert set(problems(lambda: order_payload(record))) == {
        "id", "date", "currency", "customer", "products[0].id", "products[0].price", "bogus",
    }  # fmt: skip


# ------------------------------------------------------------------------------------------- status change


def test_status_change_payload():
    assert status_change_payload("A-1", "Cancelled") == {"orderId": "A-1", "orderStatus": "canceled"}
    assert status_change_payload(42, "PAID", website_id="7") == {
        "orderId": "42",
        "orderStatus": "paid",
        "websiteId": 7,
    }


def test_status_change_rules():
    invalid = rejected(lambda: status_change_payload("A-1", "shipped", website_id=True))
    assert invalid.identifier == "A-1"
    assert {p.field: p.rule for p in invalid.problems} == {
        "orderStatus": "one of placed, paid, completed, canceled",
        "websiteId": "must be an integer from -2147483648 to 2147483647, not true/false",
    }
    assert problems(lambda: status_change_payload("", None)) == {
        "orderId": "must not be empty",
        "orderStatus": "required",
    }
