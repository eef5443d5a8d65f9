"""Every example DAG on real Celery deployments (Airflow 3.3 and 2.10), checked where a user would look.

Started by ``scripts/e2e.sh`` (``make e2e``) with the interpreter of ``.venvs/e2e``:
``e2e.py --airflow 3 2`` runs the Airflow 3.3.2 deployment (``.venvs/e2e``), then the Airflow 2.10.5 one
(``.venvs/e2e-af2``: the built wheel under the official 2.10.5 image's pins), one after the other. For each,
on this machine:

1. a PostgreSQL database of its own (``$E2E_DB`` / ``$E2E_AF2_DB``: created here, dropped at the end) for
   Airflow's metadata and Celery's results, and a Redis DB number of its own (``$E2E_REDIS_DB`` /
   ``$E2E_AF2_REDIS_DB``) as the Celery broker (flushed before and after);
2. the ExpertSender emulator on a free loopback port with a random API key, its admin API on, and a visibility
   delay (``--visibility-delay-s``): a write becomes readable only some seconds later, as on a platform that
   processes writes asynchronously, so the examples' deferrable sensors must wait, in the triggerer;
3. ``airflow db migrate``, the warehouse example's documented set-up (``expertsender_sample_data.py``, then
   the ``airflow pools set`` / ``airflow connections add`` commands it prints), then the line's processes,
   each in its own process group (PIDs in ``.e2e/pids``): on 3.3 the api-server, scheduler, dag-processor,
   triggerer and one Celery worker; on 2.10 the webserver, scheduler (it parses the DAGs), triggerer and one
   Celery worker (and an admin user, for the REST API's basic auth);
4. through the REST API (3.3: ``/api/v2`` with a token; 2.10: ``/api/v1`` with basic auth): the ExpertSender
   connection stored in the metadata DB (``POST .../connections``), tested (``POST .../connections/test``,
   right and wrong key), every example DAG triggered, the state of every task instance followed until the
   runs end;
5. checks: every run succeeded; a deferrable sensor went through ``deferred`` (the triggerer is restarted,
   SIGTERM and a new process, while the first one is deferred, and it still succeeds); the emulator holds
   what each DAG should have written; the task and trigger logs the api-server / webserver serves contain
   neither the API key nor any customer e-mail address of the run (but the ones docs/personal-data.md says
   are logged);
6. stops every process it started (by PID, whatever happened), drops the database, flushes the Redis DB, and
   prints the task states and timings. After the last deployment: one line per deployment (wall time, checks
   passed and failed). Exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import ast
import base64
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"
HOME = Path(os.environ.get("E2E_HOME", ROOT / ".e2e"))
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(EXAMPLES))

from expertsender_sample_data import DEFAULT_FOLDER, setup_commands  # noqa: E402 (path added above)

PG = os.environ.get("E2E_PG", "postgresql://postgres@127.0.0.1:5432")
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


@dataclass(frozen=True)
class Line:
    """One deployment: an Airflow line, its virtualenv, its database and its Redis DB number."""

    major: int  #: 3 or 2
    label: str
    bin_dir: Path
    db: str
    redis_db: int

    @property
    def name(self) -> str:
        return f"af{self.major}"

    @property
    def api(self) -> str:
        """The REST API's prefix."""
        return "/api/v2" if self.major == 3 else "/api/v1"


def lines_from_env(majors: list[int]) -> list[Line]:
    """The deployments to run, in the order given, configured from e2e.sh's environment."""
    lines = {
        3: Line(
            3,
            "Airflow 3.3.2",
            VENV_BIN,
            os.environ.get("E2E_DB", f"airflow_e2e_{os.getpid()}"),
            int(os.environ.get("E2E_REDIS_DB", "13")),
        ),
        2: Line(
            2,
            "Airflow 2.10.5",
            Path(os.environ.get("E2E_AF2_BIN", ROOT / ".venvs" / "e2e-af2" / "bin")),
            os.environ.get("E2E_AF2_DB", f"airflow_e2e_af2_{os.getpid()}"),
            int(os.environ.get("E2E_AF2_REDIS_DB", "14")),
        ),
    }
    chosen = [lines[major] for major in majors]
    if len({line.db for line in chosen}) < len(chosen) or len({line.redis_db for line in chosen}) < len(
        chosen
    ):
        raise SystemExit("e2e: each deployment needs its own database and Redis DB number")
    return chosen


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


def _flush_redis(redis_db: int) -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=redis_db).flushdb()


# -- the REST API --------------------------------------------------------------------------------------------


class Api:
    """A small client for the public REST API, authenticated as in production.

    3.3: the api-server's ``/api/v2`` with a bearer token (``login``); 2.10: the webserver's ``/api/v1`` with
    basic auth (``[api] auth_backends``). Paths given to ``call`` and ``text`` are below the prefix.
    """

    def __init__(self, base_url: str, prefix: str) -> None:
        self.base_url = base_url
        self.prefix = prefix
        self.authorization = ""

    def request(
        self, method: str, path: str, body: Any = None, *, expect: int | None = None, accept: str = "json"
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "text/plain" if accept == "text" else "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.authorization:
            request.add_header("Authorization", self.authorization)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        if expect is not None and status != expect:
            raise RuntimeError(f"{method} {path}: HTTP {status}, expected {expect}: {raw[:500]!r}")
        if accept == "text":
            return raw.decode("utf-8", errors="replace")
        return json.loads(raw) if raw else None

    def call(self, method: str, path: str, body: Any = None, *, expect: int | None = None) -> Any:
        return self.request(method, self.prefix + path, body, expect=expect)

    def text(self, path: str) -> str:
        return str(self.request("GET", self.prefix + path, expect=200, accept="text"))

    def login(self, username: str, password: str) -> None:
        """3.3: a token from the api-server's auth manager."""
        answer = self.request("POST", "/auth/token", {"username": username, "password": password}, expect=201)
        self.authorization = f"Bearer {answer['access_token']}"

    def basic_auth(self, username: str, password: str) -> None:
        """2.10: the basic-auth backend checks the user on every request."""
        self.authorization = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


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


def airflow_env(line: Line, web_port: int) -> dict[str, str]:
    """A fresh Airflow home for the line, and the environment its processes share."""
    from cryptography.fernet import Fernet

    home = HOME / f"airflow-{line.name}"
    shutil.rmtree(home, ignore_errors=True)  # a fresh Airflow home: no logs or settings of an earlier run
    home.mkdir(parents=True)
    admin_password = secrets.token_urlsafe(12)
    sql = PG.replace("postgresql://", "postgresql+psycopg2://", 1) + f"/{line.db}"
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
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{line.redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + PG + f"/{line.db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "8",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "PYTHONWARNINGS": "ignore",
        }
    )
    if line.major == 3:
        passwords = home / "passwords.json"
        passwords.write_text(json.dumps({"admin": admin_password}), encoding="utf-8")
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(passwords)
    env.update(line_settings(line.major, web_port))
    env["E2E_ADMIN_PASSWORD"] = (
        admin_password  # read back by the caller, never passed to Airflow as a setting
    )
    return env


def line_settings(major: int, web_port: int) -> dict[str, str]:
    """The settings where the lines differ: the UI/API server, its authentication, DAG parsing."""
    url = f"http://127.0.0.1:{web_port}"
    if major == 3:
        return {
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__API__PORT": str(web_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        }
    return {
        "AIRFLOW__WEBSERVER__BASE_URL": url,
        "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(web_port),
        "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__WEBSERVER__WORKERS": "1",
        # Signs the requests the webserver sends to the worker's and the triggerer's log servers.
        "AIRFLOW__WEBSERVER__SECRET_KEY": secrets.token_urlsafe(24),
        "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
        "AIRFLOW__API__ENABLE_XCOM_DESERIALIZE_SUPPORT": "True",
        "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "10",
    }


#: Airflow 3 links an alias to an Asset when the first event goes through it, with an unguarded check, then
#: an insert (``AssetManager._add_asset_alias_association``): two tasks delivering the first events of one
#: Asset at the same moment make the api-server set one of them to failed (``asset_alias_asset_pkey``), after
#: its records landed. The provider cannot prevent it from a task (docs/assets.md); the harness, which owns
#: the metadata DB, creates the Assets and their links before the runs, so this run tests the provider, not
#: that race.
_LINK_ALIASES = """
from sqlalchemy import select
from airflow.models.asset import AssetAliasModel, AssetModel
from airflow.utils.session import create_session
from airflow_provider_expertsender.assets import RESOURCES, asset_alias, asset_uri

with create_session() as session:
    for resource in RESOURCES:
        uri, name = asset_uri(resource), asset_alias(resource).name
        alias = session.scalar(select(AssetAliasModel).where(AssetAliasModel.name == name))
        asset = session.scalar(select(AssetModel).where(AssetModel.uri == uri))
        if asset is None:
            asset = AssetModel(name=uri, uri=uri, group="asset", extra={})
            session.add(asset)
        if alias is not None and asset not in alias.assets:
            alias.assets.append(asset)
    print("linked the aliases of", ", ".join(RESOURCES))
"""


def link_aliases(line: Line, env: dict[str, str], log: Path) -> None:
    """Airflow 3: the provider's Asset aliases linked to their Assets before any run (see _LINK_ALIASES)."""
    with open(log, "a", encoding="utf-8") as out:
        out.write("$ python -c <link the provider's aliases to their Assets>\n")
        out.flush()
        done = subprocess.run(
            [str(line.bin_dir / "python"), "-c", _LINK_ALIASES],
            env=env,
            stdout=out,
            stderr=out,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"linking the Asset aliases failed ({done.returncode}); see {log}")


def airflow(line: Line, args: list[str], env: dict[str, str], log: Path) -> None:
    with open(log, "a", encoding="utf-8") as out:
        shown = [
            "***" if previous == "--password" else a for previous, a in zip(["", *args], args, strict=False)
        ]
        out.write(f"$ airflow {' '.join(shown)}\n")
        out.flush()
        done = subprocess.run(
            [str(line.bin_dir / "airflow"), *args], env=env, stdout=out, stderr=out, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"`airflow {' '.join(args[:2])}` failed ({done.returncode}); see {log}")


def admin_user_command(password: str) -> list[str]:
    """2.10: the webserver's admin user (FAB), whom the REST API's basic auth checks."""
    return [
        *["users", "create", "--role", "Admin", "--username", "admin", "--password", password],
        *["--firstname", "E2E", "--lastname", "Admin", "--email", "admin@localhost"],
    ]


def deployment_processes(major: int, web_port: int) -> list[tuple[str, list[str]]]:
    """(name, arguments after ``airflow``) of each long-running process of the line's deployment."""
    if major == 3:
        web = ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(web_port), "--workers", "1"])
        parsing = [("dag-processor", ["dag-processor"])]
    else:  # 2.10: the scheduler parses the DAG files itself (no standalone dag-processor)
        web = (
            "webserver",
            ["webserver", "--hostname", "127.0.0.1", "--port", str(web_port), "--workers", "1"],
        )
        parsing = []
    return [
        web,
        ("scheduler", ["scheduler"]),
        *parsing,
        ("triggerer", ["triggerer"]),
        ("celery-worker", ["celery", "worker", "--concurrency", "8"]),
    ]


def start_deployment(line: Line, processes: Processes, env: dict[str, str], web_port: int) -> None:
    for name, args in deployment_processes(line.major, web_port):
        processes.start(name, [str(line.bin_dir / "airflow"), *args], env)


def is_healthy(health: dict[str, Any], major: int) -> bool:
    """The REST API's health answer: every component the line runs is healthy."""
    parts = ["metadatabase", "scheduler", "triggerer"] + (["dag_processor"] if major == 3 else [])
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
            base = f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}"
            tis = api.call("GET", f"{base}/taskInstances?limit=200", expect=200)["task_instances"]
            for ti in tis:
                key = (dag_id, ti["task_id"], ti["map_index"])
                seen = history.setdefault(key, [])
                state = ti["state"] or "none"
                if not seen or seen[-1] != state:
                    seen.append(state)
                    if on_state is not None:
                        on_state(dag_id, ti["task_id"], state)
            run_states[dag_id] = api.call("GET", base, expect=200)["state"]
        if all(run_states.get(dag_id) in ("success", "failed") for dag_id in runs):
            return history, run_states
        time.sleep(1)
    raise RuntimeError(f"the DAG runs did not end within {RUN_TIMEOUT_S} s: {run_states}")


def served_logs(api: Api, major: int, dag_id: str, run_id: str) -> dict[str, list[str]]:
    """Every try's log of every task instance of the run, as the api-server / webserver serves it.

    3.3 answers JSON (structured lines); 2.10 the text a user reads in the UI (``Accept: text/plain``), the
    task's log followed by its trigger's.
    """
    base = f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances"
    logs: dict[str, list[str]] = {}
    for ti in api.call("GET", f"{base}?limit=200", expect=200)["task_instances"]:
        for attempt in range(1, ti["try_number"] + 1):  # 0 tries (upstream_failed, skipped): no log
            path = f"{base}/{ti['task_id']}/logs/{attempt}?map_index={ti['map_index']}&full_content=true"
            if major == 3:
                lines = log_lines(api.call("GET", path, expect=200).get("content"))
            else:
                lines = api.text(path).splitlines()
            name = f"{dag_id}.{ti['task_id']}" + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
            logs[f"{name} try {attempt}"] = lines
    return logs


def log_lines(content: Any) -> list[str]:
    """3.3's JSON log answer as lines of text (each structured line as its JSON)."""
    lines = content.splitlines() if isinstance(content, str) else content or []
    return [line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines]


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
        f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task_id}"
        f"/xcomEntries/return_value?map_index={map_index}&deserialize=true"
    )
    return xcom_value(api.call("GET", path, expect=200)["value"])


def xcom_value(value: Any) -> Any:
    """An XCom value as the REST API gives it: 3.3 as JSON (or JSON text), 2.10 as the value's ``str()``."""
    if not isinstance(value, str) or value[:1] not in "[{":
        return value
    try:
        return json.loads(value)
    except ValueError:
        return ast.literal_eval(value)


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


Result = tuple[str, bool, str]


@dataclass
class Report:
    """What one deployment's run found: checks, timings, every task's states."""

    line: Line
    results: list[Result] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    history: dict[tuple[str, str, int], list[str]] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def failed(self) -> int:
        return sum(1 for _, ok, _ in self.results if not ok)


def set_up(line: Line, env: dict[str, str], admin_password: str, log: Path) -> dict[str, Any]:
    """``db migrate``, the 2.10 admin user, the warehouse example's documented set-up; returns its data."""
    airflow(line, ["db", "migrate"], env, log)
    if line.major == 2:
        airflow(line, admin_user_command(admin_password), env, log)
    # The warehouse example's documented set-up, as a user runs it (the DAG's docstring).
    with open(log, "a", encoding="utf-8") as out:
        subprocess.run(
            [str(line.bin_dir / "python"), str(EXAMPLES / "expertsender_sample_data.py")],
            env=env,
            stdout=out,
            stderr=out,
            check=True,
        )
    from expertsender_sample_data import make_sample_data

    data = make_sample_data(DEFAULT_FOLDER)  # the same files again, to know the counts
    for command in setup_commands(data):
        airflow(line, command, env, log)
    return data


def wait_until_parsed(api: Api, line: Line, processes: Processes) -> list[str]:
    """Every example DAG parsed (3.3: by the dag-processor; 2.10: by the scheduler); returns their ids."""
    dag_ids = sorted(path.stem for path in EXAMPLES.glob("example_*.py"))

    def parsed() -> bool:
        errors = api.call("GET", "/importErrors", expect=200)
        if errors["total_entries"]:
            raise SystemExit(f"e2e: import errors: {json.dumps(errors['import_errors'])[:2000]}")
        found = api.call("GET", "/dags?dag_id_pattern=example_expertsender%25&limit=100", expect=200)
        return sorted(d["dag_id"] for d in found["dags"]) == dag_ids

    parser = "dag-processor" if line.major == 3 else "scheduler"
    wait_for(f"the {parser} to parse {len(dag_ids)} example DAGs", parsed, 180, processes)
    return dag_ids


def check_connection(api: Api, line: Line, emulator_url: str, api_key: str) -> list[Result]:
    """The connection, stored in the metadata DB through the REST API, then tested the way the docs say."""
    connection = {
        "connection_id": "expertsender_default",
        "conn_type": "expertsender",
        "host": emulator_url,
        "password": api_key,
    }
    api.call("POST", "/connections", connection, expect=201 if line.major == 3 else 200)
    stored = api.call("GET", "/connections/expertsender_default", expect=200)
    tested = api.call("POST", "/connections/test", connection, expect=200)
    wrong = api.call("POST", "/connections/test", {**connection, "password": "wrong-key"}, expect=200)
    return [
        (
            "connection: stored in the metadata DB; the API does not return the key",
            api_key not in json.dumps(stored),
            f"password field: {stored.get('password')!r}",
        ),
        ("connection test (REST): accepted", tested.get("status") is True, str(tested.get("message"))),
        (
            "connection test (REST): wrong key rejected",
            wrong.get("status") is False and "rejected" in str(wrong.get("message")),
            str(wrong.get("message")),
        ),
    ]


def trigger_body(major: int) -> dict[str, Any]:
    """A manual run's body: 3.3 requires ``logical_date`` (null: none); 2.10 sets it to now when absent."""
    return {"logical_date": None, "conf": {}} if major == 3 else {"conf": {}}


def sensor_checks(
    history: dict[tuple[str, str, int], list[str]], restarted: list[tuple[str, str, int]]
) -> list[Result]:
    deferred = sorted(
        f"{d}.{t}"
        for (d, t, _), states in history.items()
        if "deferred" in states and (d, t) in DEFERRABLE_SENSORS
    )
    after_restart = {f"{d}.{t}": history.get((d, t, m), []) for d, t, m in restarted}
    return [
        (
            "a deferrable sensor went through DEFERRED in the triggerer",
            bool(deferred),
            ", ".join(deferred) or "none deferred",
        ),
        (
            "a sensor deferred when the triggerer was restarted (SIGTERM, new process) still succeeded",
            bool(after_restart) and all(states[-1:] == ["success"] for states in after_restart.values()),
            "; ".join(f"{name}: {' -> '.join(states)}" for name, states in after_restart.items())
            or "no sensor deferred",
        ),
    ]


#: The example scheduled on the Assets the other examples update (data-aware scheduling).
ASSETS_DAG = "example_expertsender_assets"


def scheduled_runs(dag_runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs the scheduler created because an Asset (a Dataset on 2.10) was updated."""
    return [r for r in dag_runs if r.get("run_type") in ("asset_triggered", "dataset_triggered")]


def asset_checks(api: Api, processes: Processes, timeout: float = 120) -> list[Result]:
    """The DAG scheduled on the customers and orders Assets ran, by the scheduler, after the writes landed."""
    found: list[dict[str, Any]] = []

    def finished() -> bool:
        found[:] = scheduled_runs(api.call("GET", f"/dags/{ASSETS_DAG}/dagRuns")["dag_runs"])
        return any(r.get("state") in TERMINAL for r in found)

    try:
        wait_for(f"a run of {ASSETS_DAG} scheduled by an Asset update", finished, timeout, processes)
    except Exception as err:  # reported as the failed check below
        say(f"{type(err).__name__}: {err}")
    states = [r.get("state") for r in found]
    return [
        (
            f"{ASSETS_DAG} was run by the scheduler after customers or orders landed (data-aware scheduling)",
            "success" in states,
            ", ".join(f"{r.get('run_type')} {r.get('state')}" for r in found) or "no Asset-triggered run",
        )
    ]


def log_checks(
    api: Api, line: Line, runs: dict[str, str], api_key: str, emulator_url: str, logs: Path
) -> list[Result]:
    """The logs the UI serves and the processes' own logs: no API key, no customer e-mail (but documented)."""
    served: dict[str, list[str]] = {}
    for dag_id, run_id in runs.items():
        served.update(served_logs(api, line.major, dag_id, run_id))
    sensors = tuple(f"{d}.{t} " for d, t in DEFERRABLE_SENSORS)
    trigger_logs = sorted(
        name
        for name, lines in served.items()
        if name.startswith(sensors) and any("TriggerEvent<" in text for text in lines)
    )
    key_leaks = sorted(name for name, lines in served.items() if any(api_key in text for text in lines))
    emails = run_emails(emulator_url, DEFAULT_FOLDER)
    leaks, documented = personal_data(served, emails)
    process_leaks = sorted(
        p.name
        for p in logs.glob("*.log")
        if p.name != "emulator.log" and api_key in p.read_text(encoding="utf-8", errors="replace")
    )
    server = "api-server" if line.major == 3 else "webserver"
    return [
        (
            f"served logs: {len(served)} task logs read, with the trigger's lines in the sensors' logs",
            bool(trigger_logs),
            ", ".join(trigger_logs) or "no trigger lines found",
        ),
        ("served logs: no API key", not key_leaks, ", ".join(key_leaks) or "none"),
        (
            f"served logs: none of the run's {len(emails)} customer e-mail addresses (but as documented)",
            not leaks,
            "; ".join(leaks) or f"none; documented: {'; '.join(documented) or 'none'}",
        ),
        (
            f"process logs ({server}, scheduler, worker, triggerer...): no API key",
            not process_leaks,
            ", ".join(process_leaks) or "none",
        ),
    ]


def run_deployment(line: Line) -> Report:
    """One deployment from an empty database to its checks; every process stopped and the database dropped."""
    started = time.monotonic()
    report = Report(line)
    results, timings = report.results, report.timings
    logs = HOME / "logs" / line.name
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    api_key = "e2e-" + secrets.token_hex(16)
    web_port = free_port()
    env = airflow_env(line, web_port)
    admin_password = env.pop("E2E_ADMIN_PASSWORD")
    processes = Processes(logs)
    created_db = False
    say(f"== {line.label} ({line.bin_dir.parent.name}) ==")
    try:
        _pg(f"CREATE DATABASE {line.db}")
        created_db = True
        _flush_redis(line.redis_db)
        say(
            f"metadata DB {line.db} on {PG}, Celery broker redis://127.0.0.1:6379/{line.redis_db}; "
            f"logs in {logs}"
        )
        emulator_url = start_emulator(processes, api_key, env)
        say(f"emulator on {emulator_url} (visibility delay {VISIBILITY_DELAY_S} s)")

        t0 = time.monotonic()
        data = set_up(line, env, admin_password, logs / "setup.log")
        timings["db migrate + set-up"] = time.monotonic() - t0

        t0 = time.monotonic()
        start_deployment(line, processes, env, web_port)
        api = Api(f"http://127.0.0.1:{web_port}", line.api)
        health = "/monitor/health" if line.major == 3 else "/health"
        server = "api-server" if line.major == 3 else "webserver"
        wait_for(f"the {server}", lambda: api.call("GET", health), 180, processes)
        if line.major == 3:
            api.login("admin", admin_password)
        else:
            api.basic_auth("admin", admin_password)
        wait_for(
            "the scheduler, triggerer (and dag-processor) to be healthy",
            lambda: is_healthy(api.call("GET", health), line.major),
            180,
            processes,
        )
        dag_ids = wait_until_parsed(api, line, processes)
        timings["deployment start (until every DAG is parsed)"] = time.monotonic() - t0
        if line.major == 3:
            link_aliases(line, env, logs / "setup.log")

        results += check_connection(api, line, emulator_url, api_key)

        t0 = time.monotonic()
        runs: dict[str, str] = {}
        for dag_id in dag_ids:
            run = api.call("POST", f"/dags/{dag_id}/dagRuns", trigger_body(line.major), expect=200)
            runs[dag_id] = run["dag_run_id"]
        say(f"triggered {len(runs)} DAG runs through the REST API; following their task instances")
        # A triggerer restart while a sensor is deferred: the new triggerer must pick the trigger up again.
        restarted: list[tuple[str, str, int]] = []

        def restart_triggerer(dag_id: str, task_id: str, state: str) -> None:
            if state == "deferred" and (dag_id, task_id) in DEFERRABLE_SENSORS and not restarted:
                restarted.append((dag_id, task_id, -1))
                processes.stop("triggerer")
                processes.start("triggerer-restarted", [str(line.bin_dir / "airflow"), "triggerer"], env)
                say(f"restarted the triggerer while {dag_id}.{task_id} was deferred")

        report.history, run_states = follow_runs(api, runs, processes, restart_triggerer)
        timings["DAG runs (all in parallel)"] = time.monotonic() - t0
        for dag_id in dag_ids:
            results.append((f"run {dag_id}", run_states[dag_id] == "success", run_states[dag_id]))
        results += sensor_checks(report.history, restarted)
        results += asset_checks(api, processes)
        results += check_emulator(emulator_url, api, runs, data)
        results += log_checks(api, line, runs, api_key, emulator_url, logs)
    except Exception as err:  # reported as a failed check; clean-up follows
        results.append(("deployment ran to the end", False, f"{type(err).__name__}: {err}"))
    finally:
        t0 = time.monotonic()
        processes.stop_all()
        if created_db:
            try:
                _pg(f"DROP DATABASE IF EXISTS {line.db} WITH (FORCE)")
            except Exception as err:
                results.append(("database dropped", False, str(err)))
        try:
            _flush_redis(line.redis_db)
        except Exception as err:
            results.append(("Redis DB flushed", False, str(err)))
        timings["stop + clean-up"] = time.monotonic() - t0
    report.wall_s = time.monotonic() - started
    return report


def task_state_lines(history: dict[tuple[str, str, int], list[str]]) -> list[str]:
    """One line per task instance, ``dag.task[index]: state -> ...``; a mapped task's placeholder left out."""
    mapped = {(d, t) for d, t, m in history if m >= 0}
    shown = []
    for (dag_id, task_id, map_index), states in sorted(history.items()):
        if map_index < 0 and (dag_id, task_id) in mapped:
            continue  # the placeholder of a mapped task, replaced by its expanded instances
        index = f"[{map_index}]" if map_index >= 0 else ""
        shown.append(f"{dag_id}.{task_id}{index}: {' -> '.join(states)}")
    return shown


def print_report(report: Report) -> None:
    label = report.line.label
    print()
    say(f"{label}: task states seen (polled every second through the REST API):")
    for text in task_state_lines(report.history):
        print(f"  {text}")
    print()
    for name, seconds in report.timings.items():
        say(f"{label}: {name}: {seconds:.0f} s")
    say(f"{label}: total: {report.wall_s:.0f} s")
    print()
    for name, ok, detail in report.results:
        print(
            f"  {'PASS' if ok else 'FAIL'}  [{report.line.name}] {name}" + (f"  ({detail})" if detail else "")
        )
    if report.failed:
        say(f"{label}: process logs are in {HOME / 'logs' / report.line.name}")
    print(f"e2e: {label}: {len(report.results) - report.failed} passed, {report.failed} failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--airflow", nargs="+", type=int, choices=(3, 2), default=[3, 2], help="the deployments, in order"
    )
    args = parser.parse_args(argv)
    stop_on_sigterm()
    started = time.monotonic()
    reports = []
    for line in lines_from_env(args.airflow):
        reports.append(run_deployment(line))
        print_report(reports[-1])
    print()
    for report in reports:
        state = "OK" if not report.failed else "FAILED"
        say(
            f"{state:6} {report.line.label} CeleryExecutor: {report.wall_s:.0f} s, "
            f"{len(report.results) - report.failed} checks passed, {report.failed} failed"
        )
    failed = sum(report.failed for report in reports)
    passed = sum(len(report.results) for report in reports) - failed
    print(f"e2e: {passed} passed, {failed} failed in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
