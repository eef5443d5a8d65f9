"""HTTP response -> result or typed exception, for the sync and async hooks alike.

Every guess about the shape of ECDP responses ([UNK] in the project's API reference) is made here, only here:

* success bodies: the ``{"status": 0, "data": ...}`` envelope, a bare object, or no body at all (201/204);
* not found: a 404, or a 200 whose ``data`` is null;
* per-item failures of a batch: a 2xx body with an ``errors`` member, either a list of strings
  (``"data[3].email: ..."``), a ``{field: [messages]}`` map or a list of objects naming the item by ``index``
  or by an identifier (``{"email": "c3@example.com", "message": "blocked"}``); an error naming no item makes
  the outcome of every record of the request unknown (:attr:`WriteResult.in_doubt`);
* errors: RFC 7807 problem details (``title``, ``detail``, ``substatus``, ``errors``), or anything else (an
  HTML 502 page from a proxy, an empty body): the status alone then decides the exception.

Exception messages name the request by its path *template* (``GET /customers/email/{value}``), never the
identifier, the API key or a body; from a problem-details body they keep only ``title``, ``detail``,
``substatus`` and the field names of ``errors``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderError,
    ExpertSenderNotFoundError,
    ExpertSenderRateLimitError,
    ExpertSenderResponseError,
    ExpertSenderServerError,
    ExpertSenderTransportError,
    ExpertSenderValidationError,
)
from airflow_provider_expertsender.retry import parse_retry_after

# Statuses meaning "the API refused this request body" (the sync engine bisects a batch on them).
_VALIDATION_STATUSES = frozenset({400, 409, 413, 422})
# ``data[3].email``, ``Data[3]``, ``$.data[3].email`` (ASP.NET model-state keys) -> 3
_ITEM_INDEX = re.compile(r"(?<![A-Za-z0-9_])data\[(\d+)\]", re.IGNORECASE)
_MAX_FIELDS_IN_MESSAGE = 10
#: Longest piece of server text (a title, a detail, one message) kept in an exception or a log line.
SERVER_TEXT_LIMIT = 500
_SCRUB_DEPTH = 8
_SCRUB_ITEMS = 10_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# Keys by which an item error object may name the record instead of its index ([UNK]), folded (lower case,
# no underscores) -> the field of the API's record that holds that identifier.
_IDENTIFIER_KEYS = {
    "email": "email",
    "phone": "phone",
    "phonenumber": "phone",
    "crmid": "crmId",
    "visitorid": "visitorId",
    "guid": "guid",
    "orderid": "id",
    # An order's id; in a customer batch it would be the platform's own customer id, which the request does
    # not carry: it then matches no record, and the error stays unattributed.
    "id": "id",
}


@dataclass(frozen=True)
class ItemError:
    """One per-item failure reported by the API inside a successful batch response.

    :param index: the item's position inside the batch when the error names it (``data[3]...``, an ``index``
        member, or an identifier that one record of the batch carries), else None: the error cannot be tied
        to a record.
    :param message: the API's message for it (may name a field; may echo a value of the record).
    :param identifier: ``(field, value)`` when the server named the record by an identifier
        (``("email", "c3@example.com")``) rather than by its position.
    """

    index: int | None
    message: str
    identifier: tuple[str, str] | None = None


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one ``POST /customers`` or ``POST /orders`` request.

    :param status: HTTP status of the response.
    :param sent: number of records in the request.
    :param item_errors: per-item failures the API reported in its 2xx body.
    """

    status: int
    sent: int
    item_errors: tuple[ItemError, ...] = ()

    @property
    def rejected_indexes(self) -> frozenset[int]:
        """Positions (inside the batch) of the records the API reported as failed."""
        return frozenset(e.index for e in self.item_errors if e.index is not None)

    @property
    def unattributed(self) -> tuple[ItemError, ...]:
        """Item errors that name no record of the batch (no position, no identifier the batch carries)."""
        return tuple(e for e in self.item_errors if e.index is None)

    @property
    def in_doubt(self) -> int:
        """Records whose outcome is unknown: when an error names no record, any record not named otherwise
        may be the one that failed, so none of them is counted as landed."""
        return self.sent - len(self.rejected_indexes) if self.unattributed else 0

    @property
    def accepted(self) -> int:
        """Records known to have landed: not named by an item error, and no error left unattributed."""
        return self.sent - len(self.rejected_indexes) - self.in_doubt


@dataclass(frozen=True)
class RequestInfo:
    """What an error message may say about a request: method, path template and real path.

    :param method: HTTP method.
    :param template: the endpoint's path template (safe to log: no identifiers).
    :param path: the real path (identifiers URL-encoded); kept on exceptions, not put in messages.
    """

    method: str
    template: str
    path: str

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"

    def error_kwargs(self, status: int | None = None) -> dict[str, Any]:
        """The keyword arguments with which an :class:`ExpertSenderError` names this request (and status)."""
        return {"status": status, "method": self.method, "path": self.path}


def decode_json(raw: bytes) -> Any:
    """Decode a body; raise ``ValueError`` when it is not JSON (an empty body decodes to None).

    JSON nested deeper than Python's recursion limit (``[[[[...]]]]`` from a hostile server) is "not JSON"
    too, never a bare ``RecursionError``.
    """
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def scrub(value: Any, secrets: Sequence[str] = (), *, limit: int = SERVER_TEXT_LIMIT) -> Any:
    """Server text made safe to put in an exception, a log line or a trigger event.

    Every string of ``value`` (keys included, any nesting) has the connection's ``secrets`` replaced by
    ``***`` (a server may echo the API key), control characters replaced by spaces (no forged log lines) and
    is cut to ``limit`` characters; containers deeper than a few levels or longer than a few hundred items
    are cut too. Numbers, booleans and None pass unchanged.
    """
    return _scrub(value, tuple(s for s in secrets if s), limit, _SCRUB_DEPTH)


def _scrub(value: Any, secrets: tuple[str, ...], limit: int, depth: int) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        value = _CONTROL.sub(" ", value)
        return value if len(value) <= limit else value[: limit - 1] + "\u2026"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth <= 0:
        return "\u2026"
    if isinstance(value, Mapping):
        items = list(value.items())[:_SCRUB_ITEMS]
        return {_scrub(str(k), secrets, limit, 0): _scrub(v, secrets, limit, depth - 1) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, secrets, limit, depth - 1) for v in value[:_SCRUB_ITEMS]]
    return _scrub(str(value), secrets, limit, 0)


def error_for_response(
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    request: RequestInfo,
    *,
    unread: str = "",
    secrets: Sequence[str] = (),
) -> ExpertSenderError:
    """The typed exception for a non-2xx response (or a 3xx, which the hooks never follow).

    :param status: HTTP status.
    :param raw: the response body, possibly empty or not JSON.
    :param headers: response headers (case-insensitive mapping; ``Retry-After``, ``Location``).
    :param request: the request it answers.
    :param unread: why the body was not read (too large); the status alone then decides.
    :param secrets: the connection's secrets, never to be repeated from the server's text (see :func:`scrub`).
    """
    try:
        body = scrub(decode_json(raw), secrets) if not unread else None
    except ValueError:
        body = None
    problem = body if isinstance(body, Mapping) else {}
    title = _text(problem.get("title"))
    detail = _text(problem.get("detail"))
    substatus = _text(problem.get("substatus"))
    errors = problem.get("errors")
    said = unread or _problem_summary(title, detail, substatus, errors) or _no_problem(raw, body)
    label, where = request.label, request.error_kwargs(status)

    if 300 <= status < 400:
        target = scrub(urlhost(headers.get("Location")), secrets, limit=200)
        return ExpertSenderResponseError(
            f"{label} answered {status} redirect{f' to {target}' if target else ''}. Redirects are not "
            "followed so the API key never reaches another address: set the connection's Base URL to the "
            "API's final address (e.g. https:// instead of http://).",
            **where,
        )
    if status == 401:
        return ExpertSenderAuthError(
            f"{label}: the API key was rejected (401{_suffix(said)}). Check the connection's password (API "
            "key) against ExpertSender Settings -> API for this business unit.",
            **where,
        )
    if status == 403:
        return ExpertSenderAuthError(
            f"{label}: the API key is not allowed to use this resource (403{_suffix(said)}). Use a key of a "
            "business unit with access to it.",
            **where,
        )
    if status == 404:
        return ExpertSenderNotFoundError(
            f"{label}: not found (404{_suffix(said)}).",
            **where,
        )
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        hint = f", Retry-After {retry_after:g} s" if retry_after is not None else ""
        return ExpertSenderRateLimitError(
            f"{label}: rate limited (429{hint}) and the retry budget is spent. Lower max_concurrency or "
            "raise max_retries / retry_after_max in the connection extras.",
            retry_after=retry_after,
            **where,
        )
    if status in _VALIDATION_STATUSES:
        return ExpertSenderValidationError(
            f"{label} was rejected ({status}{_suffix(said)}).",
            title=title,
            detail=detail,
            substatus=substatus,
            errors=errors,
            **where,
        )
    if status >= 500:
        return ExpertSenderServerError(
            f"{label}: ExpertSender server error ({status}{_suffix(said)}).",
            maybe_applied=True,
            retry_after=parse_retry_after(headers.get("Retry-After")),
            **where,
        )
    return ExpertSenderError(
        f"{label}: unexpected HTTP status {status}{_suffix(said)}.",
        **where,
    )


def parse_success(status: int, raw: bytes, request: RequestInfo) -> Any:
    """Decode a 2xx body; a body that is not JSON is a transport failure (truncated, or a proxy page)."""
    try:
        return decode_json(raw)
    except ValueError:
        raise ExpertSenderTransportError(
            f"{request.label}: the {status} response is not JSON ({len(raw)} bytes); a proxy or a truncated "
            "response is likely.",
            maybe_applied=True,
            **request.error_kwargs(status),
        ) from None


def unwrap_record(body: Any, request: RequestInfo) -> dict[str, Any]:
    """The single record of a GET: ``data`` of the envelope (or a bare object); NotFound when null.

    An empty body is not a "not found" (that would hide a proxy or a truncation): it raises
    ``ExpertSenderResponseError``.
    """
    if body is None:
        raise _empty_error(request)
    data = _data_of(body)
    if data is None or data == {}:
        raise ExpertSenderNotFoundError(
            f"{request.label}: not found (the response carries no record).",
            **request.error_kwargs(200),
        )
    if not isinstance(data, dict):
        raise _shape_error(request, "an object", data)
    return data


def unwrap_list(body: Any, request: RequestInfo) -> list[dict[str, Any]]:
    """The list of a settings GET (``data`` of the envelope, or a bare list); ``[]`` when null."""
    if body is None:
        raise _empty_error(request)
    data = _data_of(body)
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise _shape_error(request, "a list of objects", data)
    return data


def unwrap_optional(body: Any) -> dict[str, Any]:
    """What a write returned, for callers that want it: ``data`` if it is an object, else ``{}``.

    Response bodies of writes are undocumented ([UNK]): an empty body, ``{"status": 0}`` or an echo are all
    accepted.
    """
    data = _data_of(body)
    return data if isinstance(data, dict) else {}


def unwrap_single_write(
    status: int, body: Any, request: RequestInfo, secrets: Sequence[str] = ()
) -> dict[str, Any]:
    """What a one-record write (custom event, status change, delete) returned, as :func:`unwrap_optional`;
    a 2xx whose body reports ``errors`` ([UNK]: the WooCommerce plugin treats any ``errors`` member as a
    failed sync) raises, so the record is never counted as written.

    :param secrets: the connection's secrets, removed from the server's text (see :func:`scrub`).
    :raises ExpertSenderValidationError: the body has a non-empty ``errors`` member (``errors`` keeps it).
    """
    errors = scrub(body.get("errors"), secrets) if isinstance(body, Mapping) else None
    if errors:
        fields = _field_names(errors)
        named = f"; fields: {', '.join(fields[:_MAX_FIELDS_IN_MESSAGE])}" if fields else ""
        raise ExpertSenderValidationError(
            f"{request.label} answered {status} but its body reports errors{named}: the record is not "
            "counted as written (the errors are on the exception's errors attribute).",
            errors=errors,
            **request.error_kwargs(status),
        )
    return unwrap_optional(body)


def write_result(
    status: int,
    body: Any,
    sent: int,
    records: Sequence[Any] | None = None,
    secrets: Sequence[str] = (),
) -> WriteResult:
    """Turn a 2xx answer to a batch write into a :class:`WriteResult` (per-item errors parsed).

    :param records: the records of the request, to tie errors that name a record by identifier to it.
    :param secrets: the connection's secrets, removed from the server's messages (see :func:`scrub`).
    """
    errors = scrub(body.get("errors"), secrets) if isinstance(body, Mapping) else None
    return WriteResult(status=status, sent=sent, item_errors=parse_item_errors(errors, sent, records))


def parse_item_errors(
    errors: Any, sent: int | None = None, records: Sequence[Any] | None = None
) -> tuple[ItemError, ...]:
    """Per-item errors in any of the shapes the API might use ([UNK]), tied to records where they name one.

    An error names a record by position (``data[3]...`` in a string or a key, an ``index`` member) or, in an
    object, by an identifier member (``email``, ``phone``, ``crmId``, ``visitorId``, ``guid``, ``orderId``;
    ``id`` in an order batch): it is then tied to every record of ``records`` carrying that value (e-mails
    compared without case). An error tied to no record has ``index=None``.

    :param errors: a list of strings, a ``{field: message or [messages]}`` map, a list of objects, or one
        string.
    :param sent: batch size; an index outside ``range(sent)`` is kept in the message but not trusted.
    :param records: the records of the request (API spelling), to resolve identifiers.
    """
    if not errors:
        return ()
    if sent is None and records is not None:
        sent = len(records)
    found: list[ItemError] = []
    if isinstance(errors, Mapping):
        for key, messages in errors.items():
            for message in messages if isinstance(messages, list) else [messages]:
                found.append(ItemError(_index_in(str(key), sent), f"{key}: {_text(message) or 'invalid'}"))
    elif isinstance(errors, list):
        for item in errors:
            if isinstance(item, Mapping):
                found.extend(_object_errors(item, sent, records))
            else:
                message = _text(item) or ""
                found.append(ItemError(_index_in(message, sent), message))
    else:
        message = _text(errors) or ""
        found.append(ItemError(_index_in(message, sent), message))
    return tuple(found)


def _object_errors(
    item: Mapping[Any, Any], sent: int | None, records: Sequence[Any] | None
) -> list[ItemError]:
    """The error(s) of one error object: by ``index``, by a ``data[i]`` in its message, or by identifier."""
    message = next(
        (_text(item[k]) for k in ("message", "error", "detail") if item.get(k)), None
    ) or json.dumps(item, sort_keys=True, default=str)
    index = item.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not _in_range(index, sent):
        index = _index_in(message, sent)
    identifier = _identifier_of(item)
    if index is not None or identifier is None:
        return [ItemError(index, message, identifier)]
    field, value = identifier
    matches = [i for i, record in enumerate(records or ()) if _carries(record, field, value)]
    if not matches:
        return [ItemError(None, message, identifier)]
    return [ItemError(i, message, identifier) for i in matches]


def _identifier_of(item: Mapping[Any, Any]) -> tuple[str, str] | None:
    """``(record field, value)`` of the first identifier member of an error object, else None."""
    for key, value in item.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (str, int)):
            continue
        field = _IDENTIFIER_KEYS.get(key.replace("_", "").lower())
        if field is not None and str(value).strip():
            return field, str(value)
    return None


def _carries(record: Any, field: str, value: str) -> bool:
    if not isinstance(record, Mapping):
        return False
    mine = record.get(field)
    if mine is None or isinstance(mine, bool):
        return False
    if field == "email":
        return str(mine).strip().lower() == value.strip().lower()
    return str(mine).strip() == value.strip()


def refusal_reason(error: ExpertSenderError) -> str:
    """The server's reason for refusing a request, in one line: the ``errors`` of its problem details, else
    their ``detail`` or ``title``, else the error's message. (It may echo a value of a record: for dead
    letters and logs the user asked for, not for default logs.)
    """
    errors = getattr(error, "errors", None)
    parts: list[str] = []
    if isinstance(errors, Mapping):
        for key, messages in errors.items():
            for message in messages if isinstance(messages, (list, tuple)) else [messages]:
                parts.append(f"{key}: {message}")
    elif isinstance(errors, (list, tuple)):
        parts.extend(str(item) for item in errors)
    elif errors:
        parts.append(str(errors))
    if not parts:
        said = getattr(error, "detail", None) or getattr(error, "title", None)
        parts.append(str(said) if said else error.message)
    return "; ".join(parts)


def urlhost(url: str | None) -> str:
    """``scheme://host`` of a URL (for messages: no path, no query that could carry data)."""
    if not url:
        return ""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return f"{parts.scheme}://{parts.hostname}" if parts.scheme and parts.hostname else "a relative location"


def _data_of(body: Any) -> Any:
    if isinstance(body, Mapping) and "data" in body:
        return body["data"]
    if isinstance(body, Mapping) and set(body) <= {"status"}:
        return None  # a bare {"status": 0}
    return body


def _empty_error(request: RequestInfo) -> ExpertSenderResponseError:
    return ExpertSenderResponseError(
        f"{request.label}: the response has an empty body where data was expected.",
        **request.error_kwargs(200),
    )


def _shape_error(request: RequestInfo, expected: str, got: Any) -> ExpertSenderResponseError:
    return ExpertSenderResponseError(
        f"{request.label}: expected {expected} in the response's data, got {type(got).__name__}.",
        **request.error_kwargs(200),
    )


def _index_in(text: str, sent: int | None) -> int | None:
    match = _ITEM_INDEX.search(text)
    if not match:
        return None
    index = int(match.group(1))
    return index if _in_range(index, sent) else None


def _in_range(index: int, sent: int | None) -> bool:
    return index >= 0 and (sent is None or index < sent)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _problem_summary(title: str | None, detail: str | None, substatus: str | None, errors: Any) -> str:
    parts = [p for p in (substatus, title, detail) if p]
    fields = _field_names(errors)
    if fields:
        shown = ", ".join(fields[:_MAX_FIELDS_IN_MESSAGE])
        more = (
            f" and {len(fields) - _MAX_FIELDS_IN_MESSAGE} more"
            if len(fields) > _MAX_FIELDS_IN_MESSAGE
            else ""
        )
        parts.append(f"fields: {shown}{more}")
    return "; ".join(parts)


def _field_names(errors: Any) -> list[str]:
    """Names of the fields an ``errors`` member complains about (never the messages: they may echo data)."""
    if isinstance(errors, Mapping):
        return [str(k) for k in errors]
    names: list[str] = []
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, Mapping):
                name = item.get("field") or item.get("name") or item.get("path")
            else:
                text = _text(item) or ""
                name = text.split(":", 1)[0].strip() if ":" in text else None
            if name and str(name) not in names:
                names.append(str(name))
    return names


def _no_problem(raw: bytes, body: Any) -> str:
    if not raw.strip():
        return "empty body"
    if body is None:
        return f"non-JSON body, {len(raw)} bytes"
    return ""


def _suffix(said: str) -> str:
    return f": {said}" if said else ""
