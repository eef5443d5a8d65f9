"""Read an Airflow connection into a typed, validated :class:`ExpertSenderConnectionConfig`.

The connection arrives from the UI form, from ``AIRFLOW_CONN_*`` in JSON or URI form, or from a secrets
backend. A URI query gives every extra as a string, the Airflow 2 form may store ``""`` for an empty field and
prefix names with ``extra__expertsender__``; all of these are accepted here and nowhere else. A bad value
raises :class:`~airflow_provider_expertsender.exceptions.ExpertSenderConfigError` naming the extra and what
it accepts.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_expertsender import CONN_TYPE, DEFAULT_BASE_URL
from airflow_provider_expertsender._extras import NUMERIC_EXTRAS, NumericExtra
from airflow_provider_expertsender.endpoints import ORDER_GET_PATHS
from airflow_provider_expertsender.exceptions import ExpertSenderConfigError

if TYPE_CHECKING:
    from airflow_provider_expertsender._compat import Connection

log = logging.getLogger(__name__)

_PREFIX = f"extra__{CONN_TYPE}__"
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def mask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker (task logs, rendered fields) on 2.10 and 3.x."""
    from airflow_provider_expertsender._compat import mask_secret as mask

    mask(secret)


class Secrets(Sequence[str]):
    """The connection's secret strings, iterable like a tuple but shown as ``<n secret(s)>`` by ``repr``.

    Tracebacks that print frame locals (Airflow 3.0's console log renderer does) show the functions that
    scrub server text with their ``secrets`` argument: this type keeps the values out of that output.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Sequence[str]) -> None:
        self._values = tuple(values)

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: Any) -> Any:
        return self._values[index]

    def __repr__(self) -> str:
        return f"<{len(self._values)} secret(s)>"


@dataclass(frozen=True)
class ExpertSenderConnectionConfig:
    """Everything the hooks need from a connection, typed and validated. Never log it whole.

    :param base_url: API root without a trailing slash (``https://api.ecdp.app`` when the host is empty).
    :param api_key: the business unit's API key (the connection's password); not part of ``repr``.
    :param connect_timeout: seconds to establish the TCP/TLS connection.
    :param read_timeout: seconds one attempt may take, to the last byte of the response (a total deadline).
    :param max_retries: retries after the first attempt on connection errors, 5xx and 429.
    :param backoff_base: first exponential-backoff wait in seconds.
    :param backoff_max: cap of one backoff wait.
    :param retry_after_max: cap of one wait asked for by a 429's ``Retry-After``.
    :param max_retry_time: total seconds one call may spend on attempts and waits.
    :param batch_size: default records per ``POST /customers`` or ``/orders`` request.
    :param max_concurrency: default number of batches sent in parallel by the write operators.
    :param verify: verify TLS certificates (turning it off logs a warning on every hook).
    :param log_payloads: log request and response bodies (they carry personal data: debugging only).
    :param order_get_path: which path reads one order, ``id`` (``/orders/id/{id}``, default) or ``bare``
        (``/orders/{id}``): the real API's path is not documented (see ``endpoints.ORDER_GET_PATHS``).
    :param unknown_extras: extras of the connection this provider does not know (ignored; ``test_connection``
        reports them).

    The bounds of the numeric extras are ``_extras.NUMERIC_EXTRAS``, the table the connection form uses too.
    """

    base_url: str
    api_key: str = field(repr=False)
    connect_timeout: float = float(NUMERIC_EXTRAS["connect_timeout"].default)
    read_timeout: float = float(NUMERIC_EXTRAS["read_timeout"].default)
    max_retries: int = int(NUMERIC_EXTRAS["max_retries"].default)
    backoff_base: float = float(NUMERIC_EXTRAS["backoff_base"].default)
    backoff_max: float = float(NUMERIC_EXTRAS["backoff_max"].default)
    retry_after_max: float = float(NUMERIC_EXTRAS["retry_after_max"].default)
    max_retry_time: float = float(NUMERIC_EXTRAS["max_retry_time"].default)
    batch_size: int = int(NUMERIC_EXTRAS["batch_size"].default)
    max_concurrency: int = int(NUMERIC_EXTRAS["max_concurrency"].default)
    verify: bool = True
    log_payloads: bool = False
    order_get_path: str = "id"
    unknown_extras: tuple[str, ...] = field(default=(), compare=False)

    @property
    def secrets(self) -> Secrets:
        """What must never be repeated from a server's text: the API key, as sent and URL-encoded."""
        from urllib.parse import quote

        return Secrets(tuple(dict.fromkeys((self.api_key, quote(self.api_key, safe="")))))

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeouts, as ``requests`` takes them."""
        return (self.connect_timeout, self.read_timeout)

    @classmethod
    def from_connection(cls, conn: Connection) -> ExpertSenderConnectionConfig:
        """Parse and validate a connection; registers the API key with the secrets masker.

        :param conn: an Airflow ``Connection`` (any source).
        :raises ExpertSenderConfigError: no API key, a malformed base URL or a bad extra.
        """
        api_key = (conn.password or "").strip()
        if not api_key:
            raise ExpertSenderConfigError(
                f"Connection {conn.conn_id!r} has no API key: set the connection's password (labelled "
                '"API key") to the key of the business unit (ExpertSender: Settings -> API).'
            )
        mask_secret(api_key)
        if not all("!" <= ch <= "~" for ch in api_key):
            raise ExpertSenderConfigError(
                f"Connection {conn.conn_id!r}: the API key contains spaces or non-ASCII characters, which an "
                "HTTP header cannot carry. Copy the key again from ExpertSender Settings -> API."
            )
        if conn.password and conn.password != api_key:
            mask_secret(conn.password)
        extras = _extras_of(conn)
        values: dict[str, Any] = {}
        unknown: list[str] = []
        for name, raw in extras.items():
            parser = _PARSERS.get(name)
            if parser is None:
                unknown.append(name)
                continue
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue  # an empty form field means "use the default"
            values[name] = parser(conn.conn_id, name, raw)
        config = cls(base_url=_base_url(conn), api_key=api_key, unknown_extras=tuple(unknown), **values)
        if unknown:
            log.warning("Connection %r: %s", conn.conn_id, describe_unknown_extras(unknown))
        if not config.verify:
            log.warning(
                "Connection %r: TLS certificate verification is OFF (extra verify=false); the API key could "
                "be intercepted. Use it only against a local emulator or a trusted proxy.",
                conn.conn_id,
            )
        elif config.base_url.startswith("http://") and not _is_loopback(config.base_url):
            log.warning(
                "Connection %r uses plain http:// to a non-local host: the API key travels unencrypted.",
                conn.conn_id,
            )
        return config


def describe_unknown_extras(names: Sequence[str]) -> str:
    """``the extra 'read_timout' is unknown (did you mean 'read_timeout'?) and is ignored; ...``."""
    import difflib

    parts = []
    for name in names:
        close = difflib.get_close_matches(str(name), list(_PARSERS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        parts.append(f"{str(name)[:60]!r}{hint}")
    known = ", ".join(sorted(_PARSERS))
    return f"the extra(s) {', '.join(parts)} are unknown and ignored; known extras: {known}."


def _extras_of(conn: Connection) -> dict[str, Any]:
    raw = conn.extra
    if not raw:
        return {}
    try:
        extras = conn.extra_dejson
    except Exception as err:  # pragma: no cover - Airflow versions differ in what they raise
        raise ExpertSenderConfigError(f"Connection {conn.conn_id!r}: extra is not a JSON object.") from err
    if not isinstance(extras, Mapping) or (not extras and raw.strip() not in ("{}", "")):
        # extra_dejson returns {} (and logs) for unparseable JSON; say it plainly instead.
        raise ExpertSenderConfigError(
            f'Connection {conn.conn_id!r}: extra is not a JSON object (e.g. {{"read_timeout": 30}}).'
        )
    return {(k[len(_PREFIX) :] if k.startswith(_PREFIX) else k): v for k, v in extras.items()}


def _base_url(conn: Connection) -> str:
    host = (conn.host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    try:
        parts = urlsplit(host)
        port = parts.port  # raises ValueError for a non-numeric port
    except ValueError:
        # Neither the host nor urlsplit's message (it quotes the port) is echoed: a pasted key would leak.
        raise ExpertSenderConfigError(
            f"Connection {conn.conn_id!r}: host is not a valid URL (a port that is not a number from 0 to "
            "65535, or an unbalanced [ ] around an IPv6 address). Set a base URL such as https://api.ecdp.app."
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ExpertSenderConfigError(
            f"Connection {conn.conn_id!r}: host must be an http(s) URL or a host name such as "
            f"api.ecdp.app, got {parts.scheme}://{parts.hostname or ''}."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ExpertSenderConfigError(
            f"Connection {conn.conn_id!r}: host must not carry credentials, a query or a fragment; "
            "put the API key in the password field and options in extra."
        )
    netloc = parts.netloc
    if conn.port and port is None:
        netloc = f"{netloc}:{int(conn.port)}"
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def _is_loopback(url: str) -> bool:
    hostname = urlsplit(url).hostname or ""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _bad(conn_id: str | None, name: str, raw: object, accepted: str) -> ExpertSenderConfigError:
    return ExpertSenderConfigError(f"Connection {conn_id!r}: extra {name!r} must be {accepted}, got {raw!r}.")


def _numeric(spec: NumericExtra) -> Callable[[str | None, str, object], float | int]:
    """The parser of one numeric extra: its kind and bounds come from ``_extras.NUMERIC_EXTRAS``."""
    accepted = spec.accepted()

    def parse(conn_id: str | None, name: str, raw: object) -> float | int:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise _bad(conn_id, name, raw, accepted)
        try:
            value = float(raw.strip() if isinstance(raw, str) else raw)
        except ValueError:
            raise _bad(conn_id, name, raw, accepted) from None
        if not math.isfinite(value) or not spec.minimum <= value <= spec.maximum:
            raise _bad(conn_id, name, raw, accepted)
        if spec.kind == "integer":
            if not value.is_integer():
                raise _bad(conn_id, name, raw, accepted)
            return int(value)
        return value

    return parse


def _boolean(conn_id: str | None, name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _bad(conn_id, name, raw, "true or false")


def _one_of(conn_id: str | None, name: str, raw: object, allowed: tuple[str, ...]) -> str:
    text = str(raw).strip().lower()
    if text not in allowed:
        raise _bad(conn_id, name, raw, "one of " + ", ".join(allowed))
    return text


_PARSERS: dict[str, Callable[[str | None, str, object], Any]] = {
    **{name: _numeric(spec) for name, spec in NUMERIC_EXTRAS.items()},
    "verify": _boolean,
    "log_payloads": _boolean,
    "order_get_path": lambda conn_id, name, raw: _one_of(conn_id, name, raw, tuple(ORDER_GET_PATHS)),
}

# Every typed extra is parsed above; this fails at import if a field is added without a parser.
assert set(_PARSERS) == {f.name for f in fields(ExpertSenderConnectionConfig)} - {
    "base_url",
    "api_key",
    "unknown_extras",
}
