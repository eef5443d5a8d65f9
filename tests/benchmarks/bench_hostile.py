"""Hostile servers: how long a call lasts and how much memory it takes (issue 11, findings 1 and 4).

Run: ``python tests/benchmarks/bench_hostile.py`` (from the repository root, with the package importable).

The emulator runs in its own process; every scenario runs in a fresh Python process of its own, so its peak
RSS (``ru_maxrss``) is the client's alone. "+MB" is that peak minus the peak after imports and one normal
call. Scenarios:

* trickle: the body is sent one byte every 0.5 s; ``read_timeout=2``, ``max_retry_time=5`` (as the outside
  review ran it). Sync hook, async hook, and a deferred customer sensor's trigger with a 3 s deadline.
* 300 MB: a 300 MB JSON body (on a 200 and on a 503); endless: a body that never ends; gzip bomb: a gzip body
  that inflates to 400 MB (the review's 408 KB bomb), sync and async.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from emulator_process import emulator_process

KEY = "bench-hostile-key"
EMAIL = "bench@example.com"
SCENARIOS = {
    "trickle sync": ({"trickle_body_s": 0.5}, "sync"),
    "trickle async": ({"trickle_body_s": 0.5}, "async"),
    "trickle deferred sensor (3 s deadline)": ({"trickle_body_s": 0.5}, "trigger"),
    "300 MB body, 200, sync": ({"bloated_body_mb": 300}, "sync"),
    "300 MB body, 503, sync": ({"bloated_body_mb": 300, "hostile_status": 503}, "sync"),
    "300 MB body, 200, async": ({"bloated_body_mb": 300}, "async"),
    "endless body, sync": ({"endless_body": True}, "sync"),
    "gzip bomb (400 MB inflated), 200, sync": ({"gzip_bomb_mb": 400}, "sync"),
    "gzip bomb (400 MB inflated), 503, sync": ({"gzip_bomb_mb": 400, "hostile_status": 503}, "sync"),
    "gzip bomb (400 MB inflated), 200, async": ({"gzip_bomb_mb": 400}, "async"),
}


def _admin(url: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{url}/_emulator/{path}",
        data=json.dumps(body).encode(),
        method="PATCH" if path == "switches" else "POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30).read()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(url: str, switches: dict[str, Any], kind: str) -> dict[str, Any]:
    """Run one scenario in this process (a child of :func:`main`)."""
    from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook, ExpertSenderHook
    from airflow_provider_expertsender.triggers.expertsender import ExpertSenderCustomerTrigger

    extra = {"read_timeout": 2, "max_retry_time": 5} if "trickle_body_s" in switches else {"max_retries": 0}
    os.environ["AIRFLOW_CONN_BENCH"] = json.dumps(
        {"conn_type": "expertsender", "host": url, "password": KEY, "extra": extra}
    )
    hook = ExpertSenderHook("bench")
    hook.upsert_customers([{"email": EMAIL, "firstName": "Bench"}])
    hook.get_customer(email=EMAIL)
    asyncio.run(ExpertSenderAsyncHook("bench").get_customer(email=EMAIL))
    baseline = _peak_mb()
    _admin(url, "switches", switches)
    started = time.monotonic()
    outcome = ""
    try:
        if kind == "sync":
            hook.get_customer(email=EMAIL)
        elif kind == "async":
            asyncio.run(ExpertSenderAsyncHook("bench").get_customer(email=EMAIL))
        else:
            trigger = ExpertSenderCustomerTrigger(
                identifier="email",
                value=EMAIL,
                expertsender_conn_id="bench",
                poll_interval=0.5,
                deadline=time.time() + 3,
            )

            async def event() -> Any:
                async for item in trigger.run():
                    return item.payload

            outcome = f"event {asyncio.run(event())['status']}"
    except Exception as err:
        outcome = f"{type(err).__name__}: {str(err)[:110]}"
    return {"seconds": time.monotonic() - started, "plus_mb": _peak_mb() - baseline, "outcome": outcome}


def main() -> None:
    print(f"{'scenario':42} {'seconds':>8} {'+MB':>7}  outcome")
    for name, (switches, kind) in SCENARIOS.items():
        with emulator_process(KEY, "--admin") as url:
            child = subprocess.run(
                [sys.executable, __file__, "--one", url, json.dumps(switches), kind],
                capture_output=True,
                text=True,
                timeout=600,
            )
            lines = child.stdout.strip().splitlines()
            if child.returncode or not lines:
                print(f"{name:42} failed: {child.stderr[-300:]}")
                continue
            row = json.loads(lines[-1])
            print(f"{name:42} {row['seconds']:8.2f} {row['plus_mb']:7.1f}  {row['outcome']}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4])))
    else:
        main()
