"""The in-memory data of one business unit (one API key): settings, customers, orders, events, counters.

Every mutation happens under the unit's lock; the request handlers take it once per request, so a batch is
applied atomically. Reads for tests (``customers``, ``orders``, ``events``, ``counters``) return copies of the
latest written state; GETs over HTTP see a write only once its ``visible_at`` time has passed
(``visibility_delay_s``).
"""

from __future__ import annotations

import copy
import hashlib
import math
import threading
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_expertsender.emulator.seeds import Seeds, SettingItem

# Settings list name -> resource path segment.
SETTINGS_RESOURCES = {
    "customer_attributes": "customerattributes",
    "consents": "customerconsents",
    "order_attributes": "orderattributes",
    "product_attributes": "productattributes",
}

# Customer fields that identify a customer (matchBy value -> field).
IDENTIFIER_FIELDS = {
    "Email": "email",
    "PhoneNumber": "phone",
    "CrmId": "crmId",
    "VisitorId": "visitorId",
    "GUID": "guid",
}

CUSTOMER_FIELDS = (
    "id",
    "email",
    "phone",
    "crmId",
    "visitorId",
    "firstName",
    "lastName",
    "dateOfBirth",
    "gender",
)

OrderKey = tuple[int | None, str]


def identity_key(field: str, value: str) -> str:
    """The form in which identifiers are compared: e-mails case-insensitively, the rest exactly."""
    return value.lower() if field == "email" else value


class _Versioned:
    """A record whose most recent writes may not be visible to GETs yet: a write becomes visible once its
    time has come and it has been missed by its number of hidden reads."""

    __slots__ = ("_pending", "_visible", "latest")

    def __init__(self) -> None:
        self.latest: dict[str, Any] | None = None
        self._visible: dict[str, Any] | None = None
        # [visible_at, reads still to miss, value]
        self._pending: deque[list[Any]] = deque()

    def write(self, value: dict[str, Any] | None, visible_at: float, hidden_reads: int = 0) -> None:
        self.latest = value
        self._pending.append([visible_at, hidden_reads, value])

    def read(self, now: float) -> dict[str, Any] | None:
        while self._pending and self._pending[0][0] <= now:
            head = self._pending[0]
            if head[1] > 0:
                head[1] -= 1
                break
            self._visible = self._pending.popleft()[2]
        return self._visible


class BusinessUnit:
    """One ExpertSender business unit: what one API key sees.

    Test helpers: :attr:`customers`, :attr:`orders`, :attr:`events`, :attr:`counters`, :attr:`request_count`,
    :meth:`customer`, :meth:`order`, :meth:`settings`, :meth:`set_settings`.
    """

    def __init__(self, seeds: Seeds) -> None:
        self.lock = threading.RLock()
        self._seeds = seeds
        #: Reads a new write stays invisible to (the ``hidden_reads`` switch, set for each call).
        self.hidden_reads = 0
        self._bucket_tokens = 0.0
        self._bucket_time: float | None = None
        self._init()

    def _init(self) -> None:
        self._settings: dict[str, tuple[SettingItem, ...]] = {
            name: getattr(self._seeds, name) for name in SETTINGS_RESOURCES
        }
        self.default_match_by = self._seeds.default_match_by
        self._customers: dict[int, _Versioned] = {}
        self._index: dict[str, dict[str, int]] = {field: {} for field in IDENTIFIER_FIELDS.values()}
        self._next_customer_id = 1
        self._orders: dict[OrderKey, _Versioned] = {}
        self._orders_by_id: dict[str, list[OrderKey]] = {}
        self._events: list[dict[str, Any]] = []
        self._order_registrations: list[dict[str, Any]] = []
        self._exports: dict[int, tuple[float, dict[str, Any]]] = {}
        self._counters: Counter[str] = Counter()
        self._bucket_tokens = 0.0
        self._bucket_time = None

    def reset(self) -> None:
        """Forget every customer, order and event; restore the seeded settings."""
        with self.lock:
            self._init()

    # -- settings ---------------------------------------------------------------------------------

    def settings(self, name: str) -> tuple[SettingItem, ...]:
        """A settings list by name.

        :param name: ``customer_attributes``, ``consents``, ``order_attributes`` or ``product_attributes``.
        """
        return self._settings[name]

    def set_settings(self, name: str, items: list[SettingItem] | tuple[SettingItem, ...]) -> None:
        """Replace a settings list (until the next reset)."""
        if name not in self._settings:
            raise KeyError(f"unknown settings list {name!r}; known: {', '.join(SETTINGS_RESOURCES)}")
        with self.lock:
            self._settings[name] = tuple(items)

    # -- observability ----------------------------------------------------------------------------

    @property
    def customers(self) -> list[dict[str, Any]]:
        """Every customer (latest state, visible or not), ordered by internal id."""
        with self.lock:
            return [copy.deepcopy(rec.latest) for _, rec in sorted(self._customers.items()) if rec.latest]

    @property
    def orders(self) -> list[dict[str, Any]]:
        """Every order (latest state, deleted ones included), in creation order."""
        with self.lock:
            return [copy.deepcopy(rec.latest) for rec in self._orders.values() if rec.latest]

    @property
    def events(self) -> list[dict[str, Any]]:
        """The scenario custom events received, in arrival order."""
        with self.lock:
            return copy.deepcopy(self._events)

    @property
    def order_registrations(self) -> list[dict[str, Any]]:
        """Bodies of ``PUT /orders`` (register an order the platform does not know yet), in arrival order."""
        with self.lock:
            return copy.deepcopy(self._order_registrations)

    @property
    def exports(self) -> list[dict[str, Any]]:
        """Export requests (``POST /exports/...``) in arrival order, with their ``exportId`` and ``kind``."""
        with self.lock:
            return [copy.deepcopy(request) for _, request in self._exports.values()]

    @property
    def counters(self) -> dict[str, int]:
        """Counts: requests, customers_created/updated, orders_created/replaced/deleted, status_changes,
        events, items_rejected, batches, max_batch_items."""
        with self.lock:
            return dict(self._counters)

    @property
    def request_count(self) -> int:
        """Authenticated requests received by this business unit."""
        return self._counters["requests"]

    def customer(
        self,
        *,
        customer_id: int | None = None,
        email: str | None = None,
        phone: str | None = None,
        crm_id: str | None = None,
    ) -> dict[str, Any] | None:
        """The latest state of one customer, or None."""
        with self.lock:
            if customer_id is not None:
                cid: int | None = customer_id
            else:
                field, value = next(
                    (f, v)
                    for f, v in (("email", email), ("phone", phone), ("crmId", crm_id))
                    if v is not None
                )
                cid = self.find_customer_id(field, value)
            rec = self._customers.get(cid) if cid is not None else None
            return copy.deepcopy(rec.latest) if rec else None

    def order(self, order_id: str, website_id: int | None = None) -> dict[str, Any] | None:
        """The latest state of one order (see :meth:`find_order_key` for ``website_id``), or None."""
        with self.lock:
            key = self.find_order_key(order_id, website_id, website_given=website_id is not None)
            return copy.deepcopy(self._orders[key].latest) if key else None

    # -- used by the request handlers (caller holds the lock) -------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        self._counters[name] += n

    def note_batch(self, items: int) -> None:
        self._counters["batches"] += 1
        if items > self._counters["max_batch_items"]:
            self._counters["max_batch_items"] = items

    def find_customer_id(self, field: str, value: str) -> int | None:
        return self._index[field].get(identity_key(field, value))

    def latest_customer(self, customer_id: int) -> dict[str, Any] | None:
        rec = self._customers.get(customer_id)
        return rec.latest if rec else None

    def visible_customer(self, field: str, value: Any, now: float) -> dict[str, Any] | None:
        cid = value if field == "id" else self.find_customer_id(field, value)
        rec = self._customers.get(cid) if cid is not None else None
        return rec.read(now) if rec else None

    def write_customer(self, customer_id: int | None, data: dict[str, Any], visible_at: float) -> int:
        """Store ``data`` as the customer's full new state; allocate an id for a new customer."""
        if customer_id is None:
            customer_id = self._next_customer_id
            self._next_customer_id += 1
            self._customers[customer_id] = _Versioned()
        old = self._customers[customer_id].latest or {}
        data = {**data, "id": customer_id}
        for field, index in self._index.items():
            if old.get(field) is not None:
                old_key = identity_key(field, old[field])
                if index.get(old_key) == customer_id:
                    del index[old_key]
            if data.get(field) is not None:
                # Last write wins when two customers claim the same identifier.
                index[identity_key(field, data[field])] = customer_id
        self._customers[customer_id].write(data, visible_at, self.hidden_reads)
        return customer_id

    def remove_customer(self, customer_id: int, visible_at: float) -> None:
        """Delete a customer: its identifiers are free again; GETs miss it once the delete is visible."""
        old = self._customers[customer_id].latest or {}
        for field, index in self._index.items():
            if old.get(field) is not None and index.get(identity_key(field, old[field])) == customer_id:
                del index[identity_key(field, old[field])]
        self._customers[customer_id].write(None, visible_at, self.hidden_reads)

    def customer_by_hash(self, algorithm: str, digest: str) -> int | None:
        digest = digest.lower()
        for cid, rec in self._customers.items():
            email = (rec.latest or {}).get("email")
            if email and hashlib.new(algorithm, email.lower().encode()).hexdigest() == digest:
                return cid
        return None

    def find_order_key(
        self, order_id: str, website_id: int | None, *, website_given: bool
    ) -> OrderKey | None:
        """Orders are keyed by (websiteId, id).

        Without a websiteId, the order stored without one wins, else the latest created one with that id.
        """
        if website_given:
            key = (website_id, order_id)
            return key if key in self._orders else None
        keys = self._orders_by_id.get(order_id)
        if not keys:
            return None
        return (None, order_id) if (None, order_id) in keys else keys[-1]

    def has_order(self, key: OrderKey) -> bool:
        return key in self._orders

    def latest_order(self, key: OrderKey) -> dict[str, Any] | None:
        rec = self._orders.get(key)
        return rec.latest if rec else None

    def visible_order(self, key: OrderKey, now: float) -> dict[str, Any] | None:
        rec = self._orders.get(key)
        return rec.read(now) if rec else None

    def write_order(self, key: OrderKey, data: dict[str, Any], visible_at: float) -> None:
        if key not in self._orders:
            self._orders[key] = _Versioned()
            self._orders_by_id.setdefault(key[1], []).append(key)
        self._orders[key].write(data, visible_at, self.hidden_reads)

    def add_event(self, event: dict[str, Any]) -> None:
        self._events.append(event)

    def add_order_registration(self, registration: dict[str, Any]) -> None:
        self._order_registrations.append(registration)

    def add_export(self, request: dict[str, Any], ready_at: float) -> int:
        export_id = len(self._exports) + 1
        self._exports[export_id] = (ready_at, {**request, "exportId": export_id})
        return export_id

    def export(self, export_id: int) -> tuple[float, dict[str, Any]] | None:
        return self._exports.get(export_id)

    def take_token(self, rate: float, now: float) -> float | None:
        """Token bucket (capacity: one second of tokens). None if a token was taken, else seconds to wait."""
        capacity = max(1.0, rate)
        with self.lock:
            if self._bucket_time is None:
                self._bucket_tokens = capacity
            else:
                self._bucket_tokens = min(capacity, self._bucket_tokens + (now - self._bucket_time) * rate)
            self._bucket_time = now
            if self._bucket_tokens >= 1.0:
                self._bucket_tokens -= 1.0
                return None
            return max(0.001, (1.0 - self._bucket_tokens) / rate)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` as HTTP wants it: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
