"""Where a sync state file lives, and who may use it: a local path, or an object-storage URI.

* **Local path** (``/data/state/customers.sqlite``): the SQLite file is used in place. A run holds an
  exclusive ``flock`` on ``<path>.lock`` for its whole duration; a second run on the same file fails at once
  with :class:`~airflow_provider_expertsender.exceptions.ExpertSenderStateError` naming the holder. The
  operating system releases the lock when the holding process ends, however it ends, so a killed run never
  leaves a stale lock. Every confirmation is committed as it happens: a run that dies leaves what was
  confirmed. The path must be on a disk that every run of the task sees (one machine, or a shared volume
  with POSIX locks): a worker with its own copy would compare against an outdated state.
* **Object-storage URI** (``s3://aws_conn@bucket/state/customers.sqlite``, ``gs://``, ``file://``...): the
  file is downloaded to a local temporary file, used there, and uploaded back when the run ends, successful or
  not (what was confirmed is kept), first to a temporary object next to it and then moved over it, so readers
  never see a partial file. Object stores have no locks, so two guards stand in for one:

  - a lock object ``<uri>.lock`` written when the run starts and deleted when it ends; a run that finds
    another run's lock object fails at once, naming it. Where the backend can create an object only if it
    does not exist (local files; S3 and GCS through recent ``s3fs`` / ``gcsfs``, as a conditional write),
    two runs starting at the same instant cannot both take it. A lock left by an earlier try of the *same*
    task instance (a worker that was killed) is taken over with a warning; any other stale lock must be
    deleted by hand, as the message says;
  - a version check before the upload: when the state object changed since it was downloaded (another run
    slipped in between the lock check and the lock write), the upload is abandoned and the task fails. The
    other run's state stays; this run's confirmations are lost, so its records are sent again next run.

  Between that check and the upload there is a window of milliseconds in which a concurrent upload could
  still be overwritten (the upload is not conditional), and on a backend without exclusive create two runs
  starting within the same instant can both miss each other's lock object; the effect is that one run's
  records are sent again. A worker killed outright (SIGKILL, a lost node) uploads nothing:
  the previous state stays, and that run's records are sent again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_expertsender.exceptions import ExpertSenderStateError
from airflow_provider_expertsender.sync.paths import as_path, is_uri

if TYPE_CHECKING:
    from collections.abc import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX (Airflow workers are)
    fcntl = None  # type: ignore[assignment]

_COPY_BUFFER = 1024 * 1024


def _holder(owner: str) -> dict[str, Any]:
    return {"owner": owner, "host": socket.gethostname(), "pid": os.getpid(), "since": _now()}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _describe(holder: Any) -> str:
    if not isinstance(holder, dict):
        return "another run"
    return (
        f"{holder.get('owner') or 'another run'} (host {holder.get('host')}, pid {holder.get('pid')}, since "
        f"{holder.get('since')})"
    )


_SHARED_ADVICE = (
    "Two runs must not use one state at the same time: wait for the other run, or give each concurrent task "
    "(each mapped partition) a state_path of its own."
)


@contextlib.contextmanager
def _local(location: str, owner: str, write: bool) -> Iterator[str]:
    path = Path(os.path.expanduser(location))
    if not write:  # a dry run reads (SQLite keeps a concurrent writer's changes out of its view)
        yield str(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = f"{path}.lock"
    with open(lock_path, "a+", encoding="utf-8") as lock:
        if fcntl is not None:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                try:
                    holder = json.loads(lock.read() or "null")
                except ValueError:
                    holder = None
                raise ExpertSenderStateError(
                    f"The sync state {location} is in use by {_describe(holder)}. {_SHARED_ADVICE}"
                ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(json.dumps(_holder(owner)))
        lock.flush()
        try:
            yield str(path)
        finally:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _fingerprint(remote: Any) -> Any:
    """What identifies the current version of an object (ETag, generation, mtime, size...), or None."""
    try:
        info = remote.fs.info(remote.path)
    except (FileNotFoundError, OSError):
        return None
    wanted = ("ETag", "etag", "generation", "md5Hash", "LastModified", "last_modified", "mtime", "size")
    return json.dumps({k: str(info.get(k)) for k in wanted if info.get(k) is not None}, sort_keys=True)


def _local_version(path: str) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_mtime_ns, status.st_size


def _copy(source: IO[bytes], target: IO[bytes]) -> None:
    shutil.copyfileobj(source, target, _COPY_BUFFER)


def _read_holder(lock: Any) -> Any:
    try:
        return json.loads(lock.read_text())
    except (ValueError, FileNotFoundError):
        return None


def _create_exclusively(lock: Any, text: str) -> bool:
    """Write the lock object only if it does not exist: False when it does. Backends with exclusive create
    (local files, S3 and GCS through recent s3fs / gcsfs: a conditional write) decide it atomically; on the
    others the object is simply written (the caller checked just before that it did not exist)."""
    try:
        with lock.open("xb") as handle:
            handle.write(text.encode())
    except FileExistsError:
        return False
    except (NotImplementedError, ValueError, TypeError):  # no exclusive create on this backend
        lock.write_text(text)
    return True


def _take_lock(lock: Any, location: str, owner: str, log: Any) -> None:
    """Hold ``<location>.lock`` for ``owner``, or fail naming the run that holds it."""
    text = json.dumps(_holder(owner))
    if not lock.exists() and _create_exclusively(lock, text):
        return
    holder = _read_holder(lock)
    if not isinstance(holder, dict) or holder.get("owner") != owner:
        raise ExpertSenderStateError(
            f"The sync state {location} is in use by {_describe(holder)} (lock object {location}.lock). "
            f"{_SHARED_ADVICE} If that run is over (its worker was killed), delete the lock object."
        )
    log.warning(
        "Taking over the lock of the sync state %s left by an earlier try of this task (%s).",
        location,
        _describe(holder),
    )
    lock.write_text(text)


@contextlib.contextmanager
def _remote(location: str, owner: str, write: bool, log: Any) -> Iterator[str]:
    remote = as_path(location)
    lock = as_path(f"{location}.lock")
    if write:
        _take_lock(lock, location, owner, log)
    workdir = tempfile.mkdtemp(prefix="expertsender-state-")
    local = os.path.join(workdir, "state.sqlite")
    failed = False
    downloaded = None
    try:
        version = _fingerprint(remote)
        if version is not None:
            with remote.open("rb") as source, open(local, "wb") as target:
                _copy(source, target)
            downloaded = _local_version(local)
        yield local
    except BaseException:
        failed = True
        raise
    finally:
        try:
            # Nothing to upload when the run never changed the file (it failed before opening it).
            if write and os.path.exists(local) and _local_version(local) != downloaded:
                _upload(local, remote, location, version, failed, log)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            if write:
                with contextlib.suppress(Exception):
                    lock.unlink()


def _upload(local: str, remote: Any, location: str, version: Any, failed: bool, log: Any) -> None:
    if _fingerprint(remote) != version:
        message = (
            f"The sync state {location} was changed by another run while this one worked on it, so this "
            "run's state is not uploaded (the other run's stays; this run's records will be sent again next "
            "run). "
            f"{_SHARED_ADVICE}"
        )
        if failed:  # the run's own error is the one to raise
            log.error("%s", message)
            return
        raise ExpertSenderStateError(message)
    staging = as_path(f"{location}.upload-{uuid.uuid4().hex}")
    with open(local, "rb") as source, staging.open("wb") as target:
        _copy(source, target)
    remote.fs.mv(staging.path, remote.path)


@contextlib.contextmanager
def state_file(location: Any, *, owner: str, write: bool = True, log: Any) -> Iterator[str]:
    """Hold the state at ``location`` for one run and yield the local path of its SQLite file.

    :param location: a local path or an object-storage URI (see the module docstring).
    :param owner: who holds it (the task instance), for the messages of runs that find it in use.
    :param write: whether the run may change the state (``False`` for dry runs: no lock, no upload).
    :param log: where warnings go.
    :raises ExpertSenderStateError: another run holds the state, or changed it meanwhile (object storage).
    """
    text = str(location)
    if is_uri(text):
        with _remote(text, owner, write, log) as path:
            yield path
    else:
        with _local(text, owner, write) as path:
            yield path
