"""Bulk-write benchmark (a script, not a test): throughput, peak memory and import cost.

    python tests/benchmarks/bench_sync.py            # full run: 200k rows, RSS at 200k and 1M rows
    python tests/benchmarks/bench_sync.py --small    # CI smoke run: a few thousand rows, same code paths
    python tests/benchmarks/bench_sync.py --profile  # also cProfile the operator run, top functions
    python tests/benchmarks/bench_sync.py --repeat 3 # three interleaved throughput rounds, medians shown

The emulator runs in its own process (``python -m airflow_provider_expertsender.emulator --latency-ms 20``:
every request waits 20 ms before it is processed, like a remote API), restarted fresh for every measurement.

Throughput (batch 500, 8 requests in flight), on the same customers:

* operator -- ``ExpertSenderUpsertCustomersOperator(source_path=<JSON Lines file>).execute()``: reads the
  file, maps the flat rows (``attr_*``, ``consent_*``), validates every record, batches, sends, summarises.
  With the default ``on_invalid="fail"`` the whole file is validated before the first request (two phases);
  with ``on_invalid="skip"`` validation and sending overlap (one phase). Both are measured;
* hook only -- the same customers as API records (already validated), sent with
  ``ExpertSenderHook.upsert_customers`` from 8 threads: the send phase without the engine;
* minimal client -- the same batches, already serialized to the API's JSON, posted with ``requests`` from
  8 threads: the floor any client pays (HTTP + the emulator's work);
* one per request -- the naive integration: one customer per POST, sequentially (a sample, extrapolated).

Peak RSS: each run is a fresh interpreter that imports Airflow and everything the run imports (operator, hook,
models, sync, requests, psycopg2), reads its RSS (the baseline), then runs the operator while a thread samples
the RSS every 10 ms; the difference between the peak and the baseline is what the data costs. (``ru_maxrss``
would hide it: importing Airflow peaks higher than the steady state.) The 1M-row inputs reuse 200k e-mail
addresses (the emulator keeps every customer in memory; the writing process never sees the difference).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emulator_process import emulator_process

KEY = "bench-sync-key"
LATENCY_MS = 20
BATCH = 500
CONCURRENCY = 8
EMAIL_CYCLE = 200_000
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
PG_TABLE = "es_bench_customers"
OPERATOR_MODULES = [
    "airflow_provider_expertsender.operators.customers",
    "airflow_provider_expertsender.operators.orders",
    "airflow_provider_expertsender.operators.events",
    "airflow_provider_expertsender.operators.settings",
]


# ------------------------------------------------------------------------------------------------- inputs


def row(i: int) -> dict[str, Any]:
    """One flat warehouse-style row (mapped by the operator to customAttributes / consentsData)."""
    return {
        "email": f"bench{i % EMAIL_CYCLE}@example.com",
        "first_name": "Bench",
        "last_name": f"Mark{i}",
        "attr_city": "Gdansk",
        "attr_points": i % 1000,
        "consent_1": i % 2 == 0,
    }


def api_record(i: int) -> dict[str, Any]:
    """The same customer as the API JSON the provider sends."""
    r = row(i)
    return {
        "email": r["email"],
        "firstName": r["first_name"],
        "lastName": r["last_name"],
        "customAttributes": [
            {"name": "city", "value": "Gdansk"},
            {"name": "points", "value": r["attr_points"]},
        ],
        "consentsData": {"consents": [{"id": 1, "value": "True" if r["consent_1"] else "False"}]},
    }


def write_jsonl(path: Path, rows: int) -> Path:
    if path.exists():
        return path
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            handle.write(json.dumps(row(i)))
            handle.write("\n")
    return path


def pg_connect() -> Any:
    import psycopg2

    return psycopg2.connect(connect_timeout=2, **PG)


def pg_table(rows: int) -> bool:
    """Create the source table (``rows`` rows) unless it exists; False when PostgreSQL is unreachable."""
    try:
        con = pg_connect()
    except Exception as err:
        print(f"  PostgreSQL unreachable ({err}); skipping the SQL runs.")
        return False
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE tablename = %s", (PG_TABLE,))
        exists = cur.fetchone()[0]
        if exists:
            cur.execute(f"SELECT count(*) FROM {PG_TABLE}")
            exists = cur.fetchone()[0] >= rows
        if not exists:
            cur.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")
            cur.execute(
                f"CREATE TABLE {PG_TABLE} AS SELECT g AS n, 'bench' || (g % {EMAIL_CYCLE}) || '@example.com' "
                "AS email, 'Bench'::text AS first_name, 'Mark' || g AS last_name, "
                f"'Gdansk'::text AS attr_city, g % 1000 AS attr_points, g % 2 = 0 AS consent_1 "
                f"FROM generate_series(0, {rows - 1}) g"
            )
            cur.execute(f"CREATE INDEX ON {PG_TABLE} (n)")
    con.close()
    return True


# ----------------------------------------------------------------------------------------------- emulator


@contextmanager
def emulator(latency_ms: float = LATENCY_MS, *flags: str) -> Any:
    """A fresh emulator process (``flags``: more command-line switches); yields its URL."""
    with emulator_process(KEY, "--latency-ms", str(latency_ms), *flags) as url:
        yield url


def use_connection(url: str) -> None:
    os.environ["AIRFLOW_CONN_EXPERTSENDER_DEFAULT"] = json.dumps(
        {"conn_type": "expertsender", "host": url, "password": KEY, "extra": {"read_timeout": 120}}
    )


# --------------------------------------------------------------------------------------------- throughput


def run_operator(source: dict[str, Any], profile: bool = False) -> dict[str, Any]:
    from airflow_provider_expertsender.operators.customers import ExpertSenderUpsertCustomersOperator

    op = ExpertSenderUpsertCustomersOperator(
        task_id="bench", batch_size=BATCH, max_concurrency=CONCURRENCY, **source
    )
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    summary = op.execute({})
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    assert summary["accepted"] == summary["read"], summary
    return {"seconds": elapsed, "records": summary["read"], "requests": summary["requests"]}


def run_minimal_client(url: str, rows: int) -> dict[str, Any]:
    import requests
    from requests.adapters import HTTPAdapter

    bodies = [
        json.dumps(
            {
                "mode": "AddOrUpdate",
                "matchBy": "Email",
                "data": [api_record(i) for i in range(s, min(s + BATCH, rows))],
            }
        ).encode()
        for s in range(0, rows, BATCH)
    ]
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=CONCURRENCY))
    headers = {"x-api-key": KEY, "Content-Type": "application/json"}

    def post(body: bytes) -> None:
        response = session.post(f"{url}/customers", data=body, headers=headers, timeout=120)
        response.raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(post, bodies))
    return {"seconds": time.perf_counter() - started, "records": rows, "requests": len(bodies)}


def run_hook(rows: int) -> dict[str, Any]:
    """The send phase alone: the same API records, already validated, through ``ExpertSenderHook`` from
    ``CONCURRENCY`` threads (what the engine adds on top of this is its own cost)."""
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderHook

    batches = [[api_record(i) for i in range(s, min(s + BATCH, rows))] for s in range(0, rows, BATCH)]
    hook = ExpertSenderHook()
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda batch: hook.upsert_customers(batch, validate=False), batches))
    return {"seconds": time.perf_counter() - started, "records": rows, "requests": len(batches)}


def run_one_per_request(url: str, sample: int) -> dict[str, Any]:
    import requests

    session = requests.Session()
    headers = {"x-api-key": KEY, "Content-Type": "application/json"}
    bodies = [
        json.dumps({"mode": "AddOrUpdate", "matchBy": "Email", "data": [api_record(i)]})
        for i in range(sample)
    ]
    started = time.perf_counter()
    for body in bodies:
        session.post(f"{url}/customers", data=body, headers=headers, timeout=120).raise_for_status()
    return {"seconds": time.perf_counter() - started, "records": sample, "requests": sample}


# ------------------------------------------------------------------------------------------------- memory


def rss_kib() -> int:
    """This process's current resident set size in KiB (Linux ``/proc``; else the peak so far)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class PeakSampler(threading.Thread):
    """Samples :func:`rss_kib` every 10 ms and keeps the highest value."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_kib()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.01):
            self.peak = max(self.peak, rss_kib())


def child(args: argparse.Namespace) -> None:
    """In a subprocess: print (JSON) the RSS after the imports and the peak RSS during the run, in KiB."""
    import airflow  # noqa: F401
    import psycopg2  # noqa: F401
    import requests  # noqa: F401

    import airflow_provider_expertsender.hooks.expertsender
    import airflow_provider_expertsender.models
    import airflow_provider_expertsender.operators.customers
    import airflow_provider_expertsender.sync.sources  # noqa: F401

    gc.collect()
    after_imports = rss_kib()
    sampler = PeakSampler()
    sampler.start()
    if args.child == "file":
        run_operator({"source_path": args.path})
    elif args.child == "pg":
        os.environ["AIRFLOW_CONN_BENCH_PG"] = json.dumps(
            {
                "conn_type": "postgres",
                "host": PG["host"],
                "port": PG["port"],
                "login": PG["user"],
                "schema": PG["dbname"],
            }
        )
        sql = (
            "SELECT email, first_name, last_name, attr_city, attr_points, consent_1 "
            f"FROM {PG_TABLE} WHERE n < {args.rows} ORDER BY n"
        )
        run_operator({"sql": sql, "sql_conn_id": "bench_pg"})
    sampler.stopped.set()
    sampler.join()
    peak = max(sampler.peak, rss_kib())
    print(json.dumps({"after_imports": after_imports, "peak": peak}))


def rss_mb(kind: str, url: str, rows: int = 0, path: str = "") -> tuple[float, float]:
    """``(RSS after the imports, peak RSS during the run)`` of one run in a fresh interpreter, MB."""
    env = {**os.environ}
    if url:
        env["AIRFLOW_CONN_EXPERTSENDER_DEFAULT"] = json.dumps(
            {"conn_type": "expertsender", "host": url, "password": KEY, "extra": {"read_timeout": 120}}
        )
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--rows", str(rows), "--path", path],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    return figures["after_imports"] / 1024, figures["peak"] / 1024


# ------------------------------------------------------------------------------------------------- imports


def import_cost_ms(module: str, repeat: int = 5) -> tuple[float, float]:
    """``(ms over import airflow, ms over import airflow + BaseOperator/BaseHook)``, best of ``repeat``.

    On Airflow 3 ``import airflow`` already loads the task SDK, so both are the provider's own cost; on 2.10
    the first also pays for ``BaseOperator`` (about 200 ms), which every DAG file imports anyway.
    """
    code = (
        "import time, airflow\n"
        "t0 = time.perf_counter()\n"
        "from airflow_provider_expertsender._compat import BaseHook, BaseOperator\n"
        "t1 = time.perf_counter()\n"
        f"import {module}\n"
        "t2 = time.perf_counter()\n"
        "print(t2 - t0, t2 - t1)"
    )
    runs = [
        [
            float(x)
            for x in subprocess.run(
                [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
            ).stdout.split()
        ]
        for _ in range(repeat)
    ]
    return min(r[0] for r in runs) * 1000, min(r[1] for r in runs) * 1000


# ---------------------------------------------------------------------------------------------------- main


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median duration (the middle one of an odd number of runs)."""
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


def rate(result: dict[str, Any]) -> float:
    return result["records"] / result["seconds"]


def cols(result: dict[str, Any]) -> tuple[int, int, float, float]:
    return result["records"], result["requests"], result["seconds"], rate(result)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="CI smoke run: few rows, same code paths")
    parser.add_argument("--profile", action="store_true", help="cProfile the operator run")
    parser.add_argument(
        "--repeat", type=int, default=1, help="throughput rounds (interleaved); the median of each is shown"
    )
    parser.add_argument("--skip-rss", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--skip-throughput", action="store_true", help="skip the throughput runs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--path", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    rows = 5_000 if args.small else 200_000
    sample = 200 if args.small else 2_000
    rss_rows = [5_000, 25_000] if args.small else [200_000, 1_000_000]
    workdir = Path(os.environ.get("BENCH_DIR", tempfile.gettempdir())) / "es-bench-sync"
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    failures: list[str] = []

    if not args.skip_throughput:
        print(
            f"Throughput: {rows:,} customers, batch {BATCH}, {CONCURRENCY} in flight, latency {LATENCY_MS} ms"
        )
        source = write_jsonl(workdir / f"customers-{rows}.jsonl", rows)
        rounds: list[tuple[dict[str, Any], ...]] = []
        for _ in range(args.repeat):  # interleaved, so a change in the machine's load hits every run alike
            with emulator() as url:
                use_connection(url)
                fail_run = run_operator({"source_path": str(source)}, profile=args.profile)
            with emulator() as url:
                use_connection(url)
                skip_run = run_operator({"source_path": str(source), "on_invalid": "skip"})
            with emulator() as url:
                use_connection(url)
                hook_run = run_hook(rows)
            with emulator() as url:
                minimal_run = run_minimal_client(url, rows)
            rounds.append((fail_run, skip_run, hook_run, minimal_run))
            if args.repeat > 1:
                fail_s, skip_s, hook_s, minimal_s = (run["seconds"] for run in rounds[-1])
                print(
                    f"  round {len(rounds)}: operator {fail_s:.2f} s, on_invalid=skip {skip_s:.2f} s, "
                    f"hook only {hook_s:.2f} s, minimal client {minimal_s:.2f} s: {minimal_s / fail_s:.2f}x"
                )
        operator, streaming, hook_only, minimal = (median_run([r[i] for r in rounds]) for i in range(4))
        with emulator() as url:
            single = run_one_per_request(url, sample)
        single_total = rows / rate(single)
        table = [
            ("operator, on_invalid=fail (default)", *cols(operator)),
            ("operator, on_invalid=skip", *cols(streaming)),
            ("hook only (validated records)", *cols(hook_only)),
            ("minimal client (pre-serialized)", *cols(minimal)),
            (f"one per request ({sample:,} sample)", rows, rows, single_total, rate(single)),
        ]
        print(f"  {'run':<38}{'records':>10}{'requests':>10}{'seconds':>10}{'records/s':>12}")
        for name, records, requests_, seconds, per_s in table:
            print(f"  {name:<38}{records:>10,}{requests_:>10,}{seconds:>10.2f}{per_s:>12,.0f}")
        vs_minimal = rate(operator) / rate(minimal)
        vs_single = rate(operator) / rate(single)
        print(f"  operator / minimal client = {vs_minimal:.2f}x (target >= 0.7x)")
        overlap = rate(streaming) / rate(minimal)
        print(f"  operator (skip: validation overlaps sending) / minimal client = {overlap:.2f}x")
        print(f"  operator / one per request = {vs_single:.0f}x (target >= 100x)")
        # The target is defined for the full run: with --small, a few requests, fixed costs dominate.
        if vs_minimal < 0.7 and not args.small:
            failures.append(f"operator at {vs_minimal:.2f}x of the minimal client")
        if vs_single < 100:
            failures.append(f"operator only {vs_single:.0f}x one-per-request")

    if not args.skip_rss:
        print("\nPeak RSS (MB), each run in its own process (sampled every 10 ms):")
        print(f"  {'run':<28}{'after imports':>14}{'peak in run':>13}{'above':>8}")
        have_pg = pg_table(max(rss_rows))
        for kind in ("file", "pg"):
            if kind == "pg" and not have_pg:
                continue
            peaks = []
            for n in rss_rows:
                path = str(write_jsonl(workdir / f"customers-{n}.jsonl", n)) if kind == "file" else ""
                with emulator() as url:
                    base, peak = rss_mb(kind, url, n, path)
                peaks.append(peak)
                print(f"  {kind + f' {n:,} rows':<28}{base:>14.0f}{peak:>13.0f}{peak - base:>+8.0f}")
                if peak - base > 200:
                    failures.append(f"{kind} {n:,} rows: {peak - base:.0f} MB above the imports")
            growth = (peaks[-1] - peaks[0]) / peaks[0]
            print(
                f"  {kind} peak growth {rss_rows[0]:,} -> {rss_rows[-1]:,} rows: {growth:+.1%} (target < 10%)"
            )
            if growth > 0.10:
                failures.append(f"{kind}: peak RSS grew {growth:.1%}")

    print("\nImport cost, best of 5 (ms):")
    print(f"  {'module':<52}{'over airflow':>14}{'+ BaseOperator':>16}")
    for module in OPERATOR_MODULES:
        over_airflow, own = import_cost_ms(module)
        print(f"  {module:<52}{over_airflow:>14.1f}{own:>16.1f}")
        if own > 50:
            failures.append(f"{module} imports in {own:.0f} ms")

    if failures:
        print("\nBelow target: " + "; ".join(failures))
        return 1
    print("\nAll targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
