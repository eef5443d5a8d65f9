"""Checks of the numeric arguments of a bulk write (cheap: imported when a DAG is parsed)."""

from __future__ import annotations

import math
from typing import Any

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError


def parse_max_rejected(max_rejected: Any) -> int | float:
    """Check ``max_rejected``: an int count (``>= 0``) or a fraction of the records read (``0 <= x < 1``).

    :raises ExpertSenderConfigError: anything else (a negative number, ``True``, ``2.5``, a string).
    """
    if isinstance(max_rejected, bool) or not isinstance(max_rejected, (int, float)):
        raise ExpertSenderConfigError(
            f"max_rejected must be a count (int >= 0) or a fraction (float between 0 and 1), got "
            f"{max_rejected!r}."
        )
    if isinstance(max_rejected, float):
        if math.isnan(max_rejected) or not 0 <= max_rejected < 1:
            if max_rejected >= 1 and max_rejected.is_integer():
                return int(max_rejected)
            raise ExpertSenderConfigError(
                f"max_rejected={max_rejected!r}: a float is a fraction of the records read and must be "
                "between 0 and 1 (0.01 = 1%); pass an int for a count."
            )
        return max_rejected
    if max_rejected < 0:
        raise ExpertSenderConfigError(f"max_rejected must be >= 0, got {max_rejected}.")
    return max_rejected


def describe_limit(limit: int | float) -> str:
    """``max_rejected`` for messages: ``"5"`` or ``"1.00% of the records read"``."""
    return f"{limit:.2%} of the records read" if isinstance(limit, float) else str(limit)


def exceeds(count: int, limit: int | float, read: int) -> bool:
    """Whether ``count`` records not landed is more than ``limit`` allows when ``read`` records were read."""
    if isinstance(limit, float):
        return count > limit * read
    return count > limit


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1 (an integral float or numeric string is accepted), else a config error."""
    if isinstance(value, bool):
        raise ExpertSenderConfigError(f"{name} must be a positive integer, got {value!r}.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ExpertSenderConfigError(f"{name} must be a positive integer, got {value!r}.") from None
    if number < 1 or number != float(value):
        raise ExpertSenderConfigError(f"{name} must be a positive integer, got {value!r}.")
    return number
