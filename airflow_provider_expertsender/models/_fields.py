"""Field types shared by the payload models, and the attribute item models (``{name, value}``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, StringConstraints, ValidationInfo, field_validator

from airflow_provider_expertsender.models import _values
from airflow_provider_expertsender.models._base import PayloadModel

if TYPE_CHECKING:
    from airflow_provider_expertsender.models.settings import SettingsCatalog

# ----------------------------------------------------------------------------------------------- scalars

Email = Annotated[str, StringConstraints(min_length=1, max_length=320), AfterValidator(_values.check_email)]
Phone = Annotated[
    str,
    BeforeValidator(_values.int_to_str),
    StringConstraints(min_length=1, max_length=20),
    AfterValidator(_values.check_no_whitespace),
]
CrmId = Annotated[
    str,
    BeforeValidator(_values.int_to_str),
    StringConstraints(min_length=1, max_length=128),
    AfterValidator(_values.check_identifier),
]
VisitorId = Annotated[
    str, BeforeValidator(_values.int_to_str), StringConstraints(min_length=1, max_length=38)
]
Guid = Annotated[str, StringConstraints(min_length=1, max_length=38), AfterValidator(_values.check_guid)]
Name256 = Annotated[str, StringConstraints(max_length=256)]
Int32 = Annotated[int, BeforeValidator(_values.int32(-(2**31)))]
PositiveInt32 = Annotated[int, BeforeValidator(_values.int32(1))]
# Money and quantities, >= 0: whole numbers become ints, others exact floats (see non_negative_number). Typed
# Any so pydantic keeps an int an int (the before-validator has already checked and converted the value).
NonNegative = Annotated[Any, BeforeValidator(_values.non_negative_number)]
DateTimeString = Annotated[str, BeforeValidator(_values.datetime_string)]
BirthDateString = Annotated[str, BeforeValidator(_values.birth_date_string)]
Currency = Annotated[str, BeforeValidator(_values.currency)]


def settings_of(info: ValidationInfo) -> SettingsCatalog | None:
    """The SettingsCatalog passed in the validation context, if any."""
    context = info.context
    return context.get("settings") if type(context) is dict else None


def attribute_list(value: Any) -> Any:
    """Accept attributes as ``[{"name", "value"}, ...]`` or as a plain ``{name: value}`` mapping."""
    if type(value) is not list and isinstance(value, Mapping):
        return [{"name": name, "value": item} for name, item in value.items()]
    return value


def unique_attribute_names(items: list[AttributeItem] | None) -> list[AttributeItem] | None:
    """Reject an attribute given twice (names compared case-insensitively)."""
    if items:
        seen: set[str] = set()
        for item in items:
            key = item.name.casefold()
            if key in seen:
                raise ValueError(f"attribute {item.name!r} is given twice")
            seen.add(key)
    return items


AttributeListInput = BeforeValidator(attribute_list)
UniqueNames = AfterValidator(unique_attribute_names)


# ----------------------------------------------------------------------------------------------- attributes


class AttributeItem(PayloadModel):
    """``{name, value}``: the value is sent as a string (see :func:`_values.value_to_string`)."""

    _kind: ClassVar[str] = ""

    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    value: str | None = None

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str, info: ValidationInfo) -> str:
        settings = settings_of(info)
        return name if settings is None else settings.check_attribute_name(cls._kind, name)

    @field_validator("value", mode="before")
    @classmethod
    def _typed_value(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        value_type = None
        settings = settings_of(info)
        name = info.data.get("name")
        if settings is not None and name is not None:
            spec = settings.attribute(cls._kind, name)
            value_type = spec.type if spec is not None else None
        return _values.value_to_string(value, value_type)


class CustomAttribute(AttributeItem):
    _kind: ClassVar[str] = "customer_attributes"


class OrderAttribute(AttributeItem):
    _kind: ClassVar[str] = "order_attributes"


class ProductAttribute(AttributeItem):
    _kind: ClassVar[str] = "product_attributes"
