"""The incremental-sync state on its own: canonical hashing, the diff, confirmations, versioning, locks."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderStateError
from airflow_provider_expertsender.models import customer_payload, order_payload
from airflow_provider_expertsender.sync.state import (
    CHUNK,
    FORMAT_VERSION,
    Digests,
    IncrementalSync,
    open_sync,
)
from airflow_provider_expertsender.sync.statefile import state_file

IDENTITY = {"resource": "customers", "key": "Email", "target": "expertsender_default"}
log = logging.getLogger(__name__)


def key_of(payload: dict[str, Any]) -> str:
    return str(payload["email"]).lower()


def customer(i: int, **extra: Any) -> dict[str, Any]:
    return {"email": f"user{i}@example.com", "first_name": f"User{i}", **extra}


class Run:
    """One run against the state at ``path``: validates with the models, counts validations."""

    def __init__(self, path: Path, *, full_refresh: bool = False, read_only: bool = False, **kw: Any) -> None:
        self.validated = 0
        self.sync: IncrementalSync = open_sync(
            str(path),
            identity=kw.get("identity", IDENTITY),
            key_of=key_of,
            cache_context=kw.get("cache_context", "test"),
            full_refresh=full_refresh,
            read_only=read_only,
        )

    def validate(self, position: int, record: Any) -> dict[str, Any] | None:
        self.validated += 1
        if not record.get("email"):
            return None  # "invalid": the engine reports it
        return customer_payload(record, match_by="Email", index=position)

    def select(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The payloads to send (their positions in :attr:`positions`)."""
        stream = ((position, None, record) for position, record in enumerate(records))
        selected = list(self.sync.select(stream, self.validate))
        self.positions = [position for position, _, _ in selected]
        self.selected = [payload for _, _, payload in selected]
        return self.selected

    def sending(self, payloads: list[dict[str, Any]]) -> None:
        self.sync.sending(payloads, self.positions)

    def confirmed(self, payloads: list[dict[str, Any]]) -> None:
        """Confirm these of the payloads selected last."""
        positions = dict(zip(map(id, self.selected), self.positions, strict=True))
        self.sync.confirmed([key_of(p) for p in payloads], payloads, [positions[id(p)] for p in payloads])

    def send(
        self, records: list[dict[str, Any]], *, refused: frozenset[str] = frozenset()
    ) -> list[dict[str, Any]]:
        """Select, "send" and confirm what the API would accept (all but ``refused`` e-mails)."""
        payloads = self.select(records)
        self.sending(payloads)
        self.confirmed([p for p in payloads if p["email"] not in refused])
        return payloads

    def finish(self) -> dict[str, Any]:
        summary = self.sync.summary()
        self.sync.close(complete=True)
        return summary


def run(path: Path, records: list[dict[str, Any]], **kw: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    r = Run(path, **kw)
    sent = r.send(records)
    return sent, r.finish()


# ------------------------------------------------------------------------------------------ canonical hashing


def digest_of(record: dict[str, Any]) -> int:
    return Digests(b"0" * 16).payload(customer_payload(record, match_by="Email"))


def test_key_order_and_attribute_order_do_not_change_the_hash() -> None:
    a = {
        "email": "a@example.com",
        "first_name": "A",
        "custom_attributes": [{"name": "city", "value": "Gdansk"}, {"name": "tier", "value": "gold"}],
        "consents_data": {"consents": [{"id": 1, "value": "True"}, {"id": 2, "value": "False"}]},
    }
    b = {
        "consentsData": {"consents": [{"value": "False", "id": 2}, {"id": 1, "value": "True"}]},
        "customAttributes": [{"value": "gold", "name": "tier"}, {"name": "city", "value": "Gdansk"}],
        "firstName": "A",
        "email": "a@example.com",
    }
    assert digest_of(a) == digest_of(b)
    assert digest_of(a) != digest_of({**a, "first_name": "B"})


def test_number_formatting_does_not_change_the_hash() -> None:
    digests = Digests(b"1" * 16)
    base = {
        "id": "O-1",
        "date": "2025-11-03T14:05:00Z",
        "currency": "PLN",
        "customer": {"email": "jane@example.com"},
        "products": [{"id": "SKU", "name": "Shoe", "price": 10.5, "quantity": 1}],
    }
    values = [2, 2.0, "2", Decimal("2.00"), "2.0"]
    hashes = {digests.payload(order_payload({**base, "total_value": v})) for v in values}
    assert len(hashes) == 1
    assert digests.payload(order_payload({**base, "total_value": "2.01"})) not in hashes
    price = {
        digests.payload(
            order_payload(
                {
                    **base,
                    "total_value": 2,
                    "products": [{"id": "SKU", "name": "Shoe", "price": p, "quantity": 1}],
                }
            )
        )
        for p in (10.5, "10.50", Decimal("10.500"))
    }
    assert len(price) == 1


def test_product_attribute_order_does_not_change_the_hash() -> None:
    digests = Digests(b"2" * 16)
    line = {"id": "SKU", "name": "Shoe", "price": 1, "quantity": 1}
    attrs = [{"name": "size", "value": "42"}, {"name": "color", "value": "red"}]
    base = {
        "id": "O-1",
        "date": "2025-11-03T14:05:00Z",
        "currency": "PLN",
        "total_value": 1,
        "customer": {"email": "j@example.com"},
    }
    one = order_payload({**base, "products": [{**line, "product_attributes": attrs}]})
    two = order_payload({**base, "products": [{**line, "product_attributes": attrs[::-1]}]})
    assert digests.payload(one) == digests.payload(two)


def test_the_hash_functions_are_part_of_the_format() -> None:
    """Changing how keys, payloads or input rows are hashed makes every state say "changed": it needs a new
    FORMAT_VERSION (and this test updated)."""
    import hashlib
    import marshal

    def reference(data: bytes) -> int:
        digest = hashlib.blake2b(data, digest_size=8, key=b"s" * 16).digest()
        return int.from_bytes(digest, "little", signed=True)

    digests = Digests(b"s" * 16, "ctx")
    payload = {"email": "a@example.com", "customAttributes": [{"name": "b"}, {"name": "a"}]}
    assert digests.key("a@example.com") == reference(marshal.dumps("a@example.com", 0))
    assert digests.payload(payload) == reference(
        marshal.dumps({"email": "a@example.com", "customAttributes": [{"name": "a"}, {"name": "b"}]}, 0)
    )
    assert digests.raw({"email": "a"}) == reference(b"ctx" + marshal.dumps({"email": "a"}, 0))
    unit = hashlib.blake2b(b"ctx" + b"line", digest_size=8, key=b"s" * 16, person=b"unit").digest()
    assert digests.unit(b"line") == int.from_bytes(unit, "little", signed=True)
    assert FORMAT_VERSION == 2


def test_hashes_depend_on_the_salt_and_are_64_bit() -> None:
    one, two = Digests(b"a" * 16), Digests(b"b" * 16)
    assert one.key("a@example.com") != two.key("a@example.com")
    assert -(2**63) <= one.key("x") < 2**63
    assert one.key(("1", "O-1")) != one.key((None, "O-1"))


# ---------------------------------------------------------------------------------------------- the diff


def test_second_run_sends_nothing_and_third_only_the_changes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    records = [customer(i) for i in range(2500)]
    sent, summary = run(path, records)
    assert len(sent) == 2500
    assert summary["new"] == 2500
    assert summary["state_keys"] == 2500

    r = Run(path)
    assert r.send(records) == []
    assert r.validated == 0  # the input cache: unchanged rows are not validated again
    assert r.finish() == {
        "new": 0,
        "changed": 0,
        "unchanged": 2500,
        "missing_from_input": 0,
        "state_keys": 2500,
        "full_refresh": False,
    }

    records[10] = customer(10, last_name="Changed")
    records.append(customer(9999))
    sent, summary = run(path, records[5:])
    assert [p["email"] for p in sent] == ["user10@example.com", "user9999@example.com"]
    assert (summary["new"], summary["changed"], summary["unchanged"]) == (1, 1, 2494)
    assert summary["missing_from_input"] == 5  # users 0-4: reported, not deleted
    assert summary["state_keys"] == 2501


def test_reordered_columns_are_validated_but_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run(path, [customer(i, last_name="X") for i in range(10)])
    r = Run(path)
    assert (
        r.send(
            [{"last_name": "X", "first_name": f"User{i}", "email": f"user{i}@example.com"} for i in range(10)]
        )
        == []
    )
    assert r.validated == 10  # not the same input: validated, then the payload hash matches
    assert r.finish()["unchanged"] == 10


def test_a_key_is_confirmed_only_when_the_api_accepted_it(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    records = [customer(i) for i in range(5)]
    r = Run(path)
    r.send(records, refused={"user1@example.com"})
    r.finish()
    sent, summary = run(path, records)
    assert [p["email"] for p in sent] == ["user1@example.com"]
    assert summary["new"] == 1


def test_invalid_records_are_not_keys_and_sent_once_fixed(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    records = [customer(i) for i in range(3)] + [{"first_name": "no e-mail"}]
    sent, summary = run(path, records)
    assert len(sent) == 3
    assert summary["state_keys"] == 3
    records[3] = customer(3)
    sent, summary = run(path, records)
    assert [p["email"] for p in sent] == ["user3@example.com"]


def test_a_record_sent_but_never_confirmed_is_sent_again_even_when_reverted(tmp_path: Path) -> None:
    """In doubt: the keys leave the state before the request; a run that dies there re-sends them."""
    path = tmp_path / "state.sqlite"
    records = [customer(i) for i in range(3)]
    run(path, records)
    r = Run(path)
    payloads = r.select([customer(0, last_name="New"), *records[1:]])
    r.sending(payloads)  # the request goes out ... and the run dies before the response
    r.sync.close(complete=False)
    sent, summary = run(path, records)  # the data went back to what the state held
    assert [p["email"] for p in sent] == ["user0@example.com"]
    assert summary["new"] == 1


def test_confirmations_of_a_run_that_never_closed_are_kept(tmp_path: Path) -> None:
    """A killed process leaves its journal: the next run merges it before comparing."""
    path = tmp_path / "state.sqlite"
    run(path, [customer(0), customer(1)])
    r = Run(path)
    payloads = r.select([customer(0, last_name="B"), customer(1, last_name="B"), customer(2)])
    r.sending(payloads)
    r.confirmed(payloads[1:])  # user0's request never answered
    # no close(): the process is gone
    sent, summary = run(path, [customer(0, last_name="B"), customer(1, last_name="B"), customer(2)])
    assert [p["email"] for p in sent] == ["user0@example.com"]
    assert summary["new"] == 1
    assert summary["unchanged"] == 2
    r.sync.store.db.close()  # what the dead process's exit would have done; its scratch file goes too
    shutil.rmtree(str(r.sync.store._scratch))


def test_the_last_occurrence_of_a_key_wins(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run(path, [customer(0)])
    # changed, then back to the confirmed data, in one input: both must go, in order
    sent, _summary = run(path, [customer(0, last_name="B"), customer(1), customer(0)])
    assert [p.get("lastName") for p in sent if p["email"] == "user0@example.com"] == ["B", None]
    # the same across chunks and through the input cache
    run(path, [customer(0)])
    records = [customer(0, last_name="C")] + [customer(i) for i in range(1, CHUNK + 5)] + [customer(0)]
    sent, _ = run(path, records)
    assert [p.get("lastName") for p in sent if p["email"] == "user0@example.com"] == ["C", None]


def test_repeated_identical_rows_are_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run(path, [customer(0), customer(0)])
    sent, summary = run(path, [customer(0), customer(0)])
    assert sent == []
    assert summary["unchanged"] == 2


def test_full_refresh_sends_everything_and_rebuilds(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run(path, [customer(i) for i in range(5)])
    sent, summary = run(path, [customer(i) for i in range(3)], full_refresh=True)
    assert len(sent) == 3
    assert summary["new"] == 3
    assert summary["state_keys"] == 3
    assert summary["missing_from_input"] == 0
    assert summary["full_refresh"] is True
    sent, _ = run(path, [customer(i) for i in range(3)])
    assert sent == []


def test_dry_run_reads_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    r = Run(path, read_only=True)
    assert len(r.send([customer(0)])) == 1
    r.finish()
    assert not path.exists()
    run(path, [customer(0)])
    before = path.read_bytes()
    r = Run(path, read_only=True, full_refresh=True)
    assert len(r.send([customer(0), customer(1)])) == 2
    r.finish()
    assert path.read_bytes() == before
    sent, _ = run(path, [customer(0)])
    assert sent == []


def test_a_cache_entry_counts_only_while_its_hash_is_confirmed(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run(path, [customer(0)])
    run(path, [customer(0, last_name="B")])
    r = Run(path)  # the first input again: its cache entry is stale, so it is validated and sent
    assert len(r.send([customer(0)])) == 1
    assert r.validated == 1
    r.finish()


def test_without_a_cache_context_every_row_is_validated(tmp_path: Path) -> None:
    """validate_against_settings: the payload depends on the business unit's settings, so no input cache."""
    path = tmp_path / "state.sqlite"
    run(path, [customer(0), customer(1)], cache_context=None)
    r = Run(path, cache_context=None)
    assert r.send([customer(0), customer(1)]) == []
    assert r.validated == 2
    assert r.finish()["unchanged"] == 2


def test_the_cache_is_keyed_by_its_context(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run(path, [customer(0)], cache_context="provider 1.0")
    r = Run(path, cache_context="provider 1.1")
    assert r.send([customer(0)]) == []
    assert r.validated == 1
    r.finish()


def test_the_state_holds_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run(path, [customer(0, last_name="Secret-Surname")])
    data = path.read_bytes()
    assert b"user0" not in data
    assert b"Secret-Surname" not in data
    assert b"example.com" not in data
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"meta", "confirmed", "inputs", "journal"}
        assert {type(v) for row in db.execute("SELECT k, h FROM confirmed") for v in row} == {int}


# ------------------------------------------------------------------------------------ format and identity


def test_the_format_is_versioned(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run(path, [customer(0)])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION
        assert dict(db.execute("SELECT name, value FROM meta"))["format"] == str(FORMAT_VERSION)
        db.execute(f"PRAGMA user_version = {FORMAT_VERSION + 1}")
    with pytest.raises(ExpertSenderStateError, match="newer version"):
        Run(path)


def test_other_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(ExpertSenderStateError, match="not a sync state"):
        Run(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ExpertSenderStateError, match="not a readable sync state"):
        Run(junk)


def test_a_refused_state_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    path = tmp_path / "state.sqlite"
    run(path, [customer(0)])
    with pytest.raises(ExpertSenderStateError):
        Run(path, identity={**IDENTITY, "key": "CrmId"})
    assert list(scratch.iterdir()) == []  # the run's scratch database is gone with it


def test_an_sqlite_without_json_functions_is_named() -> None:
    from airflow_provider_expertsender.sync.state import _check_sqlite

    class OldSqlite:
        def execute(self, sql: str) -> Any:
            raise sqlite3.OperationalError("no such table: json_each")

    with pytest.raises(ExpertSenderStateError, match=r"needs SQLite with its JSON.*no such table: json_each"):
        _check_sqlite(OldSqlite())  # type: ignore[arg-type]


def test_a_state_of_another_resource_or_connection_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run(path, [customer(0)])
    with pytest.raises(ExpertSenderStateError, match=r"key 'Email' \(now 'CrmId'\).*full_refresh=True"):
        Run(path, identity={**IDENTITY, "key": "CrmId"})
    with pytest.raises(ExpertSenderStateError, match="target"):
        Run(path, identity={**IDENTITY, "target": "other_unit"})
    r = Run(path, identity={**IDENTITY, "target": "other_unit"}, full_refresh=True)
    assert len(r.send([customer(0)])) == 1
    r.finish()
    Run(path, identity={**IDENTITY, "target": "other_unit"}).finish()


# ------------------------------------------------------------------------------------------------ locks

HOLD = """
import sys, time
from airflow_provider_expertsender.sync.statefile import state_file
with state_file(sys.argv[1], owner="dag/holder/run", log=None):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_local_state_is_locked_while_used(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    second = state_file(str(path), owner="dag/task/run-2", log=log)
    with (
        state_file(str(path), owner="dag/task/run-1", log=log),
        pytest.raises(ExpertSenderStateError, match=r"in use by dag/task/run-1 .*pid"),
    ):
        second.__enter__()
    with state_file(str(path), owner="dag/task/run-2", log=log):
        pass


def test_a_killed_holder_releases_the_local_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(ExpertSenderStateError, match="dag/holder/run"),
            state_file(str(path), owner="me", log=log),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with state_file(str(path), owner="me", log=log):
        pass


def test_object_storage_state_is_downloaded_and_uploaded(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/remote/state.sqlite"
    (tmp_path / "remote").mkdir()
    with state_file(uri, owner="dag/task/run", log=log) as local:
        assert not local.startswith(str(tmp_path))
        assert (tmp_path / "remote" / "state.sqlite.lock").exists()
        run(Path(local), [customer(i) for i in range(3)])
    assert (tmp_path / "remote" / "state.sqlite").exists()
    assert not (tmp_path / "remote" / "state.sqlite.lock").exists()
    assert sorted(os.listdir(tmp_path / "remote")) == ["state.sqlite"]  # no staging object left
    with state_file(uri, owner="dag/task/run2", log=log) as local:
        sent, summary = run(Path(local), [customer(i) for i in range(3)])
    assert sent == []
    assert summary["unchanged"] == 3


def test_object_storage_state_is_uploaded_when_the_run_fails(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/state.sqlite"

    def failing_run() -> None:
        with state_file(uri, owner="a", log=log) as local:
            run(Path(local), [customer(0)])
            raise RuntimeError("the API went away")

    with pytest.raises(RuntimeError):
        failing_run()
    with state_file(uri, owner="b", log=log) as local:
        sent, _ = run(Path(local), [customer(0)])
    assert sent == []


def test_object_storage_lock_of_another_run_fails_and_of_an_earlier_try_is_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uri = f"file://{tmp_path}/state.sqlite"
    lock = tmp_path / "state.sqlite.lock"
    lock.write_text(json.dumps({"owner": "dag/task/run-1/0", "host": "w1", "pid": 7, "since": "T"}))
    with (
        pytest.raises(ExpertSenderStateError, match=r"in use by dag/task/run-1/0 \(host w1.*delete the lock"),
        state_file(uri, owner="dag/task/run-2/0", log=log),
    ):
        pass
    assert lock.exists()
    with caplog.at_level(logging.WARNING), state_file(uri, owner="dag/task/run-1/0", log=log):
        pass
    assert "Taking over the lock" in caplog.text
    assert not lock.exists()


def test_object_storage_state_changed_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/state.sqlite"
    with state_file(uri, owner="a", log=log) as local:
        run(Path(local), [customer(0)])
    remote = tmp_path / "state.sqlite"

    def overtaken_run() -> None:
        with state_file(uri, owner="b", log=log) as local:
            run(Path(local), [customer(1)])
            remote.write_bytes(remote.read_bytes())  # another run's upload meanwhile
            os.utime(remote, (1, 1))

    with pytest.raises(ExpertSenderStateError, match="changed by another run"):
        overtaken_run()
    with state_file(uri, owner="c", log=log) as local:
        sent, _ = run(Path(local), [customer(0), customer(1)])
    assert [p["email"] for p in sent] == ["user1@example.com"]


def test_object_storage_state_is_not_uploaded_when_the_run_never_opened_it(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/state.sqlite"
    with state_file(uri, owner="a", log=log) as local:
        run(Path(local), [customer(0)])
    os.utime(tmp_path / "state.sqlite", (1, 1))
    before = (tmp_path / "state.sqlite").stat()

    def refused() -> None:
        with state_file(uri, owner="b", log=log) as local:
            Run(Path(local), identity={**IDENTITY, "key": "CrmId"})

    with pytest.raises(ExpertSenderStateError, match="CrmId"):
        refused()
    after = (tmp_path / "state.sqlite").stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


def test_dry_runs_write_no_lock_object_and_upload_nothing(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/state.sqlite"
    with state_file(uri, owner="a", write=False, log=log) as local:
        r = Run(Path(local), read_only=True)
        r.send([customer(0)])
        r.finish()
    assert os.listdir(tmp_path) == []


def test_a_record_leaves_the_state_as_soon_as_it_is_yielded(tmp_path: Path) -> None:
    """With on_invalid="skip" the engine sends a batch while the selection is suspended at its yield: the
    key must be found (and forgotten, durably) by its position at that moment."""
    path = tmp_path / "state.sqlite"
    run(path, [customer(0)])
    r = Run(path)
    selection = r.sync.select(iter([(0, None, customer(0, last_name="B"))]), r.validate)
    position, _, payload = next(selection)  # suspended here, as the engine sends
    r.sync.sending([payload], [position])
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM journal WHERE h IS NULL").fetchone()[0] == 1
    assert list(selection) == []
    r.finish()


def test_a_key_twice_in_one_request_is_confirmed_with_its_last_data(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    run(path, [customer(0, last_name="A")])
    sent, _ = run(path, [customer(0, last_name="B"), customer(0, last_name="C")])  # one request, in order
    assert [p["lastName"] for p in sent] == ["B", "C"]
    sent, summary = run(path, [customer(0, last_name="C")])
    assert (sent, summary["unchanged"]) == ([], 1)


def test_object_storage_lock_taken_between_check_and_write_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs start at the same instant: both see no lock object. Where the backend creates objects
    exclusively (here file://, like S3 and GCS conditional writes), the second one fails instead of
    overwriting the first one's lock."""
    from airflow_provider_expertsender.sync import statefile

    uri = f"file://{tmp_path}/state.sqlite"
    lock = tmp_path / "state.sqlite.lock"
    original = statefile._create_exclusively

    def other_run_first(path: Any, text: str) -> bool:
        lock.write_text(json.dumps({"owner": "dag/task/other/0", "host": "w2", "pid": 9, "since": "T"}))
        return original(path, text)

    monkeypatch.setattr(statefile, "_create_exclusively", other_run_first)
    with (
        pytest.raises(ExpertSenderStateError, match=r"in use by dag/task/other/0 \(host w2"),
        state_file(uri, owner="dag/task/mine/0", log=log),
    ):
        pass
    assert json.loads(lock.read_text())["owner"] == "dag/task/other/0"
