"""Settings every business unit of the emulator starts with: attributes, consents, default identification.

The four lists are served by ``GET /customerattributes``, ``/customerconsents``, ``/orderattributes`` and
``/productattributes`` and are also what the validation checks ``customAttributes``, ``consentsData``,
``orderAttributes`` and ``productAttributes`` against. Replace them with ``--seed-file`` (JSON, see
:meth:`Seeds.from_mapping`) or ``Emulator(seeds=...)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

ATTRIBUTE_TYPES = ("String", "Text", "Number", "Money", "Date", "DateTime", "SingleSelect", "Boolean", "Url")
CONSENT_TYPES = ("General", "Email", "Sms")
MATCH_BY = ("Email", "PhoneNumber", "CrmId", "GUID", "VisitorId")

# Seed-file keys (compared case- and underscore-insensitively) -> Seeds attribute.
_LIST_KEYS = {
    "customerattributes": "customer_attributes",
    "customerconsents": "consents",
    "consents": "consents",
    "orderattributes": "order_attributes",
    "productattributes": "product_attributes",
}


@dataclass(frozen=True)
class SettingItem:
    """One attribute or consent list.

    :param options: the allowed values of a ``SingleSelect`` attribute. The real API never returns them (the
        emulator does not either); the emulator uses them to validate values.
    """

    id: int
    name: str
    type: str
    options: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        """The item as the API lists it."""
        return {"id": self.id, "name": self.name, "type": self.type}


def _items(*rows: tuple[Any, ...]) -> tuple[SettingItem, ...]:
    return tuple(SettingItem(*row) for row in rows)


@dataclass(frozen=True)
class Seeds:
    """The settings of a fresh business unit."""

    customer_attributes: tuple[SettingItem, ...] = field(
        default_factory=lambda: _items(
            (1, "loyalty_tier", "SingleSelect", ("bronze", "silver", "gold")),
            (2, "points", "Number"),
            (3, "lifetime_value", "Money"),
            (4, "signup_date", "Date"),
            (5, "last_login", "DateTime"),
            (6, "newsletter_opt_in", "Boolean"),
            (7, "profile_url", "Url"),
            (8, "notes", "Text"),
            (9, "city", "String"),
        )
    )
    consents: tuple[SettingItem, ...] = field(
        default_factory=lambda: _items(
            (1, "Newsletter", "Email"),
            (2, "SMS offers", "Sms"),
            (3, "Partner offers", "General"),
        )
    )
    order_attributes: tuple[SettingItem, ...] = field(
        default_factory=lambda: _items(
            (1, "shipping_method", "SingleSelect", ("courier", "pickup", "post")),
            (2, "coupon_code", "String"),
            (3, "gift_wrap", "Boolean"),
            (4, "delivery_date", "Date"),
        )
    )
    product_attributes: tuple[SettingItem, ...] = field(
        default_factory=lambda: _items(
            (1, "size", "String"),
            (2, "color", "String"),
            (3, "weight_kg", "Number"),
            (4, "material", "Text"),
        )
    )
    default_match_by: str = "Email"

    @classmethod
    def from_file(cls, path: str | Path) -> Seeds:
        """Read a JSON seed file (see :meth:`from_mapping`)."""
        with open(path, encoding="utf-8") as handle:
            try:
                data = json.load(handle)
            except json.JSONDecodeError as err:
                raise ValueError(f"seed file {path}: not valid JSON ({err.msg}, line {err.lineno})") from None
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Any) -> Seeds:
        """Build seeds from JSON-like data; lists not named keep their defaults.

        Keys (case-insensitive, ``_`` ignored): ``customerAttributes``, ``customerConsents`` (or
        ``consents``), ``orderAttributes``, ``productAttributes`` — each a list of ``{"id", "name", "type"}``
        (plus ``options`` for ``SingleSelect``) — and ``defaultMatchBy`` (``Email``, ``PhoneNumber``,
        ``CrmId``, ``GUID``, ``VisitorId``).
        """
        if not isinstance(data, dict):
            raise ValueError("seeds must be a JSON object")
        changes: dict[str, Any] = {}
        for key, value in data.items():
            norm = str(key).replace("_", "").lower()
            if norm == "defaultmatchby":
                changes["default_match_by"] = _canonical(value, MATCH_BY, "defaultMatchBy")
            elif norm in _LIST_KEYS:
                attr = _LIST_KEYS[norm]
                types = CONSENT_TYPES if attr == "consents" else ATTRIBUTE_TYPES
                changes[attr] = _parse_list(value, types, key)
            else:
                raise ValueError(f"seeds: unknown key {key!r}")
        return replace(cls(), **changes)


def _canonical(value: Any, allowed: tuple[str, ...], what: str) -> str:
    for choice in allowed:
        if isinstance(value, str) and value.lower() == choice.lower():
            return choice
    raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


def _parse_list(value: Any, types: tuple[str, ...], key: str) -> tuple[SettingItem, ...]:
    if not isinstance(value, list):
        raise ValueError(f"seeds: {key} must be a list")
    items: list[SettingItem] = []
    for i, row in enumerate(value):
        where = f"seeds: {key}[{i}]"
        if not isinstance(row, dict):
            raise ValueError(f"{where} must be an object")
        lowered = {str(k).lower(): v for k, v in row.items()}
        item_id, name = lowered.get("id"), lowered.get("name")
        if isinstance(item_id, bool) or not isinstance(item_id, int):
            raise ValueError(f"{where}.id must be an integer")
        if not isinstance(name, str) or not 1 <= len(name) <= 256:
            raise ValueError(f"{where}.name must be a string of 1-256 characters")
        kind = _canonical(lowered.get("type"), types, f"{where}.type")
        options = lowered.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise ValueError(f"{where}.options must be a list of strings")
        items.append(SettingItem(item_id, name, kind, tuple(options)))
    ids = [item.id for item in items]
    names = [item.name.lower() for item in items]
    if len(set(ids)) != len(ids) or len(set(names)) != len(names):
        raise ValueError(f"seeds: {key} has duplicate ids or names")
    return tuple(items)
