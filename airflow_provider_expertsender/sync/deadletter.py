"""The dead-letter file: every record that did not land, with its position and the reason, as JSON Lines.

The file holds personal data by design (the rejected records themselves, so they can be fixed and replayed):
put it where the source data lives, with the same access rules and retention.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_expertsender.sync.paths import as_path, display

if TYPE_CHECKING:
    from airflow_provider_expertsender.exceptions import FieldProblem


def _default(value: Any) -> Any:
    """JSON for values JSON does not know (dates, decimals, UUIDs, bytes...): their string form."""
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return str(value)


class DeadLetterWriter:
    """Writes rejected records to ``location`` (local path or object-storage URI), one JSON object per line.

    The file is created on the first rejected record (an existing file is replaced, so a retried task does not
    mix its rejections with the previous try's), and not at all when every record landed.

    Each line: ``{"position", "identifier", "stage", "reason", "problems", "record"}`` where ``stage`` is
    ``"validation"`` (refused locally, never sent), ``"api"`` (refused by ExpertSender) or ``"in_doubt"`` (its
    request failed after it may have reached the API: check before re-sending), ``position`` the
    0-based index of the record in the input, ``problems`` the broken rules (validation only) and ``record``
    the record as read (after mapping), or the payload when the original was not kept.

    :param location: where to write; ``None`` disables the writer (every call is a no-op).
    """

    def __init__(self, location: Any) -> None:
        self.location = location
        self.written = 0
        self._file: IO[str] | None = None

    @property
    def enabled(self) -> bool:
        return self.location is not None and self.location != ""

    @property
    def path(self) -> str | None:
        """Where the file is, once something was written (else ``None``)."""
        return display(self.location) if self.written else None

    def write(
        self,
        *,
        position: int,
        identifier: str | None,
        stage: str,
        reason: str,
        record: Any,
        problems: tuple[FieldProblem, ...] = (),
    ) -> None:
        if not self.enabled:
            return
        if self._file is None:
            path = as_path(self.location)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except (OSError, NotImplementedError):
                pass  # object stores have no folders; opening the file is what matters
            self._file = path.open("w", encoding="utf-8")
        line = {
            "position": position,
            "identifier": identifier,
            "stage": stage,
            "reason": reason,
            "problems": [{"field": p.field, "rule": p.rule} for p in problems],
            "record": dict(record) if isinstance(record, Mapping) else record,
        }
        self._file.write(json.dumps(line, default=_default, ensure_ascii=False))
        self._file.write("\n")
        self.written += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> DeadLetterWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
