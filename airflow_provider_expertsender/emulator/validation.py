"""Request-body validation: the documented rules of ecdp-api.md, nothing invented silently.

Input JSON property names and enum strings are matched case-insensitively (ASP.NET Core behaviour,
ecdp-api.md 1.3); unknown properties are ignored; ``null`` means "not given". Each function returns the
normalized value (API spelling, canonical enum strings) and fills an :class:`Errors` map keyed like ASP.NET
model state (``data[3].email``). Messages never repeat a submitted value (it may be personal data), except
enum spellings.

Rules marked [INF] below are inferences (e.g. an e-mail needs an ``@``), kept minimal on purpose.

This module resembles the provider's ``models/`` on purpose and shares no code with it: the emulator is the
independent oracle the provider is tested against, so a misreading of the API in one shows up as a failing
test instead of being copied into both. The spellings of enums below are repeated for the same reason.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from airflow_provider_expertsender.emulator.seeds import SettingItem

CUSTOMER_MODES = ("Add", "Update", "AddOrUpdate")
ORDER_MODES = ("Add", "AddOrReplace", "Replace")
MATCH_BY = ("Email", "PhoneNumber", "CrmId", "GUID", "VisitorId")
GENDERS = ("Male", "Female", "NotSpecified")
CONSENT_VALUES = ("True", "False", "AwaitingConfirmation")
ORDER_STATUSES = ("placed", "paid", "completed", "canceled")
DATA_FIELD_TYPES = ("String", "Text", "Number", "Money", "Date", "DateTime", "Boolean", "URL")
INT32 = (-(2**31), 2**31 - 1)

CUSTOMER_KEYS = (
    "email",
    "phone",
    "crmId",
    "visitorId",
    "guid",
    "firstName",
    "lastName",
    "dateOfBirth",
    "gender",
    "customAttributes",
    "consentsData",
)
ORDER_KEYS = (
    "id",
    "date",
    "timeZone",
    "websiteId",
    "status",
    "currency",
    "totalValue",
    "returnsValue",
    "customer",
    "products",
    "orderAttributes",
)
ORDER_CUSTOMER_KEYS = ("email", "phone", "crmId", "consentsData")
PRODUCT_KEYS = (
    "id",
    "name",
    "price",
    "quantity",
    "returned",
    "url",
    "imageUrl",
    "category",
    "productAttributes",
)
EVENT_IDENTIFIERS = (
    "customerId",
    "customerEmail",
    "customerEmailMd5",
    "customerEmailSha256",
    "customerPhone",
    "customerCrmId",
)
EVENT_KEYS = ("customEventId", *EVENT_IDENTIFIERS, "dataFields")
STATUS_KEYS = ("orderId", "orderStatus", "websiteId")

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class Errors:
    """ASP.NET-style model state: ``{"data[3].email": ["message", ...]}``, in insertion order."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = {}
        self.count = 0

    def add(self, key: str, message: str) -> None:
        self.by_key.setdefault(key, []).append(message)
        self.count += 1

    def __bool__(self) -> bool:
        return bool(self.by_key)

    def lines(self) -> list[str]:
        """The errors as ``"key: message"`` strings (the ``errors_2xx`` style)."""
        return [f"{key}: {message}" for key, messages in self.by_key.items() for message in messages]


class _Scope:
    """Errors of one object, reported under ``prefix`` (e.g. ``data[3].``)."""

    def __init__(self, errors: Errors, prefix: str = "") -> None:
        self.errors = errors
        self.prefix = prefix

    def child(self, name: str) -> _Scope:
        return _Scope(self.errors, f"{self.prefix}{name}.")

    def add(self, name: str, message: str) -> None:
        self.errors.add(f"{self.prefix}{name}", message)


def _body(body: Any, errors: Errors, names: tuple[str, ...]) -> tuple[_Scope, dict[str, Any]] | None:
    """A request body's scope and members (see :func:`canonical_keys`); None, reported, if not an object."""
    if not isinstance(body, dict):
        errors.add("$", "The request body must be a JSON object.")
        return None
    return _Scope(errors), canonical_keys(body, names)


def _array(scope: _Scope, obj: Mapping[str, Any], name: str) -> list[Any] | None:
    """The array member ``name``: None when absent, or (reported) when it is not an array."""
    raw = obj.get(name)
    if raw is not None and not isinstance(raw, list):
        scope.add(name, f"The {name} field must be a JSON array.")
        return None
    return raw


def _objects(
    scope: _Scope, items: list[Any], name: str, names: tuple[str, ...], not_an_object: str
) -> Iterator[tuple[_Scope, dict[str, Any]]]:
    """Each object of the array ``name``, as its scope and members; an item that is no object is reported."""
    for j, item in enumerate(items):
        where = f"{name}[{j}]"
        if isinstance(item, dict):
            yield scope.child(where), canonical_keys(item, names)
        else:
            scope.add(where, not_an_object)


def canonical_keys(obj: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``obj`` with its property names in API spelling; unknown properties dropped (ASP.NET ignores them)."""
    lookup = _lookup(names)
    out = {}
    for key, value in obj.items():
        name = lookup.get(key) or lookup.get(key.lower())
        if name is not None:
            out[name] = value
    return out


@lru_cache(maxsize=64)
def _lookup(names: tuple[str, ...]) -> dict[str, str]:
    """Exact and lower-cased spellings -> API spelling."""
    return {**{name.lower(): name for name in names}, **{name: name for name in names}}


@lru_cache(maxsize=64)
def _by_name(known: tuple[SettingItem, ...]) -> dict[str, SettingItem]:
    return {item.name.lower(): item for item in known}


@lru_cache(maxsize=64)
def _ids(known: tuple[SettingItem, ...]) -> frozenset[int]:
    return frozenset(item.id for item in known)


def canonical_enum(value: Any, choices: Iterable[str]) -> str | None:
    """The documented spelling of ``value`` (compared case-insensitively), or None."""
    if isinstance(value, str):
        lowered = value.lower()
        for choice in choices:
            if choice.lower() == lowered:
                return choice
    return None


# -- scalar rules --------------------------------------------------------------------------------


def _required(name: str) -> str:
    return f"The {name} field is required."


def _string(
    scope: _Scope,
    obj: Mapping[str, Any],
    name: str,
    *,
    max_len: int | None = None,
    min_len: int = 0,
    required: bool = False,
    no_spaces: bool = False,
) -> str | None:
    value = obj.get(name)
    if value is None or (required and value == ""):
        if required:
            scope.add(name, _required(name))
        return None
    if not isinstance(value, str):
        scope.add(name, f"The {name} field must be a JSON string.")
        return None
    if max_len is not None and not min_len <= len(value) <= max_len:
        if min_len:
            scope.add(
                name,
                f"The field {name} must be a string with a minimum length of {min_len} and a maximum "
                f"length of {max_len}.",
            )
        else:
            scope.add(name, f"The field {name} must be a string with a maximum length of {max_len}.")
        return None
    if no_spaces and any(ch.isspace() for ch in value):
        scope.add(name, f"The field {name} must not contain spaces.")
        return None
    return value


def _enum(
    scope: _Scope, obj: Mapping[str, Any], name: str, choices: Iterable[str], *, required: bool = False
) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            scope.add(name, _required(name))
        return None
    choices = tuple(choices)
    canonical = canonical_enum(value, choices)
    if canonical is None:
        scope.add(name, f"The value is not valid for {name}. Valid values: {', '.join(choices)}.")
    return canonical


def _integer(
    scope: _Scope, obj: Mapping[str, Any], name: str, *, required: bool = False, numeric_string: bool = False
) -> int | None:
    value = obj.get(name)
    if value is None:
        if required:
            scope.add(name, _required(name))
        return None
    if numeric_string and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        scope.add(name, f"The {name} field must be a JSON integer.")
        return None
    if not INT32[0] <= value <= INT32[1]:
        scope.add(name, f"The field {name} must be a 32-bit integer.")
        return None
    return value


def as_number(value: Any) -> float | None:
    """A finite number from a JSON number or a numeric string; None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _amount(scope: _Scope, obj: Mapping[str, Any], name: str, *, required: bool = False) -> Any:
    value = obj.get(name)
    if value is None:
        if required:
            scope.add(name, _required(name))
        return None
    number = as_number(value)
    if number is None:
        scope.add(name, f"The {name} field must be a number.")
        return None
    if number < 0:
        scope.add(name, f"The field {name} must be greater than or equal to 0.")
        return None
    return value


def parse_date_time(value: str) -> datetime | None:
    """ISO-8601 date or date-time (``Z`` or offset optional, up to 7 fraction digits, as .NET parses)."""
    match = _DATE_TIME.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        tz = None
        if zone == "Z":
            tz = timezone.utc
        elif zone:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            if offset > timedelta(hours=14):
                return None
            tz = timezone(sign * offset)
        micro = int((fraction or "0").ljust(6, "0")[:6])
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tz
        )
    except ValueError:
        return None


def parse_date(value: str) -> date | None:
    """``YYYY-MM-DD`` only."""
    match = _DATE.match(value)
    if not match:
        return None
    try:
        return date(*map(int, match.groups()))
    except ValueError:
        return None


def _date_time(scope: _Scope, obj: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = _string(scope, obj, name, required=required)
    if value is not None and parse_date_time(value) is None:
        scope.add(name, f"The {name} field must be an ISO-8601 date-time, e.g. 2025-11-03T14:05:00Z.")
        return None
    return value


def _email(scope: _Scope, obj: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = _string(scope, obj, name, max_len=320, required=required)
    # [INF] ASP.NET's EmailAddress rule: exactly one '@', neither first nor last.
    if value is not None and (value.count("@") != 1 or value.startswith("@") or value.endswith("@")):
        scope.add(name, f"The {name} field is not a valid e-mail address.")
        return None
    return value


def value_problem(kind: str, value: Any, options: tuple[str, ...] = ()) -> str | None:
    """Why ``value`` does not fit an attribute / data-field type (section 6 of the API notes), or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, str):
        text = value
    else:
        return "must be a string, number or boolean"
    kind = kind.lower()
    if kind in ("number", "money"):
        return None if as_number(text) is not None else f"must be a {kind} (a decimal number)"
    if kind == "date":
        return None if parse_date(text) else "must be a date, YYYY-MM-DD"
    if kind == "datetime":
        return None if parse_date_time(text) else "must be an ISO-8601 date-time"
    if kind == "boolean":
        return None if text.lower() in ("true", "false") else "must be true or false"
    if kind == "url":
        parts = urlsplit(text)
        return None if parts.scheme in ("http", "https") and parts.netloc else "must be an http(s) URL"
    if kind == "singleselect" and options and text.lower() not in {o.lower() for o in options}:
        return "must be one of the attribute's options"
    return None


def _name_value_list(
    scope: _Scope, obj: Mapping[str, Any], name: str, known: tuple[SettingItem, ...], what: str
) -> list[dict[str, Any]] | None:
    """``customAttributes`` / ``orderAttributes`` / ``productAttributes``: ``[{name, value}]``.

    Each name must exist in the business unit's settings list and each value fit the attribute's type."""
    items = _array(scope, obj, name)
    if items is None:
        return None
    by_name = _by_name(known)
    result = []
    not_an_object = "Each item must be a JSON object with name and value."
    for item_scope, entry in _objects(scope, items, name, ("name", "value"), not_an_object):
        attr_name = _string(item_scope, entry, "name", min_len=1, max_len=256, required=True)
        if attr_name is None:
            continue
        setting = by_name.get(attr_name.lower())
        if setting is None:
            item_scope.add("name", f"The {what} does not exist in this business unit's settings.")
            continue
        problem = value_problem(setting.type, entry.get("value"), setting.options)
        if problem:
            item_scope.add("value", f"The value {problem} ({what} type {setting.type}).")
            continue
        result.append({"name": setting.name, "value": entry.get("value")})
    return result


def _consents(scope: _Scope, obj: Mapping[str, Any], known: tuple[SettingItem, ...]) -> dict[str, Any] | None:
    data = obj.get("consentsData")
    if data is None:
        return None
    if not isinstance(data, dict):
        scope.add("consentsData", "The consentsData field must be a JSON object.")
        return None
    data = canonical_keys(data, ("consents", "force", "confirmationMessageId"))
    inner = scope.child("consentsData")
    force = data.get("force")
    if force is not None and not isinstance(force, bool):
        inner.add("force", "The force field must be true or false.")
    _integer(inner, data, "confirmationMessageId")
    consents = _array(inner, data, "consents")
    result: list[dict[str, Any]] = []
    if consents:
        ids = _ids(known)
        not_an_object = "Each consent must be a JSON object with id and value."
        for item_scope, entry in _objects(inner, consents, "consents", ("id", "value"), not_an_object):
            consent_id = _integer(item_scope, entry, "id", required=True)
            value = _enum(item_scope, entry, "value", CONSENT_VALUES, required=True)
            if consent_id is not None and consent_id not in ids:
                item_scope.add("id", "The consent does not exist in this business unit's settings.")
            elif consent_id is not None and value is not None:
                result.append({"id": consent_id, "value": value})
    return {"consents": result, "force": force, "confirmationMessageId": data.get("confirmationMessageId")}


# -- request bodies ------------------------------------------------------------------------------


def batch_top(
    body: Any, errors: Errors, modes: tuple[str, ...], *, with_match_by: bool
) -> tuple[str | None, str | None, list[Any] | None]:
    """``mode``, ``matchBy`` (customers) and ``data`` of a POST /customers or /orders body."""
    checked = _body(body, errors, ("mode", "matchBy", "data"))
    if checked is None:
        return None, None, None
    scope, top = checked
    mode = _enum(scope, top, "mode", modes, required=True)
    match_by = _enum(scope, top, "matchBy", MATCH_BY, required=True) if with_match_by else None
    data = top.get("data")
    if data is None:
        scope.add("data", _required("data"))
    elif not isinstance(data, list):
        scope.add("data", "The data field must be a JSON array.")
        data = None
    return mode, match_by, data


def customer_item(
    raw: Any,
    index: int,
    errors: Errors,
    *,
    match_by: str,
    customer_attributes: tuple[SettingItem, ...],
    consents: tuple[SettingItem, ...],
) -> dict[str, Any] | None:
    """One ``data[]`` customer, normalized (only the fields given), or None when it broke a rule."""
    scope = _Scope(errors, f"data[{index}].")
    if not isinstance(raw, dict):
        errors.add(f"data[{index}]", "Each item must be a JSON object.")
        return None
    before = errors.count
    obj = canonical_keys(raw, CUSTOMER_KEYS)
    identifier = {"Email": "email", "PhoneNumber": "phone", "CrmId": "crmId", "VisitorId": "visitorId"}.get(
        match_by, "guid"
    )
    out: dict[str, Any] = {
        "email": _email(scope, obj, "email", required=identifier == "email"),
        "phone": _string(scope, obj, "phone", max_len=20, no_spaces=True, required=identifier == "phone"),
        "crmId": _string(scope, obj, "crmId", max_len=128, required=identifier == "crmId"),
        "visitorId": _string(scope, obj, "visitorId", max_len=38, required=identifier == "visitorId"),
        "firstName": _string(scope, obj, "firstName", max_len=256),
        "lastName": _string(scope, obj, "lastName", max_len=256),
        "dateOfBirth": _date_time(scope, obj, "dateOfBirth"),
        "gender": _enum(scope, obj, "gender", GENDERS),
        "customAttributes": _name_value_list(
            scope, obj, "customAttributes", customer_attributes, "customer attribute"
        ),
        "consentsData": _consents(scope, obj, consents),
    }
    if identifier == "guid":
        # [UNK] which field carries the identifier for matchBy=GUID; the emulator reads "guid".
        guid = _string(scope, obj, "guid", max_len=38, required=True)
        if guid is not None:
            try:
                uuid.UUID(guid)
                out["guid"] = guid
            except ValueError:
                scope.add("guid", "The guid field must be a GUID.")
    if errors.count > before:
        return None
    return {key: value for key, value in out.items() if value is not None}


def order_item(
    raw: Any,
    index: int,
    errors: Errors,
    *,
    accept_cancelled: bool,
    total_required: bool,
    required_identifier: str | None,
    order_attributes: tuple[SettingItem, ...],
    product_attributes: tuple[SettingItem, ...],
) -> dict[str, Any] | None:
    """One ``data[]`` order, normalized, or None when it broke a rule.

    :param required_identifier: customer field that must be present (strict_match_by), else any one of
        email / phone / crmId is enough.
    """
    scope = _Scope(errors, f"data[{index}].")
    if not isinstance(raw, dict):
        errors.add(f"data[{index}]", "Each item must be a JSON object.")
        return None
    before = errors.count
    obj = canonical_keys(raw, ORDER_KEYS)
    out: dict[str, Any] = {
        "id": _string(scope, obj, "id", min_len=1, max_len=128, required=True),
        "date": _date_time(scope, obj, "date", required=True),
        "timeZone": _string(scope, obj, "timeZone", max_len=100),
        "websiteId": _integer(scope, obj, "websiteId"),
        "status": order_status(scope, obj, "status", accept_cancelled=accept_cancelled),
        "currency": _string(scope, obj, "currency", min_len=3, max_len=3),
        "totalValue": _amount(scope, obj, "totalValue", required=total_required),
        "returnsValue": _amount(scope, obj, "returnsValue"),
        "customer": _order_customer(scope, obj, required_identifier),
        "products": _products(scope, obj, product_attributes),
        "orderAttributes": _name_value_list(
            scope, obj, "orderAttributes", order_attributes, "order attribute"
        ),
    }
    if errors.count > before:
        return None
    return out


def order_status(
    scope: _Scope, obj: Mapping[str, Any], name: str, *, accept_cancelled: bool, required: bool = False
) -> str | None:
    value = obj.get(name)
    if accept_cancelled and isinstance(value, str) and value.lower() == "cancelled":
        return "canceled"
    return _enum(scope, obj, name, ORDER_STATUSES, required=required)


def _order_customer(
    scope: _Scope, obj: Mapping[str, Any], required_identifier: str | None
) -> dict[str, Any] | None:
    raw = obj.get("customer")
    if raw is None:
        scope.add("customer", _required("customer"))
        return None
    if not isinstance(raw, dict):
        scope.add("customer", "The customer field must be a JSON object.")
        return None
    data = canonical_keys(raw, ORDER_CUSTOMER_KEYS)
    inner = scope.child("customer")
    out = {
        "email": _email(inner, data, "email", required=required_identifier == "email"),
        "phone": _string(
            inner, data, "phone", max_len=20, no_spaces=True, required=required_identifier == "phone"
        ),
        "crmId": _string(inner, data, "crmId", max_len=128, required=required_identifier == "crmId"),
    }
    if required_identifier is None and not any(data.get(k) for k in ("email", "phone", "crmId")):
        inner.add("email", "The customer needs at least one identifier: email, phone or crmId.")
    return {key: value for key, value in out.items() if value is not None}


def _products(
    scope: _Scope, obj: Mapping[str, Any], known: tuple[SettingItem, ...]
) -> list[dict[str, Any]] | None:
    if obj.get("products") is None:
        scope.add("products", _required("products"))
        return None
    items = _array(scope, obj, "products")
    if items is None:
        return None
    result = []
    for inner, data in _objects(
        scope, items, "products", PRODUCT_KEYS, "Each product must be a JSON object."
    ):
        product = {
            # [UNK] product field rules: only an id is required here, amounts must be >= 0.
            "id": _string(inner, data, "id", min_len=1, max_len=128, required=True),
            "name": _string(inner, data, "name"),
            "price": _amount(inner, data, "price"),
            "quantity": _amount(inner, data, "quantity"),
            "returned": _amount(inner, data, "returned"),
            "url": _string(inner, data, "url"),
            "imageUrl": _string(inner, data, "imageUrl"),
            "category": _string(inner, data, "category"),
            "productAttributes": _name_value_list(
                inner, data, "productAttributes", known, "product attribute"
            ),
        }
        result.append({key: value for key, value in product.items() if value is not None})
    return result


def status_change(body: Any, errors: Errors, *, accept_cancelled: bool) -> dict[str, Any] | None:
    """The body of PUT /orders/status."""
    checked = _body(body, errors, STATUS_KEYS)
    if checked is None:
        return None
    scope, obj = checked
    out = {
        "orderId": _string(scope, obj, "orderId", min_len=1, max_len=128, required=True),
        "orderStatus": order_status(
            scope, obj, "orderStatus", accept_cancelled=accept_cancelled, required=True
        ),
        "websiteId": _integer(scope, obj, "websiteId"),
    }
    return None if errors else out


def custom_event(body: Any, errors: Errors) -> dict[str, Any] | None:
    """The body of POST /scenariocustomevents."""
    checked = _body(body, errors, EVENT_KEYS)
    if checked is None:
        return None
    scope, obj = checked
    out: dict[str, Any] = {
        "customEventId": _integer(scope, obj, "customEventId", required=True),
        # The doc table types customerId as a string, its sample and a client send an integer: accept both.
        "customerId": _integer(scope, obj, "customerId", numeric_string=True),
        "customerEmail": _email(scope, obj, "customerEmail"),
        "customerEmailMd5": _hex(scope, obj, "customerEmailMd5", 32),
        "customerEmailSha256": _hex(scope, obj, "customerEmailSha256", 64),
        "customerPhone": _string(scope, obj, "customerPhone", max_len=20, no_spaces=True),
        "customerCrmId": _string(scope, obj, "customerCrmId", max_len=128),
        "dataFields": _data_fields(scope, obj),
    }
    if all(obj.get(name) in (None, "") for name in EVENT_IDENTIFIERS):
        scope.add(
            "customerId",
            "At least one customer identifier is required: customerId, customerEmail, customerEmailMd5, "
            "customerEmailSha256, customerPhone or customerCrmId.",
        )
    return None if errors else {key: value for key, value in out.items() if value is not None}


def _hex(scope: _Scope, obj: Mapping[str, Any], name: str, length: int) -> str | None:
    value = _string(scope, obj, name, max_len=length)
    # [INF] the docs give only the maximum length; a digest is exactly that many hex digits.
    if value is not None and not re.fullmatch(rf"[0-9a-fA-F]{{{length}}}", value):
        scope.add(name, f"The {name} field must be {length} hexadecimal digits.")
        return None
    return value


def _data_fields(scope: _Scope, obj: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    items = _array(scope, obj, "dataFields")
    if items is None:
        return None
    result = []
    not_an_object = "Each data field must be a JSON object with name, type and value."
    for inner, data in _objects(scope, items, "dataFields", ("name", "type", "value"), not_an_object):
        name = _string(inner, data, "name", min_len=1, max_len=256, required=True)
        kind = _enum(inner, data, "type", DATA_FIELD_TYPES, required=True)
        value = _string(inner, data, "value")
        if kind is not None and value is not None:
            problem = value_problem(kind, value)
            if problem:
                inner.add("value", f"The value {problem} (data field type {kind}).")
                continue
        if name is not None and kind is not None:
            result.append({"name": name, "type": kind, "value": value})
    return result


def order_registration(body: Any, errors: Errors) -> dict[str, Any] | None:
    """The body of ``PUT /orders`` ([UNK]: fields from a third-party client only)."""
    checked = _body(body, errors, ("orderId", "websiteId", "visitorId"))
    if checked is None:
        return None
    scope, obj = checked
    out = {
        "orderId": _string(scope, obj, "orderId", min_len=1, max_len=128, required=True),
        "websiteId": _integer(scope, obj, "websiteId"),
        "visitorId": _string(scope, obj, "visitorId", max_len=38),
    }
    return None if errors else out


EXPORT_CHANNELS = ("Email", "SMS", "WebPush")
EXPORT_EVENT_TYPES = ("Send", "Delivery", "Bounce", "Open", "View", "Click", "Unsubscribe", "Order")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def customer_export(
    body: Any,
    errors: Errors,
    *,
    customer_attributes: tuple[SettingItem, ...],
    consents: tuple[SettingItem, ...],
) -> dict[str, Any] | None:
    """The body of ``POST /exports/customers``: a segment and at least one group of columns."""
    checked = _body(body, errors, ("segmentId", "systemAttributes", "customAttributes", "consents"))
    if checked is None:
        return None
    scope, obj = checked
    out: dict[str, Any] = {"segmentId": _integer(scope, obj, "segmentId", required=True)}
    groups = (("systemAttributes", ()), ("customAttributes", customer_attributes), ("consents", consents))
    for group, known in groups:
        out[group] = _column_group(scope, obj, group, known, with_id=group != "systemAttributes")
    if not any(out[group] for group, _ in groups):
        scope.add("systemAttributes", "Give at least one of systemAttributes, customAttributes or consents.")
    return None if errors else out


def _column_group(
    scope: _Scope, obj: Mapping[str, Any], name: str, known: tuple[SettingItem, ...], *, with_id: bool
) -> list[dict[str, Any]]:
    result = []
    items = _array(scope, obj, name) or []
    for inner, data in _objects(
        scope, items, name, ("id", "name", "all"), "Each item must be a JSON object."
    ):
        every = data.get("all")
        if every is not None and not isinstance(every, bool):
            inner.add("all", "The all field must be true or false.")
            continue
        item_id = _integer(inner, data, "id") if with_id else None
        item_name = _string(inner, data, "name", max_len=256)
        if not every and item_id is None and not item_name:
            inner.add("name", f"Name a column ({'id or ' if with_id else ''}name) or set all to true.")
            continue
        if item_id is not None and item_id not in _ids(known):
            inner.add("id", "Not an id of this business unit's settings.")
            continue
        if item_name and with_id and item_name.lower() not in _by_name(known):
            inner.add("name", "Not a name of this business unit's settings.")
            continue
        result.append({"id": item_id, "name": item_name, "all": bool(every)})
    return result


def activity_export(body: Any, errors: Errors) -> dict[str, Any] | None:
    """The body of ``POST /exports/channels/activity``: a date range of at most 90 days and filters."""
    checked = _body(body, errors, ("startDate", "endDate", "channels", "eventTypes", "fileName"))
    if checked is None:
        return None
    scope, obj = checked
    start_text = _string(scope, obj, "startDate", required=True)
    end_text = _string(scope, obj, "endDate", required=True)
    start = parse_date(start_text) if start_text is not None else None
    end = parse_date(end_text) if end_text is not None else None
    if start_text is not None and start is None:
        scope.add("startDate", "The startDate field must be a date, YYYY-MM-DD.")
    if end_text is not None and end is None:
        scope.add("endDate", "The endDate field must be a date, YYYY-MM-DD.")
    if start and end and not start < end:
        scope.add("startDate", "startDate must be before endDate.")
    elif start and end and (end - start).days > 90:
        scope.add("endDate", "The date range must not exceed 90 days.")
    file_name = _string(scope, obj, "fileName")
    out = {
        "startDate": start_text,
        "endDate": end_text,
        "channels": _enum_list(scope, obj, "channels", EXPORT_CHANNELS),
        "eventTypes": _enum_list(scope, obj, "eventTypes", EXPORT_EVENT_TYPES),
        "fileName": file_name,
    }
    if file_name is not None and not _FILE_NAME.match(file_name):
        scope.add("fileName", "The fileName field must be 1-200 letters, digits, '-' or '_' (no extension).")
    return None if errors else out


def _enum_list(
    scope: _Scope, obj: Mapping[str, Any], name: str, choices: tuple[str, ...]
) -> list[str] | None:
    raw = _array(scope, obj, name)
    if raw is None:
        return None
    values = []
    for j, value in enumerate(raw):
        canonical = canonical_enum(value, choices)
        if canonical is None:
            scope.add(f"{name}[{j}]", f"The value is not valid. Valid values: {', '.join(choices)}.")
        else:
            values.append(canonical)
    return values
