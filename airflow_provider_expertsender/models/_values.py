"""Scalar conversions shared by every model: dates, numbers, money, identifiers and attribute values.

Plain functions, no pydantic. Each takes a Python value and returns the value the API expects, or raises
``ValueError`` whose message is the rule in plain words ("must be a number", "at most 20 characters"); the
models turn those messages into :class:`~airflow_provider_expertsender.exceptions.FieldProblem` objects.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_provider_expertsender.arguments import identifier_problem

if TYPE_CHECKING:
    from collections.abc import Callable

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# Largest integer a double (the API's number type) holds exactly.
_EXACT_INT_MAX = 2**53

# re.ASCII: "\d" must not match other scripts' digits ("١٢"), which the API would not parse.
_INT_RE = re.compile(r"[+-]?\d{1,19}", re.ASCII)
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,6})?", re.ASCII)
# What the API's Number and Money types accept in a string: what this module emits (no exponent, no "+").
_PLAIN_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_WHITESPACE_RE = re.compile(r"\s")

UTC = timezone.utc
# Integers longer than this (about 400 digits) are refused before str() (slow, and refused past 4300 digits).
_HUGE_BITS = 1330


# ----------------------------------------------------------------------------------------------- identifiers


def int_to_str(value: object) -> object:
    """Let an integer or a UUID stand for a string identifier (crm ids and order ids often come from integer
    columns; PostgreSQL ``uuid`` columns arrive as :class:`uuid.UUID` on some driver versions).

    Floats are not converted: ``10042.0`` is most likely a damaged id, so it fails as "must be a string".
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > _HUGE_BITS:
            raise ValueError("must be a string (this integer is far too long for an identifier)")
        return str(value)
    return value


def check_email(value: str) -> str:
    """A shape check: exactly one ``@``, text on both sides, no whitespace.

    The "one @" part is the ``EmailAddress`` rule of ASP.NET, which the API most likely runs on.
    """
    local, at, domain = value.partition("@")
    if not at or not local or not domain or "@" in domain or _WHITESPACE_RE.search(value):
        raise ValueError("must be an e-mail address (name@domain, no spaces)")
    return value


def check_guid(value: str) -> str:
    """A GUID in any of its usual forms (``8-4-4-4-12`` hex digits, optionally in braces); sent as given."""
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValueError("must be a GUID such as 4b1c2f5e-8d4a-4f0e-9a5b-0c1d2e3f4a5b") from None
    return value


def check_identifier(value: str) -> str:
    """An identifier that can be written and read back (``arguments.identifier_problem``, the hooks' rule)."""
    problem = identifier_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def check_no_whitespace(value: str) -> str:
    if _WHITESPACE_RE.search(value):
        raise ValueError("must not contain spaces")
    return value


def currency(value: object) -> object:
    """Exactly three ASCII letters, sent upper-case (ISO 4217)."""
    if isinstance(value, str):
        if len(value) != 3 or not value.isascii() or not value.isalpha():
            raise ValueError("must be 3 letters (an ISO 4217 code such as EUR)")
        return value.upper()
    return value


def hex_digest(length: int, what: str) -> Callable[[object], object]:
    """Validator of a lower-case hexadecimal hash of ``length`` characters."""
    pattern = re.compile(f"[0-9a-f]{{{length}}}")

    def check(value: object) -> object:
        if isinstance(value, str):
            lowered = value.lower()
            if not pattern.fullmatch(lowered):
                raise ValueError(
                    f"must be {length} hexadecimal characters (the {what} of the e-mail address)"
                )
            return lowered
        return value

    return check


def int32(minimum: int) -> Callable[[object], object]:
    """Validator of an int32 field (``websiteId``, consent ids...) accepting ints and integer strings."""
    return integer(minimum, INT32_MAX)


def integer(minimum: int, maximum: int) -> Callable[[object], object]:
    """Validator of an integer in ``[minimum, maximum]``: an int, or an integral string, float or Decimal."""
    rule = f"must be an integer from {minimum} to {maximum}"

    def check(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError(f"{rule}, not true/false")
        if isinstance(value, int):
            number = value
        elif _integral(value):
            number = int(value)  # type: ignore[call-overload]
        else:
            raise ValueError(rule)
        if not minimum <= number <= maximum:
            raise ValueError(rule)
        return number

    return check


def _integral(value: object) -> bool:
    """An integer given as a string, float or Decimal (``"7"``, ``7.0``, ``Decimal("7")``), <= 19 digits."""
    if isinstance(value, str):
        return _INT_RE.fullmatch(value.strip()) is not None
    if isinstance(value, float):
        return value.is_integer() and abs(value) <= _EXACT_INT_MAX
    if isinstance(value, Decimal):
        return value.is_finite() and value.adjusted() < 19 and value % 1 == 0
    return False


# ----------------------------------------------------------------------------------------------- numbers


def non_negative_number(value: object) -> object:
    """A number the API types as a double that must be >= 0 (money amounts, quantities).

    Whole numbers are sent as JSON integers (``2``, ``2.0``, ``Decimal("2.00")`` and ``"2"`` all give ``2``):
    a quantity the API reads as an integer then parses, and for an amount the value is the same. Other
    ``Decimal`` values and numeric strings become the ``float`` whose shortest representation is the same
    decimal number, so ``json.dumps`` writes exactly the digits that were given (``Decimal("259.98")`` ->
    ``259.98``). A ``Decimal`` with more significant digits than a double keeps (15-17) is rejected rather
    than rounded silently.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, int):
        return _non_negative_int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        if value < 0:
            raise ValueError("must be >= 0")
        return int(value) if value.is_integer() and value <= _EXACT_INT_MAX else value
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER_RE.fullmatch(text):
            raise ValueError("must be a number")
        value = Decimal(text)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("must be a finite number")
        if value < 0:
            raise ValueError("must be >= 0")
        if value.adjusted() <= 15 and value == value.to_integral_value():
            return _non_negative_int(int(value))
        return _decimal_to_float(value)
    raise ValueError("must be a number")


def _non_negative_int(value: int) -> int:
    if value < 0:
        raise ValueError("must be >= 0")
    if value > _EXACT_INT_MAX:
        raise ValueError(f"must be at most {_EXACT_INT_MAX} (the API stores numbers as doubles)")
    return value


def _decimal_to_float(value: Decimal) -> float:
    """The float that reads back as exactly ``value`` (finite, >= 0), or ValueError."""
    as_float = float(value)
    if not math.isfinite(as_float):
        raise ValueError("must be a finite number within the range of a double")
    if Decimal(repr(as_float)) != value:
        raise ValueError(
            "has more significant digits than the API's number type (a double) keeps; round it "
            "(at most 15 significant digits are always exact)"
        )
    return as_float


def plain_number(value: int | float | Decimal) -> str:
    """A number as a string without exponent or float noise: ``0.1`` -> ``"0.1"``, ``5.0`` -> ``"5"``."""
    if isinstance(value, int):
        if value.bit_length() > _HUGE_BITS:
            raise ValueError("must be a number between -1e400 and 1e400")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        if value.is_integer():
            return str(int(value))
        value = Decimal(repr(value))
    if not value.is_finite():
        raise ValueError("must be a finite number")
    # Every double fits (about 1e-324 to 1e308); the bound stops Decimal("1E+999999999") from expanding to a
    # billion digits.
    if not -400 <= value.adjusted() <= 400:
        raise ValueError("must be a number between 1e-400 and 1e400")
    text = format(value, "f")
    return text[1:] if value == 0 and text.startswith("-") else text


# ----------------------------------------------------------------------------------------------- dates


def format_datetime(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``; naive datetimes are taken as UTC. Microseconds only when non-zero."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        try:
            value = value.astimezone(UTC)
        except (OverflowError, ValueError) as err:
            raise ValueError("is out of the supported date range") from err
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def _parse_iso(text: str) -> date | datetime:
    """Parse an ISO-8601 date (``YYYY-MM-DD``) or date-time; a trailing ``Z`` means UTC."""
    text = text.strip()
    if _DATE_RE.fullmatch(text):
        return date.fromisoformat(text)
    if len(text) < 11 or text[10] not in "Tt ":
        raise ValueError("not an ISO-8601 date-time")
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


_DATETIME_RULE = "must be a date-time (datetime, date, or an ISO-8601 string such as 2025-11-03T14:05:00Z)"
_DATE_RULE = "must be a date (date, datetime, or an ISO-8601 string such as 1990-04-02)"


def _from_iso(value: object, rule: str) -> object:
    """``value`` with an ISO-8601 string parsed to a datetime or date; any other value as it is."""
    if not isinstance(value, str):
        return value
    try:
        return _parse_iso(value)
    except ValueError:
        raise ValueError(rule) from None


def datetime_string(value: object) -> object:
    """A date-time field (order ``date``): ISO-8601 in UTC with ``Z``; a bare date means midnight UTC."""
    if value is None:
        return None
    value = _from_iso(value, _DATETIME_RULE)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    raise ValueError(_DATETIME_RULE)


def birth_date_string(value: object) -> object:
    """``dateOfBirth``: a calendar date sent as ``YYYY-MM-DDT00:00:00Z``.

    A datetime (or a date-time string) keeps its own calendar date; the time and offset are dropped, so
    ``1990-04-02T00:00:00+02:00`` stays the 2nd of April rather than becoming the 1st in UTC.
    """
    if value is None:
        return None
    value = _from_iso(value, _DATE_RULE)
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    raise ValueError(_DATE_RULE)


# ----------------------------------------------------------------------------------------------- typed values

# The value types of custom attributes (GET /customerattributes etc.) and of custom-event data fields.
NUMERIC_TYPES = frozenset({"Number", "Money"})


def value_to_string(value: object, value_type: str | None = None) -> str:
    """Serialize an attribute or data-field value to the string the API expects.

    Without a type: ``str`` as is, ``bool`` -> ``"true"``/``"false"``, numbers without exponent or float
    noise, ``date`` -> ``YYYY-MM-DD``, ``datetime`` -> ISO-8601 UTC with ``Z``. With a known type the value
    must fit it (see :func:`type_rule`); a ``date`` given for a ``DateTime`` becomes midnight UTC.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float, Decimal)):
        text = plain_number(value)
    elif isinstance(value, datetime):
        if value_type == "Date":
            raise ValueError("must be a date (YYYY-MM-DD), not a date-time")
        text = format_datetime(value)
    elif isinstance(value, date):
        text = f"{value.isoformat()}T00:00:00Z" if value_type == "DateTime" else value.isoformat()
    else:
        raise ValueError("must be a string, number, boolean, date or date-time")
    if value_type is not None:
        rule = type_rule(value_type, text)
        if rule:
            raise ValueError(rule)
        if value_type == "DateTime" and isinstance(value, str):
            text = format_datetime(_parse_iso(text))  # type: ignore[arg-type]  # type_rule checked it
        elif value_type == "Boolean":
            text = text.lower()
    return text


def type_rule(value_type: str, text: str) -> str | None:
    """The rule ``text`` breaks for an attribute/data-field type, or ``None`` when it fits.

    ``String``, ``Text`` and ``SingleSelect`` accept any string (the options of a single-select attribute are
    not published by the API); unknown types are not checked.
    """
    if value_type in NUMERIC_TYPES:
        if not _PLAIN_NUMBER_RE.fullmatch(text):
            kind = "an amount" if value_type == "Money" else "a number"
            return f"must be {kind} such as 12.5 (the type is {value_type})"
    elif value_type == "Date":
        if not _DATE_RE.fullmatch(text) or not _valid_date(text):
            return "must be a date YYYY-MM-DD (the type is Date)"
    elif value_type == "DateTime":
        try:
            parsed = _parse_iso(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, datetime):
            return "must be an ISO-8601 date-time such as 2025-11-03T14:05:00Z (the type is DateTime)"
    elif value_type == "Boolean":
        if text.lower() not in ("true", "false"):
            return "must be true or false (the type is Boolean)"
    elif value_type in ("Url", "URL") and not _valid_url(text):
        return f"must be an http(s) URL (the type is {value_type})"
    return None


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _valid_url(text: str) -> bool:
    if _WHITESPACE_RE.search(text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
