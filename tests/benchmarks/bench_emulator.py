"""Throughput of the local ECDP emulator (a script, not a test).

    python tests/benchmarks/bench_emulator.py [--clients 1,4,16] [--seconds 3] [--in-process]

Starts the emulator in its own process (``python -m airflow_provider_expertsender.emulator --port 0``), then
for each scenario and client count runs N threads, each with one keep-alive ``http.client`` connection, for a
fixed time, and prints requests/s (and records/s for batches) plus median and p99 latency. With
``--in-process`` the server shares the interpreter (and the GIL) with the clients, as in the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from emulator_process import emulator_process

KEY = "bench-key"


@contextmanager
def running_emulator(in_process: bool) -> Iterator[str]:
    """The emulator in this interpreter, or in its own process (the default); yields its URL."""
    if not in_process:
        with emulator_process(KEY) as url:
            yield url
        return
    from airflow_provider_expertsender.emulator import Emulator

    with Emulator([KEY]) as emu:
        yield emu.url


def customer_batch(counter: itertools.count, size: int) -> bytes:
    data = [
        {
            "email": f"bench{next(counter)}@example.com",
            "firstName": "Bench",
            "lastName": "Mark",
            "customAttributes": [{"name": "city", "value": "Gdansk"}, {"name": "points", "value": "12"}],
            "consentsData": {"consents": [{"id": 1, "value": "True"}]},
        }
        for _ in range(size)
    ]
    return json.dumps({"mode": "AddOrUpdate", "matchBy": "Email", "data": data}).encode()


def run(
    url: str, clients: int, seconds: float, method: str, path: str, body_factory: Any
) -> dict[str, float]:
    parts = urlsplit(url)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    deadline = time.perf_counter() + seconds
    start_gate = threading.Barrier(clients + 1)

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {"x-api-key": KEY, "Content-Type": "application/json"}
        start_gate.wait()
        while time.perf_counter() < deadline:
            body = body_factory() if body_factory else None
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies[slot].append(time.perf_counter() - t0)
            if response.status >= 300:
                failures[slot] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    all_lat = sorted(itertools.chain.from_iterable(latencies))
    return {
        "requests": len(all_lat),
        "rps": len(all_lat) / elapsed,
        "p50_ms": statistics.median(all_lat) * 1000 if all_lat else 0.0,
        "p99_ms": all_lat[int(len(all_lat) * 0.99) - 1] * 1000 if all_lat else 0.0,
        "failures": sum(failures),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,16", help="comma-separated concurrent client counts")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--in-process", action="store_true", help="run the server in this interpreter")
    args = parser.parse_args()
    counter = itertools.count()
    with running_emulator(args.in_process) as url:
        # Something to GET.
        conn = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port)
        conn.request(
            "POST",
            "/customers",
            customer_batch(itertools.count(10**9), 1),
            {"x-api-key": KEY, "Content-Type": "application/json"},
        )
        conn.getresponse().read()
        conn.close()
        scenarios = [
            ("GET /customerconsents", "GET", "/customerconsents", None, 0),
            ("GET /customers/id/1", "GET", "/customers/id/1", None, 0),
            ("POST /customers x1", "POST", "/customers", lambda: customer_batch(counter, 1), 1),
            ("POST /customers x500", "POST", "/customers", lambda: customer_batch(counter, 500), 500),
        ]
        mode = "in-process" if args.in_process else "separate process"
        print(
            f"ECDP emulator benchmark ({mode}, {args.seconds:g} s per row, Python {sys.version.split()[0]})"
        )
        header = ("scenario", "clients", "req/s", "records/s", "p50 ms", "p99 ms", "errors")
        print("{:24} {:>7} {:>9} {:>10} {:>8} {:>8} {:>6}".format(*header))
        for name, method, path, factory, batch in scenarios:
            for clients in (int(c) for c in args.clients.split(",")):
                result = run(url, clients, args.seconds, method, path, factory)
                records = f"{result['rps'] * batch:10.0f}" if batch else f"{'':>10}"
                print(
                    f"{name:24} {clients:7d} {result['rps']:9.0f} {records} {result['p50_ms']:8.2f} "
                    f"{result['p99_ms']:8.2f} {result['failures']:6d}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
