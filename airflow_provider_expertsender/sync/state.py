"""Incremental sync: which records the API confirmed, as hashes in a SQLite file, and the diff against it.

A record is identified by its *key* (the ``match_by`` identifier of a customer, ``websiteId`` + ``id`` of an
order) and described by the *hash of its canonical API payload* (the payload after mapping and validation,
with the lists whose order means nothing sorted). The state maps key hash -> payload hash for every record
the API confirmed. A run then sends only the records whose key is not in the state (``new``) or whose
payload hash differs (``changed``); the others are counted (``unchanged``) and not sent.

Correctness rules, and where each is enforced:

* a key enters the state only when the API accepted its record (:meth:`IncrementalSync.confirmed`, called per
  batch by the engine after the response): invalid records, records the API refused and batches in doubt or
  never sent are not confirmed;
* before a batch is sent, the keys it carries are removed from the state (:meth:`IncrementalSync.sending`,
  committed with ``synchronous=FULL``): if the process dies while the request is in flight, those records are
  ``new`` next run and sent again, even if their data went back to what the state held;
* every commit is a SQLite transaction, so a run that dies midway leaves exactly what was confirmed;
* a key that occurs twice in one input is compared with its previous occurrence, so the last row still wins;
* the input cache answers only for rows whose record the state holds as confirmed.

Scale: the state is a SQLite table of two 64-bit integers per key, and records are looked up 1,024 at a
time, so memory does not grow with the input. A second table, the *input cache*, maps the hash of each input
row *as read* (a JSON line's bytes, a CSV line's cells, a query's values, with its file's columns and the
mapping's rules; or, for inputs that cannot be taken so, the record as mapped) to the key hash and payload
hash it produced. A row found there is ``unchanged`` without being decoded, mapped or validated: one lookup.
The cache holds only entries whose payload hash is the one confirmed for their key (kept so whenever the
confirmed records change, see :meth:`StateStore.merge`), and its hashes are keyed by the provider's version,
the resource and the key name, so new validation rules never reuse old results. Without a settings catalog
only (``validate_against_settings`` makes the payload depend on the business unit's settings).

The run's own bookkeeping lives in a scratch database on local disk: the keys it carried, appended and
indexed once at the end (for ``missing_from_input``), and the keys it sent with their payload hashes (a key
that occurs again later in the input is compared with what was sent).

Keys and payloads are never stored: hashes are 64-bit keyed BLAKE2b digests with a random salt per state
file (see ``docs/personal-data.md``). Where the file lives, and who may use it at a time, is
:mod:`~airflow_provider_expertsender.sync.statefile`'s business.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import marshal
import os
import secrets
import shutil
import sqlite3
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_expertsender.exceptions import ExpertSenderStateError
from airflow_provider_expertsender.sync.ledger import Selector, as_record
from airflow_provider_expertsender.sync.sources import stable_bytes

#: The resources a state can describe: upserts, whose records are worth skipping when the API has them as they
#: are (custom events, status changes and deletes are actions, not states).
STATE_RESOURCES = ("customers", "orders")
#: The state file's format; a file written with a higher number is refused (written by a newer provider).
#: 2: every input-cache entry matches its key's confirmed payload hash (format 1 checked that at each lookup);
#: a format 1 file is upgraded when opened for writing.
FORMAT_VERSION = 2
#: SQLite ``application_id`` of a state file ("ESST"), so another SQLite database is not taken for one.
APPLICATION_ID = 0x45535354
_INT64 = struct.Struct("<q").unpack
#: Records looked up together (one query each for the input cache and the state).
CHUNK = 1024
#: The name of a run's scratch folder in the temporary directory: this prefix, the process id, a random part.
_SCRATCH_PREFIX = "expertsender-run-"

# Lists of the payloads whose items are unique by a field and whose order carries no meaning (the models
# reject duplicate attribute names and consent ids): sorted before hashing, so a column order does not matter.
_UNORDERED_LISTS = {
    "customAttributes": "name",
    "orderAttributes": "name",
    "productAttributes": "name",
}

# meta: salt, format, identity, dates. confirmed: key hash -> payload hash. inputs: the input cache.
# journal: confirmations (h) and removals (h NULL) in the order they happened, appended during a run (a commit
# then writes one or two pages, where updating ``confirmed`` in place would rewrite a page per record: keys
# are random) and merged into ``confirmed`` when the run ends, or when the next run opens the file.
_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE confirmed (k INTEGER PRIMARY KEY, h INTEGER NOT NULL)",
    "CREATE TABLE inputs (r INTEGER PRIMARY KEY, k INTEGER NOT NULL, h INTEGER NOT NULL)",
    "CREATE TABLE journal (seq INTEGER PRIMARY KEY, k INTEGER NOT NULL, h INTEGER)",
)
# The last journal entry of each key.
_LATEST = "SELECT k, h FROM journal WHERE seq IN (SELECT max(seq) FROM journal GROUP BY k)"


# ------------------------------------------------------------------------------------------ canonical form


def _sorted_items(items: Any, field: str) -> Any:
    """``items`` sorted by ``field``: the same list when it already is, else a new one."""
    if type(items) is not list or len(items) < 2:
        return items
    names = [str(item.get(field)) if isinstance(item, Mapping) else "" for item in items]
    if all(a <= b for a, b in itertools.pairwise(names)):
        return items
    return [items[i] for i in sorted(range(len(items)), key=names.__getitem__)]


def canonical(payload: Mapping[str, Any]) -> Any:
    """``payload`` with its order-free lists sorted (attributes by name, consents by id), as a new dict
    where something moved; other values are returned as they are.

    The key order of the payload's objects needs no work: the models build every payload in their field
    order, whatever the input's order (``models/_fast.py`` holds its fast path to that), and number formats
    are normalised by validation (``2``, ``2.0``, ``"2"`` and ``Decimal("2.00")`` all become ``2``).
    """
    out: dict[str, Any] | None = None
    for name, field in _UNORDERED_LISTS.items():
        items = payload.get(name)
        ordered = _sorted_items(items, field)
        if ordered is not items:
            out = out if out is not None else dict(payload)
            out[name] = ordered
    consents = payload.get("consentsData")
    if isinstance(consents, Mapping):
        items = consents.get("consents")
        ordered = _sorted_items(items, "id")
        if ordered is not items:
            out = out if out is not None else dict(payload)
            out["consentsData"] = {**consents, "consents": ordered}
    products = payload.get("products")
    if type(products) is list:
        lines = [canonical(p) if isinstance(p, Mapping) else p for p in products]
        if any(a is not b for a, b in zip(lines, products, strict=False)):
            out = out if out is not None else dict(payload)
            out["products"] = lines
    return payload if out is None else out


class Digests:
    """The keyed 64-bit hashes of a state file (BLAKE2b, keyed with the file's random salt).

    :param salt: the state's salt (16 random bytes, created with the file).
    :param context: what the input cache's hashes depend on besides the record (provider version, resource,
        key name), so a change of any of them is a cache miss, never a stale hit.
    """

    def __init__(self, salt: bytes, context: str = "") -> None:
        # Keyed hashers copied for each value (cheaper than keying a new one); the input cache's starts with
        # the context.
        self._base = hashlib.blake2b(digest_size=8, key=salt)
        self._raw_base = self._base.copy()
        self._raw_base.update(context.encode())
        self._unit_base = hashlib.blake2b(digest_size=8, key=salt, person=b"unit")
        self._unit_base.update(context.encode())

    @staticmethod
    def _int(hasher: Any, data: bytes) -> int:
        hasher.update(data)
        return int(_INT64(hasher.digest())[0])

    def key(self, key: Any) -> int:
        """The hash of a record key (a string, or a tuple such as ``(websiteId, id)``)."""
        return self._int(self._base.copy(), marshal.dumps(key, 0))

    def payload(self, payload: Mapping[str, Any]) -> int:
        """The hash of a validated API payload in its canonical form.

        :func:`marshal.dumps` (format 0: no references, no interning marks) of the canonical payload: the
        payload holds JSON types only, and the same values always give the same bytes.
        """
        value = canonical(payload)
        try:
            data = marshal.dumps(value, 0)
        except ValueError:  # a value marshal does not know (not produced by the models): its JSON text
            data = json.dumps(value, sort_keys=True, default=str).encode()
        return self._int(self._base.copy(), data)

    def unit(self, fingerprint: bytes) -> int:
        """The input-cache hash of a row as read, from its fingerprint (``MappedRows.units``)."""
        return int(self.units([fingerprint])[0])  # type: ignore[arg-type]

    def units(self, fingerprints: list[bytes]) -> list[int | None]:
        """:meth:`unit` of each fingerprint (the loop of an unchanged re-run, kept tight)."""
        copy = self._unit_base.copy
        unpack = _INT64
        hashes: list[int | None] = []
        append = hashes.append
        for fingerprint in fingerprints:
            hasher = copy()
            hasher.update(fingerprint)
            append(unpack(hasher.digest())[0])
        return hashes

    def raw(self, record: Any) -> int | None:
        """The hash of an input record as mapped (before validation), for the input cache; ``None`` when the
        record cannot be hashed reproducibly (the record is then validated, as without the cache)."""
        data = stable_bytes(record)
        return None if data is None else self._int(self._raw_base.copy(), data)


# ------------------------------------------------------------------------------------------------ the store


def _ints(values: Iterable[int | None]) -> str:
    """A JSON array of integers (``null`` for None): one bound parameter for ``json_each`` instead of one
    per value."""
    return "[" + ",".join(map(str, values)).replace("None", "null") + "]"


def _check_sqlite(db: sqlite3.Connection) -> None:
    """The state needs SQLite's JSON functions (JSON1: built in since SQLite 3.38, an option before)."""
    try:
        db.execute("SELECT value FROM json_each('[1]')").fetchall()
    except sqlite3.OperationalError as err:
        raise ExpertSenderStateError(
            f"The incremental sync state needs SQLite with its JSON functions (JSON1); this Python "
            f"uses SQLite {sqlite3.sqlite_version} ({err}). Run the task on a worker whose Python has a "
            "newer SQLite, or leave state_path unset."
        ) from None


class StateStore:
    """The SQLite state file at a local path (schema, version, identity, lookups and writes).

    :param path: local path of the file (created when missing).
    :param identity: what the state was built for (``resource``, ``key``, ``target``): opening it for
        something else fails, unless ``rebuild``.
    :param rebuild: forget every confirmed record (``full_refresh``) and adopt ``identity``.
    :param read_only: change nothing in the file (dry runs).
    """

    def __init__(
        self, path: str, *, identity: Mapping[str, str], rebuild: bool = False, read_only: bool = False
    ) -> None:
        self.path = path
        self.read_only = read_only
        # One connection, used by the coordinating thread (lookups) and the sender threads (forget/confirm).
        self.lock = threading.RLock()
        self._scratch: str | None = None
        # A dry run on a state that does not exist yet reads an empty one (and creates no file).
        exists = os.path.exists(path) and os.path.getsize(path) > 0
        self.db = sqlite3.connect(
            path if exists or not read_only else ":memory:", isolation_level=None, check_same_thread=False
        )
        try:
            _check_sqlite(self.db)
            self._open(identity, rebuild)
        except BaseException as err:
            self.db.close()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
            if isinstance(err, sqlite3.DatabaseError):
                raise ExpertSenderStateError(
                    f"{path} is not a readable sync state ({err}). Point state_path at another file, or "
                    "delete this one to start a new state (every record is then sent once)."
                ) from err
            raise

    def _open(self, identity: Mapping[str, str], rebuild: bool) -> None:
        db = self.db
        db.execute("PRAGMA busy_timeout = 10000")
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables and application_id != APPLICATION_ID:
            raise ExpertSenderStateError(
                f"{self.path} is an SQLite database but not a sync state of this provider. Point state_path "
                "at a file of its own."
            )
        if version > FORMAT_VERSION:
            raise ExpertSenderStateError(
                f"{self.path} was written by a newer version of airflow-provider-expertsender (state format "
                f"{version}; this version reads up to {FORMAT_VERSION}). Upgrade the provider on this "
                "worker, or use another state_path."
            )
        if not self.read_only:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA cache_size = -16384")  # 16 MB of pages
        # This run's bookkeeping: a scratch database of its own on local disk, without a journal (it dies with
        # the run; the folder of a run whose process was killed is removed by the next one on this machine).
        _remove_dead_scratch()
        self._scratch = tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-")
        db.execute("ATTACH DATABASE ? AS run", (os.path.join(self._scratch, "seen.sqlite"),))
        db.execute("PRAGMA run.journal_mode = OFF")
        db.execute("PRAGMA run.synchronous = OFF")
        db.execute("PRAGMA run.cache_size = -16384")
        # keys: every valid record's key (appended; indexed once, for missing_from_input); sent: the keys this
        # run sent, with their payload hash; pending: the same by input position (what sending and
        # confirmations journal, hashed once); inputs: new input-cache entries (merged when confirmed).
        db.execute("CREATE TABLE run.keys (k INTEGER NOT NULL)")
        db.execute("CREATE TABLE run.sent (k INTEGER PRIMARY KEY, h INTEGER NOT NULL)")
        db.execute("CREATE TABLE run.pending (p INTEGER PRIMARY KEY, k INTEGER NOT NULL, h INTEGER NOT NULL)")
        db.execute("CREATE TABLE run.inputs (r INTEGER NOT NULL, k INTEGER NOT NULL, h INTEGER NOT NULL)")
        if not tables:
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            self._write_meta(
                {"salt": secrets.token_hex(16), "created": _now(), "format": str(FORMAT_VERSION), **identity}
            )
            db.execute("COMMIT")
        self.meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
        different = {
            name: (self.meta.get(name), value)
            for name, value in identity.items()
            if self.meta.get(name) != value
        }
        if different and not rebuild:
            told = ", ".join(f"{n} {old!r} (now {new!r})" for n, (old, new) in different.items())
            raise ExpertSenderStateError(
                f"The sync state {self.path} was built for {told}. A state describes what one connection "
                "holds for one resource and key: use another state_path for this task, or full_refresh=True "
                "to rebuild this state (every record is sent once)."
            )
        if not tables:
            version = FORMAT_VERSION
        elif version < FORMAT_VERSION and not self.read_only:
            self._upgrade(version)
            version = FORMAT_VERSION
        #: The format the open file follows (older than FORMAT_VERSION only when read-only).
        self.version = version
        if not self.read_only:
            self._merge()  # what a run that ended abruptly journaled
        if rebuild and not self.read_only:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM confirmed")
            db.execute("DELETE FROM inputs")
            self._write_meta({**identity, "rebuilt": _now()})
            db.execute("COMMIT")
            self.meta.update(identity)

    def _upgrade(self, version: int) -> None:
        """Bring a file of an older format up to :data:`FORMAT_VERSION` (one transaction)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        if version < 2:  # format 1 kept input-cache entries whose key's payload had changed since
            db.execute(
                "DELETE FROM inputs WHERE NOT EXISTS "
                "(SELECT 1 FROM confirmed AS c WHERE c.k = inputs.k AND c.h = inputs.h)"
            )
        db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        self._write_meta({"format": str(FORMAT_VERSION), "upgraded": _now()})
        db.execute("COMMIT")

    def use_cache(self, context: str) -> None:
        """Forget the input cache when it was built in another context (another provider version): its
        entries could never match again."""
        digest = hashlib.blake2b(context.encode(), digest_size=8).hexdigest()
        if self.read_only or self.meta.get("cache") == digest:
            return
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            if "cache" in self.meta:
                self.db.execute("DELETE FROM inputs")
            self._write_meta({"cache": digest})
            self.db.execute("COMMIT")
        self.meta["cache"] = digest

    def _write_meta(self, values: Mapping[str, str]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", sorted(values.items()))

    @property
    def salt(self) -> bytes:
        return bytes.fromhex(self.meta["salt"])

    # ------------------------------------------------------------------------------------------- lookups

    def cached(self, raws: Sequence[int | None]) -> list[tuple[int, int, int, int | None]]:
        """Input-cache hits among ``raws`` (None: no hash): ``(index in raws, key hash, payload hash, payload
        hash this run sent for the key or None)``. The cache holds only entries whose payload hash is the
        confirmed one for their key, so a hit is a record the state holds as it is."""
        with self.lock:
            return self.db.execute(
                "SELECT j.key, i.k, i.h, s.h FROM json_each(?) AS j "
                "JOIN inputs AS i ON i.r = j.value "
                "LEFT JOIN run.sent AS s ON s.k = i.k",
                (_ints(raws),),
            ).fetchall()

    def lookup(
        self, keys: Sequence[int], *, ignore_confirmed: bool = False
    ) -> list[tuple[int, int | None, int | None]]:
        """For each of ``keys``: ``(index, confirmed payload hash or None, payload hash this run sent for it
        or None)``; ``ignore_confirmed``: as if the state were empty (a full refresh)."""
        confirmed = "NULL" if ignore_confirmed else "c.h"
        join = "" if ignore_confirmed else "LEFT JOIN confirmed AS c ON c.k = j.value "
        with self.lock:
            return self.db.execute(
                f"SELECT j.key, {confirmed}, s.h FROM json_each(?) AS j {join}"
                "LEFT JOIN run.sent AS s ON s.k = j.value",
                (_ints(keys),),
            ).fetchall()

    # -------------------------------------------------------------------------------------------- writes

    def note(
        self,
        keys: Sequence[int],
        sending: Sequence[tuple[int, int, int]],
        inputs: Sequence[tuple[int, int, int]],
    ) -> None:
        """Record what this run read and decided: the key hashes of its valid records, the ``(position, key
        hash, payload hash)`` of the records it is about to send (for a key sent twice, the last one is what
        later occurrences are compared with), and new ``(input hash, key hash, payload hash)`` cache entries
        (kept once the state confirms them)."""
        db = self.db
        with self.lock:
            db.execute("BEGIN")
            if keys:
                db.execute("INSERT INTO run.keys (k) SELECT value FROM json_each(?)", (_ints(keys),))
            if sending:
                db.executemany("INSERT INTO run.pending (p, k, h) VALUES (?, ?, ?)", sending)
                db.executemany(
                    "INSERT OR REPLACE INTO run.sent (k, h) VALUES (?, ?)", [(k, h) for _, k, h in sending]
                )
            if inputs and not self.read_only:
                db.executemany("INSERT INTO run.inputs (r, k, h) VALUES (?, ?, ?)", inputs)
            db.execute("COMMIT")

    def forget(self, positions: Sequence[int]) -> None:
        """Remove the keys of the records at ``positions`` (noted as sending) from the confirmed records,
        durably: called before their request leaves."""
        if self.read_only or not positions:
            return
        db = self.db
        with self.lock:
            db.execute("PRAGMA synchronous = FULL")
            try:
                db.execute("BEGIN")
                db.execute(
                    "INSERT INTO journal (k, h) SELECT k, NULL FROM run.pending "
                    "WHERE p IN (SELECT value FROM json_each(?)) ORDER BY p",
                    (_ints(positions),),
                )
                db.execute("COMMIT")
            finally:
                db.execute("PRAGMA synchronous = NORMAL")

    def confirm(self, positions: Sequence[int]) -> None:
        """Mark the records at ``positions`` (noted as sending) as confirmed by the API: their keys with
        their payload hashes (one transaction; for a key twice, the later position wins)."""
        if self.read_only or not positions:
            return
        db = self.db
        with self.lock:
            db.execute("BEGIN")
            db.execute(
                "INSERT INTO journal (k, h) SELECT k, h FROM run.pending "
                "WHERE p IN (SELECT value FROM json_each(?)) ORDER BY p",
                (_ints(positions),),
            )
            db.execute("COMMIT")

    # ------------------------------------------------------------------------------------------- figures

    def keys(self) -> int:
        """Confirmed keys in the state."""
        with self.lock:
            return int(self.db.execute("SELECT count(*) FROM confirmed").fetchone()[0])

    def missing_from_input(self) -> int:
        """Confirmed keys that no valid record of this run carried (indexes the run's keys first: once, at the
        end, costs less than keeping them sorted while they come)."""
        with self.lock:
            self.db.execute("CREATE INDEX IF NOT EXISTS run.keys_k ON keys (k)")
            return int(
                self.db.execute(
                    "SELECT count(*) FROM confirmed "
                    "WHERE NOT EXISTS (SELECT 1 FROM run.keys AS s WHERE s.k = confirmed.k)"
                ).fetchone()[0]
            )

    def merge(self) -> None:
        """Apply the journal to the confirmed records (the last entry of a key wins), drop the input-cache
        entries of the keys whose confirmed payload changed or left, and add the run's new cache entries whose
        payload is now confirmed; sorted by key, so each page of the tables is written once."""
        if self.read_only:
            return
        with self.lock:
            self._merge()

    def _merge(self) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT EXISTS (SELECT 1 FROM journal)").fetchone()[0]:
            db.execute(f"CREATE TEMP TABLE latest AS {_LATEST}")
            db.execute(
                "INSERT OR REPLACE INTO confirmed (k, h) SELECT k, h FROM temp.latest WHERE h IS NOT NULL "
                "ORDER BY k"
            )
            db.execute("DELETE FROM confirmed WHERE k IN (SELECT k FROM temp.latest WHERE h IS NULL)")
            db.execute("DROP TABLE temp.latest")
            db.execute(
                "DELETE FROM inputs WHERE k IN (SELECT k FROM journal) AND NOT EXISTS "
                "(SELECT 1 FROM confirmed AS c WHERE c.k = inputs.k AND c.h = inputs.h)"
            )
            db.execute("DELETE FROM journal")
        db.execute(
            "INSERT OR REPLACE INTO inputs (r, k, h) SELECT r, k, h FROM run.inputs AS n WHERE EXISTS "
            "(SELECT 1 FROM confirmed AS c WHERE c.k = n.k AND c.h = n.h) ORDER BY r"
        )
        db.execute("DELETE FROM run.inputs")
        db.execute("COMMIT")

    def close(self) -> None:
        """Merge the journal, record the run and close the file (the WAL is merged into it)."""
        db = self.db
        try:
            if not self.read_only:
                with self.lock:
                    self._merge()
                    db.execute("BEGIN")
                    self._write_meta({"updated": _now()})
                    db.execute("COMMIT")
        finally:
            db.close()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)


def _remove_dead_scratch() -> None:
    """Remove the scratch folders of runs whose process is gone (killed before it could clean up)."""
    root = tempfile.gettempdir()
    try:
        names = [name for name in os.listdir(root) if name.startswith(_SCRATCH_PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name[len(_SCRATCH_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        except OSError:  # alive, under another user
            continue


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ----------------------------------------------------------------------------------- the engine's interface


class IncrementalSync(Selector):
    """The diff of one run against a :class:`StateStore`, and the confirmations of its records.

    A ledger of the write engine (:mod:`~airflow_provider_expertsender.sync.ledger`) that also selects: the
    engine hands :meth:`select` its input (records to send come out, unchanged ones are counted), calls
    :meth:`sending` just before a request carries records (from a sender thread), :meth:`confirmed` with the
    records the API accepted, and :meth:`close` at the end, which leaves the run's figures in
    :attr:`figures`.

    :param store: the open state file.
    :param key_of: the record key of a validated payload (the engine's).
    :param context: what validation depends on besides the record (resource, key name, provider version);
        ``None`` disables the input cache (every record is validated).
    :param full_refresh: send every record (the state was emptied when it was opened).
    """

    def __init__(
        self,
        store: StateStore,
        *,
        key_of: Callable[[Mapping[str, Any]], Any],
        context: str | None,
        full_refresh: bool = False,
    ) -> None:
        self.store = store
        self.key_of = key_of
        self.digests = Digests(store.salt, context or "")
        # A read-only run on a format 1 file cannot trust its cache (the upgrade that makes it so writes).
        self.use_cache = context is not None and store.version >= 2
        if self.use_cache and context is not None:
            store.use_cache(context)
        self.full_refresh = full_refresh
        self.new = 0
        self.changed = 0
        self.unchanged = 0
        self.size_bytes: int | None = None
        #: The summary figures, once closed.
        self.figures: dict[str, Any] = {}
        self._closed = False

    def select(
        self,
        stream: Iterable[tuple[int, bytes | None, Any]],
        validate: Callable[[int, Any], dict[str, Any] | None],
        materialize: Callable[[Any], Any] = as_record,
    ) -> Iterator[tuple[int, Any, dict[str, Any]]]:
        """The ``(position, record, payload)`` of the records of ``stream`` to send, in input order (see
        :meth:`Selector.select <airflow_provider_expertsender.sync.ledger.Selector.select>`)."""
        chunk: list[tuple[int, bytes | None, Any]] = []
        for item in stream:
            chunk.append(item)
            if len(chunk) >= CHUNK:
                yield from self._chunk(chunk, validate, materialize)
                chunk = []
        if chunk:
            yield from self._chunk(chunk, validate, materialize)

    def _input_hashes(
        self,
        chunk: list[tuple[int, bytes | None, Any]],
        records: list[Any],
        materialize: Callable[[Any], Any],
    ) -> list[int | None]:
        """The input-cache hash of each item: of its fingerprint, else of its record (then kept in
        ``records``), None when it has neither."""
        digests = self.digests
        fingerprints = [fingerprint for _, fingerprint, _ in chunk]
        if None not in fingerprints:
            return digests.units(fingerprints)  # type: ignore[arg-type]
        raws: list[int | None] = []
        for index, (_, fingerprint, item) in enumerate(chunk):
            if fingerprint is not None:
                raws.append(digests.unit(fingerprint))
            else:
                record = records[index] = materialize(item)
                raws.append(digests.raw(record))
        return raws

    def _chunk(
        self,
        chunk: list[tuple[int, bytes | None, Any]],
        validate: Callable[[int, Any], dict[str, Any] | None],
        materialize: Callable[[Any], Any],
    ) -> Iterator[tuple[int, Any, dict[str, Any]]]:
        digests = self.digests
        store = self.store
        size = len(chunk)
        records: list[Any] = [None] * size  # the records materialized so far
        # 1. input-cache hits: rows whose exact input produced the payload hash the state holds for their key
        hits: list[tuple[int, int, int, int | None] | None] = [None] * size
        raws: list[int | None] = []
        if self.use_cache:
            raws = self._input_hashes(chunk, records, materialize)
            if not self.full_refresh:
                for found_row in store.cached(raws):
                    hits[found_row[0]] = found_row
        # 2. validate the others and hash their key and payload
        payloads: dict[int, dict[str, Any]] = {}
        keyed: dict[int, tuple[int, int]] = {}
        for index, (position, _, item) in enumerate(chunk):
            if hits[index] is not None:
                continue
            record = records[index]
            if record is None:
                record = records[index] = materialize(item)
            payload = validate(position, record)
            if payload is not None:
                payloads[index] = payload
                keyed[index] = (digests.key(self.key_of(payload)), digests.payload(payload))
        order = sorted(keyed)
        found: dict[int, tuple[int | None, int | None]] = {}
        if order:
            rows = store.lookup([keyed[i][0] for i in order], ignore_confirmed=self.full_refresh)
            found = {order[j]: (confirmed, before) for j, confirmed, before in rows}
        # 3. decide in input order: compare with this run's previous occurrence of the key (what was sent, or
        # in this chunk what was read), else with the state
        latest: dict[int, int] = {}  # key hash -> payload hash of its last occurrence in this chunk
        keys: list[int] = []  # the key of every valid record
        out: list[tuple[int, Any, dict[str, Any]]] = []  # what to send
        sending: list[tuple[int, int, int]] = []  # (position, key hash, payload hash) of what to send
        cache: list[tuple[int, int, int]] = []
        for index in range(size):
            hit = hits[index]
            if hit is not None:
                _, key, digest, before = hit
                keys.append(key)
                reference = latest.get(key, before if before is not None else digest)
                latest[key] = digest
                if reference == digest:
                    self.unchanged += 1
                    continue
                # the key was sent with other data earlier in this run: this row must be sent too
                position, _, item = chunk[index]
                record = records[index]
                if record is None:
                    record = materialize(item)
                payload = validate(position, record)
                if payload is None:
                    continue
                self.changed += 1
                out.append((position, record, payload))
                sending.append((position, key, digest))
                continue
            if index not in keyed:
                continue  # invalid
            key, digest = keyed[index]
            keys.append(key)
            confirmed, before = found.get(index, (None, None))
            previous = latest.get(key, before if before is not None else confirmed)
            latest[key] = digest
            raw = raws[index] if raws else None
            if raw is not None:
                cache.append((raw, key, digest))
            if previous is None:
                self.new += 1
            elif previous == digest:
                self.unchanged += 1
                continue
            else:
                self.changed += 1
            position = chunk[index][0]
            out.append((position, records[index], payloads[index]))
            sending.append((position, key, digest))
        # noted before any of them is yielded: the engine may send a batch while this generator waits at a
        # yield, and sending() finds the records by position
        store.note(keys, sending, cache)
        yield from out

    def sending(self, payloads: Sequence[Mapping[str, Any]], positions: Sequence[int] = ()) -> None:
        """Called before ``payloads`` are sent: their keys leave the state until the API confirms them.

        :param positions: the records' positions, as :meth:`select` yielded them.
        """
        self.store.forget(positions)

    def admit(self, key: Any, payload: Mapping[str, Any]) -> str | None:
        """Every record :meth:`select` let through is to be sent."""
        return None

    def confirmed(
        self, keys: Sequence[Any], payloads: Sequence[Mapping[str, Any]], positions: Sequence[int] = ()
    ) -> None:
        """Called with the records the API accepted: their keys enter the state with their payload hashes
        (computed when :meth:`select` let them through).

        :param positions: the records' positions, as :meth:`select` yielded them.
        """
        self.store.confirm(positions)

    def summary(self) -> dict[str, Any]:
        """``new``, ``changed``, ``unchanged``, ``missing_from_input`` and ``state_keys`` (after merging the
        run's confirmations)."""
        self.store.merge()
        return {
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "missing_from_input": self.store.missing_from_input(),
            "state_keys": self.store.keys(),
            "full_refresh": self.full_refresh,
        }

    def close(self, *, complete: bool) -> None:
        """Compute :attr:`figures` and close the state file (once; later calls do nothing).

        :param complete: the whole input was processed (stale input-cache entries are then dropped).
        """
        if self._closed:
            return
        self._closed = True
        try:
            self.figures = self.summary()
        finally:
            self.store.close()
        if self.store.path != ":memory:" and os.path.exists(self.store.path):
            self.size_bytes = os.path.getsize(self.store.path)


def open_sync(
    path: str,
    *,
    identity: Mapping[str, str],
    key_of: Callable[[Mapping[str, Any]], Any],
    cache_context: str | None,
    full_refresh: bool = False,
    read_only: bool = False,
) -> IncrementalSync:
    """Open the state file at the local ``path`` for one run (see :class:`IncrementalSync`)."""
    store = StateStore(path, identity=identity, rebuild=full_refresh, read_only=read_only)
    context = (
        None if cache_context is None else f"{cache_context}|{json.dumps(dict(identity), sort_keys=True)}"
    )
    return IncrementalSync(store, key_of=key_of, context=context, full_refresh=full_refresh)


@contextlib.contextmanager
def incremental_state(
    location: Any,
    *,
    identity: Mapping[str, str],
    key_of: Callable[[Mapping[str, Any]], Any],
    cache_context: str | None,
    full_refresh: bool,
    dry_run: bool,
    owner: str,
    log: Any,
) -> Iterator[IncrementalSync]:
    """Hold the state at ``location`` (local path or object-storage URI) for one write and yield its diff.

    The state is closed (and, on object storage, uploaded) when the block ends, also after an error, so what
    the API confirmed is kept. A dry run changes nothing: no lock object, no upload, no writes.

    :param location: ``state_path`` as rendered.
    :param identity: what the state describes (``resource``, ``key``, ``target``).
    :param key_of: the record key of a payload.
    :param cache_context: what validation depends on besides the record, or ``None`` for no input cache.
    :param full_refresh: send every record and rebuild the state.
    :param dry_run: read only.
    :param owner: the task instance holding the state, for the messages of runs that find it in use.
    :param log: where warnings go.
    """
    from airflow_provider_expertsender.sync.statefile import state_file

    with state_file(location, owner=owner, write=not dry_run, log=log) as path:
        sync = open_sync(
            path,
            identity=identity,
            key_of=key_of,
            cache_context=cache_context,
            full_refresh=full_refresh,
            read_only=dry_run,
        )
        complete = False
        try:
            yield sync
            complete = True
        finally:
            sync.close(complete=complete)


__all__ = [
    "CHUNK",
    "FORMAT_VERSION",
    "Digests",
    "IncrementalSync",
    "StateStore",
    "canonical",
    "incremental_state",
    "open_sync",
]
