"""Every switch: the [UNK] variants of the API and the faults."""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_expertsender.emulator import Emulator, Switches
from airflow_provider_expertsender.emulator.switches import switch_docs
from tests.emulator.conftest import Api, assert_problem, errors_of, order


def emails(n: int, prefix: str = "c") -> list[dict[str, str]]:
    return [{"email": f"{prefix}{i}@example.com"} for i in range(n)]


# -- unknowns of the API -------------------------------------------------------------------------


def test_max_batch_size_400(api, emulator):
    emulator.switches.max_batch_size = 2
    assert api.customers(*emails(2)).status_code == 201
    errors = errors_of(api.customers(*emails(3, "d")))
    assert errors == {"data": ["The field data must be a string or array type with a maximum length of '2'."]}
    assert "data" in errors_of(api.orders(order("a"), order("b"), order("c")))
    assert len(emulator.store(emulator.api_key).customers) == 2


def test_max_batch_size_413(api, emulator):
    emulator.switches.update(max_batch_size=1, batch_limit_status=413)
    assert_problem(api.customers(*emails(2)), 413, "BatchTooLarge")
    assert_problem(api.orders(order("a"), order("b")), 413)


def test_item_error_style_reject_batch_applies_nothing(api, emulator):
    response = api.customers({"email": "ok@example.com"}, {"email": "broken"})
    assert list(errors_of(response)) == ["data[1].email"]
    assert emulator.store(emulator.api_key).customers == []
    assert emulator.store(emulator.api_key).counters["items_rejected"] == 1


def test_item_error_style_errors_2xx_applies_the_valid_items(api, emulator):
    emulator.switches.item_error_style = "errors_2xx"
    response = api.customers(
        {"email": "ok@example.com"}, {"email": "broken", "phone": "1 2"}, {"email": "ok2@example.com"}
    )
    assert response.status_code == 201
    assert response.json() == {
        "errors": [
            "data[1].email: The email field is not a valid e-mail address.",
            "data[1].phone: The field phone must not contain spaces.",
        ]
    }
    assert [c["email"] for c in emulator.store(emulator.api_key).customers] == [
        "ok@example.com",
        "ok2@example.com",
    ]
    response = api.orders(order("good"), order("bad", currency="EURO"))
    assert response.status_code == 201
    assert response.json()["errors"][0].startswith("data[1].currency: ")
    assert [o["id"] for o in emulator.store(emulator.api_key).orders] == ["good"]


def test_request_level_errors_stay_400_in_errors_2xx_style(api, emulator):
    emulator.switches.item_error_style = "errors_2xx"
    assert "mode" in errors_of(api.post("/customers", {"matchBy": "Email", "data": []}))


@pytest.mark.parametrize("path", ["/customers/id/5", "/customers/crmId/x", "/orders/id/x", "/orders/x"])
def test_not_found_style_200_null(api, emulator, path):
    emulator.switches.not_found_style = "200_null"
    response = api.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": 0, "data": None}


# Without the bare GET path, /orders/{id} still has DELETE: a GET there is 405 (as ASP.NET answers).
@pytest.mark.parametrize(
    ("paths", "id_status", "bare_status"), [(["id"], 200, 405), (["bare"], 404, 200), ([], 404, 405)]
)
def test_order_get_paths(api, emulator, paths, id_status, bare_status):
    api.orders(order("o-9"))
    emulator.switches.order_get_paths = paths
    assert api.get("/orders/id/o-9").status_code == id_status
    assert api.get("/orders/o-9").status_code == bare_status
    assert api.delete("/orders/o-9").status_code == 200  # DELETE is not affected


def test_visibility_delay(api, emulator):
    emulator.switches.visibility_delay_s = 0.3
    api.customers({"email": "late@example.com", "firstName": "A"})
    assert api.get("/customers/email/late%40example.com").status_code == 404
    assert emulator.store(emulator.api_key).customer(email="late@example.com")["firstName"] == "A"  # stored
    time.sleep(0.35)
    assert api.get("/customers/email/late%40example.com").json()["data"]["firstName"] == "A"
    api.customers({"email": "late@example.com", "firstName": "B"})
    assert api.get("/customers/email/late%40example.com").json()["data"]["firstName"] == "A"  # old version
    api.orders(order("slow"))
    api.put("/orders/status", {"orderId": "slow", "orderStatus": "completed"})
    assert api.get("/orders/id/slow").status_code == 404
    time.sleep(0.35)
    assert api.get("/customers/email/late%40example.com").json()["data"]["firstName"] == "B"
    assert api.get("/orders/id/slow").json()["data"]["status"] == "completed"


# -- faults --------------------------------------------------------------------------------------


def test_latency(api, emulator):
    emulator.switches.latency_ms = 150
    started = time.monotonic()
    api.get("/customerconsents")
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_fail_next_answers_the_status_without_processing(api, emulator, status):
    emulator.switches.fail_next(2, status=status, retry_after=3)
    for _ in range(2):
        response = api.customers({"email": "f@example.com"})
        assert_problem(response, status)
        assert response.headers["Retry-After"] == "3"
    assert api.customers({"email": "f@example.com"}).status_code == 201
    assert emulator.store(emulator.api_key).counters["customers_created"] == 1
    assert [r.status for r in emulator.requests] == [status, status, 201]


def test_fail_next_html_and_fractional_or_date_retry_after(api, emulator):
    emulator.switches.fail_next(status=502, html=True, retry_after=0.25)
    emulator.switches.fail_next(status=503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    response = api.get("/customerconsents")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text
    assert response.headers["Retry-After"] == "0.25"
    assert api.get("/customerconsents").headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert emulator.switches.pending_faults == 0


def test_faults_come_before_authentication(emulator):
    emulator.switches.fail_next(status=503)
    assert Api(emulator.url, "bad").get("/customerconsents").status_code == 503


def test_error_rate_is_reproducible_with_a_seed(emulator):
    def run() -> list[int]:
        emulator.reset()
        emulator.switches.update(error_rate=0.5, seed=7, error_status=500)
        client = Api(emulator.url, emulator.api_key)
        return [client.get("/customerconsents").status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 500}
    emulator.switches.seed = 8
    assert [
        Api(emulator.url, emulator.api_key).get("/customerconsents").status_code for _ in range(30)
    ] != first


def test_rate_limit_token_bucket(api, emulator):
    emulator.switches.rate_limit_per_second = 5
    statuses = [api.get("/customerconsents") for _ in range(8)]
    limited = [r for r in statuses if r.status_code == 429]
    assert [r.status_code for r in statuses[:5]] == [200] * 5
    assert limited
    assert limited[0].headers["Retry-After"] == "1"
    assert_problem(limited[0], 429, "TooManyRequests")
    time.sleep(0.25)  # one token comes back every 0.2 s
    assert api.get("/customerconsents").status_code == 200


def test_rate_limit_is_per_business_unit(api, api2, emulator):
    emulator.switches.rate_limit_per_second = 1
    assert api.get("/customerconsents").status_code == 200
    assert api.get("/customerconsents").status_code == 429
    assert api2.get("/customerconsents").status_code == 200


def test_drop_before_apply(api, emulator):
    emulator.switches.drop_next()
    with pytest.raises(requests.ConnectionError):
        api.customers({"email": "dropped@example.com"})
    assert emulator.store(emulator.api_key).customers == []
    assert emulator.requests[-1].status is None
    assert api.customers({"email": "dropped@example.com"}).status_code == 201


def test_drop_after_apply(api, emulator):
    emulator.switches.drop_next(after_apply=True)
    with pytest.raises(requests.ConnectionError):
        api.post("/scenariocustomevents", {"customEventId": 1, "customerId": 1})
    assert len(emulator.store(emulator.api_key).events) == 1
    record = emulator.requests[-1]
    assert (record.status, record.items) == (None, 1)


@pytest.mark.parametrize(
    ("switch", "applied"), [("drop_before_apply_rate", False), ("drop_after_apply_rate", True)]
)
def test_drop_rates(api, emulator, switch, applied):
    setattr(emulator.switches, switch, 1.0)
    with pytest.raises(requests.ConnectionError):
        api.customers({"email": "r@example.com"})
    assert (len(emulator.store(emulator.api_key).customers) == 1) is applied


def test_hang_until_switched_off(api, emulator):
    emulator.switches.hang = True
    with pytest.raises(requests.Timeout):
        api.get("/customerconsents", timeout=0.3)
    emulator.switches.hang = False
    assert api.get("/customerconsents").status_code == 200


def test_hang_is_released_by_stop():
    emu = Emulator(["k"], switches=Switches(hang=True)).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            requests.get(f"{emu.url}/customerconsents", headers={"x-api-key": "k"}, timeout=10)
        except requests.RequestException as err:
            errors.append(err)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    emu.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    assert errors  # the client saw the connection close, not an answer


def test_empty_200(api, emulator):
    emulator.switches.empty_200 = True
    response = api.customers({"email": "e@example.com"})
    assert response.status_code == 200
    assert response.content == b""
    assert "Content-Type" not in response.headers
    assert len(emulator.store(emulator.api_key).customers) == 1  # processed


def test_truncated_body(emulator):
    emulator.switches.truncated_body = True
    parts = urlsplit(emulator.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", "/customerconsents", headers={"x-api-key": emulator.api_key})
    response = conn.getresponse()
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    conn.close()
    with pytest.raises(requests.RequestException):
        Api(emulator.url, emulator.api_key).get("/customerconsents").json()


# -- the Switches object -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_batch_size", 0),
        ("max_batch_size", "10"),
        ("batch_limit_status", 500),
        ("item_error_style", "partial"),
        ("not_found_style", "410"),
        ("order_get_paths", ["id", "other"]),
        ("accept_cancelled", "yes"),
        ("missing_order_status", 410),
        ("delete_status", 202),
        ("event_unknown_customer", "ignore"),
        ("latency_ms", -1),
        ("error_rate", 1.5),
        ("error_status", 404),
        ("seed", 1.5),
        ("rate_limit_per_second", 0),
        ("drop_after_apply_rate", -0.1),
        ("hang", 1),
        ("visibility_delay_s", float("nan")),
    ],
)
def test_invalid_switch_values_are_refused(name, value):
    switches = Switches()
    with pytest.raises(ValueError, match=name):
        setattr(switches, name, value)
    with pytest.raises(ValueError):
        Switches(**{name: value})


def test_unknown_switch_name_is_refused():
    switches = Switches()
    with pytest.raises(AttributeError, match="no switch"):
        switches.max_batch = 5
    with pytest.raises(AttributeError):
        switches.update(max_batch=5)


def test_update_is_all_or_nothing():
    switches = Switches()
    with pytest.raises(ValueError):
        switches.update(latency_ms=10, error_rate=2)
    assert switches.latency_ms == 0


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("fail_next", {"n": 0}),
        ("fail_next", {"status": 404}),
        ("fail_next", {"retry_after": -1}),
        ("drop_next", {"n": -1}),
    ],
)
def test_invalid_faults_are_refused(call, kwargs):
    with pytest.raises(ValueError):
        getattr(Switches(), call)(**kwargs)


def test_normalisation_and_round_trip():
    switches = Switches(order_get_paths="ID, bare", not_found_style=404, forbidden_resources=["Orders"])
    assert switches.order_get_paths == ("id", "bare")
    assert switches.not_found_style == "404"
    assert switches.forbidden_resources == ("orders",)
    copy = Switches(**switches.as_dict())
    assert copy.as_dict() == switches.as_dict()


def test_reset_restores_the_initial_switches_and_forgets_faults(api):
    with Emulator(["k"], switches=Switches(latency_ms=1, item_error_style="errors_2xx")) as emu:
        emu.switches.update(latency_ms=50, not_found_style="200_null")
        emu.switches.fail_next(5)
        emu.reset()
        assert emu.switches.latency_ms == 1
        assert emu.switches.item_error_style == "errors_2xx"
        assert emu.switches.not_found_style == "404"
        assert emu.switches.pending_faults == 0


def test_every_switch_is_documented():
    docs = switch_docs()
    assert {d["name"] for d in docs} == set(Switches().as_dict())
    assert all(d["help"] for d in docs)
    with open("docs/emulator.md", encoding="utf-8") as handle:
        page = handle.read()
    missing = [d["name"] for d in docs if f"`{d['name']}`" not in page]
    assert not missing, f"switches missing from docs/emulator.md: {missing}"


def test_hidden_reads_make_the_first_reads_miss(api, emulator):
    emulator.switches.hidden_reads = 2
    api.customers({"email": "late@example.com", "firstName": "A"})
    assert api.get("/customers/email/late%40example.com").status_code == 404
    assert api.get("/customers/email/late%40example.com").status_code == 404
    assert api.get("/customers/email/late%40example.com").json()["data"]["firstName"] == "A"
    api.customers({"email": "late@example.com", "firstName": "B"})  # an update is hidden the same way
    assert api.get("/customers/email/late%40example.com").json()["data"]["firstName"] == "A"
