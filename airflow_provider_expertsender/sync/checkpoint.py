"""Resumable runs: what the API confirmed, and what may have reached it, kept across task tries.

A :class:`Checkpoint` is a :class:`~airflow_provider_expertsender.sync.ledger.Ledger` writing a journal to a
folder (local, shared or object storage). Each record is named by a digest of its validated payload (the
same input gives the same digests, in any order); a record sent twice in the input counts twice. The
journal has two kinds of lines:

* ``s <digest>``: about to send a request that must not be repeated (custom events, mode ``Add``), written
  and flushed *before* the request, so a try killed at any point (timeout, SIGTERM, SIGKILL, a lost worker)
  leaves a trace of every request that may have reached the API;
* ``c <digest>``: the API confirmed the record.

A later try of the same task reads the journal: a confirmed record is skipped (``resumed`` in the summary);
a record sent but never confirmed is *in doubt*: dead-lettered with stage ``in_doubt`` and not sent again
(unless ``retry_unsafe=True``). Everything else is sent. When a try processes the whole input, the journal
is replaced by a ``complete`` marker: a later try (a deliberate clear of the task) starts over.

Airflow clears a task instance's XCom at the start of every try (both lines), so XCom cannot carry this.
The default folder is on the worker's disk (``$AIRFLOW_HOME/expertsender/checkpoints/...``): enough when
retries run on the same machine (LocalExecutor, one Celery worker). With several Celery workers a retry may
run elsewhere and find nothing; then a write that must not be repeated refuses to start (its message says to
set ``checkpoint_path`` to a shared folder or an object-storage URI), instead of sending everything again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_expertsender._compat import AirflowFailException
from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.sync.ledger import IN_DOUBT, SEND, Ledger
from airflow_provider_expertsender.sync.paths import as_path, display, is_uri

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

#: The summary count of records an earlier try confirmed.
RESUMED = "resumed"
_STARTED = "started"
_COMPLETE = "complete"
_SEGMENT = re.compile(r"^try-\d+-\d+(-\d+)?\.jsonl$")
#: Confirmations kept in memory before an object-storage journal writes a segment (local: appended at once).
_REMOTE_FLUSH_LINES = 5000
_REMOTE_FLUSH_SECONDS = 5.0


class ExpertSenderCheckpointMissingError(ExpertSenderConfigError, AirflowFailException):
    """A retry of a write that must not be repeated found no checkpoint of the earlier try (fails the task
    without further retries: they would find nothing either)."""


def digest(payload: Mapping[str, Any]) -> str:
    """The name of a record in the journal: a digest of its canonical payload (key order does not matter)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


@dataclass(frozen=True)
class TaskTry:
    """The task instance and try a write runs in (what names its default checkpoint folder).

    :param dag_id: the DAG.
    :param task_id: the task.
    :param run_id: the DAG run.
    :param map_index: the mapped task's index (-1 or None: not mapped).
    :param try_number: the try (1 for the first).
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int | None
    try_number: int

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> TaskTry | None:
        """The try of the running task instance (Airflow 2.10 and 3 alike), or None outside a task run."""
        ti = context.get("ti") or context.get("task_instance")
        if ti is None:
            return None
        try:
            return cls(
                str(ti.dag_id),
                str(ti.task_id),
                str(ti.run_id),
                getattr(ti, "map_index", None),
                int(ti.try_number),
            )
        except (AttributeError, TypeError, ValueError):
            return None


def task_location(task: TaskTry | None, base: Any = None) -> Any:
    """The checkpoint folder of one task instance: ``<base>/<dag>/<run>/<task>[.<map index>]``.

    :param task: the task try (None outside a task run: ``base`` itself is the folder).
    :param base: ``checkpoint_path`` (local path or object-storage URI); None: the worker-local default
        ``$AIRFLOW_HOME/expertsender/checkpoints``.
    """
    if base is None:
        home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        base = os.path.join(home, "expertsender", "checkpoints")
    if task is None:
        return base
    name = (
        task.task_id if task.map_index is None or task.map_index < 0 else f"{task.task_id}.{task.map_index}"
    )
    parts = "/".join(quote(part, safe="") for part in (task.dag_id, task.run_id, name))
    if isinstance(base, str):
        return f"{base.rstrip('/')}/{parts}"
    return base / parts


class Checkpoint(Ledger):
    """The journal of one task instance's write (see the module docstring).

    :param location: the folder (local path or object-storage URI; see :func:`task_location`).
    :param attempt: the try number (1 for the first try).
    :param intents: write ``s`` lines before each request (the write must not be repeated).
    :param retry_unsafe: send records in doubt again instead of holding them back.
    :param shared: the folder is reachable from every worker (an explicit ``checkpoint_path``). A retry that
        finds nothing in a worker-local folder cannot tell "nothing was sent" from "sent from another
        worker", and refuses to start when ``intents`` is set.
    :param logger: where the resume line goes.
    """

    def __init__(
        self,
        location: Any,
        *,
        attempt: int = 1,
        intents: bool,
        retry_unsafe: bool = False,
        shared: bool = True,
        logger: Any = None,
    ) -> None:
        self.location = location
        self.attempt = attempt
        self.intents = intents
        self.retry_unsafe = retry_unsafe
        self.shared = shared
        self.log = logger or log
        self.counts: Counter[str] = Counter()
        self._confirmed: Counter[str] = Counter()
        self._doubt: Counter[str] = Counter()
        self._lock = threading.Lock()  # the buffer
        self._writing = threading.Lock()  # the file or segments; taken before _lock, never inside it
        self._queued = 0  # intents buffered so far ...
        self._written = 0  # ... and written
        self._remote = isinstance(location, str) and is_uri(location)
        self._folder = as_path(location)
        self._name = f"try-{attempt}-{os.getpid()}"
        self._file: IO[bytes] | None = None
        self._buffer: list[str] = []
        self._segments = 0
        self._last_flush = time.monotonic()
        self._open()

    # ------------------------------------------------------------------------------------------ reading

    def _open(self) -> None:
        folder = self._folder
        existing = self._listing()
        completed = _COMPLETE in existing
        if completed:
            self.log.info("Checkpoint %s: an earlier try completed the write; starting over.", self)
            self._clear(existing)
            existing = set()
        if (
            not existing
            and not completed
            and self.attempt > 1
            and self.intents
            and not self.shared
            and not self.retry_unsafe
        ):
            raise ExpertSenderCheckpointMissingError(
                f"This is try {self.attempt}, and the checkpoint of the earlier try is not on this worker "
                f"({self}): it may have sent requests that must not be repeated, from another machine. "
                "Nothing was sent. Set checkpoint_path to a folder every worker reaches (a shared volume or "
                "an object-storage URI such as s3://conn@bucket/checkpoints/) so retries resume where the "
                "earlier try stopped; or pass retry_unsafe=True to send everything again."
            )
        sent: Counter[str] = Counter()
        for name in sorted(existing):
            if _SEGMENT.match(name):
                self._read(folder / name, sent)
        for name, count in sent.items():
            # A confirmation settles one intent of the same record (a record confirmed by a try that wrote
            # no intents has none).
            if count > self._confirmed.get(name, 0):
                self._doubt[name] = count - self._confirmed.get(name, 0)
        if not existing:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except (OSError, NotImplementedError):
                pass  # object stores have no folders
        marker = folder / _STARTED
        with marker.open("wb") as out:
            out.write(
                json.dumps({"try": self.attempt, "host": socket.gethostname(), "pid": os.getpid()}).encode()
            )
        doubt = sum(self._doubt.values())
        if self._confirmed or doubt:
            self.log.info(
                "Resuming from the checkpoint %s: %d record(s) confirmed by earlier tries are skipped; %d "
                "were "
                "sent without an answer (in doubt)%s.",
                self,
                sum(self._confirmed.values()),
                doubt,
                ": they are sent again (retry_unsafe=True)"
                if self.retry_unsafe
                else ": they are not sent again and go to the dead letters as in_doubt",
            )

    def _listing(self) -> set[str]:
        try:
            return {child.name for child in self._folder.iterdir()}
        except (FileNotFoundError, NotADirectoryError):
            return set()
        except OSError as err:
            raise ExpertSenderConfigError(f"Cannot read the checkpoint folder {self}: {err}") from err

    def _read(self, path: Any, sent: Counter[str]) -> None:
        with path.open("rb") as raw:  # binary: Airflow 2.10's ObjectStoragePath mishandles text mode
            text = raw.read().decode("utf-8")
        for line in text.splitlines():
            kind, _, name = line.strip().partition(" ")
            if kind == "c" and name:
                self._confirmed[name] += 1
            elif kind == "s" and name:
                sent[name] += 1

    def _clear(self, names: set[str]) -> None:
        for name in names:
            try:
                (self._folder / name).unlink()
            except (FileNotFoundError, OSError):
                pass

    # ------------------------------------------------------------------------------------------ the seam

    def admit(self, key: Any, payload: Mapping[str, Any]) -> str | None:
        if not self._confirmed and not self._doubt:
            return SEND
        name = digest(payload)
        if self._confirmed.get(name):
            self._confirmed[name] -= 1
            self.counts[RESUMED] += 1
            return RESUMED
        if self._doubt.get(name):
            self._doubt[name] -= 1
            if self.retry_unsafe:
                return SEND
            return IN_DOUBT
        return SEND

    def sending(self, payloads: Sequence[Mapping[str, Any]], positions: Sequence[int] = ()) -> None:
        if not self.intents:
            return
        lines = [f"s {digest(p)}\n" for p in payloads]
        with self._lock:
            self._buffer.extend(lines)
            self._queued += 1
            ticket = self._queued
        # The intent is durable before the request leaves. Group commit: while one thread writes, the intents
        # of the others gather in the buffer, and the next write carries all of them (one object per write
        # on object storage, not one per request).
        with self._writing:
            if self._written < ticket:
                self._flush()

    def confirmed(
        self, keys: Sequence[Any], payloads: Sequence[Mapping[str, Any]], positions: Sequence[int] = ()
    ) -> None:
        lines = [f"c {digest(p)}\n" for p in payloads]
        with self._lock:
            self._buffer.extend(lines)
            due = (
                not self._remote
                or len(self._buffer) >= _REMOTE_FLUSH_LINES
                or time.monotonic() - self._last_flush >= _REMOTE_FLUSH_SECONDS
            )
        if due:
            with self._writing:
                self._flush()

    def close(self, *, complete: bool) -> None:
        with self._writing:
            self._flush()
            if self._file is not None:
                self._file.close()
                self._file = None
        if complete:
            self._clear(self._listing())
            with (self._folder / _COMPLETE).open("wb") as out:
                out.write(json.dumps({"try": self.attempt}).encode())

    # ---------------------------------------------------------------------------------------- writing

    def _flush(self) -> None:
        """Write the buffered lines (caller holds ``_writing``): append to this try's file, or, on object
        storage (no appends), write them as a new segment object."""
        with self._lock:
            text = "".join(self._buffer)
            self._buffer.clear()
            upto = self._queued
        if text:
            self._last_flush = time.monotonic()
            if self._remote:
                self._segments += 1
                segment = self._folder / f"{self._name}-{self._segments}.jsonl"
                with segment.open("wb") as out:
                    out.write(text.encode("utf-8"))
            else:
                if self._file is None:
                    self._file = (self._folder / f"{self._name}.jsonl").open("ab")
                self._file.write(text.encode("utf-8"))
                self._file.flush()  # in the kernel: survives the process being killed
        self._written = upto

    def __str__(self) -> str:
        return display(self.location)
