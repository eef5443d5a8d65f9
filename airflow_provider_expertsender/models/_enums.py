"""The API's enumerations: accepted spellings in, documented spelling out.

Input matching ignores case, ``_``, ``-`` and spaces (``add_or_update``, ``ADDORUPDATE`` and ``AddOrUpdate``
are the same mode), plus the few aliases listed in each table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_expertsender.endpoints import CUSTOMER_MODES, MATCH_BY, ORDER_MODES
from airflow_provider_expertsender.exceptions import ExpertSenderConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

_FOLD = str.maketrans("", "", "_- ")


def fold(text: str) -> str:
    """The matching key of a spelling: lower-case without ``_``, ``-`` and spaces."""
    return text.translate(_FOLD).lower()


def _table(values: Iterable[str], aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    table = {fold(value): value for value in values}
    for alias, value in (aliases or {}).items():
        table[fold(alias)] = value
    return table


GENDERS = ("Male", "Female", "NotSpecified")
CONSENT_VALUES = ("True", "False", "AwaitingConfirmation")
ORDER_STATUSES = ("placed", "paid", "completed", "canceled")
DATA_FIELD_TYPES = ("String", "Text", "Number", "Money", "Date", "DateTime", "Boolean", "URL")
ATTRIBUTE_TYPES = ("String", "Text", "Number", "Money", "Date", "DateTime", "SingleSelect", "Boolean", "Url")

CUSTOMER_MODE_TABLE = _table(CUSTOMER_MODES)
ORDER_MODE_TABLE = _table(ORDER_MODES)
# "phone" is the customer field that PhoneNumber matches on.
MATCH_BY_TABLE = _table(MATCH_BY, {"phone": "PhoneNumber"})
GENDER_TABLE = _table(GENDERS)
CONSENT_VALUE_TABLE = _table(CONSENT_VALUES)
# British "Cancelled" (used by the official WooCommerce plugin) is sent as the documented "canceled".
ORDER_STATUS_TABLE = _table(ORDER_STATUSES, {"cancelled": "canceled"})
DATA_FIELD_TYPE_TABLE = _table(DATA_FIELD_TYPES)
# One documentation page misspells SingleSelect as "SingleSelct".
ATTRIBUTE_TYPE_TABLE = _table(ATTRIBUTE_TYPES, {"SingleSelct": "SingleSelect"})

#: The customer field each ``matchBy`` needs (public as ``models.MATCH_BY_FIELD``: the validation of customers
#: and the bulk engine's per-customer ordering both read it; nothing else may spell this table).
#: [UNK] GUID: no page or integration shows which field carries it. The provider sends it as "guid" (a field
#: the API does not list: an ASP.NET API ignores unknown members), the field the emulator reads for
#: matchBy=GUID. Change it here if the real name turns out to differ.
MATCH_BY_FIELD: dict[str, str] = {
    "Email": "email",
    "PhoneNumber": "phone",
    "CrmId": "crmId",
    "VisitorId": "visitorId",
    "GUID": "guid",
}


def one_of(values: Iterable[str]) -> str:
    return "one of " + ", ".join(values)


def lookup(table: Mapping[str, str], value: object) -> str | None:
    """The documented spelling of ``value`` in ``table``, or ``None``."""
    if isinstance(value, str):
        return table.get(fold(value))
    return None


def _normalize(table: Mapping[str, str], values: Iterable[str], value: object, what: str) -> str:
    found = lookup(table, value)
    if found is None:
        raise ExpertSenderConfigError(
            f"Unknown {what} {value!r}: use {one_of(values)} (case does not matter)."
        )
    return found


def normalize_customer_mode(mode: object) -> str:
    """``POST /customers`` mode in the documented spelling (``Add``, ``Update``, ``AddOrUpdate``).

    :raises ExpertSenderConfigError: for any other value.
    """
    return _normalize(CUSTOMER_MODE_TABLE, CUSTOMER_MODES, mode, "customer mode")


def normalize_order_mode(mode: object) -> str:
    """``POST /orders`` mode in the documented spelling (``Add``, ``AddOrReplace``, ``Replace``).

    :raises ExpertSenderConfigError: for any other value.
    """
    return _normalize(ORDER_MODE_TABLE, ORDER_MODES, mode, "order mode")


def normalize_match_by(match_by: object) -> str:
    """``matchBy`` in the documented spelling.

    One of ``Email``, ``PhoneNumber``, ``CrmId``, ``GUID``, ``VisitorId``; ``phone`` is accepted for
    ``PhoneNumber``.

    :raises ExpertSenderConfigError: for any other value.
    """
    return _normalize(MATCH_BY_TABLE, MATCH_BY, match_by, "match_by")


def normalize_order_status(status: object) -> str:
    """Order status in the documented lower-case spelling (``placed``, ``paid``, ``completed``, ``canceled``).

    ``Cancelled`` (British spelling) is accepted and sent as ``canceled``.

    :raises ExpertSenderConfigError: for any other value.
    """
    return _normalize(ORDER_STATUS_TABLE, ORDER_STATUSES, status, "order status")


def enum_validator(table: Mapping[str, str], values: Iterable[str]) -> Callable[[object], object]:
    """A pydantic before-validator mapping any accepted spelling to the documented one."""
    rule = one_of(values)

    def check(value: object) -> object:
        if value is None:
            return None
        found = lookup(table, value)
        if found is None:
            raise ValueError(rule)
        return found

    return check


def consent_value(value: object) -> object:
    """A consent value: ``True``/``False``/``AwaitingConfirmation`` in any case, or a Python bool."""
    if isinstance(value, bool):
        return "True" if value else "False"
    found = lookup(CONSENT_VALUE_TABLE, value)
    if found is None:
        raise ValueError(f"{one_of(CONSENT_VALUES)} (or a Python bool)")
    return found
