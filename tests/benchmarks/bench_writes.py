"""Per-record bulk writes and rate limits (a script, not a test): throughput, duplicates, 429s.

    python tests/benchmarks/bench_writes.py            # 20,000 events; rate limits 50 and 200 req/s
    python tests/benchmarks/bench_writes.py --small    # a smoke run: same code paths, fewer records

Events: ``ExpertSenderSendCustomEventsOperator`` sends 20,000 custom events (one request each) with
``max_concurrency=8`` to an emulator that waits 20 ms before answering each request, so the ceiling is
8 / 0.02 s = 400 events/s. Run once as in a task (the default checkpoint journals every event before its
request and after its answer) and once without a task context (no checkpoint). Duplicates are counted in the
emulator's store (its admin API).

Rate limits: the emulator answers 429 with ``Retry-After`` beyond R requests/s (token bucket, one second of
burst); the operator sends custom events with ``max_concurrency=8`` and no knowledge of R (the shared budget
adapts), then with ``max_requests_per_second=R``. The sustained rate is measured between the 5th second and
the end from the emulator's own counter of applied events (so the initial burst does not count), and the
share of requests answered 429 from its request log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_sync import KEY, emulator, use_connection  # the launcher both benchmarks share

LATENCY_MS = 20
CONCURRENCY = 8


def admin(url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{url}/_emulator/{path}", timeout=60) as answer:
        return json.loads(answer.read())


def events(n: int, prefix: str = "bench") -> list[dict[str, Any]]:
    return [{"email": f"{prefix}{i}@example.com", "data_fields": {"n": i}} for i in range(n)]


def task_context(tmp: Path) -> dict[str, Any]:
    os.environ["AIRFLOW_HOME"] = str(tmp)
    ti = SimpleNamespace(
        dag_id="bench", task_id="events", run_id=f"r{time.time_ns()}", map_index=-1, try_number=1
    )
    ti.xcom_push = lambda **kwargs: None
    return {"ti": ti}


def send(
    records: list[dict[str, Any]], context: dict[str, Any], **options: Any
) -> tuple[dict[str, Any], float]:
    from airflow_provider_expertsender.operators.events import ExpertSenderSendCustomEventsOperator

    op = ExpertSenderSendCustomEventsOperator(
        task_id="events", custom_event_id=7, events=records, max_concurrency=CONCURRENCY, **options
    )
    started = time.perf_counter()
    summary = op.execute(context)
    return summary, time.perf_counter() - started


def run_minimal_client(url: str, n: int) -> float:
    """The floor any client pays: pre-serialized events posted from 8 threads with ``requests``."""
    import requests

    bodies = [
        json.dumps({"customEventId": 7, "customerEmail": f"min{i}@example.com"}).encode() for i in range(n)
    ]
    chunks = [bodies[i::CONCURRENCY] for i in range(CONCURRENCY)]

    def post(chunk: list[bytes]) -> None:
        with requests.Session() as session:
            for body in chunk:
                answer = session.post(
                    f"{url}/scenariocustomevents",
                    data=body,
                    headers={"x-api-key": KEY, "content-type": "application/json"},
                    timeout=60,
                )
                answer.raise_for_status()

    threads = [threading.Thread(target=post, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def run_events(n: int, tmp: Path) -> list[str]:
    failures = []
    print(f"Custom events: {n:,} events, {CONCURRENCY} in flight, latency {LATENCY_MS} ms (ceiling 400/s)")
    print(f"  {'run':<34}{'events':>8}{'seconds':>9}{'events/s':>10}{'of 400/s':>10}{'duplicates':>12}")
    for name, context in (("as in a task (checkpoint)", task_context(tmp)), ("no task context", {})):
        with emulator(LATENCY_MS, "--admin") as url:
            use_connection(url)
            summary, seconds = send(events(n), context)
            stored = admin(url, "units/0/events")
        fired = Counter(e["customerEmail"] for e in stored)
        duplicates = sum(count - 1 for count in fired.values())
        rate = summary["accepted"] / seconds
        print(
            f"  {name:<34}{summary['accepted']:>8,}{seconds:>9.2f}{rate:>10,.0f}{rate / 400:>10.0%}"
            f"{duplicates:>12}"
        )
        if summary["accepted"] != n or len(fired) != n:
            failures.append(f"events {name}: {summary['accepted']} accepted, {len(fired)} stored of {n}")
        if duplicates:
            failures.append(f"events {name}: {duplicates} duplicates")
        if rate < 0.9 * 400 and n >= 20_000:
            failures.append(f"events {name}: {rate:.0f}/s < 90 % of 400/s")
    with emulator(LATENCY_MS) as url:
        seconds = run_minimal_client(url, n)
    floor = n / seconds
    print(
        f"  {'minimal client (same machine, now)':<34}{n:>8,}{seconds:>9.2f}{floor:>10,.0f}"
        f"{floor / 400:>10.0%}"
    )
    return failures


class Sampler(threading.Thread):
    """Reads the emulator's count of applied events every 0.5 s."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            units = admin(self.url, "units")
            unit = units[0] if isinstance(units, list) else next(iter(units.values()))
            counters = unit.get("counters", unit)
            self.samples.append((time.monotonic(), int(counters.get("events", 0))))
            self.stop.wait(0.5)


def run_rate_limits(limits: list[int], seconds: int) -> list[str]:
    failures = []
    print(
        f"\nRate limits: custom events, {CONCURRENCY} in flight, latency {LATENCY_MS} ms, "
        f"~{seconds} s per run"
    )
    print(
        f"  {'R (req/s)':<10}{'client':<30}{'requests':>9}{'429s':>7}{'429 %':>7}{'sustained/s':>13}"
        f"{'of R':>7}"
    )
    for limit in limits:
        for client, options in (
            ("adaptive (R unknown)", {}),
            ("max_requests_per_second=R", {"max_requests_per_second": limit}),
        ):
            n = limit * seconds
            with emulator(LATENCY_MS, "--admin", "--rate-limit-per-second", str(limit)) as url:
                use_connection(url)
                os.environ["AIRFLOW_CONN_EXPERTSENDER_DEFAULT"] = json.dumps(
                    {
                        "conn_type": "expertsender",
                        "host": url,
                        "password": KEY,
                        "extra": {"read_timeout": 120, "max_retries": 20, "max_retry_time": 600},
                    }
                )
                sampler = Sampler(url)
                sampler.start()
                summary, _ = send(events(n, f"r{limit}"), {}, **options)
                sampler.stop.set()
                sampler.join()
                log = admin(url, "requests")
            statuses = Counter(
                entry.get("status") for entry in log if "scenariocustomevents" in entry.get("path", "")
            )
            total = sum(statuses.values())
            limited = statuses.get(429, 0)
            steady = [s for s in sampler.samples if s[0] - sampler.samples[0][0] >= 5]
            sustained = (
                (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) if len(steady) > 1 else 0.0
            )
            print(
                f"  {limit:<10}{client:<30}{total:>9,}{limited:>7,}{limited / max(total, 1):>7.1%}"
                f"{sustained:>13.1f}{sustained / limit:>7.0%}"
            )
            if summary["accepted"] != n:
                failures.append(f"R={limit} {client}: {summary['accepted']} of {n} accepted")
            if sustained < 0.9 * limit or limited / max(total, 1) >= 0.05:
                failures.append(f"R={limit} {client}: {sustained:.0f}/s, {limited / max(total, 1):.1%} 429s")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="smoke run: few records, same code paths")
    parser.add_argument("--skip-events", action="store_true")
    parser.add_argument("--skip-rate-limits", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    tmp = Path(tempfile.mkdtemp(prefix="es-bench-writes-"))
    failures: list[str] = []
    if not args.skip_events:
        failures += run_events(1_000 if args.small else 20_000, tmp)
    if not args.skip_rate_limits:
        failures += run_rate_limits([50, 200], 8 if args.small else 30)
    for failure in failures:
        print(f"TARGET MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
