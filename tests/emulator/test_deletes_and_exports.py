"""The [UNK]-heavy endpoints: customer DELETE, PUT /orders (register), the two asynchronous exports."""

from __future__ import annotations

import csv
import io
import time

import pytest

from tests.emulator.conftest import assert_problem, errors_of

JANE = {"email": "jane@example.com", "phone": "+48600100200", "crmId": "10042", "firstName": "Jane"}


@pytest.mark.parametrize(
    "path",
    [
        "/customers/id/1",
        "/customers/email/JANE%40example.com",
        "/customers/phone/%2B48600100200",
        "/customers/crmId/10042",
    ],
)
def test_delete_customer_by_each_identifier(api, emulator, path):
    api.customers(JANE)
    response = api.delete(path)
    assert response.status_code == 200
    assert response.json() == {"status": 0}
    assert api.get("/customers/email/jane%40example.com").status_code == 404
    assert emulator.store(emulator.api_key).customers == []
    assert_problem(api.delete(path), 404, "CustomerNotFound")
    # The identifier is free again: a new customer gets a new id.
    api.customers(JANE)
    assert api.get("/customers/email/jane%40example.com").json()["data"]["id"] == 2


def test_anonymize_keeps_the_profile_without_personal_data(api, emulator):
    api.customers({**JANE, "customAttributes": [{"name": "city", "value": "Gdansk"}]})
    assert api.delete("/customers/crmId/10042?anonymize=true").status_code == 200
    stored = api.get("/customers/id/1").json()["data"]
    assert stored["isAnonymized"] is True
    assert {k: stored[k] for k in ("email", "phone", "crmId", "firstName")} == dict.fromkeys(
        ("email", "phone", "crmId", "firstName")
    )
    assert stored["customAttributes"] == []
    assert api.get("/customers/email/jane%40example.com").status_code == 404
    assert emulator.store(emulator.api_key).counters["customers_anonymized"] == 1
    assert "anonymize" in errors_of(api.delete("/customers/id/1?anonymize=maybe"))


def test_delete_customer_with_204_switch_and_bad_id(api, emulator):
    emulator.switches.delete_status = 204
    api.customers(JANE)
    assert api.delete("/customers/id/1").status_code == 204
    assert "id" in errors_of(api.delete("/customers/id/x"))


def test_order_registration_is_recorded(api, emulator):
    response = api.put("/orders", {"orderId": "o-5", "websiteId": 3, "visitorId": "v-1"})
    assert response.status_code == 200
    assert emulator.store(emulator.api_key).order_registrations == [
        {"orderId": "o-5", "websiteId": 3, "visitorId": "v-1"}
    ]
    assert set(errors_of(api.put("/orders", {"visitorId": "v" * 39}))) == {"orderId", "visitorId"}


def test_customer_export_flow(api, emulator):
    api.customers(
        {
            **JANE,
            "customAttributes": [{"name": "city", "value": "Gdansk"}],
            "consentsData": {"consents": [{"id": 1, "value": "True"}]},
        },
        {"email": "bob@example.com"},
    )
    response = api.post(
        "/exports/customers",
        {
            "segmentId": 12,
            "systemAttributes": [{"name": "email"}, {"name": "firstName"}],
            "customAttributes": [{"id": 9}],
            "consents": [{"name": "newsletter"}],
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == 0
    assert body["data"] == {"exportId": 1, "status": "InProgress"}
    status = api.get("/exports/1").json()["data"]
    assert status["status"] == "Completed"
    download = api.get(status["downloadUrl"].removeprefix(emulator.url))
    assert download.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows == [
        ["email", "firstName", "city", "Newsletter"],
        ["jane@example.com", "Jane", "Gdansk", "True"],
        ["bob@example.com", "", "", ""],
    ]
    assert emulator.store(emulator.api_key).exports[0]["segmentId"] == 12


def test_export_of_every_column(api):
    api.customers(JANE)
    api.post(
        "/exports/customers",
        {"segmentId": 1, "systemAttributes": [{"all": True}], "consents": [{"all": True}]},
    )
    header = next(csv.reader(io.StringIO(api.get("/exports/1/download").text)))
    assert header[:3] == ["id", "email", "phone"]
    assert header[-3:] == ["Newsletter", "SMS offers", "Partner offers"]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"systemAttributes": [{"all": True}]}, "segmentId"),
        ({"segmentId": 1}, "systemAttributes"),
        ({"segmentId": 1, "systemAttributes": []}, "systemAttributes"),
        ({"segmentId": 1, "systemAttributes": [{}]}, "systemAttributes[0].name"),
        ({"segmentId": 1, "systemAttributes": [{"all": "yes"}]}, "systemAttributes[0].all"),
        ({"segmentId": 1, "customAttributes": [{"id": 999}]}, "customAttributes[0].id"),
        ({"segmentId": 1, "consents": [{"name": "nope"}]}, "consents[0].name"),
        ({"segmentId": 1, "consents": {"all": True}}, "consents"),
    ],
)
def test_customer_export_rules(api, body, key):
    response = api.post("/exports/customers", body)
    assert key in errors_of(response)
    assert response.json()["substatus"] == "ExportInvalidModelState"


def test_activity_export_flow_with_visibility_delay(api, emulator):
    emulator.switches.visibility_delay_s = 0.2
    body = {
        "startDate": "2025-01-01",
        "endDate": "2025-03-01",
        "channels": ["email", "SMS"],
        "eventTypes": ["open", "Click"],
        "fileName": "q1_activity",
    }
    assert api.post("/exports/channels/activity", body).status_code == 201
    assert api.get("/exports/1").json()["data"] == {
        "exportId": 1,
        "status": "InProgress",
        "downloadUrl": None,
    }
    assert_problem(api.get("/exports/1/download"), 404, "ExportNotFound")
    time.sleep(0.25)
    assert api.get("/exports/1").json()["data"]["status"] == "Completed"
    assert api.get("/exports/1/download").text == "channel,eventType,eventDate,customerId,customerEmail\r\n"
    stored = emulator.store(emulator.api_key).exports[0]
    assert (stored["kind"], stored["channels"], stored["eventTypes"]) == (
        "channel_activity",
        ["Email", "SMS"],
        ["Open", "Click"],
    )


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"endDate": "2025-01-02"}, "startDate"),
        ({"startDate": "2025-01-02"}, "endDate"),
        ({"startDate": "2025/01/01", "endDate": "2025-01-02"}, "startDate"),
        ({"startDate": "2025-01-02", "endDate": "2025-01-02"}, "startDate"),
        ({"startDate": "2025-01-01", "endDate": "2025-04-02"}, "endDate"),
        ({"startDate": "2025-01-01", "endDate": "2025-01-02", "channels": ["Fax"]}, "channels[0]"),
        (
            {"startDate": "2025-01-01", "endDate": "2025-01-02", "eventTypes": ["Open", "Print"]},
            "eventTypes[1]",
        ),
        ({"startDate": "2025-01-01", "endDate": "2025-01-02", "eventTypes": "Open"}, "eventTypes"),
        ({"startDate": "2025-01-01", "endDate": "2025-01-02", "fileName": "report.csv"}, "fileName"),
        ({"startDate": "2025-01-01", "endDate": "2025-01-02", "fileName": "../etc"}, "fileName"),
    ],
)
def test_activity_export_rules(api, body, key):
    assert key in errors_of(api.post("/exports/channels/activity", body))


def test_unknown_export(api, emulator):
    assert_problem(api.get("/exports/5"), 404, "ExportNotFound")
    assert_problem(api.get("/exports/abc"), 404)
    emulator.switches.not_found_style = "200_null"
    assert api.get("/exports/5").json() == {"status": 0, "data": None}
