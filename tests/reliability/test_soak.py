"""Soak: a long bulk sync under random faults (fixed seed) ends with exactly the expected store.

Every request the emulator serves may fail with a 503 (before processing), have its connection dropped before
it is applied, or be applied and then have its connection dropped (the client cannot know). About 1 % of the
input is invalid and must end in the dead-letter file, never in a request. At the end:

* every valid record is stored exactly once, with the values it was sent with (nothing lost, no duplicates);
* every invalid record is in the dead-letter file, at its position, and nowhere else;
* the summary's counts add up (read = accepted + invalid).

``test_soak_ci`` (20,000 rows) runs by default; ``test_soak_million`` (1,000,000 rows) is marked ``slow``::

    .venvs/af3/bin/python -m pytest tests/reliability/test_soak.py -m slow -s
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.reliability.conftest import order

SEED = 20260127
FAULT_RATES = {"error_rate": 0.05, "drop_before_apply_rate": 0.03, "drop_after_apply_rate": 0.03}
#: Every INVALID_EVERY-th row breaks a rule the models check (never reaches the API).
INVALID_EVERY = 97


def _rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        if i % INVALID_EVERY == 13:
            yield {"email": f"broken-{i}", "first_name": f"F{i}"}  # not an e-mail address
        else:
            yield {"email": f"soak{i}@example.com", "first_name": f"F{i}", "crm_id": f"crm-{i}"}


def _soak(
    n: int, emulator: Any, make_hook: Callable[..., Any], tmp_path: Any, *, batch_size: int, concurrency: int
) -> dict[str, Any]:
    from airflow_provider_expertsender.sync import run_write

    emulator.switches.update(seed=SEED, **FAULT_RATES)
    hook = make_hook(max_retries=12, backoff_base=0.001, backoff_max=0.01, read_timeout=10)
    dead = tmp_path / "dead.jsonl"
    started = time.monotonic()
    summary = run_write(
        hook,
        resource="customers",
        records=_rows(n),
        mode="AddOrUpdate",
        batch_size=batch_size,
        max_concurrency=concurrency,
        on_invalid="skip",
        max_rejected=0.02,
        dead_letter_path=str(dead),
        progress_interval=30,
    )
    wall = time.monotonic() - started
    emulator.switches.update(error_rate=0.0, drop_before_apply_rate=0.0, drop_after_apply_rate=0.0)

    invalid_positions = {i for i in range(n) if i % INVALID_EVERY == 13}
    expected = {f"soak{i}@example.com": f"F{i}" for i in range(n) if i not in invalid_positions}
    stored = emulator.store(emulator.api_key).customers
    emails = [c["email"] for c in stored]
    figures = {
        "rows": n,
        "valid": len(expected),
        "invalid": len(invalid_positions),
        "sent": summary["sent"],
        "stored": len(set(emails)),
        "duplicated": len(emails) - len(set(emails)),
        "lost": len(set(expected) - set(emails)),
        "unexpected": len(set(emails) - set(expected)),
        "wrong_values": sum(1 for c in stored if expected.get(c["email"]) != c["firstName"]),
        "requests_served": len(emulator.requests),
        "faults_served": sum(1 for r in emulator.requests if r.status is None or r.status >= 500),
        "retry_waits": len(hook.waits),
        "wall_s": round(wall, 1),
    }
    print("SOAK", json.dumps(figures))

    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["unexpected"] == 0
    assert figures["wrong_values"] == 0
    assert figures["faults_served"] > 0, "no fault was served: the soak proves nothing"
    assert (summary["read"], summary["invalid"], summary["accepted"]) == (
        n,
        len(invalid_positions),
        len(expected),
    )
    assert summary["read"] == summary["accepted"] + summary["invalid"]
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert {line["position"] for line in letters} == invalid_positions
    assert len(letters) == len(invalid_positions)
    assert all(line["stage"] == "validation" for line in letters)
    # No invalid record ever reached the API: the emulator refused no item.
    assert emulator.store(emulator.api_key).counters.get("items_rejected", 0) == 0
    return figures


def test_soak_ci(emulator: Any, make_hook: Callable[..., Any], tmp_path: Any) -> None:
    """20,000 rows, batches of 100, 4 in flight, ~11 % of requests faulted."""
    _soak(20_000, emulator, make_hook, tmp_path, batch_size=100, concurrency=4)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_soak_million(emulator: Any, make_hook: Callable[..., Any], tmp_path: Any) -> None:
    """1,000,000 rows, batches of 500, 8 in flight, ~11 % of requests faulted."""
    emulator.clear_requests()
    _soak(1_000_000, emulator, make_hook, tmp_path, batch_size=500, concurrency=8)


def test_soak_orders_ci(emulator: Any, make_hook: Callable[..., Any]) -> None:
    """Orders (AddOrReplace) under the same random faults: 3,000 orders stored exactly once."""
    from airflow_provider_expertsender.sync import run_write

    emulator.switches.update(seed=SEED + 1, **FAULT_RATES)
    hook = make_hook(max_retries=12, backoff_base=0.001, backoff_max=0.01)
    summary = run_write(
        hook, resource="orders", records=(order(i) for i in range(3000)), mode="AddOrReplace", batch_size=100
    )
    emulator.switches.update(error_rate=0.0, drop_before_apply_rate=0.0, drop_after_apply_rate=0.0)
    ids = [o["id"] for o in emulator.store(emulator.api_key).orders]
    assert summary["accepted"] == 3000
    assert sorted(ids) == sorted(f"O-{i}" for i in range(3000))
    assert any(r.status is None or r.status >= 500 for r in emulator.requests)
