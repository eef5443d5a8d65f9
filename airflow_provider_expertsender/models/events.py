"""Scenario custom events (``POST /scenariocustomevents``) and their data fields."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints, ValidationError, ValidationInfo, field_validator

from airflow_provider_expertsender.arguments import one_identifier
from airflow_provider_expertsender.endpoints import CUSTOM_EVENT_IDENTIFIERS
from airflow_provider_expertsender.models import _values
from airflow_provider_expertsender.models._base import (
    PayloadModel,
    add_problem,
    fold_key,
    identifier_text,
    invalid,
    problems_from,
)
from airflow_provider_expertsender.models._enums import (
    DATA_FIELD_TYPE_TABLE,
    DATA_FIELD_TYPES,
    enum_validator,
)

# Used in model annotations, which pydantic resolves at runtime.
from airflow_provider_expertsender.models._fields import CrmId, Email, Phone, PositiveInt32  # noqa: TC001

# [UNK] customerId is typed "string" in the docs' table, but the docs' sample and the only client that
# sends it ([L]) send a JSON integer. Internal customer ids are numeric, so it is validated as a positive
# integer (its width is not documented: up to int64) and sent as a JSON number. Flip this one switch if the
# API turns out to want a string.
CUSTOMER_ID_AS_STRING = False

# Longer plain strings are typed Text rather than String (String is documented as "about 255 characters").
_STRING_MAX = 255


_POSITIVE_INT64 = _values.integer(1, _values.INT64_MAX)


def _customer_id(value: Any) -> Any:
    if value is None:
        return None
    number = _POSITIVE_INT64(value)
    return str(number) if CUSTOMER_ID_AS_STRING else number


def infer_data_field_type(value: Any) -> str | None:
    """The data-field type of a Python value, or ``None`` when it cannot be inferred (never URL)."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, (int, float, Decimal)):
        return "Number"
    if isinstance(value, datetime):
        return "DateTime"
    if isinstance(value, date):
        return "Date"
    if isinstance(value, str):
        return "String" if len(value) <= _STRING_MAX else "Text"
    return None


def _data_field_list(value: Any) -> Any:
    """Accept ``[{name, type, value}, ...]`` or ``{name: value}`` (types inferred) or
    ``{name: {"type": ..., "value": ...}}`` (explicit type, e.g. for a URL)."""
    if not isinstance(value, Mapping):
        return value
    items: list[dict[str, Any]] = []
    for name, item in value.items():
        field: dict[str, Any] = {"name": name}
        if isinstance(item, Mapping):
            for key, member in item.items():
                if isinstance(key, str) and fold_key(key) == "name":
                    add_problem(field, "name", "give the name as the mapping key only")
                else:
                    field[key] = member
        else:
            inferred = infer_data_field_type(item)
            if inferred is None:
                # The record fails on the problem below; the placeholder type only avoids a second, misleading
                # "type: required" for the same mistake.
                field["type"] = "String"
                add_problem(
                    field,
                    "value",
                    f"cannot infer a data field type from {type(item).__name__}; "
                    'give {"type": ..., "value": ...} for this field',
                )
            else:
                field["type"] = inferred
                field["value"] = item
        items.append(field)
    return items


class DataField(PayloadModel):
    """``{name, type, value}``: the value is sent as a string that fits ``type``."""

    name: Annotated[str, StringConstraints(min_length=1)]
    type: Annotated[str, BeforeValidator(enum_validator(DATA_FIELD_TYPE_TABLE, DATA_FIELD_TYPES))]
    value: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _typed_value(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        return _values.value_to_string(value, info.data.get("type"))


DataFieldList = Annotated[list[DataField], BeforeValidator(_data_field_list)]


class _DataFields(PayloadModel):
    data_fields: DataFieldList | None = None


class CustomEvent(PayloadModel):
    """Body of ``POST /scenariocustomevents`` (one customer)."""

    custom_event_id: PositiveInt32
    customer_id: Annotated[Any, BeforeValidator(_customer_id)] | None = None
    customer_email: Email | None = None
    customer_email_md5: Annotated[str, BeforeValidator(_values.hex_digest(32, "MD5"))] | None = None
    customer_email_sha256: Annotated[str, BeforeValidator(_values.hex_digest(64, "SHA-256"))] | None = None
    customer_phone: Phone | None = None
    customer_crm_id: CrmId | None = None
    data_fields: DataFieldList | None = None


def custom_event_payload(
    custom_event_id: Any,
    *,
    customer_id: Any = None,
    email: Any = None,
    email_md5: Any = None,
    email_sha256: Any = None,
    phone: Any = None,
    crm_id: Any = None,
    data_fields: list[dict[str, Any]] | dict[str, Any] | None = None,
    validate: bool = True,
) -> dict[str, Any]:
    """The body of ``POST /scenariocustomevents`` for exactly one customer identifier (the one builder of
    that body: the operator and the hook both call it).

    :param custom_event_id: the custom event's id (int32 > 0).
    :param customer_id: the internal ECDP customer id (positive integer).
    :param email: e-mail address (max 320 characters).
    :param email_md5: hex MD5 of the e-mail address (32 characters, sent lower-case).
    :param email_sha256: hex SHA-256 of the e-mail address (64 characters, sent lower-case).
    :param phone: phone number (max 20 characters, no spaces).
    :param crm_id: CRM id (max 128 characters).
    :param data_fields: see :func:`data_fields_payload`.
    :param validate: ``False`` assembles the body from the values exactly as given (already API-shaped),
        checking only that one identifier is given.
    :raises ExpertSenderConfigError: when zero or several identifiers are given.
    :raises ExpertSenderInvalidRecordError: naming each invalid value by its API field.
    """
    given = {"customer_id": customer_id, "email": email, "email_md5": email_md5,
             "email_sha256": email_sha256, "phone": phone, "crm_id": crm_id}  # fmt: skip
    name, value = one_identifier(given, what="A custom event")
    data: dict[str, Any] = {"customEventId": custom_event_id, CUSTOM_EVENT_IDENTIFIERS[name]: value}
    if data_fields is not None:
        data["dataFields"] = data_fields
    if not validate:
        return data
    try:
        model = CustomEvent.model_validate(data)
    except ValidationError as err:
        raise invalid(0, identifier_text(value), problems_from(err)) from None
    return model.to_api()


def data_fields_payload(data_fields: list[dict[str, Any]] | dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ``dataFields`` of a custom event.

    Accepts a list of ``{name, type, value}`` (type in any case; value a string or a Python value that fits
    the type), or a plain ``{name: value}`` mapping whose Python types give the type: ``str`` -> String (Text
    when longer than 255 characters), ``bool`` -> Boolean, ``int``/``float``/``Decimal`` -> Number,
    ``date`` -> Date, ``datetime`` -> DateTime. Give ``{name: {"type": "URL", "value": ...}}`` (or Money,
    Text...) for any other type. ``None`` gives ``[]``.

    :raises ExpertSenderInvalidRecordError: naming each invalid field (``dataFields[2].value``).
    """
    if data_fields is None:
        return []
    try:
        model = _DataFields.model_validate({"dataFields": data_fields})
    except ValidationError as err:
        raise invalid(0, None, problems_from(err)) from None
    return model.to_api().get("dataFields", [])
