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
import json
import time
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from airflow_provider_expertsender import __version__
from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderTransportError,
)
from airflow_provider_expertsender.hooks._responses import RequestInfo, error_for_response, parse_success

if TYPE_CHECKING:
    from collections.abc import Mapping

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
) -> Answer:
    """Send ``request`` once over ``requests``; raise the typed exception of any failure."""
    import requests

    started = time.monotonic()
    try:
        response = session.request(
            request.method,
            config.base_url + request.path,
            data=data,
            timeout=config.timeout,
            allow_redirects=False,
            # Per request as well as on the session: a session-level verify=False loses to
            # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in requests' environment merge.
            verify=config.verify,
        )
        raw = response.content
    except requests.RequestException as err:
        raise _requests_failure(err, request, config) from None
    _log_exchange(logger, config, request, response.status_code, started, items, data, raw)
    return _answer(response.status_code, raw, response.headers, request)


async def asend(
    session: aiohttp.ClientSession, config: ExpertSenderConnectionConfig, request: RequestInfo, logger: Any
) -> Answer:
    """Send the bodiless ``request`` once over ``aiohttp``; raise the typed exception of any failure."""
    import aiohttp

    started = time.monotonic()
    try:
        async with session.request(
            request.method, config.base_url + request.path, allow_redirects=False
        ) as response:
            raw = await response.read()
            status, headers = response.status, response.headers
    except (aiohttp.ClientError, asyncio.TimeoutError) as err:
        raise _aiohttp_failure(err, request, config) from None
    _log_exchange(logger, config, request, status, started, None, None, raw)
    return _answer(status, raw, headers, request)


def _answer(status: int, raw: bytes, headers: Mapping[str, str], request: RequestInfo) -> Answer:
    if 200 <= status < 300:
        return Answer(status, parse_success(status, raw, request), request)
    raise error_for_response(status, raw, headers, request)


# -- request line and body -------------------------------------------------------------------------------


def request_info(endpoint: Endpoint, params: Mapping[str, object] | None = None) -> RequestInfo:
    """Fill the endpoint's template; every value is URL-encoded whole (``/`` too), so it stays one segment.

    ``.`` and ``..`` are unreserved characters that clients and servers resolve as dot-segments, whatever
    their encoding, so such an identifier could address another path: it is refused.
    """
    for name, value in (params or {}).items():
        if str(value).strip() in (".", ".."):
            raise ExpertSenderConfigError(
                f"{endpoint.method} {endpoint.path}: {name} {str(value)!r} cannot address a record "
                "(a path segment of dots is resolved away by HTTP). Pass the record's real identifier."
            )
    values = {k: quote(str(v), safe="") for k, v in (params or {}).items()}
    return RequestInfo(endpoint.method, endpoint.path, endpoint.path.format(**values))


def encode(body: object, request: RequestInfo) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
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
        "Content-Type": "application/json",
    }


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


def _read_timeout(request: RequestInfo, config: ExpertSenderConnectionConfig) -> ExpertSenderTransportError:
    what = f"no response within read_timeout={config.read_timeout:g} s"
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
    err: Exception, request: RequestInfo, config: ExpertSenderConnectionConfig
) -> ExpertSenderError:
    import ssl

    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(err, requests.exceptions.ConnectTimeout):
        return _connect_timeout(request, config)
    if isinstance(err, requests.exceptions.SSLError):
        if isinstance(_root_cause(err), ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            err
        ):
            return _tls_config_error(request, config)
        return _failed(request, config, f"TLS handshake failed ({_reason(err)})", maybe_applied=False)
    if isinstance(err, requests.exceptions.ReadTimeout):
        return _read_timeout(request, config)
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
        return _read_timeout(request, config)
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
