"""The dead-letter file: every record that did not land, with its position and the reason, as JSON Lines.

The file holds personal data by design (the rejected records themselves, so they can be fixed and replayed):
put it where the source data lives, with the same access rules and retention. A local file is created with
mode ``0600`` (owner only), whatever the umask.

Its life cycle, so that it always describes the current run and nothing it reported is lost:

* a run starts by removing the file an earlier run or task try left at the location (a run that rejects
  nothing leaves no file behind, as its summary's ``dead_letter_path=None`` says);
* the file is created on the first record that did not land;
* a local file receives each line with one ``write`` system call, before the task log reports the record, so a
  killed process (even ``SIGKILL``) never loses a line the log reported; on object storage each line is
  flushed to the filesystem layer, which uploads when the file is closed;
* when the task is killed (the operators' ``on_kill``: ``SIGTERM``, a timeout) a line with stage
  ``"incomplete"`` says the run did not finish (:meth:`DeadLetterWriter.interrupt`).

Every line is valid JSON: NaN and infinities are written as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``, values JSON does not know by their string form, and a record too deeply nested for JSON by a
shortened text of it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import reprlib
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_expertsender.sync.paths import as_path, display

if TYPE_CHECKING:
    from airflow_provider_expertsender.exceptions import FieldProblem

log = logging.getLogger(__name__)

#: Permissions of a local dead-letter file: it holds personal data.
FILE_MODE = 0o600
#: Nesting kept when a record has to be made JSON-safe; deeper parts are written as their shortened text.
_MAX_DEPTH = 100
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
_SHORT = reprlib.Repr()
_SHORT.maxlevel = 4
_SHORT.maxstring = _SHORT.maxother = 200


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


def _json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` with what strict JSON cannot hold replaced: non-finite floats by their names, keys by
    strings, unknown types by :func:`_default`, nesting beyond ``_MAX_DEPTH`` by a shortened text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE.get(value, "NaN")
    if value is None or isinstance(value, (str, int)):
        return value
    if depth >= _MAX_DEPTH:
        return _SHORT.repr(value)
    if isinstance(value, Mapping):
        return {
            key if isinstance(key, str) else _SHORT.repr(key): _json_safe(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(item, depth + 1) for item in value]
    return _json_safe(_default(value), depth + 1)


def dumps_line(line: Mapping[str, Any]) -> bytes:
    """One dead-letter line as strict JSON (UTF-8, newline-terminated), whatever the record holds."""
    try:
        text = json.dumps(line, default=_default, ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        text = json.dumps(_json_safe(line), ensure_ascii=False, allow_nan=False)
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: JSON's \ud800 escape keeps it, and the file valid UTF-8
        return (json.dumps(json.loads(text), ensure_ascii=True) + "\n").encode("ascii")


def _local_path(path: Any) -> Path | None:
    """The local file behind ``path`` (a plain path, or a ``file://`` object-storage path), else None."""
    if getattr(path, "fs", None) is None:
        return path if isinstance(path, Path) else None
    if getattr(path, "protocol", None) in ("file", "local"):
        return Path(path.path)
    return None


class DeadLetterWriter:
    """Writes rejected records to ``location`` (local path or object-storage URI), one JSON object per line.

    Use it as a context manager around one run: entering removes the file of an earlier run, the file is
    created on the first rejected record, leaving closes it (see the module docstring for the life cycle).

    Each line: ``{"position", "identifier", "stage", "reason", "problems", "record"}`` where ``stage`` is
    ``"validation"`` (refused locally, never sent), ``"api"`` (refused by ExpertSender), ``"in_doubt"`` (its
    request failed after it may have reached the API, or the API's answer reported an error naming no record:
    check before re-sending) or ``"incomplete"`` (no record: the task was killed before the run ended),
    ``position`` the 0-based index of the record in the input, ``problems`` the broken rules (validation only)
    and ``record`` the record as read (after mapping), or the payload when the original was not kept.

    :param location: where to write; ``None`` disables the writer (every call is a no-op).
    """

    def __init__(self, location: Any) -> None:
        self.location = location
        self.written = 0
        self._fd: int | None = None  # a local file, written unbuffered
        self._file: IO[bytes] | None = None  # an object-storage file
        self._local: Path | None = None
        # interrupt() may run in a signal handler while the same thread is inside write(): it never blocks on
        # the lock, it leaves its line to whoever holds it (see interrupt()).
        self._lock = threading.Lock()
        self._marker: bytes | None = None
        self._interrupted = False

    @property
    def enabled(self) -> bool:
        return self.location is not None and self.location != ""

    @property
    def path(self) -> str | None:
        """Where the file is, once something was written (else ``None``)."""
        return display(self.location) if self.written else None

    def start(self) -> None:
        """Remove the file an earlier run or task try left at the location (its content is stale)."""
        if not self.enabled:
            return
        path = as_path(self.location)
        try:
            if path.exists():
                path.unlink()
                log.info("Removed the dead-letter file of an earlier run: %s", display(self.location))
        except (OSError, NotImplementedError) as err:
            log.warning(
                "Could not remove the dead-letter file of an earlier run at %s (%s): it may not describe "
                "this run.",
                display(self.location),
                type(err).__name__,
            )

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
        line = dumps_line(
            {
                "position": position,
                "identifier": identifier,
                "stage": stage,
                "reason": reason,
                "problems": [{"field": p.field, "rule": p.rule} for p in problems],
                "record": dict(record) if isinstance(record, Mapping) else record,
            }
        )
        with self._lock:
            if self._fd is None and self._file is None:
                self._open()
            self._emit(line)
            self.written += 1
            self._emit_marker()

    def interrupt(self, reason: str) -> None:
        """Say in the file that the run did not finish (the operators call it from ``on_kill``).

        Safe in a signal handler that interrupted :meth:`write` on the same thread: when the lock is taken,
        the line is left for the holder, which writes it before releasing the lock. A file already closed (a
        timeout unwound the run first) gets the line appended when it is local. Nothing is created when no
        record was written: there is nothing to mark (a later write still adds the line after its own).
        """
        if not self.enabled or self._interrupted:
            return
        self._interrupted = True
        self._marker = dumps_line(
            {
                "position": None,
                "identifier": None,
                "stage": "incomplete",
                "reason": reason,
                "problems": [],
                "record": None,
            }
        )
        if not self._lock.acquire(blocking=False):
            return  # the holder writes it
        try:
            if self._fd is not None or self._file is not None:
                self._emit_marker()
            elif self.written and self._local is not None:
                self._fd = os.open(self._local, os.O_WRONLY | os.O_APPEND)
                try:
                    self._emit_marker()
                finally:
                    os.close(self._fd)
                    self._fd = None
        except OSError:
            log.warning("Could not mark the dead-letter file %s as incomplete.", display(self.location))
        finally:
            self._lock.release()

    def _open(self) -> None:
        path = as_path(self.location)
        local = _local_path(path)
        if local is not None:
            path = local
            path.parent.mkdir(parents=True, exist_ok=True)
            # Opened again after close() (a late line): append, never truncate what was reported.
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if self.written else os.O_TRUNC)
            fd = os.open(path, flags, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)  # a file that existed keeps its mode through O_CREAT
            except BaseException:
                os.close(fd)
                raise
            self._fd, self._local = fd, path
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (OSError, NotImplementedError):
            pass  # object stores have no folders; opening the file is what matters
        self._file = path.open("ab" if self.written else "wb")

    def _emit(self, data: bytes) -> None:
        if self._fd is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        elif self._file is not None:
            self._file.write(data)
            self._file.flush()

    def _emit_marker(self) -> None:
        marker, self._marker = self._marker, None
        if marker is not None:
            self._emit(marker)

    def close(self) -> None:
        with self._lock:
            try:
                if self.written:
                    self._emit_marker()
            finally:
                fd, self._fd = self._fd, None
                handle, self._file = self._file, None
                if fd is not None:
                    os.close(fd)
                if handle is not None:
                    handle.close()

    def __enter__(self) -> DeadLetterWriter:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
