"""Order payloads for ``POST /orders`` and the status change of ``PUT /orders/status``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StringConstraints, ValidationError, ValidationInfo

from airflow_provider_expertsender.models import _fast, _values
from airflow_provider_expertsender.models._base import (
    PayloadModel,
    add_problem,
    invalid,
    problems_from,
    record_identifier,
)
from airflow_provider_expertsender.models._enums import ORDER_STATUS_TABLE, ORDER_STATUSES, enum_validator
from airflow_provider_expertsender.models._fields import (
    AttributeListInput,
    CrmId,
    Currency,
    DateTimeString,
    Email,
    Int32,
    NonNegative,
    OrderAttribute,
    Phone,
    ProductAttribute,
    UniqueNames,
)
from airflow_provider_expertsender.models._values import check_identifier, int_to_str

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_expertsender.models.settings import SettingsCatalog

OrderId = Annotated[
    str,
    BeforeValidator(int_to_str),
    StringConstraints(min_length=1, max_length=128),
    AfterValidator(check_identifier),
]
OrderStatus = Annotated[str, BeforeValidator(enum_validator(ORDER_STATUS_TABLE, ORDER_STATUSES))]


class OrderCustomer(PayloadModel):
    """The order's ``customer``: at least one of ``email``, ``phone``, ``crmId``."""

    email: Email | None = None
    phone: Phone | None = None
    crm_id: CrmId | None = None

    @classmethod
    def _prepare(cls, data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if data.get("email") is None and data.get("phone") is None and data.get("crmId") is None:
            add_problem(data, "", "needs at least one identifier: email, phone or crmId")
        return data


class Product(PayloadModel):
    """One product line. Only ``id`` is required (the API's product table is not published)."""

    id: Annotated[str, BeforeValidator(int_to_str), StringConstraints(min_length=1)]
    name: str | None = None
    price: NonNegative | None = None
    quantity: NonNegative | None = None
    returned: NonNegative | None = None
    url: str | None = None
    image_url: str | None = None
    category: str | None = None
    product_attributes: Annotated[list[ProductAttribute], AttributeListInput, UniqueNames] | None = None


class Order(PayloadModel):
    """One item of ``POST /orders`` ``data``. Validation context: ``settings`` (or ``None``)."""

    id: OrderId
    date: DateTimeString
    time_zone: Annotated[str, StringConstraints(max_length=100)] | None = None
    website_id: Int32 | None = None
    status: OrderStatus | None = None
    currency: Currency | None = None
    total_value: NonNegative | None = None
    returns_value: NonNegative | None = None
    customer: OrderCustomer
    products: list[Product]
    order_attributes: Annotated[list[OrderAttribute], AttributeListInput, UniqueNames] | None = None


class StatusChange(PayloadModel):
    """Body of ``PUT /orders/status``."""

    order_id: OrderId
    order_status: OrderStatus
    website_id: Int32 | None = None


# ----------------------------------------------------------------------------------------------- fast path
# The models above, rule for rule, for plain dicts (see models/_fast.py): gives up on anything else.

_ORDER_STATUS = enum_validator(ORDER_STATUS_TABLE, ORDER_STATUSES)
_INT32 = _values.int32(-(2**31))


def _order_id(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.identifier(value, 1, 128)


def _product_id(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.identifier(value, 1, sys.maxsize)


def _date(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.call(_values.datetime_string, value)


def _time_zone(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.text(value, 0, 100)


def _website_id(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.call(_INT32, value)


def _status(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.call(_ORDER_STATUS, value)


def _currency(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.call(_values.currency, _fast.text(value, 3, 3))


def _customer(value: Any, settings: SettingsCatalog | None) -> Any:
    fields = _fast.resolve(value, OrderCustomer._exact)
    if not fields:  # it needs an identifier: the model says so
        raise _fast.GiveUp
    return _fast.build(fields, _CUSTOMER_FIELDS, settings)


def _products(value: Any, settings: SettingsCatalog | None) -> Any:
    if type(value) is not list:
        raise _fast.GiveUp
    products = []
    for raw in value:
        fields = _fast.resolve(raw, Product._exact)
        if "id" not in fields:
            raise _fast.GiveUp
        products.append(_fast.build(fields, _PRODUCT_FIELDS, settings))
    return products


def _product_attributes(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.attributes(value, ProductAttribute._exact, ProductAttribute._kind, settings)


def _order_attributes(value: Any, settings: SettingsCatalog | None) -> Any:
    return _fast.attributes(value, OrderAttribute._exact, OrderAttribute._kind, settings)


# In each model's field order, which is the order of the API JSON.
_CUSTOMER_FIELDS = (("email", _fast.email), ("phone", _fast.phone), ("crmId", _fast.crm_id))
_PRODUCT_FIELDS = (
    ("id", _product_id),
    ("name", _fast.optional_text),
    ("price", _fast.non_negative),
    ("quantity", _fast.non_negative),
    ("returned", _fast.non_negative),
    ("url", _fast.optional_text),
    ("imageUrl", _fast.optional_text),
    ("category", _fast.optional_text),
    ("productAttributes", _product_attributes),
)
_ORDER_FIELDS = (
    ("id", _order_id),
    ("date", _date),
    ("timeZone", _time_zone),
    ("websiteId", _website_id),
    ("status", _status),
    ("currency", _currency),
    ("totalValue", _fast.non_negative),
    ("returnsValue", _fast.non_negative),
    ("customer", _customer),
    ("products", _products),
    ("orderAttributes", _order_attributes),
)
_REQUIRED = ("id", "date", "customer", "products")


def _fast_order(record: Any, settings: SettingsCatalog | None) -> dict[str, Any] | None:
    """What ``Order.model_validate(record, ...).to_api()`` returns, or ``None``: use the model."""
    try:
        fields = _fast.resolve(record, Order._exact)
        if any(name not in fields for name in _REQUIRED):
            return None
        return _fast.build(fields, _ORDER_FIELDS, settings)
    except _fast.GiveUp:
        return None


def order_payload(
    record: Mapping[str, Any],
    *,
    index: int = 0,
    settings: SettingsCatalog | None = None,
) -> dict[str, Any]:
    """Validate one order record and return its API JSON (camelCase keys, ``None`` omitted).

    :param record: the order; keys in camelCase (``totalValue``) or snake_case (``total_value``).
    :param index: the record's position in the input, for the error message.
    :param settings: the business unit's settings lists, to check order and product attributes.
    :raises ExpertSenderInvalidRecordError: listing every broken rule of the record.
    """
    payload = _fast_order(record, settings)
    if payload is not None:
        return payload
    try:
        model = Order.model_validate(record, context={"settings": settings})
    except ValidationError as err:
        raise invalid(index, record_identifier("order", record), problems_from(err)) from None
    return model.to_api()


def status_change_payload(
    order_id: Any, status: Any, website_id: Any = None, *, validate: bool = True
) -> dict[str, Any]:
    """The body of ``PUT /orders/status``: ``{"orderId", "orderStatus", "websiteId"?}`` (the one builder of
    that body: the operator and the hook both call it).

    :param order_id: the order id (1-128 characters; an int is accepted).
    :param status: ``placed``, ``paid``, ``completed`` or ``canceled`` in any case (``Cancelled`` accepted).
    :param website_id: optional int32 website id.
    :param validate: ``False`` assembles the body from the values exactly as given (already API-shaped).
    :raises ExpertSenderInvalidRecordError: naming each invalid argument by its API field.
    """
    data = {"orderId": order_id, "orderStatus": status, "websiteId": website_id}
    if not validate:
        return {key: value for key, value in data.items() if value is not None}
    try:
        model = StatusChange.model_validate(data)
    except ValidationError as err:
        raise invalid(0, record_identifier("order", {"id": order_id}), problems_from(err)) from None
    return model.to_api()
