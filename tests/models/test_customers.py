"""customer_payload: every field, both key spellings, conditional identifiers, attributes and consents."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pendulum
import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.models import customer_payload
from tests.models.helpers import problems, rejected

FULL_CAMEL = {
    "email": "jane.doe@example.com",
    "phone": "+48600100200",
    "crmId": "10042",
    "visitorId": "{4b1c2f5e-8d4a-4f0e-9a5b-0c1d2e3f4a5b}",
    "firstName": "Jane",
    "lastName": "Doe",
    "dateOfBirth": "1991-06-30T00:00:00Z",
    "gender": "Female",
    "customAttributes": [{"name": "loyalty_tier", "value": "gold"}],
    "consentsData": {
        "consents": [{"id": 3, "value": "AwaitingConfirmation"}],
        "force": False,
        "confirmationMessageId": 812,
    },
}
FULL_SNAKE = {
    "email": "jane.doe@example.com",
    "phone": "+48600100200",
    "crm_id": "10042",
    "visitor_id": "{4b1c2f5e-8d4a-4f0e-9a5b-0c1d2e3f4a5b}",
    "first_name": "Jane",
    "last_name": "Doe",
    "date_of_birth": "1991-06-30T00:00:00Z",
    "gender": "Female",
    "custom_attributes": [{"name": "loyalty_tier", "value": "gold"}],
    "consents_data": {
        "consents": [{"id": 3, "value": "AwaitingConfirmation"}],
        "force": False,
        "confirmation_message_id": 812,
    },
}


def test_full_record_in_api_spelling_round_trips_unchanged():
    assert customer_payload(FULL_CAMEL, match_by="Email") == FULL_CAMEL


def test_snake_case_keys_give_the_same_payload():
    assert customer_payload(FULL_SNAKE, match_by="Email") == FULL_CAMEL


def test_key_spelling_ignores_case_and_underscores():
    payload = customer_payload({"EMAIL": "a@b.co", "First_Name": "A", "CRMID": "1"}, match_by="Email")
    assert payload == {"email": "a@b.co", "firstName": "A", "crmId": "1"}


def test_none_values_are_omitted():
    payload = customer_payload({"email": "a@b.co", "firstName": None, "gender": None}, match_by="Email")
    assert payload == {"email": "a@b.co"}


def test_output_is_json_serializable():
    json.dumps(customer_payload(FULL_SNAKE, match_by="email"))


@pytest.mark.parametrize(
    ("match_by", "field", "record"),
    [
        ("Email", "email", {"crmId": "1"}),
        ("PhoneNumber", "phone", {"email": "a@b.co"}),
        ("phone", "phone", {"email": "a@b.co"}),
        ("CrmId", "crmId", {"email": "a@b.co"}),
        ("crm_id", "crmId", {"email": "a@b.co"}),
        ("VisitorId", "visitorId", {"email": "a@b.co"}),
        ("GUID", "guid", {"email": "a@b.co"}),
    ],
)
def test_match_by_requires_its_identifier(match_by, field, record):
    found = problems(lambda: customer_payload(record, match_by=match_by))
    assert found == {field: f"required when match_by is {found[field].rsplit(' ', 1)[-1]}"}
    assert found[field].startswith("required when match_by is ")


def test_match_by_is_reported_in_documented_spelling():
    found = problems(lambda: customer_payload({"crmId": "1"}, match_by="EMAIL"))
    assert found == {"email": "required when match_by is Email"}


def test_match_by_identifier_given_as_none_is_missing():
    found = problems(lambda: customer_payload({"email": None, "crmId": "1"}, match_by="Email"))
    assert found == {"email": "required when match_by is Email"}


GUID = "4b1c2f5e-8d4a-4f0e-9a5b-0c1d2e3f4a5b"


@pytest.mark.parametrize("guid", [GUID, GUID.upper(), "{" + GUID + "}", GUID.replace("-", "")])
def test_match_by_guid_reads_the_guid_field(guid):
    assert customer_payload({"guid": guid, "crmId": "7"}, match_by="GUID") == {"guid": guid, "crmId": "7"}


def test_match_by_guid_requires_a_guid():
    found = problems(lambda: customer_payload({"email": "a@b.co"}, match_by="guid"))
    assert found == {"guid": "required when match_by is GUID"}
    found = problems(lambda: customer_payload({"GUID": "not-a-guid"}, match_by="Email"))
    assert found == {
        "guid": "must be a GUID such as 4b1c2f5e-8d4a-4f0e-9a5b-0c1d2e3f4a5b",
        "email": "required when match_by is Email",
    }


def test_unknown_match_by_is_a_config_error():
    with pytest.raises(ExpertSenderConfigError, match="Email, PhoneNumber, CrmId, GUID, VisitorId"):
        customer_payload({"email": "a@b.co"}, match_by="fax")


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("email", "a" * 310 + "@example.com", "at most 320 characters"),
        ("email", "not-an-address", "must be an e-mail address (name@domain, no spaces)"),
        ("email", "jane doe@example.com", "must be an e-mail address (name@domain, no spaces)"),
        ("email", "jane@doe@example.com", "must be an e-mail address (name@domain, no spaces)"),
        ("email", "@example.com", "must be an e-mail address (name@domain, no spaces)"),
        ("email", "jane@", "must be an e-mail address (name@domain, no spaces)"),
        ("email", "", "must not be empty"),
        ("phone", "+48 600 100 200", "must not contain spaces"),
        ("phone", "+4860010020012345678901", "at most 20 characters"),
        ("crmId", "x" * 129, "at most 128 characters"),
        ("crmId", 12.5, "must be a string"),
        ("visitorId", "v" * 39, "at most 38 characters"),
        ("firstName", "n" * 257, "at most 256 characters"),
        ("lastName", ["Doe"], "must be a string"),
        ("gender", "m", "one of Male, Female, NotSpecified"),
        ("dateOfBirth", "30/06/1991", "must be a date"),
        ("dateOfBirth", 19910630, "must be a date"),
    ],
)
def test_field_rules(field, value, rule):
    record = {"email": "jane@example.com", "crmId": "1", field: value}
    found = problems(lambda: customer_payload(record, match_by="CrmId"))
    assert list(found) == [field]
    assert found[field].startswith(rule), found


def test_boundaries_are_accepted():
    record = {
        "email": "a" * 308 + "@example.com",
        "phone": "1" * 20,
        "crmId": "c" * 128,
        "visitorId": "v" * 38,
        "firstName": "f" * 256,
    }
    assert len(record["email"]) == 320
    assert customer_payload(record, match_by="Email") == record


def test_integer_identifiers_become_strings():
    payload = customer_payload({"crm_id": 10042, "phone": 48600100200}, match_by="CrmId")
    assert payload == {"crmId": "10042", "phone": "48600100200"}


def test_huge_integers_are_refused_without_crashing():
    found = problems(
        lambda: customer_payload({"crmId": 10**5000, "customAttributes": {"n": 10**5000}}, match_by="CrmId")
    )
    assert found == {
        "crmId": "must be a string (this integer is far too long for an identifier)",
        "customAttributes[0].value": "must be a number between -1e400 and 1e400",
    }


def test_booleans_are_not_identifiers():
    assert "crmId" in problems(lambda: customer_payload({"crmId": True}, match_by="CrmId"))


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("male", "Male"),
        ("FEMALE", "Female"),
        ("not_specified", "NotSpecified"),
        ("Not Specified", "NotSpecified"),
    ],
)
def test_gender_spellings(given, sent):
    assert customer_payload({"email": "a@b.co", "gender": given}, match_by="Email")["gender"] == sent


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (date(1991, 6, 30), "1991-06-30T00:00:00Z"),
        (pendulum.date(1991, 6, 30), "1991-06-30T00:00:00Z"),
        (datetime(1991, 6, 30, 23, 30), "1991-06-30T00:00:00Z"),
        # The calendar date of an aware datetime is kept, not shifted to UTC.
        (datetime(1991, 6, 30, 0, 30, tzinfo=timezone(timedelta(hours=2))), "1991-06-30T00:00:00Z"),
        (pendulum.datetime(1991, 6, 30, 1, tz="Europe/Warsaw"), "1991-06-30T00:00:00Z"),
        ("1991-06-30", "1991-06-30T00:00:00Z"),
        ("1991-06-30T00:00:00.000Z", "1991-06-30T00:00:00Z"),
        ("1991-06-30T00:00:00+02:00", "1991-06-30T00:00:00Z"),
    ],
)
def test_date_of_birth_is_a_calendar_date_at_midnight_utc(given, sent):
    assert (
        customer_payload({"email": "a@b.co", "dateOfBirth": given}, match_by="Email")["dateOfBirth"] == sent
    )


def test_unknown_field_suggests_the_closest_name():
    found = problems(lambda: customer_payload({"email": "a@b.co", "frist_name": "A"}, match_by="Email"))
    assert found == {"frist_name": "unknown field; did you mean firstName?"}
    found = problems(lambda: customer_payload({"email": "a@b.co", "emial": "x"}, match_by="Email"))
    assert found == {"emial": "unknown field; did you mean email?"}


def test_unknown_field_without_close_match_lists_known_fields():
    found = problems(lambda: customer_payload({"email": "a@b.co", "zzz": 1}, match_by="Email"))
    assert found["zzz"] == (
        "unknown field; known fields: consents, consentsData, crmId, customAttributes, dateOfBirth, email, "
        "firstName, gender, guid, lastName, phone, visitorId"
    )


def test_field_given_twice_under_two_spellings():
    found = problems(
        lambda: customer_payload({"email": "a@b.co", "first_name": "A", "firstName": "B"}, match_by="Email")
    )
    assert found == {"firstName": "given twice (as 'first_name' and 'firstName')"}


def test_long_and_odd_unknown_keys_are_shown_safely():
    found = problems(
        lambda: customer_payload({"email": "a@b.co", "k" * 5000: 1, "a\x00b": 2}, match_by="Email")
    )
    assert set(found) == {"k" * 61 + "...", "a\\x00b"}


def test_non_string_keys_are_reported():
    found = problems(lambda: customer_payload({"email": "a@b.co", 7: "x"}, match_by="Email"))
    assert found == {"7": "field names must be strings"}


@pytest.mark.parametrize("record", [None, [], "jane@example.com", 42, ["email", "a@b.co"]])
def test_a_record_that_is_not_a_mapping(record):
    found = problems(lambda: customer_payload(record, match_by="Email"))
    assert found == {"(record)": "must be an object (a mapping)"}


def test_error_names_position_identifier_and_every_broken_rule():
    record = {"email": "jane@example.com", "phone": "1 2", "gender": "x", "crm_id": "c" * 200}
    invalid = rejected(lambda: customer_payload(record, match_by="Email", index=41))
    assert invalid.index == 41
    assert invalid.identifier == "jane@example.com"
    assert {p.field for p in invalid.problems} == {"phone", "gender", "crmId"}
    with pytest.raises(Exception, match=r"record #41 \(jane@example.com\): phone: must not contain spaces"):
        customer_payload(record, match_by="Email", index=41)


def test_identifier_falls_back_to_crm_id_then_phone():
    assert rejected(lambda: customer_payload({"crmId": 5, "gender": "?"}, match_by="CrmId")).identifier == "5"
    assert (
        rejected(lambda: customer_payload({"phone": "123", "gender": "?"}, match_by="phone")).identifier
        == "123"
    )
    assert rejected(lambda: customer_payload({"gender": "?"}, match_by="Email")).identifier is None


# --------------------------------------------------------------------------------------- custom attributes


def test_custom_attributes_as_a_dict():
    payload = customer_payload(
        {"email": "a@b.co", "custom_attributes": {"tier": "gold", "vip": True, "since": date(2020, 1, 2)}},
        match_by="Email",
    )
    assert payload["customAttributes"] == [
        {"name": "tier", "value": "gold"},
        {"name": "vip", "value": "true"},
        {"name": "since", "value": "2020-01-02"},
    ]


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("gold", "gold"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-3, "-3"),
        (5.0, "5"),
        (0.1, "0.1"),
        (1e-7, "0.0000001"),
        (1.5e16, "15000000000000000"),
        (Decimal("10.50"), "10.50"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.00"), "0.00"),
        (-0.0, "0"),
        (date(2024, 2, 29), "2024-02-29"),
        (datetime(2024, 2, 29, 10, 0, 5), "2024-02-29T10:00:05Z"),
        (
            datetime(2024, 2, 29, 10, 0, 5, 120000, tzinfo=timezone(timedelta(hours=1))),
            "2024-02-29T09:00:05.120000Z",
        ),
        (pendulum.datetime(2024, 6, 1, 12, tz="America/New_York"), "2024-06-01T16:00:00Z"),
    ],
)
def test_attribute_values_are_sent_as_strings(value, sent):
    payload = customer_payload(
        {"email": "a@b.co", "customAttributes": [{"name": "x", "value": value}]}, match_by="Email"
    )
    assert payload["customAttributes"] == [{"name": "x", "value": sent}]


def test_attribute_value_none_is_omitted():
    payload = customer_payload({"email": "a@b.co", "customAttributes": {"x": None}}, match_by="Email")
    assert payload["customAttributes"] == [{"name": "x"}]


@pytest.mark.parametrize(
    "value", [[1], {"a": 1}, float("nan"), float("inf"), Decimal("NaN"), Decimal("1E+999999999"), object()]
)
def test_attribute_values_that_cannot_be_sent(value):
    found = problems(
        lambda: customer_payload(
            {"email": "a@b.co", "customAttributes": [{"name": "x", "value": value}]}, match_by="Email"
        )
    )
    assert list(found) == ["customAttributes[0].value"]


def test_attribute_name_rules():
    record = {
        "email": "a@b.co",
        "customAttributes": [{"name": ""}, {"name": "n" * 257}, {"value": "v"}, {"name": "x", "kind": "y"}],
    }
    assert problems(lambda: customer_payload(record, match_by="Email")) == {
        "customAttributes[0].name": "must not be empty",
        "customAttributes[1].name": "at most 256 characters",
        "customAttributes[2].name": "required",
        "customAttributes[3].kind": "unknown field; known fields: name, value",
    }


def test_attribute_given_twice():
    record = {
        "email": "a@b.co",
        "customAttributes": [{"name": "Tier", "value": "a"}, {"name": "tier", "value": "b"}],
    }
    assert problems(lambda: customer_payload(record, match_by="Email")) == {
        "customAttributes": "attribute 'tier' is given twice"
    }


def test_custom_attributes_must_be_a_list_or_mapping():
    found = problems(
        lambda: customer_payload({"email": "a@b.co", "customAttributes": "tier=gold"}, match_by="Email")
    )
    assert found == {"customAttributes": "must be a list"}


# ------------------------------------------------------------------------------------------- consents


@pytest.mark.parametrize(
    ("given", "sent"),
    [(True, "True"), (False, "False"), ("true", "True"), ("FALSE", "False"),
     ("awaiting_confirmation", "AwaitingConfirmation"), ("AwaitingConfirmation", "AwaitingConfirmation")],
)  # fmt: skip
def test_consent_values(given, sent):
    payload = customer_payload({"email": "a@b.co", "consents": [{"id": 1, "value": given}]}, match_by="Email")
    assert payload["consentsData"] == {"consents": [{"id": 1, "value": sent}]}


def test_consents_as_a_dict_with_int_or_string_ids():
    payload = customer_payload({"email": "a@b.co", "consents": {3: True, "5": "False"}}, match_by="Email")
    assert payload["consentsData"]["consents"] == [{"id": 3, "value": "True"}, {"id": 5, "value": "False"}]


def test_consents_dict_inside_consents_data_with_force():
    payload = customer_payload(
        {"email": "a@b.co", "consents_data": {"consents": {7: "awaitingconfirmation"}, "force": True,
                                             "confirmation_message_id": "812"}},
        match_by="Email",
    )  # fmt: skip
    assert payload["consentsData"] == {
        "consents": [{"id": 7, "value": "AwaitingConfirmation"}],
        "force": True,
        "confirmationMessageId": 812,
    }


def test_top_level_consents_merge_with_consents_data_options():
    payload = customer_payload(
        {"email": "a@b.co", "consents": {1: True}, "consentsData": {"force": False}}, match_by="Email"
    )
    assert payload["consentsData"] == {"force": False, "consents": [{"id": 1, "value": "True"}]}


def test_consents_in_both_places_is_rejected():
    record = {"email": "a@b.co", "consents": {1: True}, "consentsData": {"consents": {2: True}}}
    assert problems(lambda: customer_payload(record, match_by="Email")) == {
        "consents": "give consents at the top level or inside consentsData, not both"
    }


def test_consent_rules():
    record = {
        "email": "a@b.co",
        "consentsData": {
            "consents": [
                {"id": 0, "value": True},
                {"id": "x", "value": "yes"},
                {"id": 2**31, "value": True},
                {"value": True},
            ],
            "confirmationMessageId": -1,
            "force": "maybe",
        },
    }
    found = problems(lambda: customer_payload(record, match_by="Email"))
    assert found == {
        "consentsData.consents[0].id": "must be an integer from 1 to 2147483647",
        "consentsData.consents[1].id": "must be an integer from 1 to 2147483647",
        "consentsData.consents[1].value": "one of True, False, AwaitingConfirmation (or a Python bool)",
        "consentsData.consents[2].id": "must be an integer from 1 to 2147483647",
        "consentsData.consents[3].id": "required",
        "consentsData.force": "must be true or false",
        "consentsData.confirmationMessageId": "must be an integer from 1 to 2147483647",
    }


def test_consent_id_given_twice():
    record = {"email": "a@b.co", "consents": [{"id": 1, "value": True}, {"id": "1", "value": False}]}
    assert problems(lambda: customer_payload(record, match_by="Email")) == {
        "consentsData.consents": "consent id 1 is given twice"
    }


def test_consent_id_true_is_not_an_integer():
    found = problems(
        lambda: customer_payload({"email": "a@b.co", "consents": {True: True}}, match_by="Email")
    )
    assert found == {"consentsData.consents[0].id": "must be an integer from 1 to 2147483647, not true/false"}
