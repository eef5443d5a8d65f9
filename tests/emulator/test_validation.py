"""Every documented validation rule class, over HTTP (problem details + ASP.NET errors), plus the parsers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_expertsender.emulator.validation import parse_date, parse_date_time, value_problem
from tests.emulator.conftest import errors_of, order


def one_customer_errors(api, record, match_by="Email"):
    return errors_of(api.customers(record, match_by=match_by))


# -- request level -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"matchBy": "Email", "data": []}, "mode"),
        ({"mode": "Upsert", "matchBy": "Email", "data": []}, "mode"),
        ({"mode": "Add", "data": []}, "matchBy"),
        ({"mode": "Add", "matchBy": "Phone", "data": []}, "matchBy"),
        ({"mode": "Add", "matchBy": "Email"}, "data"),
        ({"mode": "Add", "matchBy": "Email", "data": {"email": "a@example.com"}}, "data"),
        ([{"email": "a@example.com"}], "$"),
    ],
)
def test_customers_request_level_rules(api, body, key):
    response = api.post("/customers", body)
    assert key in errors_of(response)
    assert response.json()["substatus"] == "CustomerInvalidModelState"
    assert response.json()["title"] == "One or more validation errors occurred."
    assert response.json()["instance"] == "/customers"


def test_empty_batch_is_accepted(api):
    assert api.customers().status_code == 201


def test_item_that_is_not_an_object(api):
    assert list(errors_of(api.post("/customers", {"mode": "Add", "matchBy": "Email", "data": ["x"]}))) == [
        "data[0]"
    ]


def test_every_broken_rule_of_every_item_is_reported(api):
    errors = errors_of(
        api.customers(
            {"email": "ok@example.com"},
            {"email": "bad", "phone": "1 2", "gender": "Other"},
            {"email": "x" * 321},
        )
    )
    assert set(errors) == {"data[1].email", "data[1].phone", "data[1].gender", "data[2].email"}


def test_messages_never_echo_submitted_values(api):
    errors = errors_of(api.customers({"email": "secret-person", "firstName": "Z" * 300, "gender": "Secret"}))
    text = repr(errors)
    assert "secret-person" not in text
    assert "ZZZ" not in text
    assert "Secret" not in text


# -- customer fields -----------------------------------------------------------------------------

OK = "ok@example.com"


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("email", "a" * 308 + "@example.com", "a" * 309 + "@example.com"),
        ("phone", "1" * 20, "1" * 21),
        ("crmId", "c" * 128, "c" * 129),
        ("visitorId", "v" * 38, "v" * 39),
        ("firstName", "f" * 256, "f" * 257),
        ("lastName", "l" * 256, "l" * 257),
    ],
)
def test_customer_max_lengths(api, field, good, bad):
    base = {} if field == "email" else {"email": OK}
    assert api.customers({**base, field: good}).status_code == 201
    assert f"data[0].{field}" in one_customer_errors(api, {**base, field: bad})


@pytest.mark.parametrize("phone", ["+48 600", "600\t100", "600\n1"])
def test_phone_without_spaces(api, phone):
    assert "data[0].phone" in one_customer_errors(api, {"email": OK, "phone": phone})


@pytest.mark.parametrize("email", ["no-at-sign", "@example.com", "jane@", "a@b@c"])
def test_email_needs_one_inner_at(api, email):
    assert "data[0].email" in one_customer_errors(api, {"email": email})


@pytest.mark.parametrize("value", [42, True, ["a"], {"a": 1}])
def test_string_fields_reject_other_json_types(api, value):
    assert "data[0].crmId" in one_customer_errors(api, {"email": OK, "crmId": value})


@pytest.mark.parametrize(
    "dob", ["1990-04-02T00:00:00.000Z", "1990-04-02T00:00:00Z", "1990-04-02", "1990-04-02T00:00:00+02:00"]
)
def test_date_of_birth_accepts_iso_8601(api, dob):
    assert api.customers({"email": OK, "dateOfBirth": dob}).status_code == 201


@pytest.mark.parametrize("dob", ["02/04/1990", "1990-13-01", "1990-02-30T00:00:00Z", "yesterday", ""])
def test_date_of_birth_rejects_other_formats(api, dob):
    assert "data[0].dateOfBirth" in one_customer_errors(api, {"email": OK, "dateOfBirth": dob})


@pytest.mark.parametrize(
    ("gender", "ok"), [("Male", True), ("notspecified", True), ("M", False), ("", False)]
)
def test_gender_enum(api, gender, ok):
    response = api.customers({"email": OK, "gender": gender})
    assert (response.status_code == 201) is ok


@pytest.mark.parametrize(
    ("consent", "key"),
    [
        ({"id": 1, "value": "Yes"}, "data[0].consentsData.consents[0].value"),
        ({"id": 1}, "data[0].consentsData.consents[0].value"),
        ({"id": 99, "value": "True"}, "data[0].consentsData.consents[0].id"),
        ({"id": "1", "value": "True"}, "data[0].consentsData.consents[0].id"),
        ({"value": "True"}, "data[0].consentsData.consents[0].id"),
        ({"id": 1, "value": True}, "data[0].consentsData.consents[0].value"),
    ],
)
def test_consent_rules(api, consent, key):
    assert key in one_customer_errors(api, {"email": OK, "consentsData": {"consents": [consent]}})


def test_consents_data_force_and_confirmation_message(api):
    good = {
        "consents": [{"id": 3, "value": "AwaitingConfirmation"}],
        "force": False,
        "confirmationMessageId": 812,
    }
    assert api.customers({"email": OK, "consentsData": good}).status_code == 201
    errors = one_customer_errors(
        api, {"email": OK, "consentsData": {"force": "yes", "confirmationMessageId": "x"}}
    )
    assert set(errors) == {"data[0].consentsData.force", "data[0].consentsData.confirmationMessageId"}


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("loyalty_tier", "silver", "platinum"),
        ("points", "12.5", "twelve"),
        ("points", 7, "7 points"),
        ("lifetime_value", "199.99", "a lot"),
        ("signup_date", "2024-02-29", "2023-02-29"),
        ("signup_date", "2024-01-31", "2024-01-31T10:00:00Z"),
        ("last_login", "2024-01-31T10:00:00Z", "31.01.2024"),
        ("newsletter_opt_in", "true", "yes"),
        ("newsletter_opt_in", False, 1),
        ("profile_url", "https://example.com/u/1", "example.com/u/1"),
        ("notes", "x" * 5000, {"not": "scalar"}),
    ],
)
def test_custom_attribute_values_fit_their_type(api, name, good, bad):
    record = {"email": OK, "customAttributes": [{"name": name, "value": good}]}
    assert api.customers(record).status_code == 201
    record["customAttributes"][0]["value"] = bad
    assert "data[0].customAttributes[0].value" in one_customer_errors(api, record)


@pytest.mark.parametrize(
    ("attribute", "key"),
    [
        ({"name": "unknown_attr", "value": "x"}, "data[0].customAttributes[0].name"),
        ({"name": "", "value": "x"}, "data[0].customAttributes[0].name"),
        ({"value": "x"}, "data[0].customAttributes[0].name"),
        ({"name": "n" * 257, "value": "x"}, "data[0].customAttributes[0].name"),
        ("city", "data[0].customAttributes[0]"),
    ],
)
def test_custom_attribute_names(api, attribute, key):
    assert key in one_customer_errors(api, {"email": OK, "customAttributes": [attribute]})


def test_null_attribute_value_is_allowed(api):
    assert (
        api.customers({"email": OK, "customAttributes": [{"name": "points", "value": None}]}).status_code
        == 201
    )


# -- orders --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"id": ""}, "data[0].id"),
        ({"id": "o" * 129}, "data[0].id"),
        ({"id": None}, "data[0].id"),
        ({"date": None}, "data[0].date"),
        ({"date": "03.11.2025"}, "data[0].date"),
        ({"timeZone": "z" * 101}, "data[0].timeZone"),
        ({"websiteId": "7"}, "data[0].websiteId"),
        ({"websiteId": 2**31}, "data[0].websiteId"),
        ({"status": "shipped"}, "data[0].status"),
        ({"status": "Cancelled"}, "data[0].status"),
        ({"currency": "PL"}, "data[0].currency"),
        ({"currency": "EURO"}, "data[0].currency"),
        ({"totalValue": -0.01}, "data[0].totalValue"),
        ({"totalValue": "lots"}, "data[0].totalValue"),
        ({"returnsValue": -1}, "data[0].returnsValue"),
        ({"customer": None}, "data[0].customer"),
        ({"customer": {}}, "data[0].customer.email"),
        ({"customer": {"email": "bad"}}, "data[0].customer.email"),
        ({"customer": {"phone": "1 2"}}, "data[0].customer.phone"),
        ({"products": None}, "data[0].products"),
        ({"products": [{"name": "no id"}]}, "data[0].products[0].id"),
        ({"products": [{"id": "p", "price": -1}]}, "data[0].products[0].price"),
        ({"products": [{"id": "p", "quantity": "two"}]}, "data[0].products[0].quantity"),
        ({"products": ["p"]}, "data[0].products[0]"),
        (
            {"products": [{"id": "p", "productAttributes": [{"name": "nope", "value": "1"}]}]},
            "data[0].products[0].productAttributes[0].name",
        ),
        (
            {"products": [{"id": "p", "productAttributes": [{"name": "weight_kg", "value": "heavy"}]}]},
            "data[0].products[0].productAttributes[0].value",
        ),
        (
            {"orderAttributes": [{"name": "shipping_method", "value": "drone"}]},
            "data[0].orderAttributes[0].value",
        ),
        ({"orderAttributes": [{"name": "unknown", "value": "x"}]}, "data[0].orderAttributes[0].name"),
    ],
)
def test_order_rules(api, changes, key):
    response = api.orders(order(**changes))
    assert key in errors_of(response), response.text
    assert response.json()["substatus"] == "OrderInvalidModelState"


def test_valid_order_variants(api):
    variants = [
        order("a", status="PLACED", currency="EUR", totalValue=0, returnsValue=0),
        order("b", status=None, totalValue=None, timeZone="Europe/Warsaw", websiteId=7),
        order("c", customer={"crmId": "0"}, products=[]),
        order(
            "d", date="2025-11-03T14:05:00.123456Z", products=[{"id": "p", "price": "129.99", "quantity": 1}]
        ),
        order(
            "e",
            orderAttributes=[{"name": "gift_wrap", "value": "true"}, {"name": "coupon_code", "value": "X"}],
        ),
    ]
    response = api.orders(*variants)
    assert response.status_code == 201, response.text


def test_order_mode_and_data_are_required(api):
    assert set(errors_of(api.post("/orders", {}))) == {"mode", "data"}
    assert "mode" in errors_of(api.post("/orders", {"mode": "Update", "data": []}))


# -- custom events and status changes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"customerEmail": "a@example.com"}, "customEventId"),
        ({"customEventId": "five", "customerEmail": "a@example.com"}, "customEventId"),
        ({"customEventId": 5}, "customerId"),
        ({"customEventId": 5, "customerEmail": ""}, "customerId"),
        ({"customEventId": 5, "customerEmail": "a" * 321}, "customerEmail"),
        ({"customEventId": 5, "customerEmailMd5": "a" * 33}, "customerEmailMd5"),
        ({"customEventId": 5, "customerEmailMd5": "z" * 32}, "customerEmailMd5"),
        ({"customEventId": 5, "customerEmailSha256": "a" * 63}, "customerEmailSha256"),
        ({"customEventId": 5, "customerPhone": "1" * 21}, "customerPhone"),
        ({"customEventId": 5, "customerCrmId": "c" * 129}, "customerCrmId"),
        ({"customEventId": 5, "customerId": "abc"}, "customerId"),
        ({"customEventId": 5, "customerId": 1, "dataFields": {"a": 1}}, "dataFields"),
        (
            {
                "customEventId": 5,
                "customerId": 1,
                "dataFields": [{"name": "a", "type": "Color", "value": "x"}],
            },
            "dataFields[0].type",
        ),
        (
            {"customEventId": 5, "customerId": 1, "dataFields": [{"type": "String", "value": "x"}]},
            "dataFields[0].name",
        ),
        (
            {
                "customEventId": 5,
                "customerId": 1,
                "dataFields": [{"name": "n", "type": "Number", "value": "x"}],
            },
            "dataFields[0].value",
        ),
        (
            {
                "customEventId": 5,
                "customerId": 1,
                "dataFields": [{"name": "n", "type": "URL", "value": "ftp://x"}],
            },
            "dataFields[0].value",
        ),
        (
            {
                "customEventId": 5,
                "customerId": 1,
                "dataFields": [{"name": "n", "type": "Number", "value": 5}],
            },
            "dataFields[0].value",
        ),
    ],
)
def test_custom_event_rules(api, body, key):
    response = api.post("/scenariocustomevents", body)
    assert key in errors_of(response), response.text
    assert response.json()["substatus"] == "ScenarioCustomEventInvalidModelState"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"orderStatus": "paid"}, "orderId"),
        ({"orderId": "o-1"}, "orderStatus"),
        ({"orderId": "o-1", "orderStatus": "lost"}, "orderStatus"),
        ({"orderId": "o-1", "orderStatus": "paid", "websiteId": "x"}, "websiteId"),
        ({"orderId": "o" * 129, "orderStatus": "paid"}, "orderId"),
    ],
)
def test_status_change_rules(api, body, key):
    assert key in errors_of(api.put("/orders/status", body))


# -- parsers -------------------------------------------------------------------------------------


def test_parse_date_time():
    assert parse_date_time("2025-11-03T14:05:00Z") == datetime(2025, 11, 3, 14, 5, tzinfo=timezone.utc)
    assert parse_date_time("2025-11-03T14:05:00.1234567-0130").utcoffset() == -timedelta(hours=1, minutes=30)
    assert parse_date_time("2025-11-03 14:05").tzinfo is None
    assert parse_date_time("2025-11-03T24:00:00Z") is None
    assert parse_date_time("2025-11-03T10:00:00+15:00") is None
    assert parse_date_time("2025-11-03T10:00:00ZZ") is None


def test_parse_date():
    assert parse_date("2024-02-29") is not None
    assert parse_date("2024-2-29") is None
    assert parse_date("2024-02-29T00:00:00Z") is None


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("Boolean", True, True),
        ("Boolean", "TRUE", True),
        ("Number", float("inf"), False),
        ("Money", "1e3", True),
        ("Url", "http://a", True),
        ("SingleSelect", "anything", True),
        ("String", None, True),
        ("Text", [1], False),
    ],
)
def test_value_problem(kind, value, ok):
    assert (value_problem(kind, value) is None) is ok
