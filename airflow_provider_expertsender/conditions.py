"""What "done", "not yet" and "failed" mean for the ExpertSender sensors.

One definition, used by the sensors' ``poke`` (sync hook) and by the triggers of deferrable mode (async
hook), so the three modes (poke, reschedule, deferrable) cannot drift apart. It is a public module of its own
because both ``sensors/`` and ``triggers/`` import it. Pure functions over the records
the hooks return; nothing here does I/O or logs (records carry personal data).

Two facts about the real API are unknown ([UNK] in the API reference) and are decided here only:
the name of an order's status field in a GET response and how a soft-deleted order shows up.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderRateLimitError,
    ExpertSenderServerError,
    ExpertSenderTransportError,
)

#: Errors the hook has already retried with its own policy (5xx, 429, connection problems, timeouts). After
#: that they count as one failed poll: the sensor logs a warning and tries again at the next interval, until
#: its timeout. Every other error (401/403, 400, an unreadable 2xx) ends the wait at once.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    ExpertSenderServerError,
    ExpertSenderRateLimitError,
    ExpertSenderTransportError,
)

#: Statuses that end an order sensor with a failure unless the user says otherwise.
DEFAULT_FAILURE_STATUSES: tuple[str, ...] = ("canceled",)

# [UNK] The GET order response schema is undocumented. Orders are written with a ``status`` field, and the
# docs describe deletion as an ``IsDeleted`` flag; the API (ASP.NET) serializes camelCase, so the flag most
# likely reads ``isDeleted``. Keys are matched case-insensitively; a deleted order that the API hides (404)
# is simply "not found yet" and the sensor times out.
_STATUS_KEYS = ("status", "orderStatus")
_DELETED_KEYS = ("isDeleted", "deleted")


@dataclass(frozen=True)
class Verdict:
    """The outcome of looking at one record.

    :param state: ``success`` (done), ``waiting`` (not yet) or ``failure`` (will never succeed).
    :param message: why, for logs and trigger events; names the order id or the identifier kind, never a
        customer's data.
    :param details: small JSON facts a "failure" carries to the sensor (in the trigger event), for its typed
        error; the order rule gives ``order_status`` and ``deleted``. Never personal data.
    """

    state: Literal["success", "waiting", "failure"]
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def normalize_statuses(statuses: Collection[str] | str | None, *, param: str) -> tuple[str, ...] | None:
    """Return ``statuses`` in documented spelling (``"Cancelled"`` -> ``"canceled"``); ``None`` if not given.

    :param param: the argument's name, for the error message.
    :raises ExpertSenderConfigError: an unknown status, or something that is not a list of strings.
    """
    items = status_list(statuses, param=param)
    if items is None:
        return None
    from airflow_provider_expertsender.models import normalize_order_status

    return tuple(dict.fromkeys(normalize_order_status(s) for s in items))


def status_list(statuses: Collection[str] | str | None, *, param: str) -> list[str] | None:
    """Return ``statuses`` as a list (one string is one status), spelling unchecked; ``None`` if not given.

    :param param: the argument's name, for the error message.
    :raises ExpertSenderConfigError: ``statuses`` is neither a string nor a collection of strings.
    """
    if statuses is None:
        return None
    items = [statuses] if isinstance(statuses, str) else statuses
    if not isinstance(items, Collection) or not all(isinstance(s, str) for s in items):
        raise ExpertSenderConfigError(
            f"{param} must be a list of order statuses (placed, paid, completed, canceled); "
            f"got {type(statuses).__name__}."
        )
    return list(items)


def order_statuses(
    target_statuses: Collection[str] | str | None, failure_statuses: Collection[str] | str | None
) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """The order rule's statuses, normalized and resolved: ``(targets or None, failures)``."""
    targets = normalize_statuses(target_statuses, param="target_statuses")
    failures = normalize_statuses(failure_statuses, param="failure_statuses")
    return targets, effective_failure_statuses(targets, failures)


def effective_failure_statuses(
    target_statuses: tuple[str, ...] | None, failure_statuses: tuple[str, ...] | None
) -> tuple[str, ...]:
    """Resolve ``failure_statuses`` against ``target_statuses`` (both already normalized).

    Not given: ``canceled``, unless it is a target. Given: used as is (``()`` disables failing on a status),
    and it must not share a status with ``target_statuses``.
    """
    targets = target_statuses or ()
    if failure_statuses is None:
        return tuple(s for s in DEFAULT_FAILURE_STATUSES if s not in targets)
    overlap = [s for s in failure_statuses if s in targets]
    if overlap:
        raise ExpertSenderConfigError(
            f"target_statuses and failure_statuses share {', '.join(overlap)}: a status cannot both end the "
            "wait successfully and fail it. Remove it from one of them."
        )
    return failure_statuses


def _field(record: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    wanted = {k.lower() for k in keys}
    for key, value in record.items():
        if isinstance(key, str) and key.lower() in wanted:
            return value
    return None


def order_status(order: Mapping[str, Any]) -> str | None:
    """The order's status in documented spelling; an unknown spelling is returned lower-cased."""
    raw = _field(order, _STATUS_KEYS)
    if not isinstance(raw, str) or not raw.strip():
        return None
    from airflow_provider_expertsender.models import normalize_order_status

    try:
        return normalize_order_status(raw)
    except ExpertSenderConfigError:
        # A status the provider does not know yet: it matches nothing, so the sensor keeps waiting.
        return raw.strip().lower()


def order_is_deleted(order: Mapping[str, Any]) -> bool:
    """Whether the order is (soft-)deleted."""
    flag = _field(order, _DELETED_KEYS)
    if isinstance(flag, str):
        return flag.strip().lower() == "true"
    return flag is True


def judge_order(
    order: Mapping[str, Any],
    *,
    order_id: str,
    target_statuses: tuple[str, ...] | None,
    failure_statuses: tuple[str, ...],
) -> Verdict:
    """Decide whether waiting on ``order`` is over (statuses already normalized).

    Deleted or in ``failure_statuses``: failure. No ``target_statuses``: success as soon as it exists.
    Otherwise success when its status is a target, else waiting.
    """
    status = order_status(order)
    deleted = order_is_deleted(order)
    details = {"order_status": status, "deleted": deleted}
    if deleted:
        return Verdict("failure", f"Order {order_id} was deleted.", details)
    if status is not None and status in failure_statuses:
        return Verdict(
            "failure",
            f"Order {order_id} has status {status!r}, one of failure_statuses {list(failure_statuses)}.",
            details,
        )
    if not target_statuses:
        return Verdict("success", f"Order {order_id} exists (status {status!r}).", details)
    if status in target_statuses:
        return Verdict("success", f"Order {order_id} reached status {status!r}.", details)
    return Verdict(
        "waiting", f"Order {order_id} has status {status!r}; waiting for {list(target_statuses)}.", details
    )
