"""HTTP behaviour: authentication, isolation, routing errors, bodies, keep-alive, what is logged."""

from __future__ import annotations

import http.client
import json
import logging
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_expertsender.emulator import Emulator
from tests.emulator.conftest import Api, assert_problem, errors_of


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_missing_or_unknown_key_is_401(emulator, key):
    client = Api(emulator.url, key)
    body = assert_problem(client.get("/customerattributes"), 401, "InvalidApiKey")
    assert body["title"] == "Unauthorized"
    assert body["instance"] == "/customerattributes"
    assert_problem(client.post("/customers", {"mode": "Add", "matchBy": "Email", "data": []}), 401)
    assert emulator.store(emulator.api_key).request_count == 0


def test_key_header_name_is_case_insensitive(emulator):
    response = requests.get(
        f"{emulator.url}/customerconsents", headers={"X-API-KEY": emulator.api_key}, timeout=5
    )
    assert response.status_code == 200


def test_business_units_are_isolated(api, api2, emulator):
    api.customers({"email": "only-in-one@example.com"})
    api2.orders(
        {"id": "x", "date": "2025-01-01T00:00:00Z", "customer": {"email": "a@example.com"}, "products": []}
    )
    assert api2.get("/customers/email/only-in-one%40example.com").status_code == 404
    assert api.get("/orders/id/x").status_code == 404
    first, second = (emulator.store(key) for key in emulator.api_keys)
    assert (len(first.customers), len(first.orders)) == (1, 0)
    assert (len(second.customers), len(second.orders)) == (0, 1)
    assert first.request_count == 2
    assert second.request_count == 2


def test_store_of_unknown_key_does_not_echo_it(emulator):
    with pytest.raises(KeyError) as info:
        emulator.store("some-secret")
    assert "some-secret" not in str(info.value)


def test_unknown_route_is_404_problem(api):
    assert_problem(api.get("/segments"), 404, "ResourceNotFound")
    assert_problem(api.get("/customers/id"), 404)
    assert_problem(api.get("/"), 404)


def test_wrong_method_is_405_with_allow(api):
    response = api.call("PATCH", "/customers")
    assert_problem(response, 405)
    assert response.headers["Allow"] == "POST"
    assert api.put("/customerattributes", {}).headers["Allow"] == "GET"
    assert set(api.call("PATCH", "/orders/o-1").headers["Allow"].split(", ")) == {"DELETE", "GET"}


def test_body_must_be_json_content(api):
    response = api.call(
        "POST", "/customers", data="mode=Add", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_problem(response, 415, "UnsupportedMediaType")
    response = api.call("POST", "/customers", data=b'{"mode":"Add"}')  # no Content-Type
    assert_problem(response, 415)
    vendor = api.call(
        "POST",
        "/customers",
        data=json.dumps({"mode": "Add", "matchBy": "Email", "data": []}),
        headers={"Content-Type": "application/vnd.api+json; charset=utf-8"},
    )
    assert vendor.status_code == 201


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b"", ""),
        (b"   ", ""),
        (b'{"mode": "Add",', "$"),
        (b'{"mode": "Add", "matchBy": "Email", "data": [NaN]}', "$"),
        (b"\xff\xfe", "$"),
    ],
)
def test_unreadable_bodies_are_400(api, raw, key):
    response = api.call("POST", "/customers", data=raw, headers={"Content-Type": "application/json"})
    assert key in errors_of(response)


def test_chunked_request_body(api, emulator):
    payload = json.dumps(
        {"mode": "Add", "matchBy": "Email", "data": [{"email": "chunk@example.com"}]}
    ).encode()

    def chunks():
        yield payload[:10]
        yield payload[10:]

    response = api.call("POST", "/customers", data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert emulator.store(emulator.api_key).customer(email="chunk@example.com") is not None


def test_keep_alive_serves_many_requests_on_one_connection(emulator):
    parts = urlsplit(emulator.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        for _ in range(5):
            conn.request("GET", "/customerconsents", headers={"x-api-key": emulator.api_key})
            response = conn.getresponse()
            assert response.status == 200
            assert response.getheader("Connection") != "close"
            json.loads(response.read())
        sock = conn.sock
        conn.request(
            "POST",
            "/customers",
            body=b'{"mode":"Add","matchBy":"Email","data":[{"email":"k@example.com"}]}',
            headers={"x-api-key": emulator.api_key, "Content-Type": "application/json"},
        )
        assert conn.getresponse().read() == b'{"status":0}'
        assert conn.sock is sock  # same socket: the connection was kept alive
    finally:
        conn.close()


def test_request_log_has_no_bodies_or_keys(api, emulator):
    api.customers({"email": "logged@example.com"}, {"email": "other@example.com"})
    api.get("/customers/email/logged%40example.com")
    log = emulator.requests
    assert [(r.method, r.path, r.status, r.items) for r in log] == [
        ("POST", "/customers", 201, 2),
        ("GET", "/customers/email/logged%40example.com", 200, 0),
    ]
    assert log[1].route == "/customers/email/{value}"
    assert all(r.duration_s >= 0 for r in log)
    assert len(tuple(log[0])) == 5  # a plain (method, path, status, items, duration_s) tuple
    assert "x-api-key" not in repr(log)
    assert emulator.api_key not in repr(log)


def test_request_log_is_bounded():
    with Emulator(["k"], request_log_size=3) as emu:
        client = Api(emu.url, "k")
        for _ in range(5):
            client.get("/customerconsents")
        assert len(emu.requests) == 3
        emu.clear_requests()
        assert emu.requests == []


def test_logging_never_prints_keys_bodies_or_identifiers(api, emulator, caplog):
    caplog.set_level(logging.DEBUG, logger="airflow_provider_expertsender.emulator")
    api.customers({"email": "private.person@example.com", "firstName": "Privatename"})
    api.get("/customers/email/private.person%40example.com")
    Api(emulator.url, "wrong-secret-key").get("/customerattributes")
    text = caplog.text
    assert "POST /customers -> 201 (1 items" in text
    assert "GET /customers/email/{value} -> 200" in text
    for secret in (emulator.api_key, "wrong-secret-key", "private.person", "Privatename"):
        assert secret not in text


def test_repr_shows_no_key():
    emu = Emulator(["super-secret"])
    assert "super-secret" not in repr(emu)
    assert "stopped" in repr(emu)


@pytest.mark.parametrize(
    ("keys", "message"),
    [([], "one or more"), ([""], "one or more"), (["a", "a"], "distinct"), ([1], "one or more")],
)
def test_bad_key_lists(keys, message):
    with pytest.raises(ValueError, match=message):
        Emulator(keys)


def test_single_key_string_and_lifecycle():
    emu = Emulator("solo", port=0)
    assert emu.api_keys == ("solo",)
    emu.start()
    try:
        assert emu.start() is emu  # idempotent
        assert emu.port > 0
        assert emu.url == f"http://127.0.0.1:{emu.port}"
        assert Api(emu.url, "solo").get("/customerconsents").status_code == 200
    finally:
        emu.stop()
    emu.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{emu.url}/customerconsents", timeout=2)


def test_stop_closes_idle_keep_alive_connections():
    emu = Emulator(["k"]).start()
    parts = urlsplit(emu.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", "/customerconsents", headers={"x-api-key": "k"})
    conn.getresponse().read()
    emu.stop()

    def reuse() -> None:
        conn.request("GET", "/customerconsents", headers={"x-api-key": "k"})
        conn.getresponse()

    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        reuse()
    conn.close()


def test_importing_the_emulator_does_not_import_airflow():
    import subprocess
    import sys

    code = (
        "import sys, airflow_provider_expertsender.emulator, airflow_provider_expertsender.emulator.__main__;"
        "print(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
