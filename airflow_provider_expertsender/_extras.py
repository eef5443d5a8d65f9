"""The numeric connection extras: default and bounds, one table for the connection form and the runtime.

``__init__.py`` renders the form fields from it (``conn-fields`` for Airflow 3, the hook's widgets for 2.10)
and ``connection.py`` parses every extra against it, so the form never accepts what a task then refuses.
Pure data: imported when Airflow reads the provider info, it must stay free of imports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NumericExtra:
    """One numeric extra.

    :param kind: ``number`` (seconds, decimals allowed) or ``integer``.
    :param default: the value when the extra is absent or empty.
    :param minimum: smallest accepted value (inclusive).
    :param maximum: largest accepted value (inclusive).
    :param description: what it does, for the form and the docs.
    :param label: the form field's label; None keeps the extra out of the form (JSON extra only).
    """

    kind: str
    default: float
    minimum: float
    maximum: float
    description: str
    label: str | None = None

    def accepted(self) -> str:
        """The rule, for messages: ``a number from 0.01 to 3600 (seconds)``."""
        what = "a whole number" if self.kind == "integer" else "a number"
        unit = "" if self.kind == "integer" else " (seconds)"
        return f"{what} from {self.minimum:g} to {self.maximum:g}{unit}"


NUMERIC_EXTRAS: dict[str, NumericExtra] = {
    "connect_timeout": NumericExtra(
        "number",
        10,
        0.01,
        600,
        "Seconds to wait for the TCP/TLS connection. Default 10.",
        "Connect timeout (s)",
    ),
    "read_timeout": NumericExtra(
        "number",
        60,
        0.01,
        3600,
        "Seconds one attempt may take, to the last byte of the response. Default 60.",
        "Read timeout (s)",
    ),
    "max_retries": NumericExtra(
        "integer",
        5,
        0,
        1000,
        "Retries on connection errors, 5xx and 429 (0 disables). Default 5.",
        "Max retries",
    ),
    "backoff_base": NumericExtra("number", 1.0, 0, 3600, "Wait before the first retry, in seconds."),
    "backoff_max": NumericExtra("number", 60.0, 0, 3600, "Longest single backoff wait."),
    "retry_after_max": NumericExtra("number", 300.0, 0, 3600, "Longest wait accepted from a Retry-After."),
    "max_retry_time": NumericExtra(
        "number", 900.0, 0.01, 86400, "Total seconds one call may spend on attempts and waits."
    ),
    "batch_size": NumericExtra(
        "integer",
        100,
        1,
        10000,
        "Records per POST /customers or /orders request. Default 100 (the real limit is undocumented).",
        "Batch size",
    ),
    "max_concurrency": NumericExtra("integer", 4, 1, 64, "Batches a bulk write sends in parallel."),
}
