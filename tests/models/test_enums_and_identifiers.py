"""normalize_* (operator arguments) and record_identifier."""

from __future__ import annotations

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.models import (
    normalize_customer_mode,
    normalize_match_by,
    normalize_order_mode,
    normalize_order_status,
    record_identifier,
)


@pytest.mark.parametrize(
    ("function", "given", "expected"),
    [
        (normalize_customer_mode, "add", "Add"),
        (normalize_customer_mode, "UPDATE", "Update"),
        (normalize_customer_mode, "add_or_update", "AddOrUpdate"),
        (normalize_customer_mode, "Add-Or-Update", "AddOrUpdate"),
        (normalize_order_mode, "add", "Add"),
        (normalize_order_mode, "addorreplace", "AddOrReplace"),
        (normalize_order_mode, "REPLACE", "Replace"),
        (normalize_match_by, "email", "Email"),
        (normalize_match_by, "phone_number", "PhoneNumber"),
        (normalize_match_by, "phone", "PhoneNumber"),
        (normalize_match_by, "crm_id", "CrmId"),
        (normalize_match_by, "guid", "GUID"),
        (normalize_match_by, "visitorId", "VisitorId"),
        (normalize_order_status, "Placed", "placed"),
        (normalize_order_status, "PAID", "paid"),
        (normalize_order_status, "completed", "completed"),
        (normalize_order_status, "Cancelled", "canceled"),
        (normalize_order_status, "canceled", "canceled"),
    ],
)
def test_accepted_spellings(function, given, expected):
    assert function(given) == expected


@pytest.mark.parametrize(
    ("function", "given", "listed"),
    [
        (normalize_customer_mode, "AddOrReplace", "Add, Update, AddOrUpdate"),
        (normalize_order_mode, "AddOrUpdate", "Add, AddOrReplace, Replace"),
        (normalize_match_by, "fax", "Email, PhoneNumber, CrmId, GUID, VisitorId"),
        (normalize_order_status, "shipped", "placed, paid, completed, canceled"),
        (normalize_order_status, None, "placed, paid, completed, canceled"),
        (normalize_customer_mode, 1, "Add, Update, AddOrUpdate"),
        (normalize_match_by, "", "Email, PhoneNumber, CrmId, GUID, VisitorId"),
    ],
)
def test_unknown_values_are_config_errors_listing_the_choices(function, given, listed):
    with pytest.raises(ExpertSenderConfigError, match=listed):
        function(given)


@pytest.mark.parametrize(
    ("kind", "record", "expected"),
    [
        ("customer", {"email": "a@b.co", "crmId": "1"}, "a@b.co"),
        ("customer", {"crm_id": 10042, "phone": "1"}, "10042"),
        ("customer", {"email": None, "phone": "+481"}, "+481"),
        ("customer", {"email": "", "visitor_id": "v-1"}, "v-1"),
        ("customer", {"Email": "x@y.z"}, "x@y.z"),
        ("customer", {"firstName": "Jane"}, None),
        ("customer", {"email": ["a@b.co"]}, None),
        ("customer", {"crmId": True}, None),
        ("order", {"id": "A-1", "customer": {"email": "a@b.co"}}, "A-1"),
        ("order", {"ID": 7}, "7"),
        ("order", {"email": "a@b.co"}, None),
        ("order", None, None),
        ("customer", ["email", "a@b.co"], None),
        ("customer", {"email": "x" * 500}, "x" * 128),
        ("customer", {"crmId": 10**5000}, "(a very large integer)"),
        ("customer", {"email": object(), "crm_id": 7}, "7"),
    ],
)
def test_record_identifier(kind, record, expected):
    assert record_identifier(kind, record) == expected
