"""custom_event_payload and data_fields_payload."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.models import custom_event_payload, data_fields_payload
from tests.models.helpers import problems, rejected

MD5 = "5d41402abc4b2a76b9719d911017c592"
SHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


@pytest.mark.parametrize(
    ("keyword", "value", "field", "sent"),
    [
        ("customer_id", 53492, "customerId", 53492),
        ("customer_id", "53492", "customerId", 53492),
        ("customer_id", 2**40, "customerId", 2**40),
        ("email", "jane@example.com", "customerEmail", "jane@example.com"),
        ("email_md5", MD5.upper(), "customerEmailMd5", MD5),
        ("email_sha256", SHA256, "customerEmailSha256", SHA256),
        ("phone", "+48600100200", "customerPhone", "+48600100200"),
        ("crm_id", 10042, "customerCrmId", "10042"),
    ],
)
def test_each_identifier(keyword, value, field, sent):
    payload = custom_event_payload(12, **{keyword: value})
    assert payload == {"customEventId": 12, field: sent}


def test_a_blank_identifier_is_not_given_as_everywhere_else():
    # One rule (arguments.is_given) for the hook, the operators, the sensors and the models.
    payload = custom_event_payload(12, email="", phone="+48600100200")
    assert payload == {"customEventId": 12, "customerPhone": "+48600100200"}


def test_custom_event_id_accepts_integer_strings():
    assert custom_event_payload("12", email="a@b.co") == {"customEventId": 12, "customerEmail": "a@b.co"}


@pytest.mark.parametrize(
    "identifiers",
    [{}, {"email": "a@b.co", "phone": "1"}, {"customer_id": 1, "crm_id": "2"}, {"email": " "}, {"email": ""}],
)
def test_exactly_one_identifier(identifiers):
    with pytest.raises(ExpertSenderConfigError, match="A custom event needs exactly one of customer_id"):
        custom_event_payload(1, **identifiers)


@pytest.mark.parametrize(
    ("custom_event_id", "identifier", "field", "rule"),
    [
        (0, {"email": "a@b.co"}, "customEventId", "must be an integer from 1 to 2147483647"),
        (2**31, {"email": "a@b.co"}, "customEventId", "must be an integer from 1 to 2147483647"),
        ("x", {"email": "a@b.co"}, "customEventId", "must be an integer from 1 to 2147483647"),
        (1, {"customer_id": "abc"}, "customerId", "must be an integer from 1 to 9223372036854775807"),
        (1, {"customer_id": -4}, "customerId", "must be an integer from 1 to 9223372036854775807"),
        (1, {"customer_id": 2**63}, "customerId", "must be an integer from 1 to 9223372036854775807"),
        (1, {"email": "x" * 321}, "customerEmail", "at most 320 characters"),
        (1, {"email": "nobody"}, "customerEmail", "must be an e-mail address (name@domain, no spaces)"),
        (
            1,
            {"email_md5": "abc"},
            "customerEmailMd5",
            "must be 32 hexadecimal characters (the MD5 of the e-mail address)",
        ),
        (
            1,
            {"email_md5": "g" * 32},
            "customerEmailMd5",
            "must be 32 hexadecimal characters (the MD5 of the e-mail address)",
        ),
        (
            1,
            {"email_sha256": MD5},
            "customerEmailSha256",
            "must be 64 hexadecimal characters (the SHA-256 of the e-mail address)",
        ),
        (1, {"phone": "600 100 200"}, "customerPhone", "must not contain spaces"),
        (1, {"phone": "1" * 21}, "customerPhone", "at most 20 characters"),
        (1, {"crm_id": "c" * 129}, "customerCrmId", "at most 128 characters"),
    ],
)
def test_custom_event_rules(custom_event_id, identifier, field, rule):
    assert problems(lambda: custom_event_payload(custom_event_id, **identifier)) == {field: rule}


def test_custom_event_error_names_the_identifier():
    invalid = rejected(lambda: custom_event_payload(0, email="jane@example.com"))
    assert invalid.index == 0
    assert invalid.identifier == "jane@example.com"


def test_custom_event_with_data_fields():
    payload = custom_event_payload(
        3, email="a@b.co", data_fields={"coupon": "SPRING", "amount": Decimal("9.90")}
    )
    assert payload == {
        "customEventId": 3,
        "customerEmail": "a@b.co",
        "dataFields": [
            {"name": "coupon", "type": "String", "value": "SPRING"},
            {"name": "amount", "type": "Number", "value": "9.90"},
        ],
    }
    json.dumps(payload)


def test_custom_event_data_field_problems_have_api_paths():
    found = problems(
        lambda: custom_event_payload(3, email="a@b.co", data_fields=[{"name": "x", "type": "Colour"}])
    )
    assert found == {"dataFields[0].type": "one of String, Text, Number, Money, Date, DateTime, Boolean, URL"}


# ------------------------------------------------------------------------------------------- data fields


def test_data_fields_none_is_empty():
    assert data_fields_payload(None) == []
    assert data_fields_payload({}) == []
    assert data_fields_payload([]) == []


@pytest.mark.parametrize(
    ("value", "field_type", "sent"),
    [
        ("hello", "String", "hello"),
        ("x" * 256, "Text", "x" * 256),
        (True, "Boolean", "true"),
        (False, "Boolean", "false"),
        (3, "Number", "3"),
        (2.5, "Number", "2.5"),
        (Decimal("19.990"), "Number", "19.990"),
        (date(2025, 5, 17), "Date", "2025-05-17"),
        (datetime(2025, 5, 17, 8, 30, tzinfo=timezone.utc), "DateTime", "2025-05-17T08:30:00Z"),
    ],
)
def test_plain_dict_types_come_from_python_types(value, field_type, sent):
    assert data_fields_payload({"f": value}) == [{"name": "f", "type": field_type, "value": sent}]


def test_explicit_type_in_the_dict_form():
    assert data_fields_payload({"link": {"type": "url", "value": "https://shop.example/p/1"}}) == [
        {"name": "link", "type": "URL", "value": "https://shop.example/p/1"}
    ]
    assert data_fields_payload({"price": {"type": "MONEY", "value": Decimal("10.00")}}) == [
        {"name": "price", "type": "Money", "value": "10.00"}
    ]


def test_list_form_with_any_type_spelling_and_python_values():
    given = [
        {"name": "a", "type": "string", "value": "x"},
        {"name": "b", "type": "date_time", "value": date(2025, 1, 2)},
        {"name": "c", "type": "BOOLEAN", "value": "True"},
        {"Name": "d", "Type": "number", "Value": -1.5},
        {"name": "e", "type": "Text"},
    ]
    assert data_fields_payload(given) == [
        {"name": "a", "type": "String", "value": "x"},
        {"name": "b", "type": "DateTime", "value": "2025-01-02T00:00:00Z"},
        {"name": "c", "type": "Boolean", "value": "true"},
        {"name": "d", "type": "Number", "value": "-1.5"},
        {"name": "e", "type": "Text"},
    ]


def test_values_must_fit_their_type():
    given = [
        {"name": "n", "type": "Number", "value": "12,5"},
        {"name": "m", "type": "Money", "value": "1e3"},
        {"name": "d", "type": "Date", "value": "2025-02-30"},
        {"name": "dd", "type": "Date", "value": datetime(2025, 1, 1, 10)},
        {"name": "t", "type": "DateTime", "value": "2025-01-01"},
        {"name": "b", "type": "Boolean", "value": "yes"},
        {"name": "u", "type": "URL", "value": "shop.example/p/1"},
        {"name": "", "type": "String", "value": "x"},
        {"type": "String", "value": "x"},
        {"name": "x", "value": "x"},
    ]
    assert problems(lambda: data_fields_payload(given)) == {
        "dataFields[0].value": "must be a number such as 12.5 (the type is Number)",
        "dataFields[1].value": "must be an amount such as 12.5 (the type is Money)",
        "dataFields[2].value": "must be a date YYYY-MM-DD (the type is Date)",
        "dataFields[3].value": "must be a date (YYYY-MM-DD), not a date-time",
        "dataFields[4].value": "must be an ISO-8601 date-time such as 2025-11-03T14:05:00Z "
        "(the type is DateTime)",
        "dataFields[5].value": "must be true or false (the type is Boolean)",
        "dataFields[6].value": "must be an http(s) URL (the type is URL)",
        "dataFields[7].name": "must not be empty",
        "dataFields[8].name": "required",
        "dataFields[9].type": "required",
    }


@pytest.mark.parametrize("value", [None, [1, 2], {1, 2}, b"bytes"])
def test_dict_values_whose_type_cannot_be_inferred(value):
    found = problems(lambda: data_fields_payload({"f": value}))
    assert list(found) == ["dataFields[0].value"]
    assert found["dataFields[0].value"].startswith("cannot infer a data field type from ")


def test_name_inside_the_explicit_dict_form_is_rejected():
    found = problems(lambda: data_fields_payload({"f": {"name": "g", "type": "Text", "value": "x"}}))
    assert found == {"dataFields[0].name": "give the name as the mapping key only"}


@pytest.mark.parametrize("given", ["coupon=1", 12, [["coupon", "1"]]])
def test_data_fields_of_the_wrong_shape(given):
    found = problems(lambda: data_fields_payload(given))
    assert all(field.startswith("dataFields") for field in found)
