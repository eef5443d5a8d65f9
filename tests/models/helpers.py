"""Helpers of the model tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderInvalidRecordError, InvalidRecord


def rejected(call: Callable[[], Any]) -> InvalidRecord:
    """Run ``call``, expect ExpertSenderInvalidRecordError, return its record."""
    with pytest.raises(ExpertSenderInvalidRecordError) as info:
        call()
    return info.value.record


def problems(call: Callable[[], Any]) -> dict[str, str]:
    """The {field: rule} problems of an invalid record (fails if a field is reported twice)."""
    record = rejected(call)
    found: dict[str, str] = {}
    for problem in record.problems:
        assert problem.field not in found, f"{problem.field} reported twice: {record.problems}"
        found[problem.field] = problem.rule
    return found
