"""Run every example DAG end to end against a local ExpertSender emulator, then say what happened.

Started by ``scripts/demo.sh`` with the interpreter of ``.venvs/demo`` (Airflow and this package installed):

1. wipes and recreates ``.demo/``: an ``AIRFLOW_HOME`` (sqlite metadata DB, bundled examples off), the sample
   warehouse (a sqlite file) and landing folder (JSON Lines and CSV files) the warehouse-sync example reads;
2. ``airflow db migrate`` and ``airflow pools set`` for the pool the examples share;
3. starts ``python -m airflow_provider_expertsender.emulator`` on a free loopback port with the API key
   ``demo-key`` and its admin API, and points ``expertsender_default`` at it (``AIRFLOW_CONN_*``);
4. ``airflow dags test`` for each DAG of ``example_dags/`` (each DAG's output goes to ``.demo/logs/``);
5. prints a table (DAG, state, records written, requests, seconds) and what the emulator holds (read through
   its admin API), stops the emulator, and exits 1 if any DAG failed.

Nothing leaves this machine; the environment's own ``AIRFLOW_*`` settings and connections are not used.
The sample data comes from ``example_dags/expertsender_sample_data.py`` (shipped next to the example, so a
deployment can make it too); ``tests/test_example_dags.py`` reaches it and :func:`warehouse_conf` through this
module: the tests, the demo and ``make e2e`` run the warehouse-sync example on the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "example_dags"))
from expertsender_sample_data import (  # the examples' folder, added above
    POOL,
    POOL_SLOTS,
    WAREHOUSE_CONN_ID,
    make_sample_data,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"
DEMO_HOME = ROOT / ".demo"
API_KEY = "demo-key"
__all__ = ["POOL", "POOL_SLOTS", "WAREHOUSE_CONN_ID", "make_sample_data", "warehouse_conf"]

# Emulator counters that are writes applied to the business unit.
_WRITE_COUNTERS = (
    "customers_created",
    "customers_updated",
    "orders_created",
    "orders_replaced",
    "orders_deleted",
    "status_changes",
    "events",
)


def warehouse_conf(data: Mapping[str, Any], dead_letters: Path) -> dict[str, Any]:
    """The run configuration (``params``) of the warehouse-sync example for the sample data (its
    incremental-sync state next to the dead letters: a new emulator is a new business unit)."""
    return {
        "warehouse_conn_id": WAREHOUSE_CONN_ID,
        "landing_path": data["landing_path"],
        "dead_letter_path": str(dead_letters),
        "state_path": str(dead_letters.parent / "state"),
    }


# -- the emulator -----------------------------------------------------------------------------------------


class EmulatorProcess:
    """``python -m airflow_provider_expertsender.emulator`` in the background, with its admin API on.

    Started on a free loopback port (``--port 0``; the URL is read from its first line of output) and stopped
    by :meth:`stop` or when the ``with`` block ends, whatever happens in between.
    """

    def __init__(self, api_key: str, log: Path) -> None:
        self._log = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop())
        command = [sys.executable, "-m", "airflow_provider_expertsender.emulator", "--port", "0"]
        command += ["--api-key", api_key, "--admin", "--quiet"]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self._process.stdout is not None
        first_line = self._process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", first_line)
        if not match:
            self.stop()
            raise RuntimeError(f"the emulator did not start; see {log}")
        self.url = match.group(1)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/_emulator/{path}", timeout=10) as response:
            return json.load(response)

    def counters(self) -> dict[str, int]:
        """The counters of the (only) business unit: requests, customers_created, orders_deleted..."""
        return dict(self._get("units")[0]["counters"])

    def holdings(self) -> dict[str, int]:
        """How many customers, live orders, deleted orders and custom events the business unit holds."""
        orders = self._get("units/0/orders")
        deleted = sum(1 for order in orders if order.get("isDeleted"))
        return {
            "customers": len(self._get("units/0/customers")),
            "orders": len(orders) - deleted,
            "deleted orders": deleted,
            "custom events": len(self._get("units/0/events")),
        }


# -- running -----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one ``airflow dags test`` did."""

    dag_id: str
    state: str
    written: int
    requests: int
    seconds: float
    log: Path


NEXT_STEPS = """\
Next steps:
  - Read the guide: docs/getting-started.md, or `make docs` and open site/index.html.
  - Run the emulator yourself: `make emulator` (http://127.0.0.1:8080, API key emulator-key), and point
    your own DAGs at it.
  - Try a sandbox business unit (never production): copy its API key from ExpertSender (Settings -> API) and
        export AIRFLOW_CONN_EXPERTSENDER_DEFAULT='{"conn_type": "expertsender", "password": "<sandbox key>"}'
    then replace the examples' attribute names, consent ids and custom event id with that unit's own."""


def dead_letter_report(letters: Sequence[Path], expected: int) -> str:
    """What the demo says about its dead-letter files: how many records, why (on purpose), and where.

    :param letters: the dead-letter files the run wrote.
    :param expected: the number of records :func:`make_sample_data` made invalid on purpose.
    """
    count = sum(len(path.read_text(encoding="utf-8").splitlines()) for path in letters)
    if count == expected:
        why = (
            f"demo: {count} records did not land, on purpose: the sample data has two malformed e-mail "
            "addresses and a negative order total (refused before sending) and a loyalty tier the business "
            "unit does not have (refused by the API). This is how a real sync reports bad rows without "
            "stopping: each is in a dead-letter file with its position and the reason:"
        )
    else:
        why = (
            f"demo: {count} records did not land ({expected} were expected: the sample data's deliberate "
            "errors); see the dead-letter files:"
        )
    return "\n".join(textwrap.wrap(why, 110, subsequent_indent="  ") + [f"  {_relative(p)}" for p in letters])


def _airflow_env(home: Path) -> dict[str, str]:
    """The process environment without the user's Airflow settings, plus the demo's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


def _airflow(args: Sequence[str], env: Mapping[str, str], log: Path) -> int:
    """Run the ``airflow`` CLI of this interpreter's venv; its output goes to ``log``."""
    airflow = Path(sys.executable).with_name("airflow")
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ airflow {' '.join(args)}\n")
        out.flush()
        done = subprocess.run([str(airflow), *args], env=dict(env), stdout=out, stderr=out, check=False)
    return done.returncode


def _written(before: Mapping[str, int], after: Mapping[str, int]) -> int:
    return sum(after.get(k, 0) - before.get(k, 0) for k in _WRITE_COUNTERS)


def _dag_ids(selected: Sequence[str]) -> list[str]:
    available = sorted(path.stem for path in EXAMPLES.glob("example_*.py"))
    unknown = sorted(set(selected) - set(available))
    if unknown:
        raise SystemExit(f"demo: no example DAG {', '.join(unknown)}; available: {', '.join(available)}")
    return [dag_id for dag_id in available if not selected or dag_id in selected]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table; numeric columns right-aligned."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(r[i].replace(".", "", 1).isdigit() for r in cells[1:]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = (c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *(line(row) for row in cells[1:])])


def _relative(path: Path | str) -> str:
    """``path`` relative to the checkout when it is inside it (shorter to read), else as given."""
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dag", action="append", default=[], help="run only this example DAG (repeatable)")
    dag_ids = _dag_ids(parser.parse_args(argv).dag)

    started = time.monotonic()
    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    home, logs = DEMO_HOME / "airflow", DEMO_HOME / "logs"
    home.mkdir(parents=True)
    logs.mkdir()
    data = make_sample_data(DEMO_HOME / "data")
    dead_letters = DEMO_HOME / "dead-letters"
    env = _airflow_env(home)
    env[f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"] = data["warehouse_conn"]
    print(
        f"demo: Airflow home {_relative(home)}, sample warehouse and files in {_relative(DEMO_HOME / 'data')}"
    )
    print(
        f"demo: running {len(dag_ids)} example DAG(s) with `airflow dags test`, 10-30 s each; nothing leaves "
        "this machine"
    )

    setup_log = logs / "setup.log"
    for command in (["db", "migrate"], ["pools", "set", POOL, str(POOL_SLOTS), "ExpertSender API requests"]):
        if _airflow(command, env, setup_log) != 0:
            print(f"demo: `airflow {' '.join(command)}` failed, see {_relative(setup_log)}", file=sys.stderr)
            return 1

    outcomes: list[Outcome] = []
    with EmulatorProcess(API_KEY, logs / "emulator.log") as emulator:
        print(f"demo: ExpertSender emulator on {emulator.url}, API key {API_KEY!r}")
        env["AIRFLOW_CONN_EXPERTSENDER_DEFAULT"] = json.dumps(
            {"conn_type": "expertsender", "host": emulator.url, "password": API_KEY}
        )
        for dag_id in dag_ids:
            log = logs / f"{dag_id}.log"
            command = ["dags", "test", dag_id]
            if dag_id == "example_expertsender_warehouse_sync":
                command += ["--conf", json.dumps(warehouse_conf(data, dead_letters))]
            before = emulator.counters()
            t0 = time.monotonic()
            state = "success" if _airflow(command, env, log) == 0 else "FAILED"
            seconds = time.monotonic() - t0
            after = emulator.counters()
            outcome = Outcome(
                dag_id=dag_id,
                state=state,
                written=_written(before, after),
                requests=after.get("requests", 0) - before.get("requests", 0),
                seconds=seconds,
                log=log,
            )
            outcomes.append(outcome)
            print(f"demo: {dag_id}: {state} ({seconds:.1f} s)")
        holdings = emulator.holdings()

    print()
    print(
        _table(
            ["DAG", "state", "records written", "requests", "seconds"],
            [(o.dag_id, o.state, o.written, o.requests, f"{o.seconds:.1f}") for o in outcomes],
        )
    )
    print()
    print(_table(["business unit", *holdings], [(f"API key {API_KEY!r}", *holdings.values())]))
    letters = sorted(dead_letters.rglob("*.jsonl")) if dead_letters.exists() else []
    if letters:
        print()
        print(dead_letter_report(letters, expected=data["invalid"]))
    failed = [o for o in outcomes if o.state != "success"]
    for outcome in failed:
        tail = outcome.log.read_text(encoding="utf-8").splitlines()[-30:]
        print(f"\ndemo: {outcome.dag_id} failed; end of {_relative(outcome.log)}:", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
    elapsed = time.monotonic() - started
    succeeded = len(outcomes) - len(failed)
    print(f"\ndemo: {succeeded}/{len(outcomes)} DAGs succeeded in {elapsed:.0f} s; logs in .demo/logs/")
    if not failed:
        print()
        print(NEXT_STEPS)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
