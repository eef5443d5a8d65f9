"""Secrets and personal data: the API key leaks nowhere, bodies stay out of logs, TLS and redirects are safe.

* A full DAG (a bulk write with a dead-letter file, a deferrable sensor that really defers, a task that fails
  and retries) runs with the emulator's API key, which is then searched for in the task logs (stdout, stderr,
  every log record), exception messages, XCom, rendered template fields, trigger rows and every other table of
  the metadata DB, the serialized trigger, the emulator's log and the dead-letter file.
* Request and response bodies are not logged at default settings; ``log_payloads`` logs them clipped.
* TLS certificates are verified unless the connection says ``verify=false`` (which logs a warning), on both
  hooks, against a real TLS server on loopback with a self-signed certificate.
* A redirect is never followed, so the key never reaches another host (both hooks, every redirect status).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderResponseError,
)
from tests.reliability.conftest import HOOK_LOGGER

# Personal data that only ever travels in request bodies: it must never be in a log at default settings.
SECRET_NAMES = ("Zebulon-PII-7", "Quintessa-PII-9")

DAG_SOURCE = """
from __future__ import annotations

import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook
from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator
from airflow_provider_expertsender.operators.settings import ExpertSenderListSettingsOperator
from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor

with DAG(
    dag_id="expertsender_secrets",
    schedule=None,
    start_date=datetime.datetime(2025, 1, 1),
    catchup=False,
    params={"email": "visible@example.com"},
):
    write = ExpertSenderUpsertCustomersOperator(
        task_id="write",
        customers=[
            {"email": "{{ params.email }}", "first_name": "Visible"},
            {"email": "z@example.com", "first_name": "__NAME_0__", "phone": "+48600100200"},
            {"email": "q@example.com", "last_name": "__NAME_1__"},
            {"email": "not-an-email", "first_name": "__NAME_1__"},
        ],
        on_invalid="skip",
        max_rejected=1,
        dead_letter_path="__DEAD__",
    )
    wait = ExpertSenderCustomerSensor(
        task_id="wait", email="{{ params.email }}", deferrable=True, poke_interval=0.2, timeout=60
    )
    fail = ExpertSenderListSettingsOperator(
        task_id="fail", setting="order_attributes", retries=1, retry_delay=datetime.timedelta(seconds=0)
    )


    @task
    def careless() -> None:
        # The hook registers the key with the secrets masker of the task process, which Airflow applies to
        # task logs (dag.test() prints unmasked, so the test applies it itself).
        from airflow_provider_expertsender._compat import redact

        key = ExpertSenderHook().config.api_key
        print("careless print", redact(f"key={key}"))

    careless() >> write >> wait >> fail
"""


def _metadata_dump(exclude_tables: tuple[str, ...] = ("connection",)) -> str:
    """Every row of the session's sqlite metadata DB as SQL text (the connection table aside: other tests may
    store connections there on purpose)."""
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    path = url.split("sqlite:///", 1)[1]
    with sqlite3.connect(path) as db:
        lines = [
            line
            for line in db.iterdump()
            if not any(line.startswith(f'INSERT INTO "{table}"') for table in exclude_tables)
        ]
    return "\n".join(lines)


@pytest.mark.dag
def test_a_full_dag_leaks_the_key_nowhere(
    run_dag: Callable[..., Any],
    emulator: Any,
    expertsender_conn: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    key = emulator.api_key
    secret_part = key.rsplit("-", 1)[-1]
    dead = tmp_path / "dead.jsonl"
    # The sensor's first poke misses, so it defers, however long the next task takes to start (a time-based
    # delay was outlasted on Airflow 3.0 when four test lines and a deployment shared two cores).
    emulator.switches.hidden_reads = 1
    emulator.switches.forbidden_resources = ("orderattributes",)  # the last task fails with a 403
    source = DAG_SOURCE.replace("__DEAD__", str(dead))
    for i, name in enumerate(SECRET_NAMES):
        source = source.replace(f"__NAME_{i}__", name)

    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="airflow_provider_expertsender.emulator")
    result = run_dag(source, "expertsender_secrets")
    out, err = capfd.readouterr()

    # The run did what the test relies on (else searching its traces proves nothing).
    assert result.task_states["write"] == "success", result.task_states
    assert result.task_states["wait"] == "success", result.task_states
    assert result.task_states["fail"] == "failed", result.task_states
    assert result.state == "failed"
    summary = result.xcom("write")
    assert (summary["accepted"], summary["invalid"]) == (3, 1)
    lookups = [r for r in emulator.requests if r.route == "/customers/email/{value}"]
    assert len(lookups) >= 2, "the sensor never had to wait: no trigger ran"
    logs = "\n".join([out, err, caplog.text, *(_formatted(r) for r in caplog.records)])
    assert "not allowed to use this resource (403" in logs, "the failing task's error is not in the logs"
    assert "Summary:" in logs, "the write task's log is not captured"
    assert "careless print key=***" in logs, "the hook did not register the key with the secrets masker"

    # The key: in no log, exception, XCom, rendered field, trigger row, DB table, file or emulator trace.
    places = {
        "task logs and exceptions": logs,
        "metadata DB (xcom, rendered fields, triggers, task instances...)": _metadata_dump(),
        "dead-letter file": dead.read_text(),
        "emulator request log": repr(emulator.requests),
        "Airflow log folder": _log_files(),
    }
    for place, text in places.items():
        assert key not in text, f"the API key leaked into the {place}"
        assert secret_part not in text, f"part of the API key leaked into the {place}"
    # Bodies are not logged at default settings: names that only travelled in request bodies are absent.
    for name in SECRET_NAMES:
        assert name not in logs, f"a request body reached the logs ({name})"
    assert "not-an-email" in places["dead-letter file"]  # the dead letter itself holds the record, by design


def _formatted(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:  # Airflow 2.10.0 logs ORM objects that cannot be formatted once their session closed
        parts = [str(record.msg)]
        for arg in record.args if isinstance(record.args, tuple) else ():
            try:
                parts.append(repr(arg))
            except Exception:
                parts.append("<unprintable>")
        text = " ".join(parts)
    if record.exc_info and record.exc_info[1] is not None:
        text += f"\n{record.exc_info[1]!r}"
    return text


def _log_files() -> str:
    folder = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    if not folder.exists():
        return ""
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_the_serialized_trigger_holds_no_key(expertsender_conn: str, emulator: Any) -> None:
    """What Airflow stores in the trigger table: connection id, identifier, timing; never the key."""
    from airflow_provider_expertsender.sensors.customers import ExpertSenderCustomerSensor

    try:
        from airflow.sdk.exceptions import TaskDeferred
    except ImportError:  # Airflow 2
        from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

    sensor = ExpertSenderCustomerSensor(task_id="wait", email="nobody@example.com", deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context={})
    classpath, kwargs = info.value.trigger.serialize()
    text = json.dumps(kwargs, default=str) + classpath + repr(info.value.trigger)
    assert kwargs["expertsender_conn_id"] == expertsender_conn
    assert emulator.api_key not in text
    assert emulator.api_key.rsplit("-", 1)[-1] not in text


# -- bodies and logs -----------------------------------------------------------------------------------------


def test_bodies_are_not_logged_by_default_even_at_debug(
    emulator: Any, make_hook: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_expertsender.sync import run_write

    hook = make_hook()
    records = [{"email": f"p{i}@example.com", "first_name": SECRET_NAMES[0], "last_name": SECRET_NAMES[1]}
               for i in range(30)]  # fmt: skip
    records.append({"email": "bad", "first_name": SECRET_NAMES[0]})
    emulator.switches.fail_next(2, status=503)
    emulator.switches.drop_next(1, after_apply=True)
    with caplog.at_level(logging.DEBUG):
        run_write(
            hook,
            resource="customers",
            records=records,
            mode="AddOrUpdate",
            batch_size=10,
            on_invalid="skip",
            max_rejected=1,
            logger=logging.getLogger(HOOK_LOGGER),
        )
        hook.get_customer(email="p1@example.com")
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("tests.", "airflow_provider"))
    )
    assert "POST /customers -> 201" in ours  # the exchange lines are captured
    for name in SECRET_NAMES:
        assert name not in ours
    assert '"firstName"' not in ours
    assert emulator.api_key not in caplog.text


def test_log_payloads_is_opt_in_and_clipped(
    emulator: Any, make_hook: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    hook = make_hook("es_loud", log_payloads=True)
    records = [{"email": f"loud{i}@example.com", "firstName": "N" * 200} for i in range(100)]  # ~24 kB body
    with caplog.at_level(logging.INFO, logger=HOOK_LOGGER):
        hook.upsert_customers(records)
    lines = [r.getMessage() for r in caplog.records if "log_payloads=true" in r.getMessage()]
    assert len(lines) == 1
    line = lines[0]
    assert "loud0@example.com" in line  # opted in: the body is there...
    assert "loud99@example.com" not in line  # ...clipped: not all of it
    body_size = len(
        json.dumps({"mode": "AddOrUpdate", "matchBy": "Email", "data": records}, separators=(",", ":"))
    )
    assert f"({body_size} bytes)" in line
    assert len(line) < 4000 * 2 + 500
    assert emulator.api_key not in caplog.text


# -- TLS -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An HTTPS server on loopback with a self-signed certificate; answers every GET with an empty list."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            body = b'{"status": 0, "data": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _tls_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, url: str, **extra: Any) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "expertsender",
                "host": url,
                "password": "es-tls-key-3141592653",
                "extra": {"max_retries": 0, **extra},
            }
        ),
    )


def test_tls_is_verified_by_default(tls_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook, ExpertSenderHook

    url, seen = tls_server
    seen.clear()
    _tls_conn(monkeypatch, "es_tls", url)
    hook = ExpertSenderHook(expertsender_conn_id="es_tls")
    assert hook.config.verify is True
    with pytest.raises(ExpertSenderConfigError, match="TLS certificate could not be verified"):
        hook.list_consents()

    async def read() -> None:
        async with ExpertSenderAsyncHook(expertsender_conn_id="es_tls") as async_hook:
            await async_hook.get_customer(email="a@example.com")

    with pytest.raises(ExpertSenderConfigError, match="TLS certificate could not be verified"):
        asyncio.run(read())
    assert seen == []  # no request (and no key) went over the unverified connection


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_works_and_warns(
    tls_server: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook, ExpertSenderHook

    url, seen = tls_server
    seen.clear()
    _tls_conn(monkeypatch, "es_tls_off", url, verify=False)
    with caplog.at_level(logging.WARNING):
        hook = ExpertSenderHook(expertsender_conn_id="es_tls_off")
        assert hook.list_consents() == []

        async def read() -> dict[str, Any]:
            async with ExpertSenderAsyncHook(expertsender_conn_id="es_tls_off") as async_hook:
                return await async_hook.get_customer(email="a@example.com")

        with pytest.raises(ExpertSenderError):  # the TLS handshake works; the fake server has no customers
            asyncio.run(read())
    assert "TLS certificate verification is OFF" in caplog.text
    assert "es-tls-key-3141592653" not in caplog.text
    assert len(seen) == 2  # both hooks got through


# -- redirects -----------------------------------------------------------------------------------------------


class _Redirector(ThreadingHTTPServer):
    """Answers every request with ``status`` and ``Location: target``; records what it received."""

    daemon_threads = True

    def __init__(self, status: int, target: str | None) -> None:
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append({"method": self.command, "path": self.path, **dict(self.headers)})
                body = b'{"status": 0, "data": []}'
                self.send_response(status if target else 200)
                if target:
                    self.send_header("Location", target + self.path)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_no_redirect_carries_the_key_to_another_host(status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook, ExpertSenderHook

    elsewhere = _Redirector(200, None)
    origin = _Redirector(status, elsewhere.url)
    key = "es-redirect-key-2718281828"
    monkeypatch.setenv(
        "AIRFLOW_CONN_ES_REDIRECT",
        json.dumps(
            {"conn_type": "expertsender", "host": origin.url, "password": key, "extra": {"max_retries": 0}}
        ),
    )
    hook = ExpertSenderHook(expertsender_conn_id="es_redirect")
    calls: list[Callable[[], Any]] = [
        hook.list_consents,
        lambda: hook.get_customer(email="a@example.com"),
        lambda: hook.upsert_customers([{"email": "a@example.com"}]),
        lambda: hook.send_custom_event(7, email="a@example.com"),
        lambda: hook.update_order_status("O-1", "paid"),
        lambda: hook.delete_order("O-1"),
    ]
    errors: list[ExpertSenderError] = []
    for call in calls:
        with pytest.raises(ExpertSenderResponseError) as info:
            call()
        errors.append(info.value)

    async def read() -> None:
        async with ExpertSenderAsyncHook(expertsender_conn_id="es_redirect") as async_hook:
            await async_hook.get_order("O-1")

    with pytest.raises(ExpertSenderResponseError) as info:
        asyncio.run(read())
    errors.append(info.value)
    try:
        assert elsewhere.seen == [], "a redirect was followed"
        assert len(origin.seen) == len(errors)
        for error in errors:
            assert error.status == status
            assert "not followed" in error.message
            assert key not in str(error)
    finally:
        origin.shutdown()
        elsewhere.shutdown()


def test_the_secrets_of_a_connection_do_not_show_in_repr() -> None:
    """Tracebacks printing frame locals (Airflow 3.0 console renderer) show ``secrets=`` by repr."""
    from airflow_provider_expertsender.connection import ExpertSenderConnectionConfig

    config = ExpertSenderConnectionConfig(base_url="https://api.ecdp.app", api_key="es-key/with+chars")
    assert list(config.secrets) == ["es-key/with+chars", "es-key%2Fwith%2Bchars"]
    assert "es-key" not in repr(config.secrets)
    assert "es-key" not in repr(config)
