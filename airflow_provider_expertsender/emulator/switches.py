"""Switches: every unknown of the real API and every fault the emulator can produce.

A :class:`Switches` instance is read on every request, so changing an attribute takes effect at once, even
while the server runs. Assignments are validated (a typo raises instead of silently doing nothing). Faults
queued with :meth:`Switches.fail_next` / :meth:`Switches.drop_next` and the random faults share one lock and
one seeded RNG, so a run with the same ``seed`` and the same request order reproduces.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

ITEM_ERROR_STYLES = ("reject_batch", "errors_2xx")
ITEM_ERROR_SHAPES = (
    "indexed_strings",
    "model_state",
    "indexed_objects",
    "identified_objects",
    "unattributed",
)
NOT_FOUND_STYLES = ("404", "200_null")
ORDER_GET_PATHS = ("id", "bare")
EVENT_UNKNOWN_CUSTOMER = ("accept", "400", "404", "201_errors")


@dataclass(frozen=True)
class Fault:
    """One queued fault.

    :param kind: ``status`` (answer ``status`` instead of processing), ``drop_before`` (close the connection
        without answering, before applying the request) or ``drop_after`` (apply, then close without
        answering).
    :param status: HTTP status of a ``status`` fault (429 or 5xx).
    :param retry_after: ``Retry-After`` header value: seconds (a non-integer is sent as is, which real servers
        never do but keeps tests fast) or a preformatted HTTP-date string.
    :param html: answer with an HTML page (as a proxy or load balancer would) instead of problem details JSON.
    """

    kind: str
    status: int = 503
    retry_after: float | str | None = None
    html: bool = False


def _switch(default: Any, help: str, unk: str = "", choices: tuple[Any, ...] = ()) -> Any:
    return field(default=default, metadata={"help": help, "unk": unk, "choices": choices})


@dataclass
class Switches:
    """Behaviour switches of the emulator. Defaults are the documented (or most likely) behaviour.

    Every attribute can be set at construction, assigned later (``emu.switches.latency_ms = 50``), set with
    the CLI flag of the same name (``--latency-ms 50``) or, when the admin API is on, with
    ``PATCH /_emulator/switches``.
    """

    max_batch_size: int | None = _switch(
        None,
        "Largest data[] accepted by POST /customers and /orders; None = unlimited.",
        "maximum items per request (ecdp-api.md 8, 13.1)",
    )
    batch_limit_status: int = _switch(
        400,
        "Status when data[] is over max_batch_size: 400 (ASP.NET MaxLength model error, default) or 413.",
        "how an oversized batch is refused (ecdp-api.md 9)",
        (400, 413),
    )
    item_error_style: str = _switch(
        "reject_batch",
        "reject_batch: one invalid item fails the whole batch with 400 and nothing is applied; errors_2xx: "
        'the valid items are applied and the answer is 201 {"errors": ["data[3].email: ..."]}.',
        "partial failure reporting (ecdp-api.md 1.3, 8, 13.2)",
        ITEM_ERROR_STYLES,
    )
    item_error_shape: str = _switch(
        "indexed_strings",
        "Shape of the errors member of an errors_2xx answer: indexed_strings ['data[3].email: ...'], "
        "model_state {'data[3].email': ['...']}, indexed_objects [{'index': 3, 'message': '...'}], "
        "identified_objects [{'email': 'c3@example.com', 'message': '...'}] (orders: orderId), or "
        "unattributed ['...'] (naming no item).",
        "per-item error shape in a 2xx (ecdp-api.md 1.3, 8, 13.2)",
        ITEM_ERROR_SHAPES,
    )
    not_found_style: str = _switch(
        "404",
        'GET of a missing customer/order: 404 problem details, or 200 {"status": 0, "data": null}.',
        "not-found behaviour of GETs (ecdp-api.md 3.2, 13.3)",
        NOT_FOUND_STYLES,
    )
    order_get_paths: tuple[str, ...] = _switch(
        ORDER_GET_PATHS,
        "Which GET order paths exist: id = /orders/id/{id}, bare = /orders/{id}.",
        "GET order path (ecdp-api.md 4.2)",
        ORDER_GET_PATHS,
    )
    accept_cancelled: bool = _switch(
        False,
        "Accept the British order status spelling 'Cancelled' (stored as 'canceled').",
        "order status spelling (ecdp-api.md 4.1, 12)",
    )
    order_total_required: bool = _switch(
        False,
        "Require totalValue on orders (older doc pages) instead of optional (newest page).",
        "totalValue required or not (ecdp-api.md 4.1, 12)",
    )
    strict_match_by: bool = _switch(
        False,
        "Refuse a customers matchBy, and an order whose customer lacks the identifier, that differs from the "
        "business unit's default identification (seeds: defaultMatchBy).",
        "what the API does when matchBy is not the BU default (ecdp-api.md 3.1, 4.1)",
    )
    missing_order_status: int = _switch(
        404,
        "Status of PUT /orders/status and DELETE /orders/{id} for an unknown order: 404 or 400.",
        "unknown order on status change / delete (ecdp-api.md 4.3, 4.5)",
        (400, 404),
    )
    delete_status: int = _switch(
        200,
        'Success status of the DELETEs (order, customer): 200 with {"status": 0} or 204 with no body.',
        "DELETE responses (ecdp-api.md 3.3, 4.5)",
        (200, 204),
    )
    event_unknown_customer: str = _switch(
        "accept",
        "POST /scenariocustomevents naming a customer the business unit does not have: accept (201), "
        "400 / 404 problem details, or 201_errors (201 with an errors list, nothing fired).",
        "custom event for an unknown customer (ecdp-api.md 5)",
        EVENT_UNKNOWN_CUSTOMER,
    )
    forbidden_resources: tuple[str, ...] = _switch(
        (),
        "First path segments (e.g. orders, customerattributes) answered 403: a key without that permission.",
        "which resources a key may lack (ecdp-api.md 1.2, 403)",
    )
    latency_ms: float = _switch(0.0, "Added to every request before it is processed.")
    error_rate: float = _switch(
        0.0, "Probability (0-1) that a request fails with error_status before processing."
    )
    error_status: int = _switch(503, "Status of the random faults of error_rate (429 or 5xx).")
    seed: int = _switch(0, "Seed of the RNG behind error_rate and the drop rates (runs reproduce).")
    rate_limit_per_second: float | None = _switch(
        None,
        "Token bucket per API key (burst = one second of tokens); over it -> 429 with Retry-After.",
        "rate limits, 429 and Retry-After (ecdp-api.md 9, 13.1)",
    )
    drop_before_apply_rate: float = _switch(
        0.0, "Probability that the connection is closed without an answer, before the request is applied."
    )
    drop_after_apply_rate: float = _switch(
        0.0, "Probability that the request is applied and then the connection is closed without an answer."
    )
    hang: bool = _switch(
        False, "Accept requests and never answer (until switched off or the emulator stops)."
    )
    empty_200: bool = _switch(False, "Process requests, then answer 200 with an empty body.")
    truncated_body: bool = _switch(
        False, "Process requests, then send the headers and half of the body and close the connection."
    )
    visibility_delay_s: float = _switch(
        0.0,
        "Writes become visible to GETs only after this many seconds (the platform processes asynchronously).",
        "delay between a 201 and the data being readable",
    )
    hidden_reads: int = _switch(
        0,
        "Writes stay invisible to this many GETs of the record first (with visibility_delay_s, both must "
        "pass): asynchronous processing made deterministic, for a test whose first read must miss.",
        "delay between a 201 and the data being readable",
    )
    # -- hostile answers: what a misbehaving server or proxy sends (docs/reliability.md) --------------------
    trickle_body_s: float = _switch(
        0.0, "Process requests, then send the body one byte every this many seconds (a hostile server)."
    )
    trickle_headers: bool = _switch(
        False, "With trickle_body_s: trickle the status line and headers too, not only the body."
    )
    bloated_body_mb: float = _switch(
        0.0, "Process requests, then answer with this many MB of JSON, streamed in chunks (0 = off)."
    )
    endless_body: bool = _switch(
        False, "Process requests, then stream a JSON body that never ends (until the client hangs up)."
    )
    gzip_bomb_mb: float = _switch(
        0.0,
        "Process requests, then answer with a small gzip body (Content-Encoding: gzip) that inflates to this "
        "many MB (0 = off).",
    )
    nested_json_depth: int = _switch(
        0, "Process requests, then answer with JSON arrays nested this deep (0 = off)."
    )
    echo_api_key: bool = _switch(
        False,
        "Error answers quote the request's x-api-key in title, detail, substatus and a key of errors (a "
        "careless server).",
    )
    hostile_status: int | None = _switch(
        None,
        "Status of the answers the body switches above produce; None = the request's own status.",
    )

    if TYPE_CHECKING:
        _lock: ClassVar[threading.Lock]
        _faults: ClassVar[deque[Fault]]
        _rng: ClassVar[random.Random]
        _ready: ClassVar[bool]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "_faults", deque())
        object.__setattr__(self, "_rng", random.Random(self.seed))
        object.__setattr__(self, "_ready", True)
        for f in fields(self):
            object.__setattr__(self, f.name, _validate(f.name, getattr(self, f.name)))

    def __setattr__(self, name: str, value: Any) -> None:
        if not getattr(self, "_ready", False):
            object.__setattr__(self, name, value)
            return
        if name not in _FIELD_NAMES:
            raise AttributeError(f"Switches has no switch {name!r}; known: {', '.join(sorted(_FIELD_NAMES))}")
        value = _validate(name, value)
        with self._lock:
            object.__setattr__(self, name, value)
            if name == "seed":
                self._rng.seed(value)

    # -- faults -----------------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int = 503, retry_after: float | str | None = None, html: bool = False
    ) -> None:
        """Answer the next ``n`` requests with ``status`` (429 or 5xx) without processing them.

        :param retry_after: adds a ``Retry-After`` header (seconds, or an HTTP-date string).
        :param html: send an HTML error page instead of problem details JSON.
        """
        status = _fault_status(status)
        if retry_after is not None and not isinstance(retry_after, str):
            retry_after = _non_negative("retry_after", retry_after)
        fault = Fault("status", status, retry_after, bool(html))
        with self._lock:
            self._faults.extend([fault] * _count(n))

    def drop_next(self, n: int = 1, *, after_apply: bool = False) -> None:
        """Close the connection without answering for the next ``n`` requests.

        :param after_apply: apply the request first (the client cannot know whether it was applied).
        """
        fault = Fault("drop_after" if after_apply else "drop_before")
        with self._lock:
            self._faults.extend([fault] * _count(n))

    def clear_faults(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many queued faults are still to be served."""
        return len(self._faults)

    def take_fault(self) -> Fault | None:
        """The fault for the request being served: a queued one first, else a random one, else None."""
        with self._lock:
            if self._faults:
                fault: Fault = self._faults.popleft()
                return fault
            if self.error_rate and self._rng.random() < self.error_rate:
                return Fault("status", self.error_status)
            if self.drop_before_apply_rate and self._rng.random() < self.drop_before_apply_rate:
                return Fault("drop_before")
            if self.drop_after_apply_rate and self._rng.random() < self.drop_after_apply_rate:
                return Fault("drop_after")
        return None

    # -- whole-object helpers ---------------------------------------------------------------------

    def update(self, **changes: Any) -> None:
        """Set several switches at once (all validated before any is applied)."""
        checked = {}
        for name, value in changes.items():
            if name not in _FIELD_NAMES:
                raise AttributeError(f"Switches has no switch {name!r}")
            checked[name] = _validate(name, value)
        for name, value in checked.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """The switch values as JSON-compatible data."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    def copy(self) -> Switches:
        """An independent copy of the values (without the queued faults)."""
        return Switches(**{f.name: getattr(self, f.name) for f in fields(self)})

    def reset_to(self, other: Switches) -> None:
        """Take every value of ``other``, forget queued faults and reseed the RNG (in place)."""
        with self._lock:
            for f in fields(self):
                object.__setattr__(self, f.name, getattr(other, f.name))
            self._faults.clear()
            self._rng.seed(self.seed)


_FIELD_NAMES = frozenset(f.name for f in fields(Switches))


def switch_docs() -> list[dict[str, Any]]:
    """Name, default, help, choices and the [UNK] covered, for every switch (used by the CLI and the docs)."""
    return [
        {
            "name": f.name,
            "default": _jsonable(f.default),
            "help": f.metadata["help"],
            "unk": f.metadata["unk"],
            "choices": f.metadata["choices"],
        }
        for f in fields(Switches)
    ]


# -- validation ----------------------------------------------------------------------------------


def _validate(name: str, value: Any) -> Any:
    validator = _VALIDATORS.get(name)
    return validator(name, value) if validator else value


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return n


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _non_negative(name: str, value: Any) -> float:
    number = _number(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def _rate(name: str, value: Any) -> float:
    number = _number(name, value)
    if not 0 <= number <= 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return number


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _choice(name: str, value: Any) -> Any:
    choices = _CHOICES[name]
    if isinstance(choices[0], str):
        value = str(value)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def _positive_int_or_none(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return value


def _positive_or_none(name: str, value: Any) -> float | None:
    if value is None:
        return None
    number = _number(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0 or None, got {value!r}")
    return number


def _fault_status(status: Any, name: str = "status") -> int:
    if isinstance(status, bool) or not isinstance(status, int) or not (status == 429 or 500 <= status <= 599):
        raise ValueError(f"{name} (a fault status) must be 429 or 5xx, got {status!r}")
    return status


def _names(name: str, value: Any, allowed: tuple[str, ...] = ()) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    try:
        items = tuple(dict.fromkeys(str(v).strip().lower() for v in value))
    except TypeError:
        raise ValueError(f"{name} must be a list of names, got {value!r}") from None
    unknown = [item for item in items if allowed and item not in allowed]
    if unknown:
        raise ValueError(f"{name}: unknown value(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return items


def _non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return value


def _status_or_none(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 200 <= value <= 599:
        raise ValueError(f"{name} must be an HTTP status (200-599) or None, got {value!r}")
    return value


def _seed(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


_CHOICES: dict[str, tuple[Any, ...]] = {
    f.name: f.metadata["choices"]
    for f in fields(Switches)
    if f.metadata["choices"] and f.name != "order_get_paths"
}

_VALIDATORS: dict[str, Any] = {
    "max_batch_size": _positive_int_or_none,
    "batch_limit_status": _choice,
    "item_error_style": _choice,
    "item_error_shape": _choice,
    "not_found_style": _choice,
    "order_get_paths": lambda n, v: _names(n, v, ORDER_GET_PATHS),
    "accept_cancelled": _flag,
    "order_total_required": _flag,
    "strict_match_by": _flag,
    "missing_order_status": _choice,
    "delete_status": _choice,
    "event_unknown_customer": _choice,
    "forbidden_resources": _names,
    "latency_ms": _non_negative,
    "error_rate": _rate,
    "error_status": lambda n, v: _fault_status(v, n),
    "seed": _seed,
    "rate_limit_per_second": _positive_or_none,
    "drop_before_apply_rate": _rate,
    "drop_after_apply_rate": _rate,
    "hang": _flag,
    "empty_200": _flag,
    "truncated_body": _flag,
    "visibility_delay_s": _non_negative,
    "hidden_reads": _non_negative_int,
    "trickle_body_s": _non_negative,
    "trickle_headers": _flag,
    "bloated_body_mb": _non_negative,
    "endless_body": _flag,
    "gzip_bomb_mb": _non_negative,
    "nested_json_depth": _non_negative_int,
    "echo_api_key": _flag,
    "hostile_status": _status_or_none,
}
