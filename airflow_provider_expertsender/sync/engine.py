"""The streaming write engine: validate, batch, send concurrently, isolate rejected records, summarise.

The engine knows no resource: what customers, orders, custom events, status changes and deletes are (the
endpoint, batched or one request per record, idempotent or not, the payload, the record key...) comes from
their descriptor in :mod:`~airflow_provider_expertsender.sync.resources`.

One coordinating thread reads the input, validates each record into its API payload (``models``), asks the
write's ledgers (checkpoint, incremental state; :mod:`~airflow_provider_expertsender.sync.ledger`) whether to
send it, groups payloads into batches (one record each for per-record resources) and hands them to a pool of
``max_concurrency`` sender threads; it also collects their outcomes (counts, dead letters, confirmations, log
lines). At most ``2 * max_concurrency`` batches exist at any time, so memory does not grow with the input.
The sender threads share one :class:`~airflow_provider_expertsender.sync.budget.RequestBudget`: a 429 pauses
all of them and lowers the concurrency.

What happens to a batch the API refuses as a whole (HTTP 400) is decided here and nowhere else:

* the records the error names (``data[i]...``) are rejected with the server's message and the rest of the
  batch is sent again;
* when the error names no record, the batch is split in two and each half is sent (recursively), down to
  single records, so every good record still lands and every bad one is reported with the server's reason;
* when both halves of such a batch land whole, the batch was refused for its size (the real per-request limit
  is undocumented), so later requests are capped to that half size and a warning says which ``batch_size`` to
  set. An HTTP 413 is treated the same way.

A request that may have reached the API but got no answer (read timeout, dropped connection, 5xx) is *in
doubt*. For a resource whose requests may be repeated the hook already retried it; otherwise its records are
dead-lettered with stage ``in_doubt`` and never sent again: a batched write stops there, a per-record write
goes on (and stops once the records in doubt alone exceed ``max_rejected``). When the try itself is ended
(execution timeout, SIGTERM), the requests in flight get a few seconds to answer and the rest are in doubt.

With ``on_invalid="fail"`` nothing may be sent while a later record could still turn out invalid, so the
input is read and validated to the end first, the validated batches going to a temporary spool file (in memory
up to ``SPOOL_MEMORY_BYTES``, then on local disk, deleted at the end); sending starts once the whole input is
known to be valid. With ``on_invalid="skip"`` validation and sending overlap.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import struct
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderInvalidInputError,
    ExpertSenderInvalidRecordError,
    ExpertSenderNotFoundError,
    ExpertSenderRejectedRecordsError,
    ExpertSenderValidationError,
    FieldProblem,
    InvalidRecord,
)
from airflow_provider_expertsender.hooks.expertsender import refusal_reason
from airflow_provider_expertsender.sync.budget import BudgetPolicy, RequestBudget
from airflow_provider_expertsender.sync.deadletter import DeadLetterWriter
from airflow_provider_expertsender.sync.ledger import IN_DOUBT, Ledger, Selector
from airflow_provider_expertsender.sync.limits import (
    describe_limit,
    exceeds,
    parse_max_rejected,
    positive_int,
)
from airflow_provider_expertsender.sync.mapping import MappedRows, RowError
from airflow_provider_expertsender.sync.options import WriteOptions
from airflow_provider_expertsender.sync.paths import display
from airflow_provider_expertsender.sync.progress import DEFAULT_PROGRESS_INTERVAL, Progress
from airflow_provider_expertsender.sync.resources import GONE, Resource, WriteContext, resource_named

if TYPE_CHECKING:
    from airflow_provider_expertsender.models import SettingsCatalog
    from airflow_provider_expertsender.sync.checkpoint import TaskTry
    from airflow_provider_expertsender.sync.state import IncrementalSync

log = logging.getLogger(__name__)

#: Records per request when neither the operator nor the connection says otherwise. The API's real limit is
#: undocumented; 100 is conservative (public integrations send one record per request).
DEFAULT_BATCH_SIZE = 100
#: Requests in flight when neither the operator nor the connection says otherwise.
DEFAULT_MAX_CONCURRENCY = 4
#: Validated batches kept in memory before the spool of ``on_invalid="fail"`` moves to local disk.
SPOOL_MEMORY_BYTES = 32 * 1024 * 1024
#: Rejected records logged one line each; the rest are counted (and all go to the dead-letter file).
LOGGED_REJECTIONS = 50
#: A run stops early when this many first batches (or, one record per request, this many times as many
#: first records) were refused entirely and the rejection limit is already exceeded: a systematic problem
#: (wrong ``match_by``, an unknown custom event id...) rather than bad records.
SYSTEMATIC_BATCHES = 3
SYSTEMATIC_RECORDS_PER_BATCH = 10
#: Seconds the requests in flight get to answer when the try is ended (timeout, SIGTERM) before they are
#: reported in doubt.
INTERRUPT_GRACE = 5.0


@dataclass
class _Batch:
    """Validated records ready to send. ``originals`` are kept only when a dead-letter file is wanted."""

    number: int
    positions: list[int] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    originals: list[Any] | None = None
    keys: set[Any] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.payloads)


@dataclass
class _Outcome:
    """What the API did with one batch (filled by a sender thread, read by the coordinator)."""

    sent: int = 0
    accepted: int = 0
    requests: int = 0
    gone: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (offset in the batch, reason)
    # A request may have been applied without an answer (one request per record): (offset, reason).
    in_doubt: list[tuple[int, str]] = field(default_factory=list)
    unattributed: list[str] = field(default_factory=list)
    # Answered 2xx, but an error named no record: any of these may be the one that failed (offset, reason).
    unsure: list[tuple[int, str]] = field(default_factory=list)


def _named_errors(exc: ExpertSenderError, payloads: list[dict[str, Any]]) -> dict[int, str]:
    """Records of a refused batch that the error names, as ``{index in the batch: message}``.

    How the API names items in a 400 is undocumented; the hook's response module owns that guess (by
    position, or by identifier when the payloads are given), so this function only asks it.
    """
    errors = getattr(exc, "errors", None)
    if not errors:
        return {}
    from airflow_provider_expertsender.hooks.expertsender import parse_item_errors

    named: dict[int, str] = {}
    for item in parse_item_errors(errors, len(payloads), payloads):
        if item.index is not None:
            named[item.index] = (
                f"{named[item.index]}; {item.message}" if item.index in named else item.message
            )
    return named


# A spool entry: the length of the pickled batch that follows, so it is read back with one read() (pickle.load
# on a SpooledTemporaryFile would call it once per object). Pickle only: marshal for the payloads measured the
# same (bench_keep_or_remove.py: 4.90 vs 4.88 s of CPU for 200,000 customers).
_SPOOL_HEADER = struct.Struct("<Q")


def _spool_dump(batch: _Batch, spool: IO[bytes]) -> None:
    """Write a batch to the spool (our own temporary file; read back by this process only)."""
    blob = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
    spool.write(_SPOOL_HEADER.pack(len(blob)))
    spool.write(blob)


def _spool_load(spool: IO[bytes]) -> _Batch:
    """Read back the next batch written by :func:`_spool_dump`."""
    (size,) = _SPOOL_HEADER.unpack(spool.read(_SPOOL_HEADER.size))
    batch: _Batch = pickle.loads(spool.read(size))
    return batch


@contextmanager
def _collector_ignores_older_objects() -> Iterator[None]:
    """Keep the objects alive before the write (Airflow's modules, the DAG, the task) out of the garbage
    collector's sight while it runs (:func:`gc.freeze`), and give them back afterwards.

    A write allocates tens of millions of short-lived objects, and the validated batches waiting for their
    turn survive long enough to trigger full collections, each of which walked every object of the process:
    about 40 % of the engine's CPU time on 200,000 customers. Objects created during the write are collected
    as usual. Nothing is done when the collector is disabled or objects are already frozen (the process
    manages its collector itself, and unfreezing would undo that).
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _unusable(record: Any, position: int) -> InvalidRecord:
    """The validation failure of something that is not a record (an unreadable line, a row_mapper failure)."""
    if isinstance(record, RowError):
        return InvalidRecord(position, None, (FieldProblem("(row)", record.reason),))
    return InvalidRecord(
        position, None, (FieldProblem("(record)", f"must be an object, got {type(record).__name__}"),)
    )


def _is_batch_refusal(exc: ExpertSenderError) -> bool:
    """Whether the API refused the request because of what was in it (so splitting it can help)."""
    return isinstance(exc, ExpertSenderValidationError) or exc.status == 413


def _maybe_applied(exc: BaseException) -> bool:
    return isinstance(exc, ExpertSenderError) and exc.maybe_applied


@dataclass(frozen=True)
class _Settings:
    """The options of one run, resolved against the connection and checked."""

    batch_size: int
    max_concurrency: int
    on_invalid: str
    max_rejected: int | float


class _Engine:
    def __init__(
        self,
        hook: Any,
        resource: Resource,
        context: WriteContext,
        options: WriteOptions,
        settings: _Settings,
        *,
        dead_letters: DeadLetterWriter,
        ledgers: Sequence[Ledger],
        budget: RequestBudget,
        progress: Progress,
        log: Any,
    ) -> None:
        self.hook = hook
        self.resource = resource
        self.context = context
        self.options = options
        self.batch_size = settings.batch_size if resource.batched else 1
        self.max_concurrency = settings.max_concurrency
        self.on_invalid = settings.on_invalid
        self.max_rejected = settings.max_rejected
        self.dry_run = options.dry_run
        self.may_repeat = resource.may_repeat(context)
        self.dead_letters = dead_letters
        self.ledgers = list(ledgers)
        self.budget = budget
        self.progress = progress
        self.log = log
        self.kind = resource.noun
        self.keep_originals = dead_letters.enabled
        self.invalid_records: list[InvalidRecord] = []  # the first few, for the error message
        self.unattributed = 0
        self.in_doubt = 0
        self.gone = 0
        self.skipped: Counter[str] = Counter()
        self.logged_rejections = 0
        self.fully_refused_batches = 0  # among the first completed ones
        self.completed_batches = 0
        self.systematic_window = SYSTEMATIC_BATCHES * (
            1 if resource.batched else SYSTEMATIC_RECORDS_PER_BATCH
        )
        self.stopped_early = False
        self.complete = False
        # Largest number of records the API took in one request after refusing a bigger one (None: unknown).
        self._limit: int | None = None
        self._limit_lock = threading.Lock()
        self._payload = resource.payload(context)
        self._key = resource.key(context) if resource.key is not None else None

    # ----------------------------------------------------------------- validation and batching (coordinator)

    def batches(self, records: Iterable[Any]) -> Iterator[_Batch]:
        """Validate ``records`` and yield them in batches of ``batch_size`` valid payloads."""
        progress = self.progress
        key_of = self._key if self.max_concurrency > 1 or self.ledgers else None
        ledgers = self.ledgers
        number = 0
        batch = _Batch(number, originals=[] if self.keep_originals else None)
        for position, record, payload in self._valid(records):
            key = key_of(payload) if key_of is not None else None
            if ledgers and self._held(position, key, payload, record):
                progress.maybe_log()
                continue
            batch.positions.append(position)
            batch.payloads.append(payload)
            if batch.originals is not None:
                batch.originals.append(record)
            if key is not None:
                batch.keys.add(key)
            if len(batch.payloads) >= self.batch_size:
                progress.batches += 1
                yield batch
                number += 1
                batch = _Batch(number, originals=[] if self.keep_originals else None)
            progress.maybe_log()
        if batch.payloads:
            progress.batches += 1
            yield batch

    def _valid(self, records: Iterable[Any]) -> Iterator[tuple[int, Any, dict[str, Any]]]:
        """``(position, record, payload)`` of the valid records; a ledger that selects records itself (the
        incremental state: it skips unchanged rows before decoding and validating them) gets the stream
        first, as the source's units when the records can be taken so."""
        selector = next((ledger for ledger in self.ledgers if isinstance(ledger, Selector)), None)
        if selector is None:
            return self._validated(records)
        if isinstance(records, MappedRows):
            units = records.units()
            if units is not None:
                return selector.select(self._read(units), self._validate, records.record)
        return selector.select(self._read((None, record) for record in records), self._validate)

    def _read(self, items: Iterable[tuple[bytes | None, Any]]) -> Iterator[tuple[int, bytes | None, Any]]:
        progress = self.progress
        for position, (fingerprint, item) in enumerate(items):
            progress.read += 1
            yield position, fingerprint, item
            progress.maybe_log()

    def _validated(self, records: Iterable[Any]) -> Iterator[tuple[int, Any, dict[str, Any]]]:
        progress = self.progress
        validate = self._validate
        scalar_field = self.resource.scalar_field
        scalars = (Mapping, RowError, list, tuple, set)
        for position, record in enumerate(records):
            progress.read += 1
            if scalar_field is not None and type(record) is not dict and not isinstance(record, scalars):
                record = {scalar_field: record}  # kept so, for the dead-letter file
            payload = validate(position, record)
            if payload is not None:
                yield position, record, payload

    def _validate(self, position: int, record: Any) -> dict[str, Any] | None:
        """The payload of ``record``, or None when it is invalid (then reported)."""
        scalar_field = self.resource.scalar_field
        try:
            if type(record) is not dict and not isinstance(record, Mapping):
                if scalar_field is None or isinstance(record, (RowError, list, tuple, set)):
                    raise ExpertSenderInvalidRecordError(_unusable(record, position))
                record = {scalar_field: record}
            return self._payload(record, position)
        except ExpertSenderInvalidRecordError as err:
            self._invalid(err.record, record.row if isinstance(record, RowError) else record)
            self.progress.maybe_log()
            return None

    def _held(self, position: int, key: Any, payload: dict[str, Any], record: Any) -> bool:
        """Ask the ledgers about one valid record; True when it is not to be sent."""
        for ledger in self.ledgers:
            verdict = ledger.admit(key, payload)
            if verdict is None:
                continue
            if verdict == IN_DOUBT:
                self.in_doubt += 1
                self.dead_letters.write(
                    position=position,
                    identifier=self.resource.describe(payload),
                    stage="in_doubt",
                    reason="an earlier try of this task sent it and ended before the API answered; not sent "
                    "again (check it, or pass retry_unsafe=True)",
                    record=record,
                )
            else:
                self.skipped[verdict] += 1
            return True
        return False

    def _invalid(self, invalid: InvalidRecord, record: Any) -> None:
        self.progress.invalid += 1
        if len(self.invalid_records) < 20:
            self.invalid_records.append(invalid)
        # The dead letter first: a line the log reported is in the file even if the process dies right after.
        self.dead_letters.write(
            position=invalid.index,
            identifier=invalid.identifier,
            stage="validation",
            reason="; ".join(str(p) for p in invalid.problems) or "invalid",
            record=record,
            problems=invalid.problems,
        )
        if self.logged_rejections < LOGGED_REJECTIONS:
            self.logged_rejections += 1
            self.log.warning("Invalid %s %s", self.kind, invalid.describe())

    def spooled(self, batches: Iterator[_Batch]) -> Iterator[_Batch]:
        """Consume ``batches`` entirely into a temporary spool, then replay them (``on_invalid="fail"``)."""
        self.progress.phase = "validating"
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES, prefix="expertsender-") as spool:
            count = 0
            for batch in batches:
                _spool_dump(batch, spool)
                count += 1
            self.raise_if_invalid()
            self.log.info(
                "Validated %d record(s) in %d batch(es) (%.1f s); sending.",
                self.progress.read,
                count,
                self.progress.elapsed,
            )
            self.progress.phase = "sending"
            spool.seek(0)
            for _ in range(count):
                yield _spool_load(spool)

    def raise_if_invalid(self) -> None:
        """``on_invalid="fail"``: after the whole input was validated, refuse to send anything if a record is
        invalid."""
        if self.on_invalid != "fail" or not self.progress.invalid:
            return
        self.dead_letters.close()
        if self.dead_letters.path:
            self.log.error("The invalid records are in the dead-letter file %s.", self.dead_letters.path)
        raise ExpertSenderInvalidInputError(self.invalid_records, total=self.progress.invalid)

    # ----------------------------------------------------------------------------- sending (sender threads)

    def _send(self, payloads: Any, positions: list[int]) -> Any:
        """One request (a list of payloads, or one payload), within the shared budget.

        :param positions: the records' positions in the input (for the ledgers).
        """
        for ledger in self.ledgers:
            ledger.sending(payloads if isinstance(payloads, list) else [payloads], positions)
        with self.budget.slot():
            return self.resource.send(self.hook, payloads, self.context)

    def deliver(self, batch: _Batch) -> _Outcome:
        """Send one batch, isolating refused records; runs in a sender thread."""
        outcome = _Outcome()
        if not self.resource.batched:
            self._deliver_one(batch, outcome)
            return outcome
        offsets = list(range(len(batch)))
        limit = self._limit or len(offsets)
        for start in range(0, len(offsets), limit):
            self._deliver(batch, offsets[start : start + limit], outcome)
        return outcome

    def _deliver_one(self, batch: _Batch, outcome: _Outcome) -> None:
        """A per-record resource: one request for the batch's only record."""
        outcome.requests += 1
        try:
            result = self._send(batch.payloads[0], batch.positions[:1])
        except ExpertSenderError as exc:
            if _maybe_applied(exc) and not self.may_repeat:
                outcome.in_doubt.append((0, exc.message))
                return
            if not isinstance(exc, (ExpertSenderValidationError, ExpertSenderNotFoundError)):
                raise
            outcome.sent += 1
            outcome.rejected.append((0, refusal_reason(exc)))
            return
        outcome.sent += 1
        outcome.accepted += 1
        if result == GONE:
            outcome.gone += 1

    def _deliver(self, batch: _Batch, offsets: list[int], outcome: _Outcome) -> bool:
        """Send the records at ``offsets``; return whether all of them landed without an item error."""
        outcome.requests += 1
        payloads = [batch.payloads[i] for i in offsets]
        try:
            result = self._send(payloads, [batch.positions[i] for i in offsets])
        except ExpertSenderError as exc:
            if not _is_batch_refusal(exc):
                raise
            if len(offsets) == 1:
                named = _named_errors(exc, payloads)
                outcome.rejected.append((offsets[0], named.get(0) or refusal_reason(exc)))
                return False
            named = {} if exc.status == 413 else _named_errors(exc, payloads)
            if named:
                for index, message in named.items():
                    outcome.rejected.append((offsets[index], message))
                rest = [offset for index, offset in enumerate(offsets) if index not in named]
                if rest:
                    self._deliver(batch, rest, outcome)
                return False
            middle = len(offsets) // 2
            left_ok = self._deliver(batch, offsets[:middle], outcome)
            right_ok = self._deliver(batch, offsets[middle:], outcome)
            if left_ok and right_ok:
                self._learn_limit(len(offsets), len(offsets) - middle, exc)
            return False
        sent = len(offsets)
        failed: dict[int, str] = {}
        unattributed = len(outcome.unattributed)
        for item in result.item_errors:
            if item.index is not None and 0 <= item.index < sent:
                failed[item.index] = (
                    f"{failed[item.index]}; {item.message}" if item.index in failed else item.message
                )
            else:
                outcome.unattributed.append(item.message)
        outcome.sent += sent
        outcome.rejected.extend((offsets[index], message) for index, message in failed.items())
        if len(outcome.unattributed) > unattributed:
            # An error the server tied to no record: any record it did not name may be the one that failed.
            reason = "the API answered with errors naming no record: " + "; ".join(
                outcome.unattributed[unattributed:]
            )
            outcome.unsure.extend((offsets[i], reason) for i in range(sent) if i not in failed)
            return False
        outcome.accepted += sent - len(failed)
        return not failed

    def _learn_limit(self, refused: int, accepted: int, exc: ExpertSenderError) -> None:
        with self._limit_lock:
            if self._limit is not None and self._limit <= accepted:
                return
            self._limit = accepted
        self.log.warning(
            "The API refused a request of %d records as a whole (HTTP %s: %s) and accepted its halves: its "
            "per-request limit is below %d. Sending at most %d records per request from now on; set "
            "batch_size=%d (operator argument or connection extra) to avoid the extra requests.",
            refused,
            exc.status,
            refusal_reason(exc),
            refused,
            accepted,
            accepted,
        )

    # ---------------------------------------------------------------------------- coordination (coordinator)

    def run(self, records: Iterable[Any]) -> None:
        batches = self.batches(records)
        if self.dry_run:
            self.progress.phase = "dry run"
            for _ in batches:
                pass
            self.raise_if_invalid()
            self.complete = True
            return
        if self.on_invalid == "fail":
            batches = self.spooled(batches)
        pending: dict[Future[_Outcome], _Batch] = {}
        failure: BaseException | None = None
        pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="expertsender-write")
        try:
            for batch in batches:
                if batch.keys and pending:
                    conflicts = [f for f, b in pending.items() if not b.keys.isdisjoint(batch.keys)]
                    if conflicts:  # same customer/order in flight: keep input order
                        failure = self._collect(pending, wait(conflicts).done)
                while failure is None and len(pending) >= 2 * self.max_concurrency:
                    failure = self._collect(pending, wait(pending, return_when=FIRST_COMPLETED).done)
                if failure is not None:
                    break
                pending[pool.submit(self.deliver, batch)] = batch
                self._maybe_log()
                if self._systematic() or self._too_much_in_doubt():
                    self.stopped_early = True
                    break
            else:
                self.complete = True
            while pending:
                error = self._collect(pending, wait(pending, return_when=FIRST_COMPLETED).done)
                failure = failure or error
                self._maybe_log()
        except BaseException:
            # The try is being ended (execution timeout, SIGTERM) or the input failed: let the requests in
            # flight answer for a moment; whatever has not answered then may or may not have been applied.
            self.complete = False
            self._interrupted(pending)
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if failure is not None:
            self.complete = False
            self.log.error(
                "Stopped after a request failed: read %d, sent %d, accepted %d, rejected %d so far. Records "
                "of batches not yet sent were not written.%s",
                self.progress.read,
                self.progress.sent,
                self.progress.accepted,
                self.progress.rejected,
                " The requests of this write must not be repeated: a task retry resumes from the checkpoint "
                "and does not send the records in doubt again."
                if not self.may_repeat
                else " The write is idempotent: re-running the task re-sends every record safely.",
            )
            raise failure

    def _interrupted(self, pending: dict[Future[_Outcome], _Batch]) -> None:
        for future in list(pending):
            if future.cancel():
                del pending[future]
        if not pending:
            return
        done, not_done = wait(pending, timeout=INTERRUPT_GRACE)
        try:
            self._collect(pending, done)
        except Exception:
            self.log.exception("Could not record the outcome of the last requests.")
        for future in not_done:
            batch = pending.pop(future)
            if self.may_repeat:
                continue
            self._in_doubt(batch, range(len(batch)), "the task was ended while the request was in flight")

    def _maybe_log(self) -> None:
        if self.budget.rate_limited:
            self.progress.note = self.budget.describe()
        self.progress.maybe_log()

    def _collect(
        self, pending: dict[Future[_Outcome], _Batch], done: set[Future[_Outcome]]
    ) -> BaseException | None:
        failure: BaseException | None = None
        for future in done:
            batch = pending.pop(future)
            error = future.exception()
            if error is not None:
                if _maybe_applied(error) and not self.may_repeat:
                    reason = getattr(error, "message", None) or type(error).__name__
                    self._in_doubt(batch, range(len(batch)), reason)
                failure = failure or error
                continue
            self._record(batch, future.result())
        return failure

    def _in_doubt(self, batch: _Batch, offsets: Iterable[int], reason: str) -> None:
        """Requests of ``batch`` failed after they may have reached the API: log and dead-letter them."""
        offsets = list(offsets)
        self.in_doubt += len(offsets)
        positions = [batch.positions[o] for o in offsets]
        for offset in offsets:
            payload = batch.payloads[offset]
            self.dead_letters.write(
                position=batch.positions[offset],
                identifier=self.resource.describe(payload),
                stage="in_doubt",
                reason=f"may or may not have been applied: {reason}",
                record=batch.originals[offset] if batch.originals is not None else payload,
            )
        self.log.error(
            "%s #%d-#%d (%d record(s) of batch %d) may or may not have been applied: %s",
            self.kind,
            min(positions),
            max(positions),
            len(offsets),
            batch.number,
            reason,
        )

    def _record(self, batch: _Batch, outcome: _Outcome) -> None:
        progress = self.progress
        progress.sent += outcome.sent
        progress.accepted += outcome.accepted
        progress.requests += outcome.requests
        progress.rejected += len(outcome.rejected)
        self.gone += outcome.gone
        self.completed_batches += 1
        if (
            self.completed_batches <= self.systematic_window
            and (len(batch) > 1 or not self.resource.batched)
            and outcome.accepted == 0
            and outcome.rejected
        ):
            self.fully_refused_batches += 1
        for offset, reason in outcome.rejected:
            payload = batch.payloads[offset]
            identifier = self.resource.describe(payload)
            position = batch.positions[offset]
            self.dead_letters.write(
                position=position,
                identifier=identifier,
                stage="api",
                reason=reason,
                record=batch.originals[offset] if batch.originals is not None else payload,
            )
            if self.logged_rejections < LOGGED_REJECTIONS:
                self.logged_rejections += 1
                who = f" ({identifier})" if identifier else ""
                self.log.warning("Rejected by the API: %s #%d%s: %s", self.kind, position, who, reason)
        if outcome.in_doubt:
            self._in_doubt(batch, [o for o, _ in outcome.in_doubt], outcome.in_doubt[0][1])
        for message in outcome.unattributed:
            self.unattributed += 1
            if self.unattributed <= LOGGED_REJECTIONS:
                self.log.warning("The API reported an error it did not tie to a record: %s", message)
        if outcome.unsure:
            self.in_doubt += len(outcome.unsure)
            positions = [batch.positions[offset] for offset, _ in outcome.unsure]
            for offset, reason in outcome.unsure:
                payload = batch.payloads[offset]
                self.dead_letters.write(
                    position=batch.positions[offset],
                    identifier=self.resource.describe(payload),
                    stage="in_doubt",
                    reason=reason,
                    record=batch.originals[offset] if batch.originals is not None else payload,
                )
            self.log.error(
                "%d %s record(s) of batch %d (#%d-#%d) are in doubt: the API answered with an error that "
                "names no record, so any of them may have failed. They are not counted as accepted.",
                len(positions),
                self.kind,
                batch.number,
                min(positions),
                max(positions),
            )
        if self.ledgers and outcome.accepted:
            not_landed = (
                {o for o, _ in outcome.rejected}
                | {o for o, _ in outcome.in_doubt}
                | {o for o, _ in outcome.unsure}
            )
            landed = [o for o in range(len(batch)) if o not in not_landed]
            keys = [None] * len(landed)
            payloads = [batch.payloads[o] for o in landed]
            if self._key is not None:
                keys = [self._key(p) for p in payloads]
            positions = [batch.positions[o] for o in landed]
            for ledger in self.ledgers:
                ledger.confirmed(keys, payloads, positions)

    def _systematic(self) -> bool:
        """Stop early: the first batches were refused whole and the rejection limit is exceeded already."""
        if self.fully_refused_batches < self.systematic_window:
            return False
        not_landed = self.progress.rejected + self.progress.invalid + self.in_doubt
        if not exceeds(not_landed, self.max_rejected, self.progress.read):
            return False
        self.log.error(
            "The API refused every %s of the first %d requests: this looks like a systematic problem (mode "
            "or match_by not matching the business unit's settings, an unknown attribute or custom event "
            "id...) rather than bad records. Stopping instead of sending the rest of the input.",
            self.kind,
            self.systematic_window,
        )
        return True

    def _too_much_in_doubt(self) -> bool:
        """Stop early: the records in doubt alone exceed ``max_rejected`` (the task fails anyway)."""
        if not self.in_doubt or not exceeds(self.in_doubt, self.max_rejected, self.progress.read):
            return False
        self.log.error(
            "%d %s record(s) are in doubt (their requests may have reached the API without an answer), more "
            "than max_rejected=%s: stopping instead of sending the rest of the input.",
            self.in_doubt,
            self.kind,
            describe_limit(self.max_rejected),
        )
        return True

    def summary(self) -> dict[str, Any]:
        progress = self.progress
        summary: dict[str, Any] = {"resource": self.resource.name, "mode": self.context.mode}
        if self.resource.summary_keys is not None:
            summary.update(self.resource.summary_keys(self.context))
        summary.update(
            {
                "read": progress.read,
                "invalid": progress.invalid,
                "sent": progress.sent,
                "accepted": progress.accepted,
                "rejected": progress.rejected,
                "in_doubt": self.in_doubt,
                "batches": progress.batches,
                "requests": progress.requests,
                "dead_letter_path": self.dead_letters.path,
                "duration_s": round(progress.elapsed, 3),
                "dry_run": self.dry_run,
            }
        )
        for name in self.resource.counts:
            summary[name] = self.gone
        summary.update(self.skipped)
        if self.unattributed:
            summary["unattributed_errors"] = self.unattributed
        if self._limit is not None:
            summary["learned_batch_limit"] = self._limit
        if self.budget.rate_limited:
            summary["rate_limited"] = self.budget.rate_limited
        if self.stopped_early:
            summary["stopped_early"] = True
        return summary


@contextmanager
def _budget_policy(hook: Any, budget: RequestBudget) -> Iterator[None]:
    """Let the hook's retry policy report 429s to ``budget`` for the duration of the write."""
    policy = getattr(hook, "retry_policy", None)
    if policy is None or not hasattr(type(hook), "retry_policy"):
        yield
        return
    hook.retry_policy = BudgetPolicy.around(policy, budget)
    try:
        yield
    finally:
        hook.retry_policy = policy


def run_write(
    hook: Any,
    *,
    resource: str,
    records: Iterable[Any],
    mode: str | None = None,
    match_by: str | None = None,
    custom_event_id: Any = None,
    options: WriteOptions | None = None,
    settings: SettingsCatalog | None = None,
    ledgers: Sequence[Ledger] = (),
    task: TaskTry | None = None,
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
    logger: Any = None,
    **option_values: Any,
) -> dict[str, Any]:
    """Validate and write ``records`` to ExpertSender; return the summary.

    :param hook: an ``ExpertSenderHook`` (thread-safe; its connection gives the default batch size and
        concurrency).
    :param resource: a name of :data:`~airflow_provider_expertsender.sync.resources.RESOURCES`:
        ``customers``, ``orders``, ``custom_events``, ``order_statuses`` or ``order_deletes``.
    :param records: an iterable of dicts (snake_case or camelCase keys), read once, lazily.
    :param mode: customers ``Add``/``Update``/``AddOrUpdate``, orders ``Add``/``AddOrReplace``/``Replace``
        (any case); None for the other resources.
    :param match_by: customers only: ``Email``, ``PhoneNumber``, ``CrmId``, ``GUID`` or ``VisitorId``.
    :param custom_event_id: custom events: the id for records that do not carry their own.
    :param options: the write options (:class:`~airflow_provider_expertsender.sync.options.WriteOptions`);
        or give them as keyword arguments (``batch_size=...``).
    :param settings: a ``SettingsCatalog`` to check attribute names and consent ids against.
    :param ledgers: more :class:`~airflow_provider_expertsender.sync.ledger.Ledger` participants (incremental
        state...), asked after the checkpoint.
    :param task: the task try running the write: with it, a write that must not be repeated checkpoints to
        a default folder (see :mod:`~airflow_provider_expertsender.sync.checkpoint`).
    :param progress_interval: seconds between progress lines in the log.
    :param logger: where log lines go (default: this module's logger).
    :returns: the summary: ``resource``, ``mode``, ``match_by`` (customers), ``read``, ``invalid``, ``sent``,
        ``accepted``, ``rejected``, ``in_doubt``, ``batches``, ``requests``, ``dead_letter_path``,
        ``duration_s``, ``dry_run``; ``already_gone`` (deletes); plus ``resumed``, ``unattributed_errors``,
        ``learned_batch_limit``, ``rate_limited`` and ``stopped_early`` when they occurred; with
        ``state_path``: ``new``, ``changed``, ``unchanged``, ``missing_from_input``, ``state_keys``,
        ``full_refresh``, ``state_path`` and ``state_bytes``.
    :raises ExpertSenderInvalidInputError: ``on_invalid="fail"`` and some record is invalid (nothing sent).
    :raises ExpertSenderRejectedRecordsError: more records than ``max_rejected`` did not land.
    :raises ExpertSenderStateError: the incremental state is used by another run, or was built for another
        resource, key or connection.
    """
    out = logger or log
    descriptor = resource_named(resource)
    options = replace(options, **option_values) if options is not None else WriteOptions(**option_values)
    options.check(what=f"Writing {resource}")
    limit = parse_max_rejected(options.max_rejected)
    config = getattr(hook, "config", None)
    resolved = _Settings(
        batch_size=positive_int(
            "batch_size",
            options.batch_size
            if options.batch_size is not None
            else getattr(config, "batch_size", DEFAULT_BATCH_SIZE),
        ),
        max_concurrency=positive_int(
            "max_concurrency",
            options.max_concurrency
            if options.max_concurrency is not None
            else getattr(config, "max_concurrency", DEFAULT_MAX_CONCURRENCY),
        ),
        on_invalid=options.on_invalid,
        max_rejected=limit,
    )
    context = descriptor.context(
        mode=mode,
        match_by=match_by,
        custom_event_id=custom_event_id,
        settings=settings,
        retry_unsafe=options.retry_unsafe,
    )
    progress = Progress(out, progress_interval)
    budget = RequestBudget(resolved.max_concurrency, options.max_requests_per_second)
    checkpoint = None if options.dry_run else _checkpoint(descriptor, context, options, task, out)
    with _incremental(descriptor, context, options, hook, task, out) as state:
        all_ledgers = (
            ([checkpoint] if checkpoint is not None else []) + ([state] if state else []) + list(ledgers)
        )
        # A DeadLetterWriter the caller keeps (operators: to mark the file when the task is killed), or a
        # path.
        target = options.dead_letter_path
        writer = target if isinstance(target, DeadLetterWriter) else DeadLetterWriter(target or None)
        with writer as dead_letters:
            engine = _Engine(
                hook,
                descriptor,
                context,
                options,
                resolved,
                dead_letters=dead_letters,
                ledgers=all_ledgers,
                budget=budget,
                progress=progress,
                log=out,
            )
            out.info(
                "Writing %s%s: %s, up to %d request(s) in flight%s, on_invalid=%s, max_rejected=%s%s%s.",
                descriptor.name,
                f" (mode {context.mode}{f', match_by {context.match_by}' if context.match_by else ''})"
                if context.mode
                else "",
                f"batches of {resolved.batch_size}" if descriptor.batched else "one request per record",
                resolved.max_concurrency,
                f", at most {options.max_requests_per_second:g}/s" if options.max_requests_per_second else "",
                resolved.on_invalid,
                describe_limit(limit),
                f", checkpoint {checkpoint}" if checkpoint is not None else "",
                ", DRY RUN (nothing is sent)" if options.dry_run else "",
            )
            try:
                with _collector_ignores_older_objects(), _budget_policy(hook, budget):
                    engine.run(records)
            finally:
                for ledger in all_ledgers:
                    ledger.close(complete=engine.complete)
    summary = engine.summary()
    if state is not None:
        summary.update(state.figures, state_path=display(options.state_path), state_bytes=state.size_bytes)
    progress.log_line()
    out.info("Summary: %s", summary)
    not_landed = progress.invalid + progress.rejected + engine.in_doubt
    if engine.stopped_early and engine.fully_refused_batches >= engine.systematic_window:
        raise ExpertSenderRejectedRecordsError(
            f"The API refused every {descriptor.noun} of the first {engine.systematic_window} requests "
            f"({progress.rejected} record(s)), so the rest of the input was not sent ({progress.read} "
            "record(s) read so far). This is a systematic problem, not bad records: check mode and match_by "
            "against the business unit's customer identification setting, the attribute names, the custom "
            "event id; the server's reasons are in the task log lines starting with 'Rejected by the API'.",
            summary=summary,
        )
    if exceeds(not_landed, limit, progress.read):
        where = (
            f"; every one is in the dead-letter file {summary['dead_letter_path']}"
            if summary["dead_letter_path"]
            else ""
        )
        sent_all = "" if engine.stopped_early else " Every valid record was sent"
        raise ExpertSenderRejectedRecordsError(
            f"{not_landed} of {progress.read} {descriptor.name} record(s) did not land ({progress.invalid} "
            f"invalid, {progress.rejected} rejected by the API, {engine.in_doubt} in doubt), more than "
            f"max_rejected={describe_limit(limit)}.{sent_all} ({progress.accepted} accepted). The reasons "
            "are "
            "in the task log lines starting with 'Invalid', 'Rejected by the API' or 'may or may not have "
            f"been applied' (identifiers only){where}.",
            summary=summary,
        )
    return summary


def _incremental(
    descriptor: Resource,
    context: WriteContext,
    options: WriteOptions,
    hook: Any,
    task: TaskTry | None,
    out: Any,
) -> AbstractContextManager[IncrementalSync | None]:
    """The incremental-sync state of the write (``state_path``), or a context yielding None without it."""
    if not options.state_path:
        return nullcontext()
    from airflow_provider_expertsender import __version__
    from airflow_provider_expertsender.sync.state import STATE_RESOURCES, incremental_state

    if descriptor.name not in STATE_RESOURCES or descriptor.key is None:
        raise ExpertSenderConfigError(
            f"state_path applies to {' and '.join(STATE_RESOURCES)} only, not to {descriptor.name}."
        )
    config = getattr(hook, "config", None)
    identity = {
        "resource": descriptor.name,
        "key": str(context.match_by) if descriptor.takes_match_by else "websiteId+id",
        "target": f"{getattr(hook, 'expertsender_conn_id', '')} {getattr(config, 'base_url', '')}".strip(),
    }
    owner = (
        f"{task.dag_id}/{task.task_id}/{task.run_id}/{task.map_index}"
        if task is not None
        else f"pid {os.getpid()}"
    )
    return incremental_state(
        options.state_path,
        identity=identity,
        key_of=descriptor.key(context),
        # Validation depends on the provider's rules and, with settings, on the business unit's lists: the
        # input cache is keyed by the former and not used with the latter.
        cache_context=f"airflow-provider-expertsender {__version__}" if context.settings is None else None,
        full_refresh=options.full_refresh,
        dry_run=options.dry_run,
        owner=owner,
        log=out,
    )


def _checkpoint(
    descriptor: Resource, context: WriteContext, options: WriteOptions, task: TaskTry | None, out: Any
) -> Ledger | None:
    """The write's checkpoint: at ``checkpoint_path``; else, for a task whose requests must not be
    repeated, in the worker-local default folder; else none."""
    may_repeat = descriptor.may_repeat(context)
    location = options.checkpoint_path or None
    if location is None and (task is None or may_repeat):
        return None
    from airflow_provider_expertsender.sync.checkpoint import Checkpoint, task_location

    return Checkpoint(
        task_location(task, location),
        attempt=task.try_number if task is not None else 1,
        intents=not descriptor.idempotent(context),
        retry_unsafe=options.retry_unsafe,
        shared=location is not None,
        logger=out,
    )
