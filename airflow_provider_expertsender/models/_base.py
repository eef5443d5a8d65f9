"""The base of every payload model: key spellings, problem reporting and error translation.

Every model accepts its fields under the API's camelCase name, the snake_case name, or any spelling that only
differs in case and underscores (``crm_id``, ``crmId``, ``CrmId``). Keys are folded to the API name before
pydantic sees them; pydantic then validates by alias, so its error locations are already in API spelling.

Rules that pydantic cannot express per field (unknown keys, a field given twice, conditional identifiers) are
reported without stopping validation: the before-validator adds a *problem key* to the input, which
``extra="forbid"`` turns into an ``extra_forbidden`` error that :func:`problems_from` decodes. So a record
with five broken rules yields one error listing all five.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, model_validator
from pydantic.alias_generators import to_camel

from airflow_provider_expertsender.exceptions import (
    ExpertSenderInvalidRecordError,
    FieldProblem,
    InvalidRecord,
)

_PROBLEM = "\x00problem\x00"
_KEY_FOLD = str.maketrans("", "", "_")
# Longest field name shown in a message.
_SHOWN_MAX = 64
# Exact key spellings remembered per model class (the usual ones are a handful).
_EXACT_MAX = 256
# Identifiers in messages are cut to this length (they are for humans, not for matching).
_IDENTIFIER_MAX = 128


def fold_key(key: str) -> str:
    """Matching key of a field name: lower-case without underscores (``crm_id`` == ``crmId`` == ``CRMID``)."""
    return key.translate(_KEY_FOLD).lower()


def shown(key: str) -> str:
    """A field name as shown in a message: cut to 64 characters (a key may be any string), NUL escaped."""
    if len(key) > _SHOWN_MAX:
        key = key[: _SHOWN_MAX - 3] + "..."
    return key.replace("\x00", "\\x00")


def add_problem(data: dict[str, Any], field: str, rule: str) -> None:
    """Report ``rule`` broken by ``field`` ("" for the object itself) without stopping validation."""
    data[f"{_PROBLEM}{len(data)}\x00{field}\x00{rule}"] = None


class PayloadModel(BaseModel):
    """Base of the payload models: forbids unknown fields, validates by camelCase alias, dumps by alias."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=False,
        hide_input_in_errors=True,
        defer_build=False,
    )

    # fold_key(any accepted spelling) -> API name; built per subclass.
    _keys: ClassVar[dict[str, str]] = {}
    # Exact spellings already resolved -> API name: the fast path (one dict lookup per key). Per subclass;
    # grows with the spellings seen, up to _EXACT_MAX entries.
    _exact: ClassVar[dict[str, str]] = {}
    # Extra spellings of a subclass: folded spelling -> API name.
    _extra_keys: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        keys: dict[str, str] = {}
        exact: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            alias = info.alias or name
            keys[fold_key(name)] = keys[fold_key(alias)] = alias
            exact[name] = exact[alias] = alias
        keys.update(cls._extra_keys)
        exact.update(cls._extra_keys)
        cls._keys = keys
        cls._exact = exact

    @model_validator(mode="before")
    @classmethod
    def _fold_keys(cls, data: Any, info: ValidationInfo) -> Any:
        if type(data) is not dict and not isinstance(data, Mapping):
            return data  # pydantic reports "must be an object"
        exact = cls._exact
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = exact.get(key)
            if name is None:
                if not isinstance(key, str):
                    add_problem(out, shown(repr(key)), "field names must be strings")
                    continue
                if key.startswith(_PROBLEM):
                    out[key] = value
                    continue
                name = cls._keys.get(fold_key(key))
                if name is None:
                    add_problem(out, shown(key), cls._unknown_rule(key))
                    continue
                if len(exact) < _EXACT_MAX:
                    exact[key] = name
            if value is None:
                # None means "not given": an optional field is omitted, a required one reported missing.
                continue
            if name in out:
                first = shown(cls._first_spelling(data, name))
                add_problem(out, name, f"given twice (as {first!r} and {shown(key)!r})")
            else:
                out[name] = value
        return cls._prepare(out, info)

    @classmethod
    def _first_spelling(cls, data: Mapping[Any, Any], name: str) -> str:
        """The first key of ``data`` naming the field ``name`` with a value (for the "given twice" rule)."""
        return next(
            (
                key
                for key, value in data.items()
                if value is not None and isinstance(key, str) and cls._keys.get(fold_key(key)) == name
            ),
            name,
        )

    @classmethod
    def _prepare(cls, data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Hook for cross-field rules, run on the input after key folding."""
        return data

    @classmethod
    def _unknown_rule(cls, key: str) -> str:
        names = sorted({alias for alias in cls._keys.values()})
        key = key[:_SHOWN_MAX]  # bounds the cost of the fuzzy match
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        if not close:
            close = difflib.get_close_matches(fold_key(key), [fold_key(n) for n in names], n=1, cutoff=0.6)
            close = [next(n for n in names if fold_key(n) == close[0])] if close else []
        if close:
            return f"unknown field; did you mean {close[0]}?"
        return "unknown field; known fields: " + ", ".join(names)

    def to_api(self) -> dict[str, Any]:
        """The API JSON of this model: camelCase keys, ``None`` omitted."""
        return self.model_dump(by_alias=True, exclude_none=True)


# ----------------------------------------------------------------------------------------------- errors

_RULES = {
    "missing": "required",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "model_type": "must be an object (a mapping)",
    "model_attributes_type": "must be an object (a mapping)",
    "dict_type": "must be an object (a mapping)",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "string_unicode": "must be a valid UTF-8 string",
}


def _path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else item)
    return "".join(parts)


def _rule(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    # A length constraint after a before-validator is reported as too_long/too_short with field_type "Value".
    unit = "items" if ctx.get("field_type") in ("List", "Tuple", "Set", "Dictionary") else "characters"
    if kind in ("string_too_long", "too_long"):
        return f"at most {ctx.get('max_length')} {unit}"
    if kind in ("string_too_short", "too_short"):
        minimum = ctx.get("min_length")
        return "must not be empty" if minimum == 1 else f"at least {minimum} {unit}"
    rule = _RULES.get(kind)
    if rule:
        return rule
    message = str(error.get("msg", kind))
    return message[:1].lower() + message[1:]


def problems_from(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> tuple[FieldProblem, ...]:
    """Translate a pydantic error into field problems in API spelling and plain words."""
    problems: list[FieldProblem] = []
    for item in error.errors(include_url=False, include_input=False):
        loc = prefix + tuple(item["loc"])
        last = loc[-1] if loc else None
        if item["type"] == "extra_forbidden" and isinstance(last, str) and last.startswith(_PROBLEM):
            # "<counter>\x00<field>\x00<rule>"
            parts = last[len(_PROBLEM) :].split("\x00", 2)
            field, rule = (parts[1], parts[2]) if len(parts) == 3 else ("", "invalid")
            loc = loc[:-1] + ((field,) if field else ())
            problems.append(FieldProblem(_path(loc) or "(record)", rule))
            continue
        problems.append(FieldProblem(_path(loc) or "(record)", _rule(item)))
    return tuple(problems)


def invalid(
    index: int, identifier: str | None, problems: tuple[FieldProblem, ...]
) -> ExpertSenderInvalidRecordError:
    """The error of one invalid record."""
    record = InvalidRecord(index=index, identifier=identifier, problems=problems)
    return ExpertSenderInvalidRecordError(record)


# ----------------------------------------------------------------------------------------------- identifiers

_CUSTOMER_KEYS = ("email", "crmid", "phone", "visitorid", "guid")
_ORDER_KEYS = ("id",)


def record_identifier(kind: str, record: object) -> str | None:
    """The identifier of a raw input record for messages: e-mail, CRM id, phone, visitor id or GUID of a
    customer (first present, in that order), or the id of an order. Never raises; ``None`` when there is none.

    :param kind: ``"customer"`` or ``"order"``.
    :param record: the record as given (any key spelling).
    """
    if not isinstance(record, Mapping):
        return None
    wanted = _ORDER_KEYS if kind == "order" else _CUSTOMER_KEYS
    found: dict[str, str] = {}
    for key, value in record.items():
        if isinstance(key, str):
            folded = fold_key(key)
            if folded in wanted and folded not in found:
                text = identifier_text(value)
                if text:
                    found[folded] = text
    return next((found[key] for key in wanted if key in found), None)


def identifier_text(value: object) -> str | None:
    """A string or integer identifier as text for messages (cut to 128 characters), else ``None``."""
    if isinstance(value, str):
        return value[:_IDENTIFIER_MAX]
    if isinstance(value, int) and not isinstance(value, bool):
        # str() of a huge int is slow, and refused beyond 4300 digits.
        return str(value)[:_IDENTIFIER_MAX] if value.bit_length() <= 1024 else "(a very large integer)"
    return None
