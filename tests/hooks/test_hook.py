"""ExpertSenderHook over real HTTP against the emulator: every method, every error, retries, logs, threads."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import quote

import pytest

from airflow_provider_expertsender import __version__
from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderConfigError,
    ExpertSenderInvalidInputError,
    ExpertSenderInvalidRecordError,
    ExpertSenderNotFoundError,
    ExpertSenderRateLimitError,
    ExpertSenderResponseError,
    ExpertSenderServerError,
    ExpertSenderTransportError,
    ExpertSenderValidationError,
)
from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook, WriteResult
from tests.hooks.conftest import HOOK_LOGGER

JANE = {"email": "jane+news@example.com", "phone": "+48600100200", "crmId": "crm/42", "firstName": "Jane"}


def order(order_id: str = "ORD-1", email: str = "jane+news@example.com") -> dict:
    return {
        "id": order_id,
        "date": "2026-01-02T03:04:05Z",
        "currency": "PLN",
        "totalValue": 10.5,
        "status": "placed",
        "customer": {"email": email},
        "products": [{"id": "SKU-1", "name": "Mug", "price": 10.5, "quantity": 1}],
    }


def calls(emulator, method: str, route: str) -> int:
    """Requests the emulator served on ``route``; it logs a request just after answering, so let it settle."""

    def count() -> int:
        return sum(1 for r in emulator.requests if r.method == method and r.route == route)

    deadline = time.monotonic() + 5
    seen, stable_since = count(), time.monotonic()
    while time.monotonic() < deadline and (seen == 0 or time.monotonic() - stable_since < 0.1):
        time.sleep(0.01)
        now = count()
        if now != seen:
            seen, stable_since = now, time.monotonic()
    return seen


def make_hook(conn_id: str, waits=None) -> ExpertSenderHook:
    hook = ExpertSenderHook(expertsender_conn_id=conn_id)
    hook._log = logging.getLogger(HOOK_LOGGER)
    if waits is not None:
        hook._sleep = waits
    return hook


# -- every API method ------------------------------------------------------------------------------------


def test_upsert_customers_and_get_by_every_identifier(hook, emulator):
    result = hook.upsert_customers(
        [JANE, {"email": "john@example.com"}], mode="addorupdate", match_by="EMAIL"
    )
    assert result == WriteResult(status=201, sent=2)
    assert result.accepted == 2
    stored = emulator.store(emulator.api_key).customer(email=JANE["email"])
    assert stored["firstName"] == "Jane"

    by_email = hook.get_customer(email=JANE["email"])
    assert by_email["crmId"] == "crm/42"
    assert hook.get_customer(phone=JANE["phone"])["email"] == JANE["email"]
    assert hook.get_customer(crm_id="crm/42")["email"] == JANE["email"]  # "/" stays inside one path segment
    assert hook.get_customer(customer_id=by_email["id"])["email"] == JANE["email"]
    assert hook.get_customer(customer_id=str(by_email["id"]))["email"] == JANE["email"]


def test_add_mode_is_sent_with_the_documented_spelling(hook, emulator):
    hook.upsert_customers([{"email": "new@example.com"}], mode="ADD", match_by="email")
    assert emulator.store(emulator.api_key).customer(email="new@example.com") is not None


def test_orders_register_get_status_delete(hook, emulator):
    assert hook.register_orders([order("ORD-1"), order("ORD 2/b")]).accepted == 2
    assert hook.get_order("ORD-1")["totalValue"] == 10.5
    assert hook.get_order("ORD 2/b")["id"] == "ORD 2/b"
    assert hook.update_order_status("ORD-1", "paid") == {}
    assert hook.get_order("ORD-1")["status"].lower() == "paid"
    assert hook.delete_order("ORD-1") is None
    assert emulator.store(emulator.api_key).order("ORD-1")["isDeleted"] is True
    assert hook.register_orders([order("ORD-3")], mode="add").sent == 1


def test_delete_with_a_204_and_an_unknown_order(hook, emulator):
    hook.register_orders([order("ORD-9")])
    emulator.switches.delete_status = 204
    assert hook.delete_order("ORD-9") is None
    with pytest.raises(ExpertSenderNotFoundError):
        hook.update_order_status("nope", "paid")


def test_send_custom_event(hook, emulator):
    hook.upsert_customers([JANE])
    fields = [{"name": "coupon", "type": "String", "value": "SPRING"}]
    assert hook.send_custom_event(7, email=JANE["email"], data_fields=fields) == {}
    assert hook.send_custom_event("8", crm_id="crm/42") == {}
    events = emulator.store(emulator.api_key).events
    assert [e["customEventId"] for e in events] == [7, 8]
    assert events[0]["dataFields"] == fields


@pytest.mark.parametrize(
    ("method", "setting"),
    [
        ("list_customer_attributes", "customer_attributes"),
        ("list_consents", "consents"),
        ("list_order_attributes", "order_attributes"),
        ("list_product_attributes", "product_attributes"),
    ],
)
def test_settings_lists(hook, emulator, method, setting):
    expected = [item.public() for item in emulator.store(emulator.api_key).settings(setting)]
    assert expected
    assert getattr(hook, method)() == expected
    assert hook.list_settings(setting.upper()) == expected


@pytest.mark.parametrize("style", ["404", "200_null"])
def test_not_found_in_both_styles(hook, emulator, style):
    emulator.switches.not_found_style = style
    with pytest.raises(ExpertSenderNotFoundError) as info:
        hook.get_customer(email="nobody@example.com")
    assert "nobody" not in info.value.message
    with pytest.raises(ExpertSenderNotFoundError):
        hook.get_order("missing")
    assert calls(emulator, "GET", "/customers/email/{value}") == 1  # not retried


def test_per_item_errors_in_a_2xx(hook, emulator):
    emulator.switches.item_error_style = "errors_2xx"
    records = [{"email": "ok@example.com"}, {"email": "x" * 400}, {"email": "b@ex.com"}]
    result = hook.upsert_customers(records, validate=False)
    assert result.status == 201
    assert result.rejected_indexes == {1}
    assert result.accepted == 2
    assert all(e.index == 1 for e in result.item_errors)


# -- records validated and converted like the operators' (validate=True by default) -----------------------


def test_snake_case_records_arrive_converted(hook, emulator):
    hook.upsert_customers([{"email": "ada@example.com", "first_name": "Ada", "crm_id": "C-1"}])
    stored = emulator.store(emulator.api_key).customer(email="ada@example.com")
    assert (stored["firstName"], stored["crmId"]) == ("Ada", "C-1")


def test_an_unknown_key_is_refused_by_position_and_nothing_is_sent(hook, emulator):
    records = [{"email": "a@example.com"}, {"email": "b@example.com", "frist_name": "Bo"}]
    with pytest.raises(ExpertSenderInvalidInputError) as info:
        hook.upsert_customers(records)
    assert "record #1 (b@example.com): frist_name: unknown field; did you mean" in info.value.message
    assert "validate=False" in info.value.message
    assert emulator.requests == []


def test_validate_false_sends_records_exactly_as_given(hook, emulator):
    hook.upsert_customers([{"email": "ada@example.com", "first_name": "Ada"}], validate=False)
    # The emulator, like ASP.NET, ignores a member it does not know: the name is lost.
    assert emulator.store(emulator.api_key).customer(email="ada@example.com").get("firstName") is None


def test_orders_events_and_status_changes_are_built_by_the_models(hook, emulator):
    snake = {"total_value" if key == "totalValue" else key: value for key, value in order().items()}
    hook.register_orders([snake])
    hook.update_order_status("ORD-1", "Cancelled")
    hook.send_custom_event("12", email="jane+news@example.com", data_fields={"coupon": "X-1", "amount": 3})
    unit = emulator.store(emulator.api_key)
    assert unit.order("ORD-1")["totalValue"] == 10.5
    assert unit.order("ORD-1")["status"] == "canceled"
    (event,) = unit.events
    assert event["customEventId"] == 12
    assert event["dataFields"] == [
        {"name": "coupon", "type": "String", "value": "X-1"},
        {"name": "amount", "type": "Number", "value": "3"},
    ]


def test_an_invalid_custom_event_is_refused_before_any_request(hook, emulator):
    with pytest.raises(ExpertSenderInvalidRecordError, match="customEventId"):
        hook.send_custom_event(0, email="jane+news@example.com")
    assert emulator.requests == []


# -- argument checks (nothing is sent) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.get_customer(),
        lambda h: h.get_customer(email="a@b.c", phone="1"),
        lambda h: h.get_customer(email="  "),
        lambda h: h.get_customer(email=True),
        lambda h: h.get_order(True),
        lambda h: h.get_order(""),
        lambda h: h.upsert_customers([JANE], mode="Upsert"),
        lambda h: h.upsert_customers([JANE], match_by="Name"),
        lambda h: h.upsert_customers([]),
        lambda h: h.upsert_customers(JANE),
        lambda h: h.upsert_customers(["a@b.c"]),
        lambda h: h.register_orders([order()], mode="AddOrUpdate"),
        lambda h: h.update_order_status("ORD-1", ""),
        lambda h: h.update_order_status("ORD-1", "paid", website_id="web"),
        lambda h: h.send_custom_event(1),
        lambda h: h.send_custom_event("one", email="a@b.c"),
        lambda h: h.send_custom_event(1, email="a@b.c", customer_id=3),
        lambda h: h.list_settings("segments"),
        lambda h: h.upsert_customers([{"email": "a@b.c", "when": datetime.now()}]),
    ],
)
def test_bad_arguments_raise_typed_errors_without_a_request(hook, emulator, call):
    refused = (ExpertSenderConfigError, ExpertSenderInvalidRecordError, ExpertSenderInvalidInputError)
    with pytest.raises(refused):
        call(hook)
    assert emulator.requests == []


# -- errors and retries ----------------------------------------------------------------------------------


def test_wrong_key_is_an_auth_error_not_retried(make_conn, emulator, waits):
    hook = make_hook(make_conn(api_key="es-wrong-key-000000"), waits)
    with pytest.raises(ExpertSenderAuthError) as info:
        hook.list_consents()
    assert info.value.status == 401
    assert "the API key was rejected" in info.value.message
    assert (calls(emulator, "GET", "/customerconsents"), waits) == (1, [])


def test_forbidden_resource_is_an_auth_error(hook, emulator):
    emulator.switches.forbidden_resources = ("orders",)
    with pytest.raises(ExpertSenderAuthError) as info:
        hook.get_order("ORD-1")
    assert info.value.status == 403


def test_400_is_not_retried_and_keeps_problem_details(hook, emulator, waits):
    with pytest.raises(ExpertSenderValidationError) as info:
        hook.upsert_customers([{"email": "ok@example.com"}, {"email": "not an email"}], validate=False)
    error = info.value
    assert error.substatus == "CustomerInvalidModelState"
    assert any(str(key).startswith("data[1]") for key in error.errors)
    assert "not an email" not in error.message
    assert (calls(emulator, "POST", "/customers"), waits) == (1, [])


def test_503_is_retried_then_succeeds(hook, emulator, waits):
    emulator.switches.fail_next(2, status=503)
    assert hook.list_consents()
    assert calls(emulator, "GET", "/customerconsents") == 3
    assert len(waits) == 2


def test_html_502_exhausts_the_budget_and_keeps_its_status(hook, emulator, waits):
    emulator.switches.fail_next(10, status=502, html=True)
    with pytest.raises(ExpertSenderServerError) as info:
        hook.list_consents()
    assert info.value.status == 502
    assert "non-JSON body" in info.value.message
    assert "Gave up after 4 attempts" in info.value.message
    assert calls(emulator, "GET", "/customerconsents") == 4  # max_retries=3 in the test connection
    assert len(waits) == 3


def test_5xx_on_a_non_idempotent_call_is_not_repeated(hook, emulator, waits):
    emulator.switches.fail_next(1, status=500)
    with pytest.raises(ExpertSenderServerError) as info:
        hook.send_custom_event(1, email="a@example.com")
    assert info.value.maybe_applied is True
    assert "retry_unsafe=True" in info.value.message
    assert (calls(emulator, "POST", "/scenariocustomevents"), waits) == (1, [])
    emulator.switches.fail_next(1, status=500)
    with pytest.raises(ExpertSenderServerError):
        hook.upsert_customers([{"email": "a@example.com"}], mode="Add")
    assert calls(emulator, "POST", "/customers") == 1


def test_5xx_on_an_unsafe_call_is_repeated_when_the_caller_opts_in(hook, emulator, waits):
    emulator.switches.fail_next(1, status=500)
    hook.send_custom_event(1, email="a@example.com", retry_unsafe=True)
    emulator.switches.fail_next(1, status=503)
    hook.upsert_customers([{"email": "b@example.com"}], mode="Add", retry_unsafe=True)
    assert len(emulator.store(emulator.api_key).events) == 1
    assert len(waits) == 2


def test_429_waits_for_retry_after_seconds(hook, emulator, waits):
    emulator.switches.fail_next(1, status=429, retry_after=1)
    started = time.monotonic()
    hook.send_custom_event(1, email="a@example.com")  # a 429 was not processed: safe to repeat
    elapsed = time.monotonic() - started
    assert waits == [1.0]
    assert elapsed >= 1.0
    print(f"429 Retry-After 1 s: call took {elapsed:.3f} s")
    assert len(emulator.store(emulator.api_key).events) == 1


def test_429_waits_for_retry_after_http_date(hook, emulator, waits):
    emulator.switches.fail_next(
        1,
        status=429,
        retry_after=format_datetime(datetime.now(timezone.utc) + timedelta(seconds=2), usegmt=True),
    )
    started = time.monotonic()
    hook.list_consents()
    elapsed = time.monotonic() - started
    assert len(waits) == 1
    assert 0.9 <= waits[0] <= 2.0  # the date has a one-second resolution
    assert elapsed >= waits[0]
    print(f"429 Retry-After HTTP date: waited {waits[0]:.3f} s, call took {elapsed:.3f} s")


def test_429_retry_after_is_capped(make_conn, emulator, waits):
    hook = make_hook(make_conn(retry_after_max=0.2), waits)
    emulator.switches.fail_next(1, status=429, retry_after=3600)
    hook.list_consents()
    assert waits == [0.2]


def test_503_retry_after_is_honoured_on_an_idempotent_call(hook, emulator, waits):
    emulator.switches.fail_next(1, status=503, retry_after=0.3)
    hook.list_consents()
    assert waits == [0.3]  # the server's hint, not the connection's 0.01 s backoff


def test_503_retry_after_does_not_make_a_non_idempotent_call_repeat(hook, emulator, waits):
    emulator.switches.fail_next(1, status=503, retry_after=0.3)
    with pytest.raises(ExpertSenderServerError) as info:
        hook.send_custom_event(1, email="a@example.com")
    assert info.value.retry_after == 0.3
    assert waits == []


def test_429_budget_spent_raises_rate_limit_with_the_hint(make_conn, emulator, waits):
    hook = make_hook(make_conn(max_retries=1), waits)
    emulator.switches.fail_next(5, status=429, retry_after=0.05)
    with pytest.raises(ExpertSenderRateLimitError) as info:
        hook.list_consents()
    assert info.value.retry_after == 0.05
    assert waits == [0.05]


def test_read_timeout_on_a_non_idempotent_call_is_not_repeated(make_conn, emulator, waits):
    hook = make_hook(make_conn(read_timeout=0.3), waits)
    emulator.switches.hang = True
    started = time.monotonic()
    with pytest.raises(ExpertSenderTransportError) as info:
        hook.send_custom_event(1, email="a@example.com")
    elapsed = time.monotonic() - started
    emulator.switches.hang = False
    assert info.value.maybe_applied is True
    assert "read_timeout=0.3" in info.value.message
    assert waits == []
    assert elapsed < 3
    assert calls(emulator, "POST", "/scenariocustomevents") == 1


def test_read_timeout_on_a_read_is_retried(make_conn, emulator, waits):
    hook = make_hook(make_conn(read_timeout=0.2, max_retries=1), waits)
    emulator.switches.hang = True
    with pytest.raises(ExpertSenderTransportError):
        hook.list_consents()
    emulator.switches.hang = False
    assert len(waits) == 1


def test_connection_dropped_after_apply(hook, emulator, waits):
    emulator.switches.drop_next(1, after_apply=True)
    with pytest.raises(ExpertSenderTransportError) as info:
        hook.send_custom_event(1, email="a@example.com")
    assert info.value.maybe_applied is True
    assert len(emulator.store(emulator.api_key).events) == 1  # applied once, and not repeated
    assert waits == []
    emulator.switches.drop_next(1, after_apply=True)
    assert hook.upsert_customers([JANE]).accepted == 1  # AddOrUpdate is repeat-safe: retried
    assert len(waits) == 1


def test_connection_refused_is_retried_for_every_call(down_conn, waits):
    hook = make_hook(down_conn, waits)
    with pytest.raises(ExpertSenderTransportError) as info:
        hook.send_custom_event(1, email="a@example.com")
    assert info.value.maybe_applied is False
    assert "could not connect" in info.value.message
    assert len(waits) == 2


def test_empty_and_truncated_bodies(hook, emulator, waits):
    emulator.switches.empty_200 = True
    with pytest.raises(ExpertSenderResponseError, match="empty body"):
        hook.get_customer(email="a@example.com")
    emulator.switches.empty_200 = False
    emulator.switches.truncated_body = True
    with pytest.raises(ExpertSenderTransportError):
        hook.list_consents()
    assert len(waits) == 3  # a truncated read is retried for a GET


def test_redirects_are_not_followed_and_the_key_does_not_travel(recorder, monkeypatch):
    elsewhere = recorder()
    origin = recorder(status=301, headers={"Location": f"{elsewhere.url}/customerattributes"})
    monkeypatch.setenv(
        "AIRFLOW_CONN_ES_REDIRECT",
        json.dumps({"conn_type": "expertsender", "host": origin.url, "password": "es-redirect-key-1234"}),
    )
    with pytest.raises(ExpertSenderResponseError) as info:
        make_hook("es_redirect").list_customer_attributes()
    assert "not followed" in info.value.message
    assert info.value.status == 301
    assert len(origin.seen) == 1
    assert elsewhere.seen == []


def test_headers(recorder, monkeypatch):
    server = recorder(body=b'{"status": 0, "data": []}')
    monkeypatch.setenv(
        "AIRFLOW_CONN_ES_HEADERS",
        json.dumps({"conn_type": "expertsender", "host": server.url + "/", "password": "es-header-key-1234"}),
    )
    assert make_hook("es_headers").list_consents() == []
    headers = {k.lower(): v for k, v in server.seen[0]["headers"].items()}
    assert server.seen[0]["path"] == "/customerconsents"
    assert headers["x-api-key"] == "es-header-key-1234"
    assert headers["user-agent"] == f"airflow-provider-expertsender/{__version__}"
    assert headers["accept"] == "application/json"


# -- test_connection -------------------------------------------------------------------------------------


def test_test_connection_ok(hook):
    ok, message = hook.test_connection()
    assert ok is True
    assert "API key was accepted" in message


def test_test_connection_wrong_key(make_conn, emulator):
    ok, message = make_hook(make_conn(api_key="es-wrong-key-000000")).test_connection()
    assert ok is False
    assert "the API key was rejected" in message
    assert "es-wrong-key" not in message
    assert calls(emulator, "GET", "/customerattributes") == 1


def test_test_connection_unreachable(monkeypatch, free_port):
    monkeypatch.setenv("AIRFLOW_CONN_ES_GONE", f"expertsender://:es-some-key-1234@127.0.0.1:{free_port}")
    started = time.monotonic()
    ok, message = make_hook("es_gone").test_connection()
    assert ok is False
    assert "Could not reach" in message
    assert time.monotonic() - started < 5  # one attempt, no retries


def test_test_connection_without_a_key(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ES_NOKEY", json.dumps({"conn_type": "expertsender", "host": "127.0.0.1"})
    )
    ok, message = make_hook("es_nokey").test_connection()
    assert ok is False
    assert "password" in message


# -- connection forms ------------------------------------------------------------------------------------


def test_uri_connection_with_string_extras(emulator, monkeypatch, waits):
    uri = (
        f"expertsender://:{quote(emulator.api_key, safe='')}@{quote(emulator.url, safe='')}"
        "?read_timeout=4.5&max_retries=2&backoff_base=0.01&batch_size=250&verify=false"
    )
    monkeypatch.setenv("AIRFLOW_CONN_ES_URI", uri)
    hook = make_hook("es_uri", waits)
    assert hook.config.base_url == emulator.url
    assert (hook.config.read_timeout, hook.config.max_retries, hook.config.batch_size) == (4.5, 2, 250)
    assert hook.config.verify is False
    emulator.switches.fail_next(5, status=503)
    with pytest.raises(ExpertSenderServerError):
        hook.list_consents()
    assert len(waits) == 2  # max_retries from the URI string


def test_json_connection(hook, emulator):
    assert hook.config.base_url == emulator.url
    assert hook.config.max_retries == 3
    assert hook.get_conn() is hook.get_conn()


# -- secrets, logs, threads ------------------------------------------------------------------------------


def test_the_key_and_personal_data_never_reach_the_logs(hook, emulator, caplog, capfd):
    key = emulator.api_key
    with caplog.at_level(logging.DEBUG):
        hook.upsert_customers([JANE])
        hook.get_customer(email=JANE["email"])
        emulator.switches.fail_next(1, status=503)
        hook.list_consents()
        with pytest.raises(ExpertSenderNotFoundError) as info:
            hook.get_customer(email="ghost@example.com")
        hook.test_connection()
    out, err = capfd.readouterr()
    assert key not in caplog.text + out + err
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == HOOK_LOGGER)
    assert "ExpertSender GET /customers/email/{value} -> 200 in" in ours
    assert "ExpertSender POST /customers -> 201 in" in ours
    assert "(1 items)" in ours
    assert "ExpertSender GET /customerconsents -> 503; retry 1/3 in" in ours
    # urllib3's own DEBUG lines print request paths (off at Airflow's default INFO level); ours never do.
    for personal in ("jane", "ghost", "Jane"):
        assert personal not in ours
    assert key not in repr(hook.config)
    assert key not in str(info.value)


def test_log_payloads_is_opt_in(make_conn, emulator, caplog):
    with caplog.at_level(logging.DEBUG, logger=HOOK_LOGGER):
        make_hook(make_conn("es_quiet")).upsert_customers([{"email": "quiet@example.com"}])
        make_hook(make_conn("es_loud", log_payloads=True)).upsert_customers([{"email": "loud@example.com"}])
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == HOOK_LOGGER)
    assert "quiet@example.com" not in ours
    assert "loud@example.com" in ours
    assert emulator.api_key not in ours


def test_one_hook_from_sixteen_threads(hook, emulator):
    session_ids = set()
    lock = threading.Lock()

    def send(batch_no: int) -> int:
        with lock:
            session_ids.add(id(hook.get_conn()))
        records = [{"email": f"t{batch_no}-{i}@example.com"} for i in range(10)]
        return hook.upsert_customers(records).accepted

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        accepted = sum(pool.map(send, range(64)))
    elapsed = time.monotonic() - started
    print(f"64 batches x 10 records from 16 threads: {elapsed:.2f} s")
    assert accepted == 640
    assert len(emulator.store(emulator.api_key).customers) == 640
    assert len(session_ids) == 1


@pytest.mark.parametrize("resource", ["customers", "orders"])
def test_the_bulk_engine_validates_each_record_once(hook, emulator, monkeypatch, resource):
    """The engine validates; its sends through the hook must not run the models a second time."""
    from airflow_provider_expertsender import models
    from airflow_provider_expertsender.sync import run_write

    name = "customer_payload" if resource == "customers" else "order_payload"
    calls = []
    real = getattr(models, name)
    monkeypatch.setattr(models, name, lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    records = [{"email": f"c{i}@example.com"} for i in range(5)]
    if resource == "orders":
        records = [order(f"O-{i}") for i in range(5)]
    mode = "AddOrUpdate" if resource == "customers" else "AddOrReplace"
    summary = run_write(hook, resource=resource, records=records, mode=mode, batch_size=2)
    assert (summary["accepted"], len(calls)) == (5, 5)
