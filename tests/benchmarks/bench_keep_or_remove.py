"""What each optimisation of the customer write is worth (a script, not a test): keep it or remove it.

    python tests/benchmarks/bench_keep_or_remove.py --repeat 3    # 200,000 customers, like bench_sync.py

Runs ``bench_sync.py``'s operator run (``ExpertSenderUpsertCustomersOperator`` from a JSON Lines file, the
default ``on_invalid="fail"``, batch 500, 8 in flight, 20 ms latency) with each optimisation switched off
in turn, interleaved with the minimal client in every round (so a change in the machine's load hits every
variant alike; the order of the variants rotates from round to round), and prints the median ratio operator /
minimal client of each, and the median CPU time of the writing process (all its threads), which the load of
other processes moves less than wall time:

* ``_fast``: the hand-written validator of ``models/_fast.py`` (off: every record goes through pydantic);
* ``gc.freeze``: the engine freezes the objects alive before the write (off: no freeze);
* ``spool``: ``on_invalid="fail"`` spools the validated batches to a temporary file (off: they are kept in a
  list, and memory grows with the input).

(A marshal fast path of the spool was measured with this script and removed: 4.90 s of CPU with pickle only
against 4.88 s with it, for 200,000 customers.)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_sync import emulator, run_minimal_client, run_operator, use_connection, write_jsonl


def _no_fast() -> Iterator[None]:
    from airflow_provider_expertsender.models import customers

    original = customers._fast_customer
    customers._fast_customer = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        customers._fast_customer = original


def _no_freeze() -> Iterator[None]:
    from airflow_provider_expertsender.sync import engine

    original = engine._collector_ignores_older_objects
    engine._collector_ignores_older_objects = contextlib.nullcontext  # type: ignore[assignment]
    try:
        yield
    finally:
        engine._collector_ignores_older_objects = original


def _no_spool() -> Iterator[None]:
    from airflow_provider_expertsender.sync import engine

    original = engine._Engine.spooled

    def in_memory(self: Any, batches: Any) -> Any:
        self.progress.phase = "validating"
        held = list(batches)
        self.raise_if_invalid()
        self.progress.phase = "sending"
        yield from held

    engine._Engine.spooled = in_memory  # type: ignore[method-assign]
    try:
        yield
    finally:
        engine._Engine.spooled = original  # type: ignore[method-assign]


def _all_off() -> Iterator[None]:
    with contextlib.contextmanager(_no_fast)(), contextlib.contextmanager(_no_freeze)():
        yield


def _nothing() -> Iterator[None]:
    yield


VARIANTS: list[tuple[str, Callable[[], Iterator[None]]]] = [
    ("as shipped", _nothing),
    ("without _fast", _no_fast),
    ("without gc.freeze", _no_freeze),
    ("no spool (in memory)", _no_spool),
    ("without _fast and gc.freeze", _all_off),
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    workdir = Path(os.environ.get("BENCH_DIR", tempfile.gettempdir())) / "es-bench-sync"
    workdir.mkdir(parents=True, exist_ok=True)
    source = write_jsonl(workdir / f"customers-{args.rows}.jsonl", args.rows)
    ratios: dict[str, list[float]] = {name: [] for name, _ in VARIANTS}
    seconds: dict[str, list[float]] = {name: [] for name, _ in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name, _ in VARIANTS}
    minimal: list[float] = []
    print(f"{args.rows:,} customers, {args.repeat} interleaved rounds; ratio = minimal client s / operator s")
    for round_ in range(args.repeat):
        with emulator() as url:
            floor = run_minimal_client(url, args.rows)["seconds"]
        minimal.append(floor)
        shift = round_ % len(VARIANTS)
        for name, variant in VARIANTS[shift:] + VARIANTS[:shift]:
            with emulator() as url:
                use_connection(url)
                with contextlib.contextmanager(variant)():
                    started = time.process_time()
                    run = run_operator({"source_path": str(source)})
                    cpu[name].append(time.process_time() - started)
            seconds[name].append(run["seconds"])
            ratios[name].append(floor / run["seconds"])
        line = ", ".join(f"{name} {ratios[name][-1]:.2f}x" for name, _ in VARIANTS)
        print(f"  round {round_ + 1}: minimal client {floor:.2f} s; {line}")
        time.sleep(1)
    print(f"\n  {'variant':<34}{'median s':>10}{'median ratio':>14}{'spread':>14}{'median CPU s':>14}")
    print(f"  {'minimal client':<34}{statistics.median(minimal):>10.2f}")
    for name, _ in VARIANTS:
        spread = f"{min(ratios[name]):.2f}-{max(ratios[name]):.2f}"
        print(
            f"  {name:<34}{statistics.median(seconds[name]):>10.2f}"
            f"{statistics.median(ratios[name]):>13.2f}x{spread:>14}{statistics.median(cpu[name]):>14.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
