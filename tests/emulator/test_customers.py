"""POST /customers and the four GET lookups: modes, matching, merging, case-insensitivity."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.emulator.conftest import assert_problem, errors_of

JANE = {"email": "jane.doe@example.com", "crmId": "10042", "phone": "+48600100200", "firstName": "Jane"}


def test_add_or_update_creates_then_updates(api, emulator):
    assert api.customers(JANE).status_code == 201
    assert api.customers({"email": "JANE.DOE@example.com", "lastName": "Doe"}).status_code == 201
    stored = emulator.store(emulator.api_key).customers
    assert len(stored) == 1
    assert stored[0]["firstName"] == "Jane"  # omitted fields are kept
    assert stored[0]["lastName"] == "Doe"
    assert stored[0]["email"] == "JANE.DOE@example.com"  # the identifier itself is updated as sent
    counters = emulator.store(emulator.api_key).counters
    assert counters["customers_created"] == 1
    assert counters["customers_updated"] == 1


def test_created_answer_is_201_json(api):
    response = api.customers(JANE)
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"status": 0}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/customers/id/{}", "1"),
        ("/customers/email/{}", "jane.doe@example.com"),
        ("/customers/email/{}", "Jane.Doe@Example.COM"),
        ("/customers/phone/{}", "+48600100200"),
        ("/customers/crmId/{}", "10042"),
        ("/CUSTOMERS/CRMID/{}", "10042"),
    ],
)
def test_get_customer_by_each_identifier(api, path, value):
    api.customers(JANE)
    response = api.get(path.format(quote(value, safe="")))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == 0
    data = body["data"]
    assert data["id"] == 1
    assert data["email"] == "jane.doe@example.com"
    assert data["crmId"] == "10042"
    assert data["customAttributes"] == []
    assert data["consentsData"] == {"consents": []}


def test_get_email_with_plus_is_url_decoded(api):
    api.customers({"email": "jane+news@example.com"})
    assert (
        api.get("/customers/email/jane%2Bnews%40example.com").json()["data"]["email"]
        == "jane+news@example.com"
    )


def test_get_by_non_numeric_id_is_400(api):
    assert "id" in errors_of(api.get("/customers/id/abc"))


@pytest.mark.parametrize("path", ["/customers/id/99", "/customers/email/nobody%40example.com"])
def test_missing_customer_is_404_problem(api, path):
    assert_problem(api.get(path), 404, "CustomerNotFound")


def test_ids_are_sequential_integers(api, emulator):
    api.customers({"email": "a@example.com"}, {"email": "b@example.com"}, {"email": "c@example.com"})
    assert [c["id"] for c in emulator.store(emulator.api_key).customers] == [1, 2, 3]


def test_add_creates_and_rejects_existing(api, emulator):
    assert api.customers(JANE, mode="Add").status_code == 201
    errors = errors_of(
        api.customers({"email": "a@example.com"}, {"email": "JANE.doe@example.com"}, mode="Add")
    )
    assert list(errors) == ["data[1].email"]
    assert "already exists" in errors["data[1].email"][0]
    assert len(emulator.store(emulator.api_key).customers) == 1  # whole batch rejected


def test_add_rejects_a_duplicate_inside_one_batch(api):
    errors = errors_of(api.customers({"email": "a@example.com"}, {"email": "A@example.com"}, mode="Add"))
    assert list(errors) == ["data[1].email"]


def test_update_changes_existing_and_rejects_missing(api, emulator):
    api.customers(JANE)
    assert api.customers({"email": JANE["email"], "firstName": "Janet"}, mode="Update").status_code == 201
    assert emulator.store(emulator.api_key).customer(email=JANE["email"])["firstName"] == "Janet"
    errors = errors_of(api.customers({"email": "new@example.com"}, mode="Update"))
    assert "data[0].email" in errors


def test_mode_rejections_in_errors_2xx_style(api, emulator):
    emulator.switches.item_error_style = "errors_2xx"
    api.customers(JANE)
    response = api.customers({"email": "new@example.com"}, {"email": JANE["email"]}, mode="Add")
    assert response.status_code == 201
    assert response.json()["errors"] == [
        "data[1].email: A customer with this email already exists (mode Add)."
    ]
    assert len(emulator.store(emulator.api_key).customers) == 2


@pytest.mark.parametrize(
    ("match_by", "record", "lookup"),
    [
        ("Email", {"email": "x@example.com"}, {"email": "x@example.com"}),
        ("PhoneNumber", {"phone": "+48500000001"}, {"phone": "+48500000001"}),
        ("CrmId", {"crmId": "C-1"}, {"crm_id": "C-1"}),
        ("visitorId", {"visitorId": "{0f8fad5b-d9cb-469f-a165-70867728950e}"}, None),
        ("GUID", {"guid": "0f8fad5b-d9cb-469f-a165-70867728950e"}, None),
    ],
)
def test_match_by_each_identifier_upserts_on_it(api, emulator, match_by, record, lookup):
    assert api.customers({**record, "firstName": "A"}, match_by=match_by).status_code == 201
    assert api.customers({**record, "firstName": "B"}, match_by=match_by).status_code == 201
    customers = emulator.store(emulator.api_key).customers
    assert len(customers) == 1
    assert customers[0]["firstName"] == "B"
    if lookup:
        assert emulator.store(emulator.api_key).customer(**lookup)["id"] == 1


@pytest.mark.parametrize(
    ("match_by", "field"),
    [
        ("Email", "email"),
        ("PhoneNumber", "phone"),
        ("CrmId", "crmId"),
        ("VisitorId", "visitorId"),
        ("GUID", "guid"),
    ],
)
def test_identifier_of_match_by_is_required(api, match_by, field):
    errors = errors_of(api.customers({"firstName": "NoId"}, match_by=match_by))
    assert errors == {f"data[0].{field}": [f"The {field} field is required."]}


def test_guid_must_be_a_guid(api):
    assert "data[0].guid" in errors_of(api.customers({"guid": "not-a-guid"}, match_by="GUID"))


def test_property_names_and_enums_are_case_insensitive(api, emulator):
    body = {
        "MODE": "addorupdate",
        "matchby": "EMAIL",
        "Data": [
            {
                "EMAIL": "case@example.com",
                "Gender": "female",
                "CustomAttributes": [{"Name": "LOYALTY_TIER", "Value": "GOLD"}],
                "consentsdata": {"Consents": [{"ID": 1, "VALUE": "awaitingconfirmation"}], "Force": True},
            }
        ],
    }
    assert api.post("/customers", body).status_code == 201
    stored = emulator.store(emulator.api_key).customer(email="case@example.com")
    assert stored["gender"] == "Female"
    assert stored["customAttributes"] == [{"name": "loyalty_tier", "value": "GOLD"}]
    assert stored["consentsData"] == {"consents": [{"id": 1, "value": "AwaitingConfirmation"}]}


def test_unknown_properties_are_ignored_and_nulls_mean_absent(api, emulator):
    api.customers({**JANE, "lastName": "Doe"})
    record = {"email": JANE["email"], "lastName": None, "phone": None, "shoeSize": 42, "consentsData": None}
    assert api.customers(record).status_code == 201
    stored = emulator.store(emulator.api_key).customers[0]
    assert stored["lastName"] == "Doe"
    assert stored["phone"] == JANE["phone"]
    assert "shoeSize" not in stored


def test_attributes_merge_by_name_and_consents_by_id(api, emulator):
    api.customers(
        {
            "email": "m@example.com",
            "customAttributes": [{"name": "city", "value": "Gdansk"}, {"name": "points", "value": 10}],
            "consentsData": {"consents": [{"id": 1, "value": "True"}, {"id": 2, "value": "True"}]},
        }
    )
    api.customers(
        {
            "email": "m@example.com",
            "customAttributes": [{"name": "points", "value": "11"}],
            "consentsData": {"consents": [{"id": 2, "value": "False"}, {"id": 3, "value": "True"}]},
        }
    )
    stored = emulator.store(emulator.api_key).customers[0]
    assert stored["customAttributes"] == [
        {"name": "city", "value": "Gdansk"},
        {"name": "points", "value": "11"},
    ]
    assert stored["consentsData"]["consents"] == [
        {"id": 1, "value": "True"},
        {"id": 2, "value": "False"},
        {"id": 3, "value": "True"},
    ]


def test_get_returns_every_documented_field(api):
    api.customers(
        {
            **JANE,
            "visitorId": "v-1",
            "lastName": "Doe",
            "dateOfBirth": "1991-06-30T00:00:00Z",
            "gender": "Female",
        }
    )
    data = api.get("/customers/id/1").json()["data"]
    assert data == {
        "id": 1,
        "email": "jane.doe@example.com",
        "phone": "+48600100200",
        "crmId": "10042",
        "visitorId": "v-1",
        "firstName": "Jane",
        "lastName": "Doe",
        "dateOfBirth": "1991-06-30T00:00:00Z",
        "gender": "Female",
        "customAttributes": [],
        "consentsData": {"consents": []},
    }


def test_secondary_identifier_moves_to_the_latest_writer(api, emulator):
    api.customers({"email": "first@example.com", "crmId": "shared"})
    api.customers({"email": "second@example.com", "crmId": "shared"})
    assert api.get("/customers/crmId/shared").json()["data"]["email"] == "second@example.com"


def test_strict_match_by_refuses_a_non_default_identifier(api, emulator):
    emulator.switches.strict_match_by = True
    assert "matchBy" in errors_of(api.customers({"crmId": "1"}, match_by="CrmId"))
    assert api.customers({"email": "ok@example.com"}, match_by="Email").status_code == 201
