"""Building blocks of the models' fast paths: plain-Python checks for the common, valid case.

Validating a typical customer through the pydantic models costs about 15 us, most of it in Python callbacks
(key folding, before-validators) and model instances that are built only to be dumped again. A bulk load
validates every record, so the payload functions first try a *fast path* that builds the API JSON directly
from plain dicts, lists and strings (about 7 us; ``tests/models/bench_models.py`` measures both).

A fast path never decides that a record is invalid: whenever anything is unusual (an unknown key spelling, a
value of another type, a broken rule, a lone surrogate...) it gives up and the pydantic model validates the
record, so every error message comes from the models. On every record it accepts, it returns exactly what
the model returns, key order included (``tests/models/test_fast_path.py`` checks this property on generated
records).

Each function here returns the value the model would produce, or raises :class:`GiveUp`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.models import _values
from airflow_provider_expertsender.models._values import _HUGE_BITS, value_to_string

if TYPE_CHECKING:
    from airflow_provider_expertsender.models.settings import SettingsCatalog


class GiveUp(Exception):
    """The fast path cannot vouch for this input: validate it with the model."""


#: A field converter: the field's value (not None) and the settings catalog -> the value the model produces.
Converter = Callable[[Any, "SettingsCatalog | None"], Any]


def text(value: Any, minimum: int, maximum: int) -> str:
    """A ``str`` of ``minimum``..``maximum`` characters that pydantic accepts as it is (valid UTF-8)."""
    if type(value) is not str or not minimum <= len(value) <= maximum:
        raise GiveUp
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate: the model reports it
            raise GiveUp from None
    return value


def identifier(value: Any, minimum: int, maximum: int) -> str:
    """A string identifier that may be given as an integer (``models._values.int_to_str``)."""
    if type(value) is int:
        if value.bit_length() > _HUGE_BITS:
            raise GiveUp
        value = str(value)
    return text(value, minimum, maximum)


def resolve(record: Any, exact: dict[str, str]) -> dict[str, Any]:
    """The fields of a plain dict by API name, ``None`` values left out (they mean "not given").

    Only spellings the model has already resolved (``PayloadModel._exact``) are known here; the first record
    with a new spelling takes the model's path, which remembers it. A field given twice gives up.
    """
    if type(record) is not dict:
        raise GiveUp
    fields: dict[str, Any] = {}
    for key, value in record.items():
        name = exact.get(key)
        if name is None or name in fields:
            raise GiveUp
        if value is not None:
            fields[name] = value
    return fields


def call(check: Callable[[Any], Any], value: Any) -> Any:
    """Run a validator of ``models._values`` / ``models._enums``; any exception gives up (the model reports
    it, or raises it, exactly as it would have)."""
    try:
        return check(value)
    except Exception:
        raise GiveUp from None


def attributes(
    value: Any, exact: dict[str, str], kind: str, settings: SettingsCatalog | None
) -> list[dict[str, str]]:
    """A list of ``{name, value}`` attribute items (``models._fields.AttributeItem`` and ``UniqueNames``)."""
    if type(value) is dict:
        value = [{"name": name, "value": item} for name, item in value.items()]
    elif type(value) is not list:
        raise GiveUp
    items: list[dict[str, str]] = []
    seen: set[str] = set()
    for raw in value:
        fields = resolve(raw, exact)
        name = text(fields.get("name"), 1, 256)
        value_type = None
        if settings is not None:
            try:
                name = settings.check_attribute_name(kind, name)
            except Exception:
                raise GiveUp from None
            spec = settings.attribute(kind, name)
            value_type = spec.type if spec is not None else None
        folded = name.casefold()
        if folded in seen:
            raise GiveUp
        seen.add(folded)
        if "value" in fields:
            try:
                converted = value_to_string(fields["value"], value_type)
            except Exception:
                raise GiveUp from None
            items.append({"name": name, "value": text(converted, 0, len(converted))})
        else:
            items.append({"name": name})
    return items


def build(
    fields: dict[str, Any], converters: Sequence[tuple[str, Converter]], settings: Any
) -> dict[str, Any]:
    """The API JSON of an object: each field present converted, in the model's field order."""
    payload: dict[str, Any] = {}
    for name, convert in converters:
        value = fields.get(name)
        if value is not None:
            payload[name] = convert(value, settings)
    return payload


# ----------------------------------------------------------------------------------------------- fields
# Converters of the field types of models/_fields.py that several models share.


def email(value: Any, settings: SettingsCatalog | None) -> Any:
    """``Email``."""
    return call(_values.check_email, text(value, 1, 320))


def phone(value: Any, settings: SettingsCatalog | None) -> Any:
    """``Phone``."""
    return call(_values.check_no_whitespace, identifier(value, 1, 20))


def crm_id(value: Any, settings: SettingsCatalog | None) -> str:
    """``CrmId``."""
    return call(_values.check_identifier, identifier(value, 1, 128))


def optional_text(value: Any, settings: SettingsCatalog | None) -> str:
    """``str | None`` without constraints."""
    return text(value, 0, sys.maxsize)


def non_negative(value: Any, settings: SettingsCatalog | None) -> Any:
    """``NonNegative`` (money amounts, quantities)."""
    return call(_values.non_negative_number, value)
