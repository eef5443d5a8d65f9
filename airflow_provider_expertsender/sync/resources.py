"""What the write engine knows about each API write method: one :class:`Resource` descriptor each.

The engine (``sync/engine.py``) reads, validates, batches, sends and counts; everything that differs between
customers, orders, custom events, status changes and deletes is here: the endpoint, whether records travel in
batches or one per request, whether a request may be repeated, how a row becomes the API's payload, which
hook method sends it, what identifies a record in messages and keeps two writes of one record in order, and
the mapping rules for flat rows. Adding an API method is one more entry in :data:`RESOURCES` (see
``docs/dev/architecture.md``, "How to add an API method").

Cheap to import: models (pydantic) are imported by the functions, on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.endpoints import (
    CUSTOM_EVENT_IDENTIFIERS,
    Api,
    Endpoint,
    is_idempotent_mode,
)
from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderInvalidRecordError,
    ExpertSenderNotFoundError,
    FieldProblem,
    InvalidRecord,
)

if TYPE_CHECKING:
    from airflow_provider_expertsender.models import SettingsCatalog

#: What a per-record send returns when the record's target was already gone (a delete of a deleted order).
GONE = "gone"


@dataclass(frozen=True)
class WriteContext:
    """The per-run values a descriptor's functions need (checked once, by :meth:`Resource.context`).

    :param mode: the write mode in the API's spelling, or None for resources without modes.
    :param match_by: customers: the ``matchBy`` in the API's spelling.
    :param custom_event_id: events: the id used for rows that do not carry their own.
    :param settings: the business unit's settings lists, when validating against them.
    :param retry_unsafe: repeat requests that may already have been applied.
    """

    mode: str | None = None
    match_by: str | None = None
    custom_event_id: Any = None
    settings: SettingsCatalog | None = None
    retry_unsafe: bool = False


Payload = Callable[[Mapping[str, Any], int], dict[str, Any]]


@dataclass(frozen=True)
class Resource:
    """One API write method as the engine sees it.

    :param name: the name in summaries and logs (``"customers"``).
    :param noun: one record, for messages (``"customer"``); also the ``kind`` of ``models.record_identifier``.
    :param endpoint: the API method (``endpoints.Api``).
    :param batched: records travel ``batch_size`` per request (else one request per record).
    :param rows: the mapping rules of flat rows (``sync.mapping.ROW_RULES`` key).
    :param modes: normalizes the ``mode`` argument to the API's spelling (raises on an unknown one); None
        for resources without modes.
    :param payload: ``(context) -> (record, position) -> payload``; raises
        ``ExpertSenderInvalidRecordError`` for an invalid record.
    :param send: ``(hook, payloads or payload, context) -> result``: a ``WriteResult`` for batched
        resources; for the others anything, or :data:`GONE`.
    :param key: ``(context) -> (payload -> key)``: two records with the same key are never in flight
        together (input order is kept); None when order does not matter.
    :param idempotent: ``(context) -> bool``: whether repeating a request cannot apply it twice.
    :param describe: ``(payload) -> identifier text`` for messages and dead letters.
    :param counts: summary counts always reported: the records whose target was already gone (:data:`GONE`).
    :param takes_match_by: the resource takes ``match_by`` (customers).
    :param scalar_field: a record that is a plain value (not a dict) becomes ``{scalar_field: value}``.
    :param settings: ``(hook) -> SettingsCatalog`` for ``validate_against_settings``; None: not supported.
    :param summary_keys: ``(context) -> dict`` of resource-specific summary entries (``match_by``...).
    """

    name: str
    noun: str
    endpoint: Endpoint
    batched: bool
    rows: str
    modes: Callable[[Any], str] | None
    payload: Callable[[WriteContext], Payload]
    send: Callable[[Any, Any, WriteContext], Any]
    key: Callable[[WriteContext], Callable[[Mapping[str, Any]], Any]] | None
    idempotent: Callable[[WriteContext], bool]
    describe: Callable[[Mapping[str, Any]], str | None]
    scalar_field: str | None = None
    takes_match_by: bool = False
    counts: tuple[str, ...] = ()
    settings: Callable[[Any], SettingsCatalog] | None = None
    summary_keys: Callable[[WriteContext], dict[str, Any]] | None = None

    def context(
        self,
        *,
        mode: Any = None,
        match_by: Any = None,
        custom_event_id: Any = None,
        settings: SettingsCatalog | None = None,
        retry_unsafe: bool = False,
    ) -> WriteContext:
        """Check the per-run arguments once and return them in the API's spelling."""
        from airflow_provider_expertsender import models

        if self.modes is not None:
            mode = self.modes(mode)
        elif mode is not None:
            raise ExpertSenderConfigError(f"Writing {self.name} takes no mode, got {mode!r}.")
        if self.takes_match_by:
            match_by = models.normalize_match_by(match_by or "Email")
        elif match_by is not None:
            raise ExpertSenderConfigError(f"match_by applies to customers only, not to {self.name}.")
        return WriteContext(mode, match_by, custom_event_id, settings, retry_unsafe)

    def may_repeat(self, context: WriteContext) -> bool:
        """Whether a request that may have reached the server can be sent again (idempotent, or opted in)."""
        return context.retry_unsafe or self.idempotent(context)


# ---------------------------------------------------------------------------------------------- helpers


def _mode_is_idempotent(context: WriteContext) -> bool:
    return context.mode is not None and is_idempotent_mode(context.mode)


def _always(context: WriteContext) -> bool:
    return True


def _never(context: WriteContext) -> bool:
    return False


def _fold(key: object) -> str:
    return str(key).replace("_", "").lower()


def _reindexed(err: ExpertSenderInvalidRecordError, position: int, identifier: str | None) -> Exception:
    record = err.record
    return ExpertSenderInvalidRecordError(
        InvalidRecord(position, record.identifier or identifier, record.problems)
    )


def _invalid(position: int, identifier: str | None, field: str, rule: str) -> ExpertSenderInvalidRecordError:
    return ExpertSenderInvalidRecordError(InvalidRecord(position, identifier, (FieldProblem(field, rule),)))


def _text(value: Any) -> str | None:
    from airflow_provider_expertsender.models import record_identifier

    return record_identifier("order", {"id": value})


# -------------------------------------------------------------------------------------------- customers


def _customer_payload(context: WriteContext) -> Payload:
    from airflow_provider_expertsender.models import customer_payload

    match_by, settings = context.match_by or "Email", context.settings

    def payload(record: Mapping[str, Any], index: int) -> dict[str, Any]:
        return customer_payload(record, match_by=match_by, index=index, settings=settings)

    return payload


def _customer_key(context: WriteContext) -> Callable[[Mapping[str, Any]], Any]:
    from airflow_provider_expertsender.models import MATCH_BY_FIELD

    field = MATCH_BY_FIELD[context.match_by or "Email"]

    def key(payload: Mapping[str, Any]) -> Any:
        value = payload.get(field)
        return value.lower() if isinstance(value, str) else value

    return key


def _customer_settings(hook: Any) -> SettingsCatalog:
    from airflow_provider_expertsender.models import SettingsCatalog

    return SettingsCatalog.from_lists(
        customer_attributes=hook.list_customer_attributes(), consents=hook.list_consents()
    )


def _describe_customer(payload: Mapping[str, Any]) -> str | None:
    from airflow_provider_expertsender.models import record_identifier

    return record_identifier("customer", payload)


# ---------------------------------------------------------------------------------------------- orders


def _order_payload(context: WriteContext) -> Payload:
    from airflow_provider_expertsender.models import order_payload

    settings = context.settings

    def payload(record: Mapping[str, Any], index: int) -> dict[str, Any]:
        return order_payload(record, index=index, settings=settings)

    return payload


def _order_settings(hook: Any) -> SettingsCatalog:
    from airflow_provider_expertsender.models import SettingsCatalog

    return SettingsCatalog.from_lists(
        order_attributes=hook.list_order_attributes(), product_attributes=hook.list_product_attributes()
    )


def _describe_order(payload: Mapping[str, Any]) -> str | None:
    return _text(payload.get("id", payload.get("orderId")))


# ------------------------------------------------------------------------------------- custom events

# Folded spellings (snake_case, the API's camelCase, the hook's keyword) -> the hook's keyword.
_EVENT_IDENTIFIERS: dict[str, str] = {}
for _keyword, _member in CUSTOM_EVENT_IDENTIFIERS.items():
    _EVENT_IDENTIFIERS[_fold(_keyword)] = _keyword
    _EVENT_IDENTIFIERS[_fold(_member)] = _keyword
_EVENT_IDENTIFIERS[_fold("crmId")] = "crm_id"
_EVENT_IDS = frozenset({"customeventid"})
_DATA_FIELDS = frozenset({"datafields"})
_DATA_PREFIX = "data_"


def _event_payload(context: WriteContext) -> Payload:
    from airflow_provider_expertsender.models import custom_event_payload

    default_event_id = context.custom_event_id
    names = ", ".join(CUSTOM_EVENT_IDENTIFIERS)

    def payload(record: Mapping[str, Any], index: int) -> dict[str, Any]:
        identifiers: dict[str, Any] = {}
        event_id = default_event_id
        fields: Any = None
        extra: dict[str, Any] = {}
        for key, value in record.items():
            folded = _fold(key)
            if folded in _EVENT_IDENTIFIERS:
                if value is not None and value != "":
                    kind = _EVENT_IDENTIFIERS[folded]
                    if identifiers.get(kind, value) != value:
                        raise _invalid(index, None, str(key), f"{kind} given twice with different values")
                    identifiers[kind] = value
            elif folded in _EVENT_IDS:
                if value is not None and value != "":
                    event_id = value
            elif folded in _DATA_FIELDS:
                fields = value
            elif (
                isinstance(key, str) and key.lower().startswith(_DATA_PREFIX) and len(key) > len(_DATA_PREFIX)
            ) and value is not None:
                extra[key[len(_DATA_PREFIX) :]] = value
        if len(identifiers) != 1:
            got = ", ".join(identifiers) or "none"
            raise _invalid(index, None, "(customer)", f"needs exactly one identifier of {names}; got {got}")
        ((kind, value),) = identifiers.items()
        who = _text(value)
        if event_id is None or event_id == "":
            raise _invalid(index, who, "customEventId", "required (operator argument or a column)")
        if extra:
            if isinstance(fields, Mapping):
                twice = sorted(set(fields) & set(extra))
                if twice:
                    raise _invalid(
                        index,
                        who,
                        "dataFields",
                        f"{', '.join(twice)} given in dataFields and as data_* columns",
                    )
                fields = {**fields, **extra}
            elif fields:
                raise _invalid(
                    index, who, "dataFields", "give data fields as a list or as data_* columns, not both"
                )
            else:
                fields = extra
        try:
            return custom_event_payload(event_id, **{kind: value}, data_fields=fields)
        except ExpertSenderInvalidRecordError as err:
            raise _reindexed(err, index, who) from None

    return payload


def _send_event(hook: Any, payload: Mapping[str, Any], context: WriteContext) -> Any:
    identifiers = {
        kw: payload[member] for kw, member in CUSTOM_EVENT_IDENTIFIERS.items() if member in payload
    }
    return hook.send_custom_event(
        payload["customEventId"],
        **identifiers,
        data_fields=payload.get("dataFields"),
        retry_unsafe=context.retry_unsafe,
        validate=False,  # the payload function validated it
    )


def _describe_event(payload: Mapping[str, Any]) -> str | None:
    for member in CUSTOM_EVENT_IDENTIFIERS.values():
        if member in payload:
            return _text(payload[member])
    return None


# --------------------------------------------------------------------------------- order status changes

_ORDER_ID = frozenset({"orderid", "id"})
_STATUS = frozenset({"status", "orderstatus"})
_WEBSITE = frozenset({"websiteid"})


def _pick(record: Mapping[str, Any], names: frozenset[str], index: int) -> Any:
    """The value of the column spelt as one of ``names`` (folded); two such columns with different values
    make the record invalid rather than one of them silently winning."""
    found: Any = None
    first: Any = None
    for key, value in record.items():
        if _fold(key) in names and value is not None:
            if first is not None and value != found:
                raise _invalid(
                    index, None, str(key), f"given twice (as {first!r} and {key!r}); keep one column"
                )
            if first is None:
                found, first = value, key
    return found


def _status_payload(context: WriteContext) -> Payload:
    from airflow_provider_expertsender.models import status_change_payload

    def payload(record: Mapping[str, Any], index: int) -> dict[str, Any]:
        order_id = _pick(record, _ORDER_ID, index)
        try:
            status = _pick(record, _STATUS, index)
            return status_change_payload(order_id, status, _pick(record, _WEBSITE, index))
        except ExpertSenderInvalidRecordError as err:
            raise _reindexed(err, index, _text(order_id)) from None

    return payload


def _send_status(hook: Any, payload: Mapping[str, Any], context: WriteContext) -> Any:
    return hook.update_order_status(
        payload["orderId"], payload["orderStatus"], payload.get("websiteId"), validate=False
    )


def _order_key(payload: Mapping[str, Any]) -> Any:
    return (payload.get("websiteId"), payload.get("id", payload.get("orderId")))


def _order_keys(context: WriteContext) -> Callable[[Mapping[str, Any]], Any]:
    return _order_key


# ------------------------------------------------------------------------------------------ order deletes


def _delete_payload(context: WriteContext) -> Payload:
    from airflow_provider_expertsender.models import status_change_payload

    def payload(record: Mapping[str, Any], index: int) -> dict[str, Any]:
        order_id = _pick(record, _ORDER_ID, index)
        try:
            # The order id's rule (1-128 characters, an int accepted) is the status change model's.
            checked = status_change_payload(order_id, "placed")
        except ExpertSenderInvalidRecordError as err:
            raise _reindexed(err, index, _text(order_id)) from None
        return {"orderId": checked["orderId"]}

    return payload


def _send_delete(hook: Any, payload: Mapping[str, Any], context: WriteContext) -> Any:
    try:
        return hook.delete_order(payload["orderId"])
    except ExpertSenderNotFoundError:
        return GONE


# ------------------------------------------------------------------------------------------------ table


def _normalize(name: str) -> Callable[[Any], str]:
    def normalize(mode: Any) -> str:
        from airflow_provider_expertsender import models

        return getattr(models, name)(mode)  # type: ignore[no-any-return]

    return normalize


#: Every write method, by name. The order is the one of the docs.
RESOURCES: dict[str, Resource] = {
    resource.name: resource
    for resource in (
        Resource(
            name="customers",
            noun="customer",
            endpoint=Api.UPSERT_CUSTOMERS,
            batched=True,
            rows="customers",
            modes=_normalize("normalize_customer_mode"),
            payload=_customer_payload,
            send=lambda hook, payloads, c: hook.upsert_customers(
                payloads, mode=c.mode, match_by=c.match_by, retry_unsafe=c.retry_unsafe, validate=False
            ),
            key=_customer_key,
            idempotent=_mode_is_idempotent,
            describe=_describe_customer,
            takes_match_by=True,
            settings=_customer_settings,
            summary_keys=lambda c: {"match_by": c.match_by},
        ),
        Resource(
            name="orders",
            noun="order",
            endpoint=Api.REGISTER_ORDERS,
            batched=True,
            rows="orders",
            modes=_normalize("normalize_order_mode"),
            payload=_order_payload,
            send=lambda hook, payloads, c: hook.register_orders(
                payloads, mode=c.mode, retry_unsafe=c.retry_unsafe, validate=False
            ),
            key=_order_keys,
            idempotent=_mode_is_idempotent,
            describe=_describe_order,
            settings=_order_settings,
        ),
        Resource(
            name="custom_events",
            noun="event",
            endpoint=Api.SEND_CUSTOM_EVENT,
            batched=False,
            rows="plain",
            modes=None,
            payload=_event_payload,
            send=_send_event,
            key=None,
            idempotent=_never,
            describe=_describe_event,
        ),
        Resource(
            name="order_statuses",
            noun="status change",
            endpoint=Api.UPDATE_ORDER_STATUS,
            batched=False,
            rows="plain",
            modes=None,
            payload=_status_payload,
            send=_send_status,
            key=_order_keys,
            idempotent=_always,
            describe=_describe_order,
        ),
        Resource(
            name="order_deletes",
            noun="order",
            endpoint=Api.DELETE_ORDER,
            batched=False,
            rows="plain",
            modes=None,
            payload=_delete_payload,
            send=_send_delete,
            key=_order_keys,
            idempotent=_always,
            describe=_describe_order,
            scalar_field="order_id",
            counts=("already_gone",),
        ),
    )
}


def resource_named(name: str) -> Resource:
    """The descriptor called ``name``.

    :raises ExpertSenderConfigError: no such resource (the message lists them).
    """
    try:
        return RESOURCES[name]
    except KeyError:
        raise ExpertSenderConfigError(
            f"resource must be one of {', '.join(RESOURCES)}, got {name!r}."
        ) from None
