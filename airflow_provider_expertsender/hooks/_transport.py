"""How one request travels, for both hooks: URL and body, HTTP sessions, one exchange, failure mapping, logs.

The hooks decide *what* to send and whether to repeat it (``retry.py``); this module sends it once. Each
exchange is logged by method, path template, status, duration and record count; bodies only when the
connection extra ``log_payloads`` is true (they carry personal data), the API key never. A low-level failure
becomes an :class:`~airflow_provider_expertsender.exceptions.ExpertSenderTransportError` (``maybe_applied``
when the request may have reached the server) or, for a local cause the user must fix (an unverifiable TLS
certificate, a base URL or key that cannot be sent), an
:class:`~airflow_provider_expertsender.exceptions.ExpertSenderConfigError`; messages carry the host, never a
URL with identifiers.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import socket
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from airflow_provider_expertsender import __version__
from airflow_provider_expertsender.arguments import identifier_problem
from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderTransportError,
)
from airflow_provider_expertsender.hooks._responses import RequestInfo, error_for_response, parse_success

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import aiohttp
    import requests

    from airflow_provider_expertsender.connection import ExpertSenderConnectionConfig
    from airflow_provider_expertsender.endpoints import Endpoint

USER_AGENT = f"airflow-provider-expertsender/{__version__}"

_PAYLOAD_LOG_LIMIT = 4000
# The bulk engine sends batches from up to ~16 threads through one hook.
_MIN_POOL_SIZE = 16


class Answer(NamedTuple):
    """A 2xx response: its status, its decoded JSON body (None when empty) and the request it answers."""

    status: int
    body: Any
    request: RequestInfo


# -- one exchange -----------------------------------------------------------------------------------------


def send(
    session: requests.Session,
    config: ExpertSenderConnectionConfig,
    request: RequestInfo,
    data: bytes | None,
    items: int | None,
    logger: Any,
    deadline: float | None = None,
) -> Answer:
    """Send ``request`` once over ``requests``; raise the typed exception of any failure.

    :param deadline: ``time.monotonic()`` by which the whole call (all its attempts) must end; the attempt
        also ends ``read_timeout`` seconds after it started, whichever comes first.
    """
    from http.client import HTTPException

    import requests
    from urllib3.exceptions import HTTPError as Urllib3Error

    started = time.monotonic()
    limit = _attempt_limit(config, started, deadline)
    _HEADERS_BY.limit = limit  # read by _DeadlineConnection while the status line and headers arrive
    try:
        response = session.request(
            request.method,
            config.base_url + request.path,
            data=data,
            timeout=(config.connect_timeout, _socket_timeout(config, limit)),
            allow_redirects=False,
            stream=True,  # read below, against the deadline and the size cap
            # Per request as well as on the session: a session-level verify=False loses to
            # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in requests' environment merge.
            verify=config.verify,
        )
        try:
            body = _read_sync(response, config, limit)
        finally:
            response.close()
    except _DeadlinePassed:
        raise _read_timeout(request, config, limit, deadline) from None
    except (requests.RequestException, Urllib3Error, HTTPException, OSError) as err:
        if time.monotonic() >= limit:  # the watchdog cut trickled headers: a timeout, not a dropped line
            raise _read_timeout(request, config, limit, deadline) from None
        raise _requests_failure(err, request, config, limit, deadline) from None
    finally:
        _HEADERS_BY.limit = None
    _log_exchange(logger, config, request, response.status_code, started, items, data, body.raw)
    return _answer(response.status_code, body, response.headers, request, config.secrets)


async def asend(
    session: aiohttp.ClientSession,
    config: ExpertSenderConnectionConfig,
    request: RequestInfo,
    logger: Any,
    deadline: float | None = None,
) -> Answer:
    """Send the bodiless ``request`` once over ``aiohttp``; raise the typed exception of any failure.

    :param deadline: as for :func:`send`.
    """
    import aiohttp

    started = time.monotonic()
    limit = _attempt_limit(config, started, deadline)
    timeout = aiohttp.ClientTimeout(
        total=max(limit - started, 0.001),  # covers the body too: a trickle cannot outlast it
        sock_connect=config.connect_timeout,
        sock_read=config.read_timeout,
    )
    try:
        async with session.request(
            request.method, config.base_url + request.path, allow_redirects=False, timeout=timeout
        ) as response:
            status, headers = response.status, response.headers
            body = _Body(status, headers.get("Content-Encoding"), headers.get("Content-Length"))
            if not body.over:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    if not body.feed(chunk):
                        break
            body.finish()
    except (aiohttp.ClientError, asyncio.TimeoutError) as err:
        if isinstance(err, asyncio.TimeoutError) and time.monotonic() >= limit - 0.05:
            raise _read_timeout(request, config, limit, deadline) from None
        raise _aiohttp_failure(err, request, config) from None
    _log_exchange(logger, config, request, status, started, None, None, body.raw)
    return _answer(status, body, headers, request, config.secrets)


# -- reading a response: bounded in time and size -----------------------------------------------------

#: Largest response body (after decompression) a 2xx may have; past it the call fails with
#: ``ExpertSenderTransportError`` (documented in docs/errors-and-retries.md). The API's answers are small
#: (one record, a settings list, a write's summary): 16 MiB is far above any of them.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
#: Error answers are read only this far (their problem details are a few hundred bytes); the status alone
#: then decides the exception.
MAX_ERROR_BODY_BYTES = 64 * 1024
_CHUNK = 64 * 1024
_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _DeadlinePassed(Exception):
    """The attempt's time is up (raised between two reads of the body)."""


class _Body:
    """A response body read chunk by chunk, decompressed here (never by the HTTP library) within a cap.

    :param status: the response's status (2xx bodies may be :data:`MAX_RESPONSE_BYTES`, others
        :data:`MAX_ERROR_BODY_BYTES`).
    :param encoding: the ``Content-Encoding`` header; ``gzip`` and ``deflate`` are decoded, anything else
        the hooks never asked for (``Accept-Encoding: gzip, deflate``) leaves the body unreadable.
    :param length: the ``Content-Length`` header, to refuse a body declared too large before reading it.
    """

    def __init__(self, status: int, encoding: str | None, length: str | None) -> None:
        self.cap = MAX_RESPONSE_BYTES if 200 <= status < 300 else MAX_ERROR_BODY_BYTES
        self.over = False  # more than ``cap`` bytes (read so far, or declared)
        self.unreadable = ""  # why the bytes read are not the body (an unknown encoding)
        self._parts: list[bytes] = []
        self._size = 0
        self._inflater: Any = None
        name = (encoding or "").strip().lower()
        if name and name != "identity":
            if name in _ENCODINGS:
                self._inflater = zlib.decompressobj(_ENCODINGS[name])
            else:
                self.unreadable = f"Content-Encoding {name[:20]!r} was not asked for"
        if length and length.strip().isdigit() and self._inflater is None and int(length) > self.cap:
            self.over = True

    @property
    def raw(self) -> bytes:
        """The (decoded) bytes read; empty once the cap was passed."""
        return b"" if self.over or self.unreadable else b"".join(self._parts)

    def feed(self, chunk: bytes) -> bool:
        """Take one chunk as it came off the wire; False once the cap is passed (stop reading)."""
        if self._inflater is None:
            return self._keep(chunk)
        try:
            while chunk:
                if not self._keep(self._inflater.decompress(chunk, self.cap - self._size + 1)):
                    return False
                chunk = self._inflater.unconsumed_tail
        except zlib.error:
            self.unreadable = "the compressed body is corrupt"
            return False
        return True

    def finish(self) -> None:
        if self._inflater is not None and not self.over and not self.unreadable:
            try:
                self._keep(self._inflater.flush())
            except zlib.error:
                self.unreadable = "the compressed body is corrupt"

    def _keep(self, data: bytes) -> bool:
        self._size += len(data)
        if self._size > self.cap:
            self.over, self._parts = True, []
            return False
        if data:
            self._parts.append(data)
        return True


def _attempt_limit(config: ExpertSenderConnectionConfig, started: float, deadline: float | None) -> float:
    limit = started + config.read_timeout
    return limit if deadline is None else min(limit, deadline)


def _socket_timeout(config: ExpertSenderConnectionConfig, limit: float) -> float:
    return max(0.001, min(config.read_timeout, limit - time.monotonic()))


def _read_sync(response: requests.Response, config: ExpertSenderConnectionConfig, limit: float) -> _Body:
    """Read the body one socket read at a time, checking the deadline and the cap between reads.

    ``requests``' own read timeout applies to each socket read, so a server sending one byte a second
    would hold ``response.content`` forever; here each read may also wait only until ``limit``.
    """
    headers = response.headers
    body = _Body(response.status_code, headers.get("Content-Encoding"), headers.get("Content-Length"))
    if body.over:
        return body
    raw: Any = response.raw
    read1 = getattr(raw, "read1", None)  # urllib3 >= 2.3; before it, the http.client response's
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    while True:
        if time.monotonic() >= limit:
            raise _DeadlinePassed
        if sock is not None:
            sock.settimeout(_socket_timeout(config, limit))
        chunk = read1(_CHUNK, decode_content=False) if read1 else raw._fp.read1(_CHUNK)
        if not chunk:
            body.finish()
            return body
        if not body.feed(chunk):
            return body


def _answer(
    status: int, body: _Body, headers: Mapping[str, str], request: RequestInfo, secrets: Sequence[str]
) -> Answer:
    if 200 <= status < 300:
        if body.over or body.unreadable:
            why = body.unreadable or f"larger than the {body.cap // (1024 * 1024)} MiB a response may have"
            raise ExpertSenderTransportError(
                f"{request.label}: the {status} response was not read: {why}. The request was applied; "
                "the answer cannot be trusted (a misbehaving server or proxy).",
                maybe_applied=True,
                **request.error_kwargs(status),
            )
        return Answer(status, parse_success(status, body.raw, request), request)
    unread = f"body over {body.cap // 1024} KiB, not read" if body.over else body.unreadable
    raise error_for_response(status, body.raw, headers, request, unread=unread, secrets=secrets)


# -- request line and body -------------------------------------------------------------------------------


def request_info(endpoint: Endpoint, params: Mapping[str, object] | None = None) -> RequestInfo:
    """Fill the endpoint's template; every value is URL-encoded whole (``/`` too), so it stays one segment.

    A value that could not be written either (``arguments.identifier_problem``: ``.`` / ``..``, which HTTP
    resolves away, or a lone surrogate) is refused, naming the parameter, never its value.
    """
    values = {}
    for name, value in (params or {}).items():
        text = str(value)
        problem = identifier_problem(text)
        if problem:
            raise ExpertSenderConfigError(
                f"{endpoint.method} {endpoint.path}: {name} {problem}. Pass the record's real identifier."
            )
        values[name] = quote(text, safe="")
    return RequestInfo(endpoint.method, endpoint.path, endpoint.path.format(**values))


def encode(body: object, request: RequestInfo) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except UnicodeEncodeError:
        raise ExpertSenderConfigError(
            f"{request.label}: the request body contains a lone surrogate (text broken by a bad decode), "
            "which cannot be sent as UTF-8. Fix the source's encoding."
        ) from None
    except (TypeError, ValueError) as err:
        raise ExpertSenderConfigError(
            f"{request.label}: the request body is not JSON-serialisable ({err}). Pass API-shaped values "
            "(strings, numbers, booleans, lists, dicts); the operators convert dates and decimals."
        ) from None


# -- sessions -------------------------------------------------------------------------------------------


def _headers(config: ExpertSenderConnectionConfig) -> dict[str, str]:
    return {
        "x-api-key": config.api_key,
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        # Decoded here, within the size cap (never brotli/zstd, which the HTTP libraries may add by default).
        "Accept-Encoding": "gzip, deflate",
        "Content-Type": "application/json",
    }


_HEADERS_BY = threading.local()  # the running attempt's limit (time.monotonic()), per thread


def _deadline_pools() -> dict[str, Any]:
    """Connection pools whose connections stop waiting for headers at the attempt's limit.

    ``requests`` reads the status line and headers inside ``http.client``, where only the per-read timeout
    applies: a server trickling its headers a byte at a time would hold the call. While the headers are read,
    a timer shuts the socket down at the limit (the body is read by :func:`_read_sync` against the same
    limit).
    """
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class _DeadlineConnection:
        sock: Any

        def getresponse(self, *args: Any, **kwargs: Any) -> Any:
            limit = getattr(_HEADERS_BY, "limit", None)
            if limit is None or self.sock is None:
                return super().getresponse(*args, **kwargs)  # type: ignore[misc]
            ticket = _WATCHDOG.arm(limit, self.sock)
            try:
                return super().getresponse(*args, **kwargs)  # type: ignore[misc]
            finally:
                _WATCHDOG.disarm(ticket)

    class _HTTP(_DeadlineConnection, HTTPConnection):
        pass

    class _HTTPS(_DeadlineConnection, HTTPSConnection):
        pass

    class _HTTPPool(HTTPConnectionPool):
        ConnectionCls = _HTTP

    class _HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _HTTPS

    return {"http": _HTTPPool, "https": _HTTPSPool}


class _Watchdog:
    """One daemon thread that shuts down the sockets still waiting for headers at their limit.

    Arming and disarming cost a lock and a heap push (a thread per request cost 0.7 ms a call).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Any]] = []
        self._armed: set[int] = set()
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, limit: float, sock: Any) -> int:
        with self._cond:
            ticket = next(self._tickets)
            earliest = not self._heap or limit < self._heap[0][0]
            heapq.heappush(self._heap, (limit, ticket, sock))
            self._armed.add(ticket)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="expertsender-watchdog", daemon=True)
                self._thread.start()
            elif earliest:
                self._cond.notify()
            return ticket

    def disarm(self, ticket: int) -> None:
        with self._cond:
            self._armed.discard(ticket)
            if len(self._heap) > 64 + 2 * len(self._armed):  # forget the disarmed ones now and then
                self._heap = [entry for entry in self._heap if entry[1] in self._armed]
                heapq.heapify(self._heap)

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                limit, ticket, sock = self._heap[0]
                wait = limit - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._armed.discard(ticket)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()


def new_session(config: ExpertSenderConnectionConfig) -> requests.Session:
    from http.cookiejar import DefaultCookiePolicy

    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.headers.update(_headers(config))
    session.verify = config.verify
    # The API needs no cookies; refusing them keeps threads from sharing mutable state through the jar.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    pool = max(_MIN_POOL_SIZE, config.max_concurrency)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)  # retries are ours
    adapter.poolmanager.pool_classes_by_scheme = _deadline_pools()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def new_async_session(config: ExpertSenderConnectionConfig) -> aiohttp.ClientSession:
    import aiohttp

    return aiohttp.ClientSession(
        headers=_headers(config),
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
        ),
        connector=aiohttp.TCPConnector(ssl=config.verify),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,  # _Body decompresses within the size cap
    )


# -- failures -------------------------------------------------------------------------------------------


def _failed(
    request: RequestInfo, config: ExpertSenderConnectionConfig, what: str, *, maybe_applied: bool
) -> ExpertSenderTransportError:
    after = " The request may have been applied." if maybe_applied else ""
    return ExpertSenderTransportError(
        f"{request.label} to {config.base_url}: {what}.{after}",
        maybe_applied=maybe_applied,
        **request.error_kwargs(),
    )


def _connect_timeout(
    request: RequestInfo, config: ExpertSenderConnectionConfig
) -> ExpertSenderTransportError:
    return _failed(
        request, config, f"connect timeout after {config.connect_timeout:g} s", maybe_applied=False
    )


def _read_timeout(
    request: RequestInfo, config: ExpertSenderConnectionConfig, limit: float, deadline: float | None
) -> ExpertSenderTransportError:
    if deadline is not None and limit >= deadline:  # the call's budget, not read_timeout, ended it
        what = (
            f"read timeout: the call's time budget (max_retry_time={config.max_retry_time:g} s) ran out "
            "before the response was complete"
        )
    else:
        what = f"read timeout: no response within read_timeout={config.read_timeout:g} s"
    return _failed(request, config, what, maybe_applied=True)


def _tls_config_error(request: RequestInfo, config: ExpertSenderConnectionConfig) -> ExpertSenderConfigError:
    return ExpertSenderConfigError(
        f"{request.label} to {config.base_url}: the server's TLS certificate could not be verified. Install "
        "the CA that signs it (REQUESTS_CA_BUNDLE / SSL_CERT_FILE), or for a local emulator set the "
        "connection extra verify=false.",
        **request.error_kwargs(),
    )


def _root_cause(err: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(err) not in seen:
        seen.add(id(err))
        nxt = getattr(err, "reason", None) or err.__cause__ or err.__context__
        if not isinstance(nxt, BaseException):
            args = getattr(err, "args", ())
            nxt = args[0] if args and isinstance(args[0], BaseException) else None
        if nxt is None:
            break
        err = nxt
    return err


def _reason(err: BaseException) -> str:
    """A short, data-free description of a low-level failure (no URL: it may hold an identifier)."""
    root = _root_cause(err)
    if isinstance(root, OSError) and root.strerror:
        return f"{type(root).__name__}: {root.strerror}"
    return type(root).__name__


def _requests_failure(
    err: Exception,
    request: RequestInfo,
    config: ExpertSenderConnectionConfig,
    limit: float,
    deadline: float | None,
) -> ExpertSenderError:
    import ssl

    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.exceptions import ReadTimeoutError as BodyReadTimeout

    if isinstance(err, requests.exceptions.ConnectTimeout):
        return _connect_timeout(request, config)
    if isinstance(err, requests.exceptions.SSLError):
        if isinstance(_root_cause(err), ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            err
        ):
            return _tls_config_error(request, config)
        return _failed(request, config, f"TLS handshake failed ({_reason(err)})", maybe_applied=False)
    if isinstance(err, (requests.exceptions.ReadTimeout, BodyReadTimeout, TimeoutError)):
        return _read_timeout(request, config, limit, deadline)
    if isinstance(err, (requests.exceptions.ConnectionError, requests.exceptions.ProxyError)):
        cause = err.args[0] if err.args else None
        reason = getattr(cause, "reason", cause)
        if isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
            return _failed(request, config, f"could not connect ({_reason(err)})", maybe_applied=False)
        return _failed(request, config, f"connection dropped ({_reason(err)})", maybe_applied=True)
    if isinstance(err, (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader)):
        return ExpertSenderConfigError(
            f"{request.label}: the connection's base URL or API key cannot be used in a request "
            f"({type(err).__name__}).",
            **request.error_kwargs(),
        )
    return _failed(request, config, f"request failed ({_reason(err)})", maybe_applied=True)


def _aiohttp_failure(
    err: BaseException, request: RequestInfo, config: ExpertSenderConnectionConfig
) -> ExpertSenderError:
    import aiohttp

    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return _tls_config_error(request, config)
    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", ())
    if isinstance(err, connect_timeout):
        return _connect_timeout(request, config)
    if isinstance(err, aiohttp.ClientConnectorError):
        return _failed(request, config, f"could not connect ({_reason(err)})", maybe_applied=False)
    if isinstance(err, asyncio.TimeoutError):  # aiohttp's SocketTimeoutError is one too
        return _read_timeout(request, config, float("inf"), None)
    return _failed(request, config, f"connection dropped ({_reason(err)})", maybe_applied=True)


# -- logging --------------------------------------------------------------------------------------------


def _log_exchange(
    logger: Any,
    config: ExpertSenderConnectionConfig,
    request: RequestInfo,
    status: int,
    started: float,
    items: int | None,
    data: bytes | None,
    raw: bytes,
) -> None:
    millis = (time.monotonic() - started) * 1000
    counted = f" ({items} items)" if items is not None else ""
    logger.debug("ExpertSender %s -> %s in %.0f ms%s", request.label, status, millis, counted)
    if config.log_payloads:  # opt-in: bodies carry personal data
        logger.info(
            "ExpertSender %s payloads (log_payloads=true): request %s; response %s",
            request.label,
            _clip(data),
            _clip(raw),
        )


def _clip(raw: bytes | None) -> str:
    if not raw:
        return "(empty)"
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= _PAYLOAD_LOG_LIMIT else f"{text[:_PAYLOAD_LOG_LIMIT]}... ({len(raw)} bytes)"
