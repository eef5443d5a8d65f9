"""Fixtures of the hook tests: hooks on the emulator with observable (and real) retry waits."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.plugins.emulator import connection_json
from tests.plugins.waits import Waits

HOOK_LOGGER = "tests.hooks.expertsender"


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def make_conn(emulator, monkeypatch):
    """``make_conn(conn_id, api_key=None, **extras)``: a JSON connection to the emulator, returns the id."""

    def make(conn_id: str = "es_test", api_key: str | None = None, **extra: object) -> str:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(emulator, api_key, **extra))
        return conn_id

    return make


@pytest.fixture
def hook(expertsender_conn, waits):
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

    hook = ExpertSenderHook(expertsender_conn_id=expertsender_conn)
    hook._sleep = waits
    hook._log = logging.getLogger(HOOK_LOGGER)  # stdlib on both lines, so caplog sees it
    yield hook
    hook.close()


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def down_conn(monkeypatch, free_port) -> str:
    """The id of a connection to a port that refuses connections (2 fast retries)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_ES_DOWN",
        json.dumps(
            {
                "conn_type": "expertsender",
                "host": f"http://127.0.0.1:{free_port}",
                "password": "es-some-key-123456",
                "extra": {"max_retries": 2, "backoff_base": 0.01},
            }
        ),
    )
    return "es_down"


class Recorder(ThreadingHTTPServer):
    """A tiny server for what the emulator cannot do (redirects); records request headers."""

    daemon_threads = True

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None, body: bytes = b"{}") -> None:
        self.seen: list[dict[str, Any]] = []
        self.answer = (status, headers or {}, body)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                outer.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                status, extra, payload = outer.answer
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture
def recorder() -> Iterator[type[Recorder]]:
    servers: list[Recorder] = []

    def start(*args: Any, **kwargs: Any) -> Recorder:
        server = Recorder(*args, **kwargs)
        servers.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def _quiet_emulator_log(request):
    """Start each emulator test with an empty request log.

    The emulator logs a request just after answering it, so the last request of the previous test can land
    in the log after the reset; counting tests would then see one request too many.
    """
    if "emulator" in request.fixturenames:
        emulator = request.getfixturevalue("emulator")
        time.sleep(0.05)
        emulator.clear_requests()
