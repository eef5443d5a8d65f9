"""Exceptions of the ExpertSender provider: one class per failure a user reacts to differently.

Every class derives from :class:`ExpertSenderError`, itself an ``AirflowException`` so Airflow treats it as a
task failure. Messages never contain the API key or a request/response body; they name the request
(``METHOD /path``), the HTTP status and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender._compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Sequence


class ExpertSenderError(AirflowException):
    """Base class of every error raised by this provider.

    :param message: human readable message (no secrets, no personal data beyond an identifier).
    :param status: HTTP status code, when the error comes from a response.
    :param method: HTTP method of the failed request.
    :param path: path of the failed request (identifiers URL-encoded).
    :param maybe_applied: True when the failed request may still have reached the server and been applied
        (a read timeout, a dropped connection after the body was sent, a 5xx). Every error has it; only
        :class:`ExpertSenderServerError` and :class:`ExpertSenderTransportError` can set it. A caller that
        must not apply a write twice (custom events, mode ``Add``) reads ``err.maybe_applied``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.maybe_applied = maybe_applied


class ExpertSenderConfigError(ExpertSenderError):
    """The connection or an operator argument is invalid (bad extra, missing API key, two identifiers...)."""


class ExpertSenderAuthError(ExpertSenderError):
    """401/403: the API key was rejected or lacks access to the resource. Not retried."""


class ExpertSenderNotFoundError(ExpertSenderError):
    """The requested customer or order does not exist (404, or 200 with ``data: null``)."""


class ExpertSenderValidationError(ExpertSenderError):
    """400: the API rejected the request body (RFC 7807 problem details). Not retried.

    :param title: problem-details ``title``.
    :param detail: problem-details ``detail``.
    :param substatus: ExpertSender's ``substatus`` (e.g. ``CustomerInvalidModelState``).
    :param errors: the ``errors`` member, a list of strings or a ``{field: [messages]}`` map, when present.
    """

    def __init__(
        self,
        message: str,
        *,
        title: str | None = None,
        detail: str | None = None,
        substatus: str | None = None,
        errors: Any = None,
        status: int | None = 400,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, status=status, **kwargs)
        self.title = title
        self.detail = detail
        self.substatus = substatus
        self.errors = errors


class ExpertSenderRateLimitError(ExpertSenderError):
    """429 after the retry budget was spent. ``retry_after`` is the server's last hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ExpertSenderServerError(ExpertSenderError):
    """5xx after the retry budget was spent (or at once for a call that must not be repeated).

    ``retry_after`` is the server's ``Retry-After`` hint in seconds (a 503 may carry one), else None.
    """

    def __init__(
        self, message: str, *, maybe_applied: bool = True, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, maybe_applied=maybe_applied, **kwargs)
        self.retry_after = retry_after


class ExpertSenderTransportError(ExpertSenderError):
    """No usable response: connection refused/reset, timeout, TLS failure, truncated or non-JSON body.

    ``maybe_applied`` (see :class:`ExpertSenderError`) is True when the read timed out or the connection
    dropped after the body was sent; a non-idempotent call is then not repeated.
    """


class ExpertSenderSourceError(ExpertSenderError):
    """A bulk write's input file cannot be read on (bad encoding, broken quoting, truncated compression).

    The message names the file and, where known, the line. Rows before that point were read (and, with
    ``on_invalid="skip"``, may have been sent); nothing after it was.
    """


class ExpertSenderStateError(ExpertSenderError):
    """The incremental-sync state (``state_path``) cannot be used: another run holds it, it was written for
    another resource, key or connection, or by a newer version of the provider, or it is not a state file.

    Nothing was sent. The message says which case it is and what to do (wait for the other run, use another
    ``state_path``, or rebuild the state with ``full_refresh=True``).
    """


class ExpertSenderResponseError(ExpertSenderError):
    """A response the provider cannot interpret (2xx with a body that is not the documented JSON shape)."""


class ExpertSenderOrderStateError(ExpertSenderError, AirflowFailException):
    """An order a sensor waits on reached a state it can never leave successfully: waiting is over.

    Raised by ``ExpertSenderOrderSensor`` when the order's status is one of ``failure_statuses`` or the order
    was deleted. It is an ``AirflowFailException``: the task fails without retries (retrying cannot change the
    outcome), or is skipped with ``soft_fail=True``.

    :param order_id: the order's id.
    :param order_status: the order's status (documented spelling), if it has one.
    :param deleted: whether the order was deleted.
    """

    def __init__(
        self, message: str, *, order_id: str, order_status: str | None = None, deleted: bool = False
    ) -> None:
        super().__init__(message)
        self.order_id = order_id
        self.order_status = order_status
        self.deleted = deleted


@dataclass(frozen=True)
class FieldProblem:
    """One broken rule of one field of one record.

    :param field: dotted path of the field in API spelling, e.g. ``customAttributes[0].name``.
    :param rule: what is wrong, e.g. ``at most 320 characters``.
    """

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


@dataclass(frozen=True)
class InvalidRecord:
    """A record that failed local validation (or that the API rejected).

    :param index: position of the record in its input (0-based, across all batches/files/rows).
    :param identifier: the record's identifier for humans (email, crm id, order id), if it has one.
    :param problems: the broken rules.
    """

    index: int
    identifier: str | None
    problems: tuple[FieldProblem, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        who = f" ({self.identifier})" if self.identifier else ""
        rules = "; ".join(str(p) for p in self.problems) or "rejected"
        return f"record #{self.index}{who}: {rules}"


class ExpertSenderInvalidRecordError(ExpertSenderError):
    """Local validation rejected one record before anything was sent.

    :param record: which record and which rules it broke.
    """

    def __init__(self, record: InvalidRecord) -> None:
        super().__init__(f"Invalid {record.describe()}. Fix the input; nothing was sent for this record.")
        self.record = record


#: What a bulk write operator's user can do about invalid records.
_ON_INVALID_ADVICE = (
    'Fix the input, or pass on_invalid="skip" to send the valid records and report the invalid ones.'
)


class ExpertSenderInvalidInputError(ExpertSenderError):
    """Records failed local validation (bulk writes with ``on_invalid="fail"``, or a hook write): nothing
    was sent.

    :param records: the invalid records (the message lists the first few).
    :param total: how many records were invalid, when ``records`` is only a sample of them (streams).
    :param advice: what to do, ending the message (default: the bulk operators' ``on_invalid`` advice).
    """

    def __init__(
        self,
        records: Sequence[InvalidRecord],
        *,
        shown: int = 5,
        total: int | None = None,
        advice: str = _ON_INVALID_ADVICE,
    ) -> None:
        count = max(total or 0, len(records))
        head = "; ".join(r.describe() for r in records[:shown])
        more = f" (and {count - min(shown, len(records))} more)" if count > min(shown, len(records)) else ""
        super().__init__(f"{count} invalid record(s), nothing was sent: {head}{more}. {advice}")
        self.records = list(records)
        self.total = count


class ExpertSenderRejectedRecordsError(ExpertSenderError):
    """More records were rejected (locally or by the API) than ``max_rejected`` allows.

    Raised after every valid record was sent. ``summary`` is the task's summary (counts, dead-letter path).
    """

    def __init__(self, message: str, *, summary: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


def error_from_event(name: object, message: str, *, status: object = None) -> ExpertSenderError:
    """Rebuild an error a trigger event names by its class name, so a deferred sensor fails as it would have
    failed in poke mode (same type, same message, same HTTP status).

    Only the errors made of a message and an HTTP status are rebuilt by name (the hook's: auth, not found,
    validation, rate limit, server, transport, response, config); any other name gives an
    :class:`ExpertSenderError`.

    :param name: the class name the event carries.
    :param status: the event's HTTP status; ignored unless an int.
    """
    cls = _BY_NAME.get(str(name), ExpertSenderError)
    return cls(message, status=status if isinstance(status, int) and not isinstance(status, bool) else None)


_BY_NAME: dict[str, type[ExpertSenderError]] = {
    cls.__name__: cls
    for cls in (
        ExpertSenderError,
        ExpertSenderAuthError,
        ExpertSenderConfigError,
        ExpertSenderNotFoundError,
        ExpertSenderRateLimitError,
        ExpertSenderResponseError,
        ExpertSenderServerError,
        ExpertSenderTransportError,
        ExpertSenderValidationError,
    )
}
