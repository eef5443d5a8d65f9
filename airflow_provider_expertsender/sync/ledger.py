"""The engine's seam for what remembers records across runs: a :class:`Ledger`.

A write may carry ledgers (the resumable-run checkpoint, ``sync/checkpoint.py``; the incremental-sync state).
The engine tells each of them, in this order:

1. :meth:`Ledger.admit` for every valid record, before it is batched: send it, or skip it (the ledger names
   the summary count it goes to), or hold it back as in doubt (an earlier try may have applied it);
2. :meth:`Ledger.sending` just before a request carries records (from a sender thread);
3. :meth:`Ledger.confirmed` once the API confirmed records (from the coordinating thread), and
4. :meth:`Ledger.close` at the end, saying whether the whole input was processed.

A :class:`Selector` is a ledger that also chooses which records are validated at all: the engine hands it the
input as ``(position, fingerprint, item)`` with the means to turn an item into its record and to validate a
record, and batches the ``(position, record, payload)`` it yields. The incremental state is one: it skips rows
it has seen before without decoding, mapping or validating them (``sync/state.py``).

Keys are the resource's record key (``e-mail``, ``(websiteId, id)``...; ``None`` for custom events); payloads
are the validated API payloads (canonical: the same record always gives the same payload).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

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

    def sending(self, payloads: Sequence[Mapping[str, Any]], positions: Sequence[int] = ()) -> None:
        """These records are about to be sent (a sender thread; must be thread-safe).

        :param positions: their positions in the input, in the same order (the engine always gives them).
        """

    def confirmed(
        self, keys: Sequence[Any], payloads: Sequence[Mapping[str, Any]], positions: Sequence[int] = ()
    ) -> None:
        """The API confirmed these records (coordinating thread).

        :param positions: their positions in the input, in the same order (the engine always gives them).
        """

    def close(self, *, complete: bool) -> None:
        """The write ended; ``complete``: every record of the input was read and had its outcome."""


def as_record(item: Any) -> Any:
    """The record of an item that is a record already (the input was not taken as units)."""
    return item


class Selector(Ledger):
    """A ledger that selects the records to validate and send (at most one per write)."""

    def select(
        self,
        stream: Iterable[tuple[int, bytes | None, Any]],
        validate: Callable[[int, Any], dict[str, Any] | None],
        materialize: Callable[[Any], Any] = as_record,
    ) -> Iterator[tuple[int, Any, dict[str, Any]]]:
        """The ``(position, record, payload)`` of the records to send, in input order.

        :param stream: ``(position, fingerprint, item)`` for every row of the input: ``item`` is a record, or
            a unit of the source (``sync/mapping.py``, ``MappedRows.units``) whose record ``materialize``
            gives; ``fingerprint`` identifies the unit's content (None: it has none).
        :param validate: the engine's validation: ``(position, record) -> payload``, or None when the record
            is invalid (the engine has reported it).
        :param materialize: the record of an item.
        """
        for position, _, item in stream:
            record = materialize(item)
            payload = validate(position, record)
            if payload is not None:
                yield position, record, payload
