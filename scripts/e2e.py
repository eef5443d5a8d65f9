"""Every example DAG on a real Airflow 3.3 CeleryExecutor deployment, checked where a user would look.

Started by ``scripts/e2e.sh`` (``make e2e``) with the interpreter of ``.venvs/e2e``. On this machine:

1. a PostgreSQL database of its own (``$E2E_DB``: created here, dropped at the end) for Airflow's metadata
   and Celery's results, and the Redis DB number ``$E2E_REDIS_DB`` as the Celery broker (flushed before and
   after);
2. the ExpertSender emulator on a free loopback port with a random API key, its admin API on, and a visibility
   delay (``--visibility-delay-s``): a write becomes readable only some seconds later, as on a platform that
   processes writes asynchronously, so the examples' deferrable sensors must wait, in the triggerer;
3. ``airflow db migrate``, the warehouse example's documented set-up (``expertsender_sample_data.py``, then
   the ``airflow pools set`` / ``airflow connections add`` commands it prints), then the api-server,
   scheduler, dag-processor, triggerer and one Celery worker, each in its own process group (PIDs in
   ``.e2e/pids``);
4. through the REST API: the ExpertSender connection stored in the metadata DB (``POST /api/v2/connections``),
   tested (``POST /api/v2/connections/test``, right and wrong key), every example DAG triggered, the state of
   every task instance followed until the runs end;
5. checks: every run succeeded; a deferrable sensor went through ``deferred`` (the triggerer is restarted,
   SIGTERM and a new process, while the first one is deferred, and it still succeeds); the emulator holds
   what each DAG should have written; the task and trigger logs the api-server serves contain neither the API
   key nor any customer e-mail address of the run (but the ones docs/personal-data.md says are logged);
6. stops every process it started (by PID, whatever happened), drops the database, flushes the Redis DB, and
   prints the task states and timings. Exit status 1 when a check failed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"
HOME = Path(os.environ.get("E2E_HOME", ROOT / ".e2e"))
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(EXAMPLES))

from expertsender_sample_data import DEFAULT_FOLDER, setup_commands  # noqa: E402 (path added above)

PG = os.environ.get("E2E_PG", "postgresql://postgres@127.0.0.1:5432")
DB = os.environ.get("E2E_DB", f"airflow_e2e_{os.getpid()}")
REDIS_DB = int(os.environ.get("E2E_REDIS_DB", "13"))
#: Seconds before a write is readable in the emulator: the sensors' first check misses, they defer.
VISIBILITY_DELAY_S = 20
#: How long the DAG runs may take together before the run is declared stuck.
RUN_TIMEOUT_S = 900
#: The sensors that must show ``deferred`` (at least one of them; each one that does is reported).
DEFERRABLE_SENSORS = {
    ("example_expertsender_customers", "wait_for_customer"),
    ("example_expertsender_orders", "wait_for_order"),
}
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
TERMINAL = {"success", "failed", "upstream_failed", "skipped", "removed"}


def say(message: str) -> None:
    print(f"e2e: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- processes -----------------------------------------------------------------------------------------------


class Processes:
    """Background processes, each the leader of its own process group, stopped by PID in reverse order."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (the child holds it; closed with it)
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        with open(HOME / "pids", "a", encoding="utf-8") as pids:  # e2e.sh's trap reads it, too
            pids.write(f"{process.pid}\n")
        self.started.append((name, process))
        return process

    def check_alive(self) -> None:
        for name, process in self.started:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self.logs / name}.log")

    def stop(self, name: str) -> None:
        """Stop one process (SIGTERM to its group, SIGKILL after 30 s) and forget it."""
        for entry in [e for e in self.started if e[0] == name]:
            process = entry[1]
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                say(f"{name} (PID {process.pid}) did not stop within 30 s of SIGTERM: SIGKILL")
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
            self.started.remove(entry)

    def stop_all(self) -> None:
        for _name, process in reversed(self.started):
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for name, process in reversed(self.started):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} (PID {process.pid}) did not stop within 30 s of SIGTERM: SIGKILL")
            _signal_group(process.pid, signal.SIGKILL)  # children left behind (gunicorn, celery pool)
            if process.poll() is None:
                process.wait()
        self.started.clear()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


# -- services of the machine ---------------------------------------------------------------------------------


def _pg(sql: str) -> None:
    import psycopg2

    connection = psycopg2.connect(f"{PG}/postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


def _flush_redis() -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()


# -- the REST API --------------------------------------------------------------------------------------------


class Api:
    """A small client for the api-server's public REST API (``/api/v2``), authenticated as in production."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.token = ""

    def request(self, method: str, path: str, body: Any = None, *, expect: int | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        if expect is not None and status != expect:
            raise RuntimeError(f"{method} {path}: HTTP {status}, expected {expect}: {raw[:500]!r}")
        return json.loads(raw) if raw else None

    def login(self, username: str, password: str) -> None:
        answer = self.request("POST", "/auth/token", {"username": username, "password": password}, expect=201)
        self.token = answer["access_token"]


def wait_for(what: str, check: Any, timeout: float, processes: Processes, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            result = check()
        except (OSError, RuntimeError, ValueError) as err:
            last_error, result = err, None
        if result:
            return result
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")


# -- the emulator --------------------------------------------------------------------------------------------


def start_emulator(processes: Processes, api_key: str, env: dict[str, str]) -> str:
    port = free_port()
    argv = [str(VENV_BIN / "python"), "-m", "airflow_provider_expertsender.emulator", "--port", str(port)]
    argv += ["--admin", "--quiet", "--visibility-delay-s", str(VISIBILITY_DELAY_S)]
    # The key goes through the environment, not the process list.
    processes.start("emulator", argv, {**env, "EXPERTSENDER_EMULATOR_API_KEYS": api_key})
    url = f"http://127.0.0.1:{port}"
    wait_for("the emulator", lambda: _admin(url, "units"), 30, processes, 0.2)
    return url


def _admin(url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{url}/_emulator/{path}", timeout=30) as response:
        return json.load(response)


# -- the deployment ------------------------------------------------------------------------------------------


def airflow_env(api_port: int) -> dict[str, str]:
    from cryptography.fernet import Fernet

    home = HOME / "airflow"
    shutil.rmtree(home, ignore_errors=True)  # a fresh Airflow home: no logs or settings of an earlier run
    home.mkdir(parents=True)
    passwords = home / "passwords.json"
    admin_password = secrets.token_urlsafe(12)
    passwords.write_text(json.dumps({"admin": admin_password}), encoding="utf-8")
    sql = PG.replace("postgresql://", "postgresql+psycopg2://", 1) + f"/{DB}"
    api_url = f"http://127.0.0.1:{api_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + PG + f"/{DB}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "8",
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "PYTHONWARNINGS": "ignore",
        }
    )
    env["E2E_ADMIN_PASSWORD"] = admin_password  # read back below, never passed to Airflow as a setting
    return env


def airflow(args: list[str], env: dict[str, str], log: Path) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ airflow {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(
            [str(VENV_BIN / "airflow"), *args], env=env, stdout=out, stderr=out, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"`airflow {' '.join(args)}` failed ({done.returncode}); see {log}")


def start_deployment(processes: Processes, env: dict[str, str]) -> None:
    airflow_bin = str(VENV_BIN / "airflow")
    processes.start(
        "api-server",
        [
            airflow_bin,
            "api-server",
            "--host",
            "127.0.0.1",
            "--port",
            env["AIRFLOW__API__PORT"],
            "--workers",
            "1",
        ],
        env,
    )
    processes.start("scheduler", [airflow_bin, "scheduler"], env)
    processes.start("dag-processor", [airflow_bin, "dag-processor"], env)
    processes.start("triggerer", [airflow_bin, "triggerer"], env)
    processes.start("celery-worker", [airflow_bin, "celery", "worker", "--concurrency", "8"], env)


def healthy(api: Api) -> bool:
    health = api.request("GET", "/api/v2/monitor/health")
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all((health.get(part) or {}).get("status") == "healthy" for part in parts)


# -- following the runs --------------------------------------------------------------------------------------


def follow_runs(
    api: Api, runs: dict[str, str], processes: Processes, on_state: Any = None
) -> tuple[dict[tuple[str, str, int], list[str]], dict[str, str]]:
    """Poll every run's task instances until all runs end; return each task's states in the order seen.

    :param on_state: called with ``(dag_id, task_id, state)`` each time a task instance enters a state.
    """
    history: dict[tuple[str, str, int], list[str]] = {}
    run_states: dict[str, str] = {}
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        processes.check_alive()
        for dag_id, run_id in runs.items():
            if run_states.get(dag_id) in ("success", "failed"):
                continue
            base = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}"
            tis = api.request("GET", f"{base}/taskInstances?limit=200", expect=200)["task_instances"]
            for ti in tis:
                key = (dag_id, ti["task_id"], ti["map_index"])
                seen = history.setdefault(key, [])
                state = ti["state"] or "none"
                if not seen or seen[-1] != state:
                    seen.append(state)
                    if on_state is not None:
                        on_state(dag_id, ti["task_id"], state)
            run_states[dag_id] = api.request("GET", base, expect=200)["state"]
        if all(run_states.get(dag_id) in ("success", "failed") for dag_id in runs):
            return history, run_states
        time.sleep(1)
    raise RuntimeError(f"the DAG runs did not end within {RUN_TIMEOUT_S} s: {run_states}")


def served_logs(api: Api, dag_id: str, run_id: str) -> dict[str, list[str]]:
    """Every try's log of every task instance of the run, as the api-server serves it (task + trigger)."""
    base = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances"
    logs: dict[str, list[str]] = {}
    for ti in api.request("GET", f"{base}?limit=200", expect=200)["task_instances"]:
        for attempt in range(1, ti["try_number"] + 1):  # 0 tries (upstream_failed, skipped): no log
            path = f"{base}/{ti['task_id']}/logs/{attempt}?map_index={ti['map_index']}&full_content=true"
            content = api.request("GET", path, expect=200).get("content")
            lines = content.splitlines() if isinstance(content, str) else content or []
            name = f"{dag_id}.{ti['task_id']}" + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
            logs[f"{name} try {attempt}"] = [
                line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines
            ]
    return logs


#: Log lines that name a customer on purpose (docs/personal-data.md, "What is logged"): the identifier of a
#: record that failed validation or that the API rejected. Reported, not failed; anything else is a leak (a
#: trigger event carrying a record included: the triggerer logs every event).
DOCUMENTED = {
    "identifier of an invalid or rejected record": re.compile(
        r"(Invalid \w+ record #\d+|Rejected by the API: \w+ #\d+) \("
    ),
}


def personal_data(served: dict[str, list[str]], emails: set[str]) -> tuple[list[str], list[str]]:
    """(leaks, documented): log lines naming one of the run's e-mail addresses, as ``log: address (why)``."""
    leaks: list[str] = []
    documented: list[str] = []
    for name, lines in served.items():
        for line in lines:
            found = sorted(set(EMAIL.findall(line)) & emails)
            if not found:
                continue
            why = next((why for why, pattern in DOCUMENTED.items() if pattern.search(line)), None)
            (documented if why else leaks).append(
                f"{name}: {', '.join(found)}" + (f" ({why})" if why else "")
            )
    return leaks, documented


def xcom(api: Api, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
    path = (
        f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task_id}"
        f"/xcomEntries/return_value?map_index={map_index}&deserialize=true"
    )
    value = api.request("GET", path, expect=200)["value"]
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


# -- what each example should have written -------------------------------------------------------------------


def check_emulator(
    url: str, api: Api, runs: dict[str, str], data: dict[str, Any]
) -> list[tuple[str, bool, str]]:
    customers = {c.get("email"): c for c in _admin(url, "units/0/customers")}
    orders = {o.get("id"): o for o in _admin(url, "units/0/orders")}
    events = _admin(url, "units/0/events")
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        results.append((name, ok, detail))

    ada = customers.get("ada@example.com") or {}
    check(
        "customers: the four customers exist, Ada with her CRM id and newsletter consent",
        all(
            e in customers
            for e in ("ada@example.com", "alan@example.com", "grace@example.com", "edsger@example.com")
        )
        and ada.get("crmId") == "C-1815"
        and any(
            c.get("id") == 1 and str(c.get("value")) == "True"
            for c in (ada.get("consentsData") or {}).get("consents") or []
        ),
        f"ada: crmId={ada.get('crmId')!r}",
    )
    order = orders.get("EX-1001") or {}
    check(
        "orders: EX-1001 registered, marked paid then completed, then deleted",
        order.get("status") == "completed" and order.get("isDeleted") is True,
        f"status={order.get('status')!r} isDeleted={order.get('isDeleted')!r}",
    )
    by_email: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_email.setdefault(str(event.get("customerEmail")), []).append(event)
    grace = by_email.get("grace@example.com", [])
    check("custom event: event 12 fired once for Grace", len(grace) == 1, f"{len(events)} event(s) stored")
    if "example_expertsender_bulk_writes" in runs:
        shoppers = [f"shopper{i}@example.com" for i in range(20)]
        bulk = {f"BULK-{i}": orders.get(f"BULK-{i}") or {} for i in range(6)}
        check(
            "bulk writes: 20 events, each once; BULK-0..3 completed, BULK-4 and BULK-5 deleted",
            all(len(by_email.get(email, [])) == 1 for email in shoppers)
            and all(bulk[f"BULK-{i}"].get("status") == "completed" for i in range(4))
            and all(bulk[f"BULK-{i}"].get("isDeleted") is True for i in (4, 5)),
            f"{sum(len(by_email.get(e, [])) for e in shoppers)} events; "
            + ", ".join(
                f"{k}: {v.get('status')}{' deleted' if v.get('isDeleted') else ''}" for k, v in bulk.items()
            ),
        )
    summary = xcom(
        api, "example_expertsender_settings", runs["example_expertsender_settings"], "upsert_customers"
    )
    check(
        "settings: valid CRM rows upserted, the one with points='n/a' skipped",
        isinstance(summary, dict) and summary.get("accepted") == 2 and summary.get("invalid") == 1,
        f"summary accepted={summary.get('accepted')} invalid={summary.get('invalid')}",
    )
    totals = xcom(
        api, "example_expertsender_warehouse_sync", runs["example_expertsender_warehouse_sync"], "report"
    )
    landed = sum(1 for e in customers if e and re.fullmatch(r"customer\d{4}@example\.com", e))
    landed += sum(1 for key in orders if str(key).startswith("WH-"))
    expected = data["customers"] + data["orders"] - data["invalid"]
    check(
        "warehouse sync: every valid sample customer and order landed, the invalid ones did not",
        isinstance(totals, dict) and totals.get("accepted") == expected == landed,
        f"report totals={totals}; emulator holds {landed}; sample data has {expected} valid records",
    )
    return results


def run_emails(url: str, sample_folder: Path) -> set[str]:
    """Every e-mail address the run handled: what the emulator holds, and what the sample files contain."""
    text = json.dumps([_admin(url, f"units/0/{what}") for what in ("customers", "orders", "events")])
    for path in sample_folder.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".jsonl"):
            text += path.read_text(encoding="utf-8")
    for path in EXAMPLES.glob("*.py"):
        text += path.read_text(encoding="utf-8")
    return set(EMAIL.findall(text))


# -- the run -------------------------------------------------------------------------------------------------


def stop_on_sigterm() -> None:
    """SIGTERM (e2e.sh passes it on) ends the run through ``finally``: processes stopped, database dropped."""

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up must not be interrupted
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, handler)


def main() -> int:
    stop_on_sigterm()
    started = time.monotonic()
    logs = HOME / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    api_key = "e2e-" + secrets.token_hex(16)
    api_port = free_port()
    env = airflow_env(api_port)
    admin_password = env.pop("E2E_ADMIN_PASSWORD")
    processes = Processes(logs)
    results: list[tuple[str, bool, str]] = []
    timings: dict[str, float] = {}
    history: dict[tuple[str, str, int], list[str]] = {}
    created_db = False
    try:
        _pg(f"CREATE DATABASE {DB}")
        created_db = True
        _flush_redis()
        say(f"metadata DB {DB} on {PG}, Celery broker redis://127.0.0.1:6379/{REDIS_DB}; logs in {logs}")
        emulator_url = start_emulator(processes, api_key, env)
        say(f"emulator on {emulator_url} (visibility delay {VISIBILITY_DELAY_S} s)")

        t0 = time.monotonic()
        setup_log = logs / "setup.log"
        airflow(["db", "migrate"], env, setup_log)
        # The warehouse example's documented set-up, as a user runs it (the DAG's docstring).
        with open(setup_log, "a", encoding="utf-8") as out:
            subprocess.run(
                [str(VENV_BIN / "python"), str(EXAMPLES / "expertsender_sample_data.py")],
                env=env,
                stdout=out,
                stderr=out,
                check=True,
            )
        sys.path.insert(0, str(EXAMPLES))
        from expertsender_sample_data import make_sample_data

        data = make_sample_data(DEFAULT_FOLDER)  # the same files again, to know the counts
        for command in setup_commands(data):
            airflow(command, env, setup_log)
        timings["db migrate + set-up"] = time.monotonic() - t0

        t0 = time.monotonic()
        start_deployment(processes, env)
        api = Api(f"http://127.0.0.1:{api_port}")
        wait_for("the api-server", lambda: api.request("GET", "/api/v2/monitor/health"), 180, processes)
        api.login("admin", admin_password)
        wait_for("scheduler, triggerer and dag-processor to be healthy", lambda: healthy(api), 180, processes)
        dag_ids = sorted(path.stem for path in EXAMPLES.glob("example_*.py"))

        def parsed() -> bool:
            errors = api.request("GET", "/api/v2/importErrors", expect=200)
            if errors["total_entries"]:
                raise SystemExit(f"e2e: import errors: {json.dumps(errors['import_errors'])[:2000]}")
            found = api.request(
                "GET", "/api/v2/dags?dag_id_pattern=example_expertsender%25&limit=100", expect=200
            )
            return sorted(d["dag_id"] for d in found["dags"]) == dag_ids

        wait_for(f"the dag-processor to parse {len(dag_ids)} example DAGs", parsed, 180, processes)
        timings["deployment start (until every DAG is parsed)"] = time.monotonic() - t0

        # The connection, stored in the metadata DB through the REST API, then tested the way the docs say.
        connection = {
            "connection_id": "expertsender_default",
            "conn_type": "expertsender",
            "host": emulator_url,
            "password": api_key,
        }
        api.request("POST", "/api/v2/connections", connection, expect=201)
        stored = api.request("GET", "/api/v2/connections/expertsender_default", expect=200)
        results.append(
            (
                "connection: stored in the metadata DB; the API does not return the key",
                api_key not in json.dumps(stored),
                f"password field: {stored.get('password')!r}",
            )
        )
        tested = api.request("POST", "/api/v2/connections/test", connection, expect=200)
        results.append(
            ("connection test (REST): accepted", tested.get("status") is True, str(tested.get("message")))
        )
        wrong = api.request(
            "POST", "/api/v2/connections/test", {**connection, "password": "wrong-key"}, expect=200
        )
        results.append(
            (
                "connection test (REST): wrong key rejected",
                wrong.get("status") is False and "rejected" in str(wrong.get("message")),
                str(wrong.get("message")),
            )
        )

        t0 = time.monotonic()
        runs: dict[str, str] = {}
        for dag_id in dag_ids:
            run = api.request(
                "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {}}, expect=200
            )
            runs[dag_id] = run["dag_run_id"]
        say(f"triggered {len(runs)} DAG runs through the REST API; following their task instances")
        # A triggerer restart while a sensor is deferred: the new triggerer must pick the trigger up again.
        restarted: list[tuple[str, str, int]] = []

        def restart_triggerer(dag_id: str, task_id: str, state: str) -> None:
            if state == "deferred" and (dag_id, task_id) in DEFERRABLE_SENSORS and not restarted:
                restarted.append((dag_id, task_id, -1))
                processes.stop("triggerer")
                processes.start("triggerer-restarted", [str(VENV_BIN / "airflow"), "triggerer"], env)
                say(f"restarted the triggerer while {dag_id}.{task_id} was deferred")

        history, run_states = follow_runs(api, runs, processes, restart_triggerer)
        timings["DAG runs (all in parallel)"] = time.monotonic() - t0
        for dag_id in dag_ids:
            results.append((f"run {dag_id}", run_states[dag_id] == "success", run_states[dag_id]))

        deferred = sorted(
            f"{d}.{t}"
            for (d, t, _), states in history.items()
            if "deferred" in states and (d, t) in DEFERRABLE_SENSORS
        )
        results.append(
            (
                "a deferrable sensor went through DEFERRED in the triggerer",
                bool(deferred),
                ", ".join(deferred) or "none deferred",
            )
        )

        after_restart = {f"{d}.{t}": history.get((d, t, m), []) for d, t, m in restarted}
        results.append(
            (
                "a sensor deferred when the triggerer was restarted (SIGTERM, new process) still succeeded",
                bool(after_restart) and all(states[-1:] == ["success"] for states in after_restart.values()),
                "; ".join(f"{name}: {' -> '.join(states)}" for name, states in after_restart.items())
                or "no sensor deferred",
            )
        )
        results += check_emulator(emulator_url, api, runs, data)

        served: dict[str, list[str]] = {}
        for dag_id, run_id in runs.items():
            served.update(served_logs(api, dag_id, run_id))
        sensors = tuple(f"{d}.{t} " for d, t in DEFERRABLE_SENSORS)
        trigger_logs = sorted(
            name
            for name, lines in served.items()
            if name.startswith(sensors) and any("TriggerEvent<" in line for line in lines)
        )
        results.append(
            (
                f"served logs: {len(served)} task logs read, with the trigger's lines in the sensors' logs",
                bool(trigger_logs),
                ", ".join(trigger_logs) or "no trigger lines found",
            )
        )
        key_leaks = sorted(name for name, lines in served.items() if any(api_key in line for line in lines))
        results.append(("served logs: no API key", not key_leaks, ", ".join(key_leaks) or "none"))
        emails = run_emails(emulator_url, DEFAULT_FOLDER)
        leaks, documented = personal_data(served, emails)
        results.append(
            (
                f"served logs: none of the run's {len(emails)} customer e-mail addresses (but as documented)",
                not leaks,
                "; ".join(leaks) or f"none; documented: {'; '.join(documented) or 'none'}",
            )
        )
        process_leaks = sorted(
            p.name
            for p in logs.glob("*.log")
            if p.name != "emulator.log" and api_key in p.read_text(encoding="utf-8", errors="replace")
        )
        results.append(
            (
                "process logs (api-server, scheduler, worker, triggerer...): no API key",
                not process_leaks,
                ", ".join(process_leaks) or "none",
            )
        )
    except Exception as err:  # reported as a failed check; clean-up follows
        results.append(("deployment ran to the end", False, f"{type(err).__name__}: {err}"))
    finally:
        t0 = time.monotonic()
        processes.stop_all()
        if created_db:
            try:
                _pg(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
            except Exception as err:
                results.append(("database dropped", False, str(err)))
        try:
            _flush_redis()
        except Exception as err:
            results.append(("Redis DB flushed", False, str(err)))
        timings["stop + clean-up"] = time.monotonic() - t0

    print()
    say("task states seen (polled every second through the REST API):")
    mapped = {(d, t) for d, t, m in history if m >= 0}
    for (dag_id, task_id, map_index), states in sorted(history.items()):
        if map_index < 0 and (dag_id, task_id) in mapped:
            continue  # the placeholder of a mapped task, replaced by its expanded instances
        index = f"[{map_index}]" if map_index >= 0 else ""
        print(f"  {dag_id}.{task_id}{index}: {' -> '.join(states)}")
    print()
    for name, seconds in timings.items():
        say(f"{name}: {seconds:.0f} s")
    say(f"total: {time.monotonic() - started:.0f} s")
    print()
    for name, ok, detail in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""))
    failed = sum(1 for _, ok, _ in results if not ok)
    if failed:
        say(f"process logs are in {logs}")
    print(f"e2e: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
