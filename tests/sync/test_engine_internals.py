"""Engine internals that make the bulk path fast: the spool format and the garbage collector's freeze."""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_expertsender.sync import engine
from airflow_provider_expertsender.sync.engine import _Batch, _spool_dump, _spool_load
from tests.sync.conftest import customer


class Label(str):
    """A str subclass (a value a JSON-only format would lose)."""


def batches() -> list[_Batch]:
    return [
        _Batch(0, [0, 1], [{"email": "a@example.com"}, {"email": "b@example.com"}], None, {"a@example.com"}),
        _Batch(
            1,
            [2],
            [{"email": "c@example.com", "customAttributes": [{"name": "n", "value": "1"}]}],
            [{"email": "c@example.com", "attr_n": Decimal("1"), "since": date(2020, 1, 2)}],
            {"c@example.com"},
        ),
        _Batch(2, [5], [{"email": Label("d@example.com")}], [{"email": "d@example.com"}], set()),
    ]


@pytest.mark.parametrize("memory", [1 << 20, 16], ids=["in memory", "on disk"])
def test_spooled_batches_read_back_unchanged(memory):
    written = batches()
    with tempfile.SpooledTemporaryFile(max_size=memory) as spool:
        for batch in written:
            _spool_dump(batch, spool)
        assert spool._rolled == (memory == 16)  # type: ignore[attr-defined]
        spool.seek(0)
        read = [_spool_load(spool) for _ in written]
        assert spool.read() == b""  # every byte consumed: the entries are self-delimiting

    assert read == written
    assert type(read[2].payloads[0]["email"]) is Label


def freeze_counts(records: list[dict[str, Any]], seen: list[int]) -> Iterator[dict[str, Any]]:
    """The records, noting how many objects the collector ignores while the engine reads them."""
    for record in records:
        seen.append(gc.get_freeze_count())
        yield record


class NullHook:
    config = None

    def upsert_customers(
        self, records: Any, mode: str, match_by: str, retry_unsafe: bool = False, validate: bool = True
    ) -> Any:
        from airflow_provider_expertsender.hooks._responses import WriteResult

        return WriteResult(status=201, sent=len(records), item_errors=())


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_write_runs_with_older_objects_frozen_and_unfreezes_them(unfrozen):
    seen: list[int] = []
    records = freeze_counts([customer(i) for i in range(20)], seen)

    summary = engine.run_write(NullHook(), resource="customers", records=records, mode="AddOrUpdate")

    assert summary["accepted"] == 20
    assert min(seen) > 0
    assert gc.get_freeze_count() == 0


def test_the_freeze_is_given_back_when_the_write_fails(unfrozen):
    def broken() -> Iterator[dict[str, Any]]:
        yield customer(1)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        engine.run_write(NullHook(), resource="customers", records=broken(), mode="AddOrUpdate")
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_by_the_process_is_left_alone(unfrozen):
    gc.freeze()
    seen: list[int] = []

    engine.run_write(
        NullHook(), resource="customers", records=freeze_counts([customer(1)], seen), mode="AddOrUpdate"
    )

    assert gc.get_freeze_count() > 0  # not unfrozen by the write
