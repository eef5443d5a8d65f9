"""POST /scenariocustomevents and the four settings lists."""

from __future__ import annotations

import hashlib
import json

import pytest

from airflow_provider_expertsender.emulator import Emulator, Seeds, SettingItem
from tests.emulator.conftest import Api, assert_problem, errors_of

EMAIL = "jane.doe@example.com"


def test_events_are_recorded_in_order(api, emulator):
    for n in range(3):
        body = {
            "customEventId": 10 + n,
            "customerCrmId": f"c{n}",
            "dataFields": [{"name": "n", "type": "Number", "value": str(n)}],
        }
        response = api.post("/scenariocustomevents", body)
        assert response.status_code == 201
        assert response.json() == {"status": 0}
    events = emulator.store(emulator.api_key).events
    assert [e["customEventId"] for e in events] == [10, 11, 12]
    assert events[2]["dataFields"] == [{"name": "n", "type": "Number", "value": "2"}]
    assert events[0]["receivedAt"].endswith("Z")
    assert emulator.store(emulator.api_key).counters["events"] == 3


@pytest.mark.parametrize(
    "identifier",
    [
        {"customerId": 1},
        {"customerId": "1"},
        {"customerEmail": EMAIL.upper()},
        {"customerEmailMd5": hashlib.md5(EMAIL.encode()).hexdigest()},
        {"customerEmailSha256": hashlib.sha256(EMAIL.encode()).hexdigest().upper()},
        {"customerPhone": "+48600100200"},
        {"customerCrmId": "10042"},
    ],
)
def test_event_is_matched_to_the_customer(api, emulator, identifier):
    api.customers({"email": EMAIL, "phone": "+48600100200", "crmId": "10042"})
    assert api.post("/scenariocustomevents", {"customEventId": 1, **identifier}).status_code == 201
    assert emulator.store(emulator.api_key).events[0]["matchedCustomerId"] == 1


def test_event_data_field_types_are_canonical(api, emulator):
    fields = [
        {"name": "a", "type": "url", "value": "https://x.example"},
        {"name": "b", "type": "datetime", "value": "2025-01-01T00:00:00Z"},
        {"name": "c", "type": "BOOLEAN", "value": "false"},
        {"name": "d", "type": "text", "value": None},
    ]
    assert (
        api.post(
            "/scenariocustomevents", {"customEventId": 1, "customerId": 9, "dataFields": fields}
        ).status_code
        == 201
    )
    assert [f["type"] for f in emulator.store(emulator.api_key).events[0]["dataFields"]] == [
        "URL",
        "DateTime",
        "Boolean",
        "Text",
    ]


@pytest.mark.parametrize(("switch", "status"), [("accept", 201), ("404", 404), ("400", 400)])
def test_event_for_unknown_customer(api, emulator, switch, status):
    emulator.switches.event_unknown_customer = switch
    response = api.post("/scenariocustomevents", {"customEventId": 1, "customerEmail": "ghost@example.com"})
    assert response.status_code == status
    assert len(emulator.store(emulator.api_key).events) == (1 if status == 201 else 0)
    if status == 201:
        assert emulator.store(emulator.api_key).events[0]["matchedCustomerId"] is None


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/customerattributes", {"loyalty_tier", "points", "lifetime_value", "signup_date", "last_login"}),
        ("/customerconsents", {"Newsletter", "SMS offers", "Partner offers"}),
        ("/orderattributes", {"shipping_method", "coupon_code", "gift_wrap", "delivery_date"}),
        ("/productattributes", {"size", "color", "weight_kg", "material"}),
    ],
)
def test_settings_lists(api, path, names):
    response = api.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 0
    assert names <= {item["name"] for item in body["data"]}
    for item in body["data"]:
        assert set(item) == {"id", "name", "type"}
        assert isinstance(item["id"], int)


def test_customer_attribute_types_cover_the_documented_set(api):
    types = {item["type"] for item in api.get("/customerattributes").json()["data"]}
    assert types == {
        "String",
        "Text",
        "Number",
        "Money",
        "Date",
        "DateTime",
        "SingleSelect",
        "Boolean",
        "Url",
    }
    consent_types = {item["type"] for item in api.get("/customerconsents").json()["data"]}
    assert consent_types == {"General", "Email", "Sms"}


def test_settings_can_be_emptied_per_test_and_reset(api, emulator):
    unit = emulator.store(emulator.api_key)
    unit.set_settings("consents", [])
    assert api.get("/customerconsents").json() == {"status": 0, "data": []}
    assert "data[0].consentsData.consents[0].id" in errors_of(
        api.customers({"email": EMAIL, "consentsData": {"consents": [{"id": 1, "value": "True"}]}})
    )
    emulator.reset()
    assert len(api.get("/customerconsents").json()["data"]) == 3
    with pytest.raises(KeyError):
        unit.set_settings("segments", [])


def test_settings_are_per_business_unit(api, api2, emulator):
    emulator.store(emulator.api_keys[1]).set_settings("product_attributes", [SettingItem(5, "only", "Text")])
    assert [i["name"] for i in api2.get("/productattributes").json()["data"]] == ["only"]
    assert len(api.get("/productattributes").json()["data"]) == 4


def test_seed_file(tmp_path):
    seed = tmp_path / "seeds.json"
    seed.write_text(
        json.dumps(
            {
                "customerAttributes": [
                    {
                        "id": 7,
                        "name": "tier",
                        "type": "singleselect",
                        "options": ["a"],
                    }
                ],
                "customer_consents": [{"ID": 4, "Name": "Mail", "Type": "email"}],
                "defaultMatchBy": "crmid",
            }
        )
    )
    seeds = Seeds.from_file(seed)
    assert seeds.customer_attributes == (SettingItem(7, "tier", "SingleSelect", ("a",)),)
    assert seeds.consents == (SettingItem(4, "Mail", "Email"),)
    assert seeds.default_match_by == "CrmId"
    assert len(seeds.order_attributes) == 4  # not named: default kept
    with Emulator(["k"], seeds=seeds) as emu:
        client = Api(emu.url, "k")
        assert client.get("/customerattributes").json()["data"] == [
            {"id": 7, "name": "tier", "type": "SingleSelect"}
        ]
        bad = client.customers({"email": EMAIL, "customAttributes": [{"name": "tier", "value": "b"}]})
        assert "data[0].customAttributes[0].value" in errors_of(bad)


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"segments": []},
        {"customerAttributes": {}},
        {"customerAttributes": [{"id": "1", "name": "a", "type": "Text"}]},
        {"customerAttributes": [{"id": 1, "name": "", "type": "Text"}]},
        {"customerAttributes": [{"id": 1, "name": "a", "type": "Colour"}]},
        {"customerConsents": [{"id": 1, "name": "a", "type": "Text"}]},
        {
            "customerAttributes": [
                {"id": 1, "name": "a", "type": "Text"},
                {"id": 1, "name": "b", "type": "Text"},
            ]
        },
        {"customerAttributes": [{"id": 1, "name": "a", "type": "Text", "options": "x"}]},
        {"defaultMatchBy": "Fax"},
    ],
)
def test_bad_seeds_are_refused(data):
    with pytest.raises(ValueError, match=r"seeds|defaultMatchBy"):
        Seeds.from_mapping(data)


def test_bad_seed_file_json(tmp_path):
    seed = tmp_path / "seeds.json"
    seed.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Seeds.from_file(seed)


def test_forbidden_resource(api, emulator):
    emulator.switches.forbidden_resources = ["orderattributes", "ORDERS"]
    assert_problem(api.get("/orderattributes"), 403, "Forbidden")
    assert_problem(api.get("/orders/id/1"), 403)
    assert api.get("/customerattributes").status_code == 200
