"""JSON of the input (JSON Lines, JSON columns, a rendered ``records`` string), parsed strictly.

A JSON object that names a key twice is refused rather than keeping the last value (what :func:`json.loads`
does), and nesting too deep for the parser is a ``ValueError`` like any other bad JSON, not a
``RecursionError``: both make one row invalid instead of silently losing a value or stopping the run.
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateKeyError(ValueError):
    """A JSON object names a key twice (JSON parsers keep the last value)."""


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` of :func:`json.loads` refusing an object that names a key twice."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = sorted({key for key, _ in pairs if key in seen or seen.add(key)})  # type: ignore[func-returns-value]
        raise DuplicateKeyError(f"key {', '.join(map(repr, twice))} given twice in one object")
    return obj


# One decoder (json.loads with arguments builds a new one per call: a third of the time of a short line).
_DECODER = json.JSONDecoder(object_pairs_hook=unique_object)


def loads_strict(text: str | bytes) -> Any:
    """:func:`json.loads` refusing duplicate keys; raises ``ValueError`` (also for nesting too deep, and for
    bytes that are not UTF-8)."""
    try:
        return _DECODER.decode(text.decode("utf-8") if isinstance(text, (bytes, bytearray)) else text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def json_problem(err: ValueError) -> str:
    """A JSON parse error in a few words, without the text around it (it may hold personal data)."""
    if isinstance(err, DuplicateKeyError):
        return str(err)
    return str(err.args[0] if err.args else err).split(":")[0]
