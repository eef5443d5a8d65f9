"""Incremental-sync benchmark (a script): the unchanged re-run, the 1 %-changed run, the state's size.

    python tests/benchmarks/bench_state.py               # 1,000,000 rows (about 2 minutes)
    python tests/benchmarks/bench_state.py --rows 20000  # quick run, same code paths
    python tests/benchmarks/bench_state.py --format csv  # the same rows as a CSV file

Every measured run is ``ExpertSenderUpsertCustomersOperator(source_path=<JSON Lines>, state_path=<local
file>).execute()`` in a fresh interpreter that imports Airflow, the operator, the models and the sync engine,
reads its RSS (the baseline), then runs the operator while a thread samples the RSS every 10 ms. The rows are
warehouse-style flat customers (e-mail, names, ``attr_city``, ``attr_points``, ``consent_1``; unique e-mails).

1. fill -- the first run: every row is new. Its requests are answered in-process by a stub of
   ``ExpertSenderHook.upsert_customers`` (1M customers would not fit the emulator's memory next to the other
   jobs of a shared machine); what is measured is the engine's and the state's own work.
2. unchanged -- the same file again, against the emulator: 0 requests expected (checked in the emulator's
   request log). The time covers reading each line, hashing it, looking it up in the input cache, and the
   count of ``missing_from_input`` (every row's key); an unchanged row is not decoded, mapped or validated.
3. unchanged, validated -- the same, with the input cache off (every row decoded, mapped and validated, its
   canonical payload and key hashed and compared): the path of rows whose input differs from the confirmed
   one although their payload does not (reordered keys, a provider upgrade), and of inputs that are never
   taken as rows as read (a ``row_mapper``, orders with product lines).
4. 1 % changed -- every 100th row has a new ``last_name``; the emulator (fresh, empty) must then hold exactly
   those customers.

The machine is shared (2 cores, other engineers' jobs): the figures move with its load, which is printed.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_sync as common  # (the RSS helpers)
from emulator_process import emulator_process


def row(i: int, changed: bool = False) -> dict[str, Any]:
    return {
        "email": f"state{i}@example.com",
        "first_name": "Bench",
        "last_name": f"Changed{i}" if changed else f"Mark{i}",
        "attr_city": "Gdansk",
        "attr_points": i % 1000,
        "consent_1": i % 2 == 0,
    }


def write_input(path: Path, rows: int, every: int = 0) -> Path:
    """``rows`` customers as JSON Lines or CSV (by the suffix); every ``every``-th one changed."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        if path.suffix == ".csv":
            writer = csv.DictWriter(handle, list(row(0)))
            writer.writeheader()
            writer.writerows(row(i, changed=bool(every) and i % every == 0) for i in range(rows))
            return path
        for i in range(rows):
            handle.write(json.dumps(row(i, changed=bool(every) and i % every == 0)))
            handle.write("\n")
    return path


# ---------------------------------------------------------------------------------------------- the child


def child(args: argparse.Namespace) -> None:
    """In a fresh interpreter: one operator run; prints JSON (RSS in KiB, seconds, the summary)."""
    import airflow  # noqa: F401

    import airflow_provider_expertsender.hooks.expertsender as hooks
    import airflow_provider_expertsender.models
    import airflow_provider_expertsender.sync.engine
    import airflow_provider_expertsender.sync.sources  # noqa: F401
    import airflow_provider_expertsender.sync.state as state_module
    from airflow_provider_expertsender.hooks._responses import WriteResult
    from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator

    if args.child == "fill":
        hooks.ExpertSenderHook.upsert_customers = (  # type: ignore[method-assign]
            lambda self, batch, **kw: WriteResult(status=201, sent=len(batch))
        )
    if args.child == "validated":
        from airflow_provider_expertsender.sync.mapping import MappedRows

        MappedRows.units = lambda self: None  # type: ignore[method-assign]
        state_module.Digests.raw = lambda self, record: None  # type: ignore[method-assign]
    op = ExpertSenderUpsertCustomersOperator(
        task_id="bench",
        source_path=args.path,
        state_path=args.state,
        batch_size=common.BATCH,
        max_concurrency=common.CONCURRENCY,
    )
    gc.collect()
    after_imports = common.rss_kib()
    sampler = common.PeakSampler()
    sampler.start()
    started, cpu = time.perf_counter(), time.process_time()
    summary = op.execute({})
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    sampler.stopped.set()
    sampler.join()
    peak = max(sampler.peak, common.rss_kib())
    print(
        json.dumps(
            {"after_imports": after_imports, "peak": peak, "seconds": seconds, "cpu": cpu, "summary": summary}
        )
    )


def run_child(kind: str, path: Path, state: Path, url: str) -> dict[str, Any]:
    env = {**os.environ}
    env["AIRFLOW_CONN_EXPERTSENDER_DEFAULT"] = json.dumps(
        {"conn_type": "expertsender", "host": url, "password": common.KEY, "extra": {"read_timeout": 120}}
    )
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--path", str(path), "--state", str(state)],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        print(out.stderr[-3000:])
        raise SystemExit(f"the {kind} run failed")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def admin(url: str, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(f"{url}/_emulator/{path}", method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def report(name: str, result: dict[str, Any]) -> None:
    s = result["summary"]
    rate = s["read"] / result["seconds"]
    cpu_rate = s["read"] / result["cpu"]
    peak_mb = (result["peak"] - result["after_imports"]) / 1024
    print(
        f"  {name:<22} {result['seconds']:7.2f} s  {rate:>9,.0f} rows/s  (CPU {result['cpu']:6.2f} s, "
        f"{cpu_rate:>9,.0f} rows per CPU-second)  sent {s['sent']:>9,}  "
        f"requests {s['requests']:>6,}  new {s['new']:>9,}  changed {s['changed']:>7,}  "
        f"unchanged {s['unchanged']:>9,}  peak RSS +{peak_mb:.0f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="the input files' format")
    parser.add_argument("--child", choices=["fill", "unchanged", "validated", "changed"])
    parser.add_argument("--path", default="")
    parser.add_argument("--state", default="")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (inputs, state)")
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    rows = args.rows
    every = 100
    workdir = Path(tempfile.mkdtemp(prefix="bench-state-"))
    name = "JSON Lines" if args.format == "jsonl" else "CSV"
    print(f"Incremental sync, {rows:,} customers ({name}), load average {os.getloadavg()[0]:.1f}")
    same = write_input(workdir / f"customers.{args.format}", rows)
    changed = write_input(workdir / f"customers-1pct.{args.format}", rows, every=every)
    state = workdir / "state.sqlite"
    results: dict[str, dict[str, Any]] = {}
    with emulator_process(common.KEY, "--admin") as url:  # admin API: request log, stored customers
        results["fill (all new)"] = run_child("fill", same, state, url)
        size_full = state.stat().st_size
        admin(url, "reset", "POST")
        results["unchanged"] = run_child("unchanged", same, state, url)
        unchanged_requests = len(admin(url, "requests"))
        results["unchanged, validated"] = run_child("validated", same, state, url)
        validated_requests = len(admin(url, "requests"))
        admin(url, "reset", "POST")
        results["1 % changed"] = run_child("changed", changed, state, url)
        stored = {c["email"] for c in admin(url, "units/0/customers")}
    expected = {f"state{i}@example.com" for i in range(0, rows, every)}
    for name, result in results.items():
        report(name, result)
    print(f"  load average now {os.getloadavg()[0]:.1f}")
    print(f"State on disk: {size_full:,} bytes after the fill ({size_full / rows:.1f} bytes per key)")
    print(f"Requests the emulator saw during the unchanged runs: {unchanged_requests}, {validated_requests}")
    print(
        f"1 % changed: the emulator holds {len(stored):,} customers; exactly the {len(expected):,} changed "
        f"ones: {stored == expected}"
    )
    if not args.keep:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return 0 if stored == expected and unchanged_requests == validated_requests == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
