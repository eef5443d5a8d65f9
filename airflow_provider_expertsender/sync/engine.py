"""The streaming write engine: validate, batch, send concurrently, isolate rejected records, summarise.

One coordinating thread reads the input, validates each record into its API payload (``models``), groups
payloads into batches and hands them to a pool of ``max_concurrency`` sender threads; it also collects their
outcomes (counts, dead letters, log lines). At most ``2 * max_concurrency`` batches exist at any time, so
memory does not grow with the input.

What happens to a batch the API refuses as a whole (HTTP 400) is decided here and nowhere else:

* the records the error names (``data[i]...``) are rejected with the server's message and the rest of the
  batch is sent again;
* when the error names no record, the batch is split in two and each half is sent (recursively), down to
  single records, so every good record still lands and every bad one is reported with the server's reason;
* when both halves of such a batch land whole, the batch was refused for its size (the real per-request limit
  is undocumented), so later requests are capped to that half size and a warning says which ``batch_size`` to
  set. An HTTP 413 is treated the same way.

With ``on_invalid="fail"`` nothing may be sent while a later record could still turn out invalid, so the
input is read and validated to the end first, the validated batches going to a temporary spool file (in memory
up to ``SPOOL_MEMORY_BYTES``, then on local disk, deleted at the end); sending starts once the whole input is
known to be valid. With ``on_invalid="skip"`` validation and sending overlap.
"""

from __future__ import annotations

import gc
import logging
import marshal
import pickle
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderInvalidInputError,
    ExpertSenderInvalidRecordError,
    ExpertSenderRejectedRecordsError,
    ExpertSenderValidationError,
    FieldProblem,
    InvalidRecord,
)
from airflow_provider_expertsender.sync.deadletter import DeadLetterWriter
from airflow_provider_expertsender.sync.limits import (
    describe_limit,
    exceeds,
    parse_max_rejected,
    positive_int,
)
from airflow_provider_expertsender.sync.mapping import RowError
from airflow_provider_expertsender.sync.progress import DEFAULT_PROGRESS_INTERVAL, Progress

if TYPE_CHECKING:
    from airflow_provider_expertsender.models import SettingsCatalog

log = logging.getLogger(__name__)

RESOURCES = ("customers", "orders")
ON_INVALID = ("fail", "skip")

#: Records per request when neither the operator nor the connection says otherwise. The API's real limit is
#: undocumented; 100 is conservative (public integrations send one record per request).
DEFAULT_BATCH_SIZE = 100
#: Requests in flight when neither the operator nor the connection says otherwise.
DEFAULT_MAX_CONCURRENCY = 4
#: Validated batches kept in memory before the spool of ``on_invalid="fail"`` moves to local disk.
SPOOL_MEMORY_BYTES = 32 * 1024 * 1024
#: Rejected records logged one line each; the rest are counted (and all go to the dead-letter file).
LOGGED_REJECTIONS = 50
#: A run stops early when this many first batches were refused entirely and the rejection limit is already
#: exceeded: a systematic problem (wrong ``match_by`` for the business unit...) rather than bad records.
SYSTEMATIC_BATCHES = 3

# matchBy -> the payload field that identifies the customer, for keeping writes of one customer in order.
_MATCH_FIELDS = {
    "Email": "email",
    "PhoneNumber": "phone",
    "CrmId": "crmId",
    "VisitorId": "visitorId",
    "GUID": "guid",
}


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
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (offset in the batch, reason)
    unattributed: list[str] = field(default_factory=list)
    # Answered 2xx, but an error named no record: any of these may be the one that failed (offset, reason).
    in_doubt: list[tuple[int, str]] = field(default_factory=list)


def _reason_of(exc: ExpertSenderError) -> str:
    """The server's reason for refusing a request, in one line (problem-details errors, detail or title)."""
    errors = getattr(exc, "errors", None)
    parts: list[str] = []
    if isinstance(errors, Mapping):
        for key, messages in errors.items():
            if isinstance(messages, (list, tuple)):
                parts.extend(f"{key}: {m}" for m in messages)
            else:
                parts.append(f"{key}: {messages}")
    elif isinstance(errors, (list, tuple)):
        parts.extend(str(e) for e in errors)
    elif errors:
        parts.append(str(errors))
    if not parts:
        for attr in ("detail", "title"):
            text = getattr(exc, attr, None)
            if text:
                parts.append(str(text))
                break
    if not parts:
        parts.append(exc.message)
    return "; ".join(parts)


def _named_errors(exc: ExpertSenderError, payloads: list[dict[str, Any]]) -> dict[int, str]:
    """Records of a refused batch that the error names, as ``{index in the batch: message}``.

    How the API names items in a 400 is undocumented; the hook's response module owns that guess
    (``hooks/_responses.py``), so this function only asks it.
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


# A spool entry: one kind byte and the length of the blob that follows. Length-prefixed blobs are read back
# with one read() and ``loads``: ``marshal.load(file)`` would call the file's ``readinto`` once per object
# (tens of thousands of Python-level calls per batch on a SpooledTemporaryFile).
_SPOOL_HEADER = struct.Struct("<cQ")
# Entry kinds: marshalled payloads; the same followed by an entry of pickled originals; a pickled batch.
_MARSHAL, _MARSHAL_AND_ORIGINALS, _PICKLE = b"M", b"O", b"P"


def _spool_write(spool: IO[bytes], kind: bytes, blob: bytes) -> None:
    spool.write(_SPOOL_HEADER.pack(kind, len(blob)))
    spool.write(blob)


def _spool_read(spool: IO[bytes]) -> tuple[bytes, bytes]:
    kind, size = _SPOOL_HEADER.unpack(spool.read(_SPOOL_HEADER.size))
    return kind, spool.read(size)


def _spool_dump(batch: _Batch, spool: IO[bytes]) -> None:
    """Write a batch to the spool: payloads with :mod:`marshal` (JSON types, twice as fast as pickle), the
    originals (any type: dates, decimals...) with :mod:`pickle`."""
    try:
        data = marshal.dumps((batch.number, batch.positions, batch.payloads, batch.keys))
    except ValueError:  # a payload value marshal does not know
        _spool_write(spool, _PICKLE, pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
        return
    if batch.originals is None:
        _spool_write(spool, _MARSHAL, data)
        return
    _spool_write(spool, _MARSHAL_AND_ORIGINALS, data)
    _spool_write(spool, _PICKLE, pickle.dumps(batch.originals, protocol=pickle.HIGHEST_PROTOCOL))


def _spool_load(spool: IO[bytes], with_originals: bool) -> _Batch:
    """Read back a batch written by :func:`_spool_dump` (our own file, written earlier by this process)."""
    kind, blob = _spool_read(spool)
    if kind == _PICKLE:
        batch: _Batch = pickle.loads(blob)
        if not with_originals:
            batch.originals = None
        return batch
    number, positions, payloads, keys = marshal.loads(blob)
    originals = None
    if kind == _MARSHAL_AND_ORIGINALS:
        pickled = _spool_read(spool)[1]
        if with_originals:
            originals = pickle.loads(pickled)
    return _Batch(number, positions, payloads, originals, keys)


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


class _Engine:
    def __init__(
        self,
        hook: Any,
        *,
        resource: str,
        mode: str,
        match_by: str | None,
        batch_size: int,
        max_concurrency: int,
        on_invalid: str,
        max_rejected: int | float,
        dead_letters: DeadLetterWriter,
        dry_run: bool,
        settings: SettingsCatalog | None,
        progress: Progress,
        log: Any,
    ) -> None:
        self.hook = hook
        self.resource = resource
        self.mode = mode
        self.match_by = match_by
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.on_invalid = on_invalid
        self.max_rejected = max_rejected
        self.dead_letters = dead_letters
        self.dry_run = dry_run
        self.settings = settings
        self.progress = progress
        self.log = log
        self.keep_originals = dead_letters.enabled
        self.invalid_records: list[InvalidRecord] = []  # the first few, for the error message
        self.unattributed = 0
        self.in_doubt = 0
        self.logged_rejections = 0
        self.fully_refused_batches = 0  # among the first SYSTEMATIC_BATCHES completed ones
        self.completed_batches = 0
        self.stopped_early = False
        # Largest number of records the API took in one request after refusing a bigger one (None: unknown).
        self._limit: int | None = None
        self._limit_lock = threading.Lock()
        self._payload = self._payload_function()
        self._key_field = _MATCH_FIELDS.get(match_by or "") if resource == "customers" else "id"
        self.kind = "customer" if resource == "customers" else "order"
        from airflow_provider_expertsender.models import record_identifier

        self._identifier = record_identifier

    # ----------------------------------------------------------------- validation and batching (coordinator)

    def _payload_function(self) -> Callable[[Mapping[str, Any], int], dict[str, Any]]:
        from airflow_provider_expertsender import models

        settings = self.settings
        if self.resource == "customers":
            match_by = self.match_by or "Email"

            def customer(record: Mapping[str, Any], index: int) -> dict[str, Any]:
                return models.customer_payload(record, match_by=match_by, index=index, settings=settings)

            return customer

        def order(record: Mapping[str, Any], index: int) -> dict[str, Any]:
            return models.order_payload(record, index=index, settings=settings)

        return order

    def _key(self, payload: Mapping[str, Any]) -> Any:
        """The identity of the record, so two writes of one customer/order are never in flight together."""
        if self.resource == "orders":
            return (payload.get("websiteId"), payload.get("id"))
        value = payload.get(self._key_field) if self._key_field else None
        return value.lower() if isinstance(value, str) else value

    def batches(self, records: Iterable[Any]) -> Iterator[_Batch]:
        """Validate ``records`` and yield them in batches of ``batch_size`` valid payloads."""
        progress = self.progress
        payload_of = self._payload
        keyed = self.max_concurrency > 1 and self._key_field is not None
        number = 0
        batch = _Batch(number, originals=[] if self.keep_originals else None)
        for position, record in enumerate(records):
            progress.read += 1
            try:
                if type(record) is not dict and not isinstance(record, Mapping):
                    raise ExpertSenderInvalidRecordError(_unusable(record, position))
                payload = payload_of(record, position)
            except ExpertSenderInvalidRecordError as err:
                self._invalid(err.record, record.row if isinstance(record, RowError) else record)
                progress.maybe_log()
                continue
            batch.positions.append(position)
            batch.payloads.append(payload)
            if batch.originals is not None:
                batch.originals.append(record)
            if keyed:
                batch.keys.add(self._key(payload))
            if len(batch.payloads) >= self.batch_size:
                progress.batches += 1
                yield batch
                number += 1
                batch = _Batch(number, originals=[] if self.keep_originals else None)
            progress.maybe_log()
        if batch.payloads:
            progress.batches += 1
            yield batch

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
                yield _spool_load(spool, self.keep_originals)

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

    def _send(self, payloads: list[dict[str, Any]]) -> Any:
        if self.resource == "customers":
            return self.hook.upsert_customers(
                payloads, mode=self.mode, match_by=self.match_by, validate=False
            )
        return self.hook.register_orders(payloads, mode=self.mode, validate=False)

    def deliver(self, batch: _Batch) -> _Outcome:
        """Send one batch, isolating refused records; runs in a sender thread."""
        outcome = _Outcome()
        offsets = list(range(len(batch)))
        limit = self._limit or len(offsets)
        for start in range(0, len(offsets), limit):
            self._deliver(batch, offsets[start : start + limit], outcome)
        return outcome

    def _deliver(self, batch: _Batch, offsets: list[int], outcome: _Outcome) -> bool:
        """Send the records at ``offsets``; return whether all of them landed without an item error."""
        outcome.requests += 1
        try:
            payloads = [batch.payloads[i] for i in offsets]
            result = self._send(payloads)
        except ExpertSenderError as exc:
            if not _is_batch_refusal(exc):
                raise
            if len(offsets) == 1:
                named = _named_errors(exc, payloads)
                outcome.rejected.append((offsets[0], named.get(0) or _reason_of(exc)))
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
            outcome.in_doubt.extend((offsets[i], reason) for i in range(sent) if i not in failed)
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
            _reason_of(exc),
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
                self.progress.maybe_log()
                if self._systematic():
                    self.stopped_early = True
                    break
            while pending:
                error = self._collect(pending, wait(pending, return_when=FIRST_COMPLETED).done)
                failure = failure or error
                self.progress.maybe_log()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if failure is not None:
            self.log.error(
                "Stopped after a request failed: read %d, sent %d, accepted %d, rejected %d so far. Records "
                "of batches not yet sent were not written.%s",
                self.progress.read,
                self.progress.sent,
                self.progress.accepted,
                self.progress.rejected,
                " Mode Add is not idempotent: a re-run re-sends everything and the API may refuse the "
                "records already added."
                if self.mode == "Add"
                else " The mode is idempotent: re-running the task re-sends every record safely.",
            )
            raise failure

    def _collect(
        self, pending: dict[Future[_Outcome], _Batch], done: set[Future[_Outcome]]
    ) -> BaseException | None:
        failure: BaseException | None = None
        for future in done:
            batch = pending.pop(future)
            error = future.exception()
            if error is not None:
                if getattr(error, "maybe_applied", False):
                    self._in_doubt(batch, error)
                failure = failure or error
                continue
            self._record(batch, future.result())
        return failure

    def _in_doubt(self, batch: _Batch, error: BaseException) -> None:
        """A request of ``batch`` failed after it may have reached the API: log and dead-letter it."""
        self.in_doubt += len(batch)
        first, last = min(batch.positions), max(batch.positions)
        reason = getattr(error, "message", None) or type(error).__name__
        for offset, payload in enumerate(batch.payloads):
            self.dead_letters.write(
                position=batch.positions[offset],
                identifier=self._identifier(self.kind, payload),
                stage="in_doubt",
                reason=f"may or may not have been applied: {reason}",
                record=batch.originals[offset] if batch.originals is not None else payload,
            )
        self.log.error(
            "%s #%d-#%d (%d records of batch %d) may or may not have been applied: %s",
            self.kind,
            first,
            last,
            len(batch),
            batch.number,
            reason,
        )

    def _record(self, batch: _Batch, outcome: _Outcome) -> None:
        progress = self.progress
        progress.sent += outcome.sent
        progress.accepted += outcome.accepted
        progress.requests += outcome.requests
        progress.rejected += len(outcome.rejected)
        self.completed_batches += 1
        if self.completed_batches <= SYSTEMATIC_BATCHES and len(batch) > 1 and outcome.accepted == 0:
            self.fully_refused_batches += 1
        for offset, reason in outcome.rejected:
            payload = batch.payloads[offset]
            identifier = self._identifier(self.kind, payload)
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
        for message in outcome.unattributed:
            self.unattributed += 1
            if self.unattributed <= LOGGED_REJECTIONS:
                self.log.warning("The API reported an error it did not tie to a record: %s", message)
        if outcome.in_doubt:
            self.in_doubt += len(outcome.in_doubt)
            positions = [batch.positions[offset] for offset, _ in outcome.in_doubt]
            for offset, reason in outcome.in_doubt:
                payload = batch.payloads[offset]
                self.dead_letters.write(
                    position=batch.positions[offset],
                    identifier=self._identifier(self.kind, payload),
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

    def _systematic(self) -> bool:
        """Stop early: the first batches were refused whole and the rejection limit is exceeded already."""
        if self.fully_refused_batches < SYSTEMATIC_BATCHES:
            return False
        not_landed = self.progress.rejected + self.progress.invalid + self.in_doubt
        if not exceeds(not_landed, self.max_rejected, self.progress.read):
            return False
        self.log.error(
            "The API refused every record of the first %d batches: this looks like a systematic problem "
            "(mode or match_by not matching the business unit's settings, an unknown attribute...) rather "
            "than bad records. Stopping instead of sending the rest of the input.",
            SYSTEMATIC_BATCHES,
        )
        return True

    def summary(self) -> dict[str, Any]:
        progress = self.progress
        summary: dict[str, Any] = {
            "resource": self.resource,
            "mode": self.mode,
        }
        if self.resource == "customers":
            summary["match_by"] = self.match_by
        summary.update(
            {
                "read": progress.read,
                "invalid": progress.invalid,
                "sent": progress.sent,
                "accepted": progress.accepted,
                "rejected": progress.rejected,
                "batches": progress.batches,
                "requests": progress.requests,
                "dead_letter_path": self.dead_letters.path,
                "duration_s": round(progress.elapsed, 3),
                "dry_run": self.dry_run,
            }
        )
        if self.unattributed:
            summary["unattributed_errors"] = self.unattributed
        if self.in_doubt:
            summary["in_doubt"] = self.in_doubt
        if self._limit is not None:
            summary["learned_batch_limit"] = self._limit
        if self.stopped_early:
            summary["stopped_early"] = True
        return summary


def run_write(
    hook: Any,
    *,
    resource: str,
    records: Iterable[Any],
    mode: str,
    match_by: str | None = None,
    batch_size: int | None = None,
    max_concurrency: int | None = None,
    on_invalid: str = "fail",
    max_rejected: int | float = 0,
    dead_letter_path: Any = None,
    dry_run: bool = False,
    settings: SettingsCatalog | None = None,
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
    logger: Any = None,
) -> dict[str, Any]:
    """Validate and write ``records`` to ExpertSender in batches; return the summary.

    :param hook: an ``ExpertSenderHook`` (thread-safe; its connection gives the default batch size and
        concurrency).
    :param resource: ``"customers"`` or ``"orders"``.
    :param records: an iterable of dicts (snake_case or camelCase keys), read once, lazily.
    :param mode: ``Add``/``Update``/``AddOrUpdate`` (customers) or ``Add``/``AddOrReplace``/``Replace``
        (orders), any case.
    :param match_by: customers only: ``Email``, ``PhoneNumber``, ``CrmId``, ``GUID`` or ``VisitorId``.
    :param batch_size: records per request (default: the connection's ``batch_size``).
    :param max_concurrency: requests in flight (default: the connection's ``max_concurrency``).
    :param on_invalid: ``"fail"``: if any record is invalid, nothing is sent (the whole input is validated
        before the first request); ``"skip"``: valid records are sent, invalid ones reported.
    :param max_rejected: how many records may fail to land (invalid and skipped, or rejected by the API)
        before the task fails, as a count or a fraction of the records read (``0.01`` = 1 %). Checked at the
        end, after every valid record was sent.
    :param dead_letter_path: local path or object-storage URI of a JSON Lines file receiving every record that
        did not land, with its position and the reason (personal data: store it like the source); or a
        ``DeadLetterWriter`` the caller keeps, to mark the file when the task is killed.
    :param dry_run: validate and count, send nothing.
    :param settings: a ``SettingsCatalog`` to check attribute names and consent ids against.
    :param progress_interval: seconds between progress lines in the log.
    :param logger: where log lines go (default: this module's logger).
    :returns: the summary: ``resource``, ``mode``, ``match_by`` (customers), ``read``, ``invalid``, ``sent``,
        ``accepted``, ``rejected``, ``batches``, ``requests``, ``dead_letter_path``, ``duration_s``,
        ``dry_run``; plus ``unattributed_errors`` and ``learned_batch_limit`` when they occurred.
    :raises ExpertSenderInvalidInputError: ``on_invalid="fail"`` and some record is invalid (nothing sent).
    :raises ExpertSenderRejectedRecordsError: more records than ``max_rejected`` did not land.
    """
    from airflow_provider_expertsender import models

    out = logger or log
    if resource not in RESOURCES:
        raise ExpertSenderConfigError(f"resource must be one of {', '.join(RESOURCES)}, got {resource!r}.")
    if on_invalid not in ON_INVALID:
        raise ExpertSenderConfigError(f'on_invalid must be "fail" or "skip", got {on_invalid!r}.')
    limit = parse_max_rejected(max_rejected)
    config = getattr(hook, "config", None)
    size = positive_int(
        "batch_size",
        batch_size if batch_size is not None else getattr(config, "batch_size", DEFAULT_BATCH_SIZE),
    )
    concurrency = positive_int(
        "max_concurrency",
        max_concurrency
        if max_concurrency is not None
        else getattr(config, "max_concurrency", DEFAULT_MAX_CONCURRENCY),
    )
    if resource == "customers":
        mode = models.normalize_customer_mode(mode)
        match_by = models.normalize_match_by(match_by or "Email")
    else:
        mode = models.normalize_order_mode(mode)
        match_by = None
    progress = Progress(out, progress_interval)
    writer = (
        dead_letter_path
        if isinstance(dead_letter_path, DeadLetterWriter)
        else DeadLetterWriter(dead_letter_path)
    )
    with writer as dead_letters:
        engine = _Engine(
            hook,
            resource=resource,
            mode=mode,
            match_by=match_by,
            batch_size=size,
            max_concurrency=concurrency,
            on_invalid=on_invalid,
            max_rejected=limit,
            dead_letters=dead_letters,
            dry_run=dry_run,
            settings=settings,
            progress=progress,
            log=out,
        )
        out.info(
            "Writing %s (mode %s%s): batches of %d, up to %d request(s) in flight, on_invalid=%s, "
            "max_rejected=%s%s.",
            resource,
            mode,
            f", match_by {match_by}" if match_by else "",
            size,
            concurrency,
            on_invalid,
            describe_limit(limit),
            ", DRY RUN (nothing is sent)" if dry_run else "",
        )
        with _collector_ignores_older_objects():
            engine.run(records)
    summary = engine.summary()
    progress.log_line()
    out.info("Summary: %s", summary)
    not_landed = progress.invalid + progress.rejected + engine.in_doubt
    if engine.stopped_early:
        raise ExpertSenderRejectedRecordsError(
            f"The API refused every record of the first {SYSTEMATIC_BATCHES} batches ({progress.rejected} "
            f"record(s)), so the rest of the input was not sent ({progress.read} record(s) read so far). "
            "This is a systematic problem, not bad records: check mode and match_by against the business "
            "unit's customer identification setting, and the attribute names; the server's reasons are in "
            "the task log lines starting with 'Rejected by the API'.",
            summary=summary,
        )
    if exceeds(not_landed, limit, progress.read):
        where = (
            f"; every one is in the dead-letter file {summary['dead_letter_path']}"
            if summary["dead_letter_path"]
            else ""
        )
        raise ExpertSenderRejectedRecordsError(
            f"{not_landed} of {progress.read} {resource} record(s) did not land ({progress.invalid} invalid, "
            f"{progress.rejected} rejected by the API"
            f"{f', {engine.in_doubt} in doubt' if engine.in_doubt else ''}), more than "
            f"max_rejected={describe_limit(limit)}. "
            f"Every valid record was sent ({progress.accepted} accepted). The reasons are in the task log "
            f"lines starting with 'Invalid' or 'Rejected by the API' (identifiers only){where}.",
            summary=summary,
        )
    return summary
