"""The engine's seam for what remembers records across runs: a :class:`Ledger`.

A write may carry ledgers (the resumable-run checkpoint, ``sync/checkpoint.py``; the incremental-sync state).
The engine tells each of them, in this order:

1. :meth:`Ledger.admit` for every valid record, before it is batched: send it, or skip it (the ledger names
   the summary count it goes to), or hold it back as in doubt (an earlier try may have applied it);
2. :meth:`Ledger.sending` just before a request carries records (from a sender thread);
3. :meth:`Ledger.confirmed` once the API confirmed records (from the coordinating thread), and
4. :meth:`Ledger.close` at the end, saying whether the whole input was processed.

A ledger may also define ``select(stream, validate)``: the engine then hands it the ``(position, record)``
stream of the input and the validation (``validate(position, record) -> payload or None``) and batches the
``(position, record, payload)`` it yields; the incremental state uses this to skip unchanged rows before
validating them (``sync/state.py``).

Keys are the resource's record key (``e-mail``, ``(websiteId, id)``...; ``None`` for custom events); payloads
are the validated API payloads (canonical: the same record always gives the same payload).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: What :meth:`Ledger.admit` returns to send the record.
SEND = None
#: What :meth:`Ledger.admit` returns for a record an earlier try may have applied: dead-lettered
#: ``in_doubt``, not sent.
IN_DOUBT = "in_doubt"


class Ledger:
    """Base of the ledgers: every method does nothing (override what you need). Calls are made only for
    ledgers the write carries, so a write without any costs nothing."""

    def admit(self, key: Any, payload: Mapping[str, Any]) -> str | None:
        """Decide about one valid record before it is batched (coordinating thread).

        :return: :data:`SEND`; :data:`IN_DOUBT`; or the name of the summary count a skipped record goes to
            (``"resumed"``, ``"unchanged"``...).
        """
        return SEND

    def sending(self, payloads: Sequence[Mapping[str, Any]]) -> None:
        """These records are about to be sent (a sender thread; must be thread-safe)."""

    def confirmed(self, keys: Sequence[Any], payloads: Sequence[Mapping[str, Any]]) -> None:
        """The API confirmed these records (coordinating thread)."""

    def close(self, *, complete: bool) -> None:
        """The write ended; ``complete``: every record of the input was read and had its outcome."""
