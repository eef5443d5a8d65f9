"""HTTP plumbing: the threaded HTTP/1.1 server, authentication, faults, the request log, :class:`Emulator`.

One thread per connection (keep-alive), standard library only. Order of work for a request: added
latency, hang, queued or random fault, ``x-api-key`` (401), forbidden resource (403), rate limit (429), the
API itself (``app.dispatch``), then drop-after-apply / hostile (trickled, bloated, endless, gzip bomb, deeply
nested) / empty / truncated answers. The log and the ``logging``
output carry method, route, status, item count and duration: never a body, a key or an identifier.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import zlib
from collections import deque
from functools import lru_cache, partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from airflow_provider_expertsender.emulator import admin as admin_api
from airflow_provider_expertsender.emulator import app
from airflow_provider_expertsender.emulator.seeds import Seeds
from airflow_provider_expertsender.emulator.store import BusinessUnit, retry_after_header
from airflow_provider_expertsender.emulator.switches import Fault, Switches

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

log = logging.getLogger("airflow_provider_expertsender.emulator")

MAX_BODY_BYTES = 64 * 1024 * 1024
_HTML_PAGE = "<html><head><title>{status}</title></head><body><h1>{status} {title}</h1></body></html>"


class RequestRecord(NamedTuple):
    """One served request. ``status`` is None when the connection was closed without an answer."""

    method: str
    path: str
    status: int | None
    items: int
    duration_s: float

    @property
    def route(self) -> str:
        """The route template (``/customers/email/{value}``), without the identifier."""
        return app.route_template(self.method, self.path)


class _BadRequestError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        with self._open_lock:
            self._open.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("ECDP emulator: connection error from a client", exc_info=True)  # noqa: LOG014


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ECDP-Emulator"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    # Headers and body leave in separate writes; without TCP_NODELAY, Nagle + the client's delayed ACK add
    # ~40 ms to every answer.
    disable_nagle_algorithm = True
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's own access log (it would print paths, which carry identifiers)."""

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # -- reading ----------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _BadRequestError(400, "Malformed chunked body.") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise _BadRequestError(413, "The request body is too large.")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        raw_length = self.headers.get("Content-Length")
        if not raw_length:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            raise _BadRequestError(400, "Invalid Content-Length.") from None
        if length < 0:
            raise _BadRequestError(400, "Invalid Content-Length.")
        if length > MAX_BODY_BYTES:
            raise _BadRequestError(413, "The request body is too large.")
        return self.rfile.read(length)

    # -- serving ----------------------------------------------------------------------------------

    def _serve(self) -> None:
        emu = self.server.emulator
        started = time.perf_counter()
        split = urlsplit(self.path)
        path = split.path or "/"
        try:
            body = self._read_body()
        except _BadRequestError as err:
            self.close_connection = True
            emu._record(self.command, path, err.status, 0, started)
            self._send(app.problem(err.status, "BadRequest", err.detail, path))
            return
        if emu.admin and path.startswith(admin_api.PREFIX):
            refused = admin_api.refusal(emu, self.headers, path)
            self._send(refused or admin_api.handle(emu, self.command, path, split.query, body))
            return
        content_type = self.headers.get("Content-Type", "")
        host = self.headers.get("Host") or emu.url.split("//", 1)[1]
        request = app.Request.build(self.command, path, split.query, body, content_type, host)
        status, items, answer = self._process(emu, request)
        # Logged before answering, so a client that got its answer always finds its request in the log.
        emu._record(self.command, path, status, items, started)
        answer()

    def _process(self, emu: Emulator, request: app.Request) -> tuple[int | None, int, Callable[[], None]]:
        """Decide the answer: (status for the log, data[] size, the action that answers)."""
        switches = emu.switches
        if switches.latency_ms:
            time.sleep(switches.latency_ms / 1000)
        if switches.hang:
            while switches.hang and not emu._stopping.is_set():
                emu._stopping.wait(0.02)
            return None, 0, self._drop
        fault = switches.take_fault()
        if fault is not None and fault.kind == "status":
            return fault.status, 0, partial(self._send, _fault_response(fault, request.path))
        if fault is not None and fault.kind == "drop_before":
            return None, 0, self._drop
        unit = emu._unit_for(self.headers.get("x-api-key"))
        if unit is None:
            detail = "Missing or invalid x-api-key header."
            return 401, 0, partial(self._send, app.problem(401, "InvalidApiKey", detail, request.path))
        unit.count("requests")
        segments = request.segments
        if segments and segments[0].lower() in switches.forbidden_resources:
            detail = "The API key has no access to this resource."
            return 403, 0, partial(self._send, app.problem(403, "Forbidden", detail, request.path))
        if switches.rate_limit_per_second:
            wait = unit.take_token(switches.rate_limit_per_second, time.monotonic())
            if wait is not None:
                limited = app.problem(
                    429,
                    "TooManyRequests",
                    "Rate limit exceeded; retry after the number of seconds in Retry-After.",
                    request.path,
                    headers={"Retry-After": retry_after_header(wait)},
                )
                return 429, 0, partial(self._send, limited)
        response = app.dispatch(unit, request, switches, time.time())
        if fault is not None and fault.kind == "drop_after":
            return None, response.items, self._drop
        if _is_hostile(switches):
            status = switches.hostile_status or response.status
            return status, response.items, partial(self._send_hostile, response, status)
        if switches.empty_200:
            return 200, response.items, partial(self._send, app.Response(200, None), empty=True)
        return (
            response.status,
            response.items,
            partial(self._send, response, truncate=switches.truncated_body),
        )

    # -- writing ----------------------------------------------------------------------------------

    def _send(self, response: app.Response, *, empty: bool = False, truncate: bool = False) -> None:
        if self.server.emulator.switches.echo_api_key:
            response = _echo_key(response, self.headers.get("x-api-key") or "")
        payload = _payload(response)
        try:
            self.send_response(response.status)
            if payload and not empty:
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            if truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            if truncate:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self._drop()
            else:
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _send_hostile(self, response: app.Response, status: int) -> None:
        """Answer as a hostile server would (the body switches of ``Switches``), then close."""
        switches, stopping = self.server.emulator.switches, self.server.emulator._stopping
        self.close_connection = True
        headers = {"Content-Type": app.JSON_TYPE, "Connection": "close"}
        try:
            if switches.gzip_bomb_mb:
                body = _gzip_bomb(switches.gzip_bomb_mb)
                self._head(status, {**headers, "Content-Encoding": "gzip", "Content-Length": str(len(body))})
                self.wfile.write(body)
            elif switches.nested_json_depth:
                depth = switches.nested_json_depth
                body = b"[" * depth + b"]" * depth
                self._head(status, {**headers, "Content-Length": str(len(body))})
                self.wfile.write(body)
            elif switches.endless_body or switches.bloated_body_mb:
                self._head(status, {**headers, "Transfer-Encoding": "chunked"})
                size = None if switches.endless_body else int(switches.bloated_body_mb * 1024 * 1024)
                for chunk in _bloated_json(size):
                    if stopping.is_set():
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            else:  # trickle
                body = _payload(response) or b"{}"
                if switches.trickle_headers:
                    lines = [f"HTTP/1.1 {status} {app.TITLES.get(status, 'OK')}"]
                    lines += [f"{k}: {v}" for k, v in {**headers, "Content-Length": str(len(body))}.items()]
                    body = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
                else:
                    self._head(status, {**headers, "Content-Length": str(len(body))})
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    if stopping.wait(switches.trickle_body_s):
                        return
            self.wfile.flush()
        except OSError:  # the client hung up: what a client with a deadline or a size cap does
            pass

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the connection without (finishing) an answer."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _payload(response: app.Response) -> bytes:
    if response.body is None:
        return b""
    if isinstance(response.body, (bytes, str)):
        return response.body.encode() if isinstance(response.body, str) else response.body
    return json.dumps(response.body, separators=(",", ":")).encode()


def _is_hostile(switches: Switches) -> bool:
    return bool(
        switches.trickle_body_s
        or switches.bloated_body_mb
        or switches.endless_body
        or switches.gzip_bomb_mb
        or switches.nested_json_depth
    )


def _echo_key(response: app.Response, key: str) -> app.Response:
    """A problem-details answer that quotes the caller's API key everywhere a server might."""
    body = response.body
    if not isinstance(body, dict) or "title" not in body:
        return response
    echoed = {
        **body,
        "title": f"{body['title']} (key {key})",
        "detail": f"The key {key} was used. {body.get('detail', '')}",
        "substatus": f"{body.get('substatus', '')}:{key}",
        "errors": {**(body.get("errors") or {}), f"x-api-key={key}": [f"echo {key}"]},
    }
    return app.Response(response.status, echoed, response.headers, response.content_type, response.items)


_CHUNK = 64 * 1024


def _bloated_json(size: int | None) -> Iterator[bytes]:
    """``{"data":["xxx..."]}`` of about ``size`` bytes in 64 KiB chunks; endless when ``size`` is None."""
    yield b'{"data":["'
    filler = b"x" * _CHUNK
    sent = 0
    while size is None or sent < size:
        yield filler
        sent += _CHUNK
    yield b'"]}'


@lru_cache(maxsize=4)
def _gzip_bomb(megabytes: float) -> bytes:
    """A gzip stream of ``megabytes`` MB of zeros (about 1 KB per MB once compressed)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"0" * (1024 * 1024)
    whole, rest = divmod(int(megabytes * 1024 * 1024), len(block))
    parts = [packer.compress(block) for _ in range(whole)]
    parts.append(packer.compress(block[:rest]))
    parts.append(packer.flush())
    return b"".join(parts)


def _fault_response(fault: Fault, path: str) -> app.Response:
    headers = {}
    if fault.retry_after is not None:
        ra = fault.retry_after
        headers["Retry-After"] = (
            ra if isinstance(ra, str) else (str(int(ra)) if float(ra).is_integer() else str(ra))
        )
    if fault.html:
        title = app.TITLES.get(fault.status, "Error")
        page = _HTML_PAGE.format(status=fault.status, title=title)
        return app.Response(fault.status, page, headers, "text/html; charset=utf-8")
    if fault.status == 429:
        return app.problem(429, "TooManyRequests", "Rate limit exceeded.", path, headers=headers)
    return app.problem(
        fault.status, "ServerError", "The server could not process the request.", path, headers=headers
    )


class Emulator:
    """A local ECDP: every endpoint of the API over real HTTP, one in-memory business unit per API key.

    :param api_keys: the accepted ``x-api-key`` values; each is its own business unit.
    :param port: TCP port; 0 picks a free one (read it back from :attr:`url`).
    :param host: interface to bind; keep the loopback default unless you know why not.
    :param switches: behaviour switches (unknowns of the API, faults); the object is used as is, so the caller
        may keep and change it. :meth:`reset` restores the values it had when the emulator was created.
    :param seeds: the settings every business unit starts with.
    :param admin: serve the admin API under ``/_emulator/`` (switches, faults, reset, log) without a key.
    :param log_requests: log one INFO line per request (method, route, status, items, ms) instead of DEBUG.
    :param request_log_size: how many requests :attr:`requests` keeps.
    """

    def __init__(
        self,
        api_keys: Iterable[str] = ("test-key",),
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        switches: Switches | None = None,
        seeds: Seeds | None = None,
        admin: bool = False,
        log_requests: bool = False,
        request_log_size: int = 10_000,
    ) -> None:
        if admin and not admin_api.is_loopback(host):
            raise ValueError(
                f"admin=True needs a loopback host (127.0.0.1, ::1, localhost), not {host!r}: the admin API "
                "needs no key, so anyone who can reach the port could change or read every business unit."
            )
        keys = list(api_keys) if not isinstance(api_keys, str) else [api_keys]
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise ValueError("api_keys must be one or more non-empty strings")
        if len(set(keys)) != len(keys):
            raise ValueError("api_keys must be distinct")
        self._keys = tuple(keys)
        self._host = host
        self._port = port
        self.admin = admin
        self.log_requests = log_requests
        self.seeds = seeds or Seeds()
        self.switches = switches if switches is not None else Switches()
        self._initial_switches = self.switches.copy()
        self._units = {key: BusinessUnit(self.seeds) for key in keys}
        self._log: deque[RequestRecord] = deque(maxlen=request_log_size)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = self.url if self._server else "stopped"
        return f"Emulator({state}, {len(self._keys)} API key(s))"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve in a background thread. Returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="ecdp-emulator",
            daemon=True,
        )
        self._thread.start()
        # Debug only: the command line prints the one start line users see (docs/emulator.md).
        log.debug("ECDP emulator listening on %s (%d API key(s))", self.url, len(self._keys))
        return self

    def stop(self) -> None:
        """Stop serving, release hung requests and close open connections."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (the port is known once started)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def host(self) -> str:
        """The interface the emulator binds."""
        return self._host

    @property
    def api_key(self) -> str:
        """The first API key."""
        return self._keys[0]

    @property
    def api_keys(self) -> tuple[str, ...]:
        return self._keys

    def store(self, api_key: str) -> BusinessUnit:
        """The business unit of ``api_key``: customers, orders, events, counters, settings."""
        try:
            return self._units[api_key]
        except KeyError:
            raise KeyError("not an API key of this emulator") from None

    @property
    def requests(self) -> list[RequestRecord]:
        """The most recent requests, oldest first (method, path, status, items, duration_s)."""
        return list(self._log)

    def clear_requests(self) -> None:
        self._log.clear()

    def reset(self) -> None:
        """Empty every business unit, restore the seeded settings and the initial switches, clear the log."""
        self.switches.reset_to(self._initial_switches)
        for unit in self._units.values():
            unit.reset()
        self._log.clear()

    # -- used by the handler ----------------------------------------------------------------------

    def _unit_for(self, api_key: str | None) -> BusinessUnit | None:
        return self._units.get(api_key) if api_key else None

    def _record(self, method: str, path: str, status: int | None, items: int, started: float) -> None:
        duration = time.perf_counter() - started
        self._log.append(RequestRecord(method, path, status, items, duration))
        level = logging.INFO if self.log_requests else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(
                level,
                "%s %s -> %s (%d items, %.1f ms)",
                method,
                app.route_template(method, path, self.switches),
                status if status is not None else "no answer",
                items,
                duration * 1000,
            )
