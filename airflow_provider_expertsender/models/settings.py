"""``SettingsCatalog``: a business unit's attribute and consent lists, for ``validate_against_settings=True``.

Built once per task from the four settings lists (``GET /customerattributes``, ``/customerconsents``,
``/orderattributes``, ``/productattributes``), then passed to every payload function. It rejects unknown
attribute names and consent ids, and attribute values that do not fit the attribute's type, before anything
is sent.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_expertsender.exceptions import ExpertSenderResponseError
from airflow_provider_expertsender.models._enums import ATTRIBUTE_TYPE_TABLE, lookup

ATTRIBUTE_KINDS = ("customer_attributes", "order_attributes", "product_attributes")
_KIND_LABEL = {
    "customer_attributes": "customer attribute",
    "order_attributes": "order attribute",
    "product_attributes": "product attribute",
}
# How many known names an "unknown" message lists.
_SHOWN = 10


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute of the business unit.

    :param name: the name as defined in ExpertSender (sent in this spelling).
    :param type: the documented type (``String``, ``Number``, ... ``Url``) or ``None`` when the API returned a
        type this provider does not know (its values are then not checked).
    :param id: the attribute id.
    """

    name: str
    type: str | None
    id: int | None = None


class _Attributes:
    """Attributes of one kind, looked up by exact name first, then case-insensitively."""

    __slots__ = ("by_folded", "by_name", "label")

    def __init__(self, specs: Iterable[AttributeSpec], label: str) -> None:
        self.label = label
        self.by_name: dict[str, AttributeSpec] = {}
        self.by_folded: dict[str, AttributeSpec] = {}
        for spec in specs:
            self.by_name[spec.name] = spec
            self.by_folded.setdefault(spec.name.casefold(), spec)

    def get(self, name: str) -> AttributeSpec | None:
        return self.by_name.get(name) or self.by_folded.get(name.casefold())

    def unknown_rule(self, name: str) -> str:
        names = list(self.by_name)
        if not names:
            return f"unknown {self.label}: this business unit defines none"
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        if close:
            return f"unknown {self.label}; did you mean {close[0]}?"
        shown = ", ".join(sorted(names)[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")
        return f"unknown {self.label} (this business unit has: {shown})"


class SettingsCatalog:
    """The attribute and consent lists of one business unit.

    A list that was not loaded (``None``) is not checked; an empty list means the business unit defines none,
    so every name (or consent id) of that kind is rejected.

    Attribute names match case-insensitively (an exact match wins) and are sent in the business unit's
    spelling.
    """

    def __init__(
        self,
        *,
        customer_attributes: Iterable[AttributeSpec] | None = None,
        consents: Mapping[int, str] | None = None,
        order_attributes: Iterable[AttributeSpec] | None = None,
        product_attributes: Iterable[AttributeSpec] | None = None,
    ) -> None:
        given = {
            "customer_attributes": customer_attributes,
            "order_attributes": order_attributes,
            "product_attributes": product_attributes,
        }
        self._attributes: dict[str, _Attributes | None] = {
            kind: None if specs is None else _Attributes(specs, _KIND_LABEL[kind])
            for kind, specs in given.items()
        }
        self.consents: dict[int, str] | None = None if consents is None else dict(consents)

    @classmethod
    def from_lists(
        cls,
        customer_attributes: Iterable[Mapping[str, Any]] | None = None,
        consents: Iterable[Mapping[str, Any]] | None = None,
        order_attributes: Iterable[Mapping[str, Any]] | None = None,
        product_attributes: Iterable[Mapping[str, Any]] | None = None,
    ) -> SettingsCatalog:
        """Build the catalog from the lists as the API returns them (``[{"id", "name", "type"}, ...]``).

        :raises ExpertSenderResponseError: when an attribute has no ``name`` or a consent no integer ``id``.
        """
        return cls(
            customer_attributes=None if customer_attributes is None else _specs(customer_attributes),
            consents=None if consents is None else _consents(consents),
            order_attributes=None if order_attributes is None else _specs(order_attributes),
            product_attributes=None if product_attributes is None else _specs(product_attributes),
        )

    def loaded(self, kind: str) -> bool:
        """Whether the list of ``kind`` (an attribute kind or ``"consents"``) is checked."""
        if kind == "consents":
            return self.consents is not None
        return self._attributes[kind] is not None

    def attribute(self, kind: str, name: str) -> AttributeSpec | None:
        """The attribute ``name`` of ``kind``, or ``None`` (also when that list was not loaded)."""
        attributes = self._attributes[kind]
        return None if attributes is None else attributes.get(name)

    def check_attribute_name(self, kind: str, name: str) -> str:
        """The business unit's spelling of ``name``.

        :raises ValueError: with the rule, when the list of ``kind`` is loaded and has no such attribute.
        """
        attributes = self._attributes[kind]
        if attributes is None:
            return name
        spec = attributes.get(name)
        if spec is None:
            raise ValueError(attributes.unknown_rule(name))
        return spec.name

    def check_consent_id(self, consent_id: int) -> None:
        """:raises ValueError: when the consent lists are loaded and ``consent_id`` is not one of them."""
        if self.consents is None or consent_id in self.consents:
            return
        if not self.consents:
            raise ValueError("unknown consent id: this business unit defines no consents")
        known = sorted(self.consents)
        shown = ", ".join(f"{i} ({self.consents[i]})" for i in known[:_SHOWN])
        raise ValueError(
            f"unknown consent id (this business unit has: {shown}{', ...' if len(known) > _SHOWN else ''})"
        )

    def __repr__(self) -> str:
        sizes = {kind: None if a is None else len(a.by_name) for kind, a in self._attributes.items()}
        sizes["consents"] = None if self.consents is None else len(self.consents)
        return f"SettingsCatalog({', '.join(f'{k}={v}' for k, v in sizes.items())})"


def _specs(items: Iterable[Mapping[str, Any]]) -> list[AttributeSpec]:
    specs = []
    for item in items:
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ExpertSenderResponseError(f"A settings list item has no attribute name: {_shape(item)}.")
        item_id = item.get("id")
        specs.append(
            AttributeSpec(
                name=name,
                type=lookup(ATTRIBUTE_TYPE_TABLE, item.get("type")),
                id=item_id if isinstance(item_id, int) and not isinstance(item_id, bool) else None,
            )
        )
    return specs


def _consents(items: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    consents: dict[int, str] = {}
    for item in items:
        consent_id = item.get("id") if isinstance(item, Mapping) else None
        if isinstance(consent_id, str) and consent_id.isdigit():
            consent_id = int(consent_id)
        if not isinstance(consent_id, int) or isinstance(consent_id, bool):
            raise ExpertSenderResponseError(f"A consent list item has no integer id: {_shape(item)}.")
        name = item.get("name")
        consents[consent_id] = name if isinstance(name, str) else str(consent_id)
    return consents


def _shape(item: object) -> str:
    """Describe an unexpected item without echoing its values."""
    if isinstance(item, Mapping):
        return "an object with keys " + ", ".join(sorted(str(k) for k in item)[:10])
    return f"a {type(item).__name__}"
