"""SettingsCatalog: validate_against_settings checks names, consent ids and value types before sending."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderResponseError
from airflow_provider_expertsender.models import SettingsCatalog, customer_payload, order_payload
from tests.models.helpers import problems

CUSTOMER_ATTRIBUTES = [
    {"id": 1, "name": "loyalty_tier", "type": "SingleSelct"},  # the docs' misspelling
    {"id": 2, "name": "points", "type": "Number"},
    {"id": 3, "name": "balance", "type": "Money"},
    {"id": 4, "name": "first_purchase", "type": "Date"},
    {"id": 5, "name": "last_login", "type": "DateTime"},
    {"id": 6, "name": "vip", "type": "Boolean"},
    {"id": 7, "name": "homepage", "type": "Url"},
    {"id": 8, "name": "Nickname", "type": "String"},
    {"id": 9, "name": "bio", "type": "Text"},
    {"id": 10, "name": "future", "type": "Hologram"},
]
CONSENTS = [{"id": 1, "name": "Newsletter", "type": "Email"}, {"id": 2, "name": "SMS offers", "type": "Sms"}]
CATALOG = SettingsCatalog.from_lists(
    customer_attributes=CUSTOMER_ATTRIBUTES,
    consents=CONSENTS,
    order_attributes=[{"id": 1, "name": "shipping_method", "type": "SingleSelect"}],
    product_attributes=[{"id": 1, "name": "size", "type": "Number"}],
)


def customer(attributes=None, consents=None):
    record = {"email": "a@b.co"}
    if attributes is not None:
        record["customAttributes"] = attributes
    if consents is not None:
        record["consents"] = consents
    return customer_payload(record, match_by="Email", settings=CATALOG)


@pytest.mark.parametrize(
    ("name", "value", "sent"),
    [
        ("loyalty_tier", "gold", "gold"),
        ("points", 120, "120"),
        ("points", "-3.25", "-3.25"),
        ("points", Decimal("1.10"), "1.10"),
        ("balance", 19.99, "19.99"),
        ("first_purchase", date(2024, 2, 29), "2024-02-29"),
        ("first_purchase", "2024-02-29", "2024-02-29"),
        ("last_login", datetime(2024, 2, 29, 10, 1, 2), "2024-02-29T10:01:02Z"),
        ("last_login", date(2024, 2, 29), "2024-02-29T00:00:00Z"),
        ("last_login", "2024-02-29T10:01:02+01:00", "2024-02-29T09:01:02Z"),
        ("vip", True, "true"),
        ("vip", "False", "false"),
        ("homepage", "https://jane.example/", "https://jane.example/"),
        ("Nickname", "JJ", "JJ"),
        ("bio", "x" * 5000, "x" * 5000),
        ("future", "anything", "anything"),
    ],
)
def test_values_that_fit_their_type(name, value, sent):
    assert customer([{"name": name, "value": value}])["customAttributes"] == [{"name": name, "value": sent}]


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("points", "many", "must be a number such as 12.5 (the type is Number)"),
        ("points", True, "must be a number such as 12.5 (the type is Number)"),
        ("balance", "12,50", "must be an amount such as 12.5 (the type is Money)"),
        ("first_purchase", "29/02/2024", "must be a date YYYY-MM-DD (the type is Date)"),
        ("first_purchase", "2023-02-29", "must be a date YYYY-MM-DD (the type is Date)"),
        ("first_purchase", datetime(2024, 2, 29, 10), "must be a date (YYYY-MM-DD), not a date-time"),
        (
            "last_login",
            "2024-02-29",
            "must be an ISO-8601 date-time such as 2025-11-03T14:05:00Z (the type is DateTime)",
        ),
        (
            "last_login",
            1700000000,
            "must be an ISO-8601 date-time such as 2025-11-03T14:05:00Z (the type is DateTime)",
        ),
        ("vip", "yes", "must be true or false (the type is Boolean)"),
        ("vip", 1, "must be true or false (the type is Boolean)"),
        ("homepage", "jane.example", "must be an http(s) URL (the type is Url)"),
        ("homepage", "ftp://jane.example", "must be an http(s) URL (the type is Url)"),
        ("homepage", "https://jane example", "must be an http(s) URL (the type is Url)"),
        ("homepage", "http://[::1", "must be an http(s) URL (the type is Url)"),
    ],
)
def test_values_that_do_not_fit_their_type(name, value, rule):
    found = problems(lambda: customer([{"name": name, "value": value}]))
    assert found == {"customAttributes[0].value": rule}


def test_attribute_names_match_case_insensitively_and_are_sent_in_the_business_unit_spelling():
    assert customer({"NICKNAME": "JJ", "Points": 3})["customAttributes"] == [
        {"name": "Nickname", "value": "JJ"},
        {"name": "points", "value": "3"},
    ]


def test_unknown_attribute_name_suggests_a_close_one():
    assert problems(lambda: customer({"loyalty_teir": "gold"})) == {
        "customAttributes[0].name": "unknown customer attribute; did you mean loyalty_tier?"
    }


def test_unknown_attribute_name_lists_the_known_ones():
    found = problems(lambda: customer({"zzz": 1}))
    assert found["customAttributes[0].name"].startswith(
        "unknown customer attribute (this business unit has: Nickname, balance, bio, first_purchase"
    )


def test_unknown_consent_id():
    assert problems(lambda: customer(consents={1: True, 9: False})) == {
        "consentsData.consents[1].id": "unknown consent id "
        "(this business unit has: 1 (Newsletter), 2 (SMS offers))"
    }


def test_known_consents_pass():
    assert customer(consents={2: "awaitingconfirmation"})["consentsData"]["consents"] == [
        {"id": 2, "value": "AwaitingConfirmation"}
    ]


def test_order_and_product_attributes_are_checked_against_their_own_lists():
    record = {
        "id": "1",
        "date": "2025-01-01",
        "customer": {"email": "a@b.co"},
        "products": [{"id": "p", "productAttributes": {"size": "XL", "shipping_method": "x"}}],
        "orderAttributes": {"Shipping_Method": "courier", "size": 42},
    }
    assert problems(lambda: order_payload(record, settings=CATALOG)) == {
        "products[0].productAttributes[0].value": "must be a number such as 12.5 (the type is Number)",
        "products[0].productAttributes[1].name": "unknown product attribute (this business unit has: size)",
        "orderAttributes[1].name": "unknown order attribute (this business unit has: shipping_method)",
    }
    record["products"][0]["productAttributes"] = {"size": 42}
    record["orderAttributes"] = {"Shipping_Method": "courier"}
    payload = order_payload(record, settings=CATALOG)
    assert payload["orderAttributes"] == [{"name": "shipping_method", "value": "courier"}]
    assert payload["products"][0]["productAttributes"] == [{"name": "size", "value": "42"}]


def test_lists_not_loaded_are_not_checked():
    catalog = SettingsCatalog.from_lists(consents=CONSENTS)
    payload = customer_payload(
        {"email": "a@b.co", "customAttributes": {"anything": "x"}}, match_by="Email", settings=catalog
    )
    assert payload["customAttributes"] == [{"name": "anything", "value": "x"}]
    assert catalog.loaded("consents")
    assert not catalog.loaded("customer_attributes")


def test_an_empty_list_means_the_business_unit_defines_none():
    catalog = SettingsCatalog.from_lists(customer_attributes=[], consents=[])
    found = problems(
        lambda: customer_payload({"email": "a@b.co", "customAttributes": {"x": 1}, "consents": {1: True}},
                                 match_by="Email", settings=catalog)
    )  # fmt: skip
    assert found == {
        "customAttributes[0].name": "unknown customer attribute: this business unit defines none",
        "consentsData.consents[0].id": "unknown consent id: this business unit defines no consents",
    }


def test_attribute_spec_lookup():
    assert CATALOG.attribute("customer_attributes", "LOYALTY_TIER").type == "SingleSelect"
    assert CATALOG.attribute("customer_attributes", "future").type is None
    assert CATALOG.attribute("order_attributes", "nope") is None
    assert "customer_attributes=10" in repr(CATALOG)


@pytest.mark.parametrize(
    ("lists", "match"),
    [
        ({"customer_attributes": [{"id": 1, "type": "String"}]}, "no attribute name"),
        ({"product_attributes": ["size"]}, "no attribute name"),
        ({"consents": [{"name": "Newsletter"}]}, "no integer id"),
        ({"consents": [{"id": True, "name": "x"}]}, "no integer id"),
    ],
)
def test_malformed_lists_are_a_response_error(lists, match):
    with pytest.raises(ExpertSenderResponseError, match=match):
        SettingsCatalog.from_lists(**lists)


def test_consent_ids_given_as_strings_by_the_api_are_accepted():
    catalog = SettingsCatalog.from_lists(consents=[{"id": "4", "name": "x"}])
    assert catalog.consents == {4: "x"}
