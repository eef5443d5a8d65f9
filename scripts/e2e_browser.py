"""The ExpertSender connection form in a real browser: Airflow 3.3's UI and Airflow 2.10's webserver.

Started by ``scripts/e2e.sh`` (``make e2e``) with the interpreter of ``.venvs/e2e`` (playwright's Python
package, driving Debian's Chromium through its executable path: no browser download). For each Airflow line
it starts the emulator, a fresh Airflow home (sqlite) and the line's UI server (3.3: ``airflow api-server``,
with ``[core] test_connection = Enabled``; 2.10: ``airflow webserver`` from ``.venvs/e2e-af2``), then, as a
user:

1. logs in, opens the new-connection form, picks "ExpertSender";
2. checks the labels (the key field is "API key" and masked, the host field "Base URL"), that login, schema
   and port are hidden, and that the extras have their own fields;
3. fills in a connection to the emulator and saves it;
4. tests it and reads the answer: 2.10's form has a Test button; 3.3's dialog has none and its list-row Test
   icon cannot test a stored password (it sends ``***``, docs/connection.md), so on 3.3 the test goes through
   ``POST /api/v2/connections/test``, the REST call the UI's API documents, from the logged-in page;
5. the same with a wrong key, and reads the rejection.

Screenshots go to ``docs/img/`` (``docs/connection.md`` shows them). Chromium is installed with apt-get when
it is missing; where that is impossible the test prints why and skips (exit 0). Every process it starts is
stopped by its PID (``.e2e/pids`` for ``e2e.sh``'s trap, too).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import HOME, ROOT, Processes, free_port, say, stop_on_sigterm, wait_for

CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
#: The launch flags of a closed network (docs of this machine kind): no background requests to Google.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / "docs" / "img"
AF2_BIN = ROOT / ".venvs" / "e2e-af2" / "bin"
AF3_BIN = Path(sys.executable).parent
EXPECTED_EXTRAS = ("connect_timeout", "read_timeout", "max_retries", "batch_size")


def ensure_chromium() -> str | None:
    """None when Chromium is there (installed now if needed); otherwise why it cannot be."""
    if CHROMIUM.exists():
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return f"{CHROMIUM} is missing and apt-get cannot install it here (needs apt-get, as root)"
    say("installing Debian's chromium (apt-get)")
    log = HOME / "logs" / "apt-get.log"
    with open(log, "w", encoding="utf-8") as out:
        for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            if subprocess.run(argv, stdout=out, stderr=out, env=env, check=False).returncode != 0:
                return f"`{' '.join(argv)}` failed (see {log})"
    return None if CHROMIUM.exists() else f"apt-get installed chromium but {CHROMIUM} is not there"


def start_emulator(processes: Processes, api_key: str) -> str:
    port = free_port()
    argv = [str(AF3_BIN / "python"), "-m", "airflow_provider_expertsender.emulator", "--port", str(port)]
    processes.start(
        "browser-emulator", [*argv, "--quiet"], {**os.environ, "EXPERTSENDER_EMULATOR_API_KEYS": api_key}
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        request = urllib.request.Request(f"{url}/customerattributes", headers={"x-api-key": api_key})
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200

    wait_for("the emulator", up, 30, processes, 0.2)
    return url


def airflow_env(home: Path, port: int, line: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "PYTHONWARNINGS": "ignore",
        }
    )
    if line == "3":
        env.update(
            {
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            }
        )
    else:
        env.update({"AIRFLOW__WEBSERVER__SECRET_KEY": secrets.token_urlsafe(24)})
    return env


def start_ui(processes: Processes, line: str, password: str) -> str:
    """A fresh Airflow home of the line ("3" or "2"), migrated, and its UI server; returns its URL."""
    home = HOME / f"browser-af{line}"
    shutil.rmtree(home, ignore_errors=True)
    (home / "dags").mkdir(parents=True)
    port = free_port()
    env = airflow_env(home, port, line)
    bin_dir = AF3_BIN if line == "3" else AF2_BIN
    log = HOME / "logs" / f"browser-af{line}-setup.log"
    commands = [["db", "migrate"]]
    if line == "3":
        (home / "passwords.json").write_text(json.dumps({"admin": password}), encoding="utf-8")
        server = ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    else:
        commands.append(
            [
                *["users", "create", "--role", "Admin", "--username", "admin", "--password", password],
                *["--firstname", "E2E", "--lastname", "Admin", "--email", "admin@localhost"],
            ]
        )
        server = ["webserver", "--hostname", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "w", encoding="utf-8") as out:
        for command in commands:
            done = subprocess.run(
                [str(bin_dir / "airflow"), *command], env=env, stdout=out, stderr=out, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"`airflow {command[0]} {command[1]}` failed; see {log}")
    processes.start(f"browser-af{line}-server", [str(bin_dir / "airflow"), *server], env)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        path = "/api/v2/monitor/health" if line == "3" else "/health"
        with urllib.request.urlopen(url + path, timeout=5) as response:
            return response.status == 200

    wait_for(f"the Airflow {line} UI server", up, 180, processes)
    return url


def main() -> int:
    stop_on_sigterm()
    reason = ensure_chromium()
    if reason:
        print(f"browser: SKIPPED: {reason}")
        return 0
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        print(f"browser: SKIPPED: playwright is not installed in {sys.executable} ({err})")
        return 0
    (HOME / "logs").mkdir(parents=True, exist_ok=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    processes = Processes(HOME / "logs")
    results: list[tuple[str, bool, str]] = []
    api_key = "browser-" + secrets.token_hex(12)
    password = secrets.token_urlsafe(12)
    lines = [line for line in ("3", "2") if line == "3" or (AF2_BIN / "airflow").exists()]
    try:
        emulator = start_emulator(processes, api_key)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            try:
                for line in lines:
                    t0 = time.monotonic()
                    url = start_ui(processes, line, password)
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    try:
                        check = ui_af3 if line == "3" else ui_af2
                        results += check(page, url, password, emulator, api_key)
                    except Exception as err:  # reported as a failed check, with a screenshot
                        page.screenshot(
                            path=str(HOME / "logs" / f"browser-af{line}-failure.png"), full_page=True
                        )
                        results.append(
                            (f"Airflow {line}: the form test ran to the end", False, f"{err}"[:600])
                        )
                    finally:
                        page.close()
                    say(f"Airflow {line} UI: {time.monotonic() - t0:.0f} s")
            finally:
                browser.close()
    except Exception as err:
        results.append(("browser test ran to the end", False, f"{type(err).__name__}: {err}"[:600]))
    finally:
        processes.stop_all()
    if "2" not in lines:
        results.append(
            ("Airflow 2.10 webserver", False, f"{AF2_BIN / 'airflow'} missing: run scripts/e2e.sh")
        )
    for name, ok, detail in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""))
    failed = sum(1 for _, ok, _ in results if not ok)
    say(f"browser test took {time.monotonic() - started:.0f} s; screenshots in {SHOTS.relative_to(ROOT)}")
    print(f"browser: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def ui_af3(page: Any, url: str, password: str, emulator: str, api_key: str) -> list[tuple[str, bool, str]]:
    """Airflow 3.3's React UI: the Add Connection dialog, then the test through the REST API."""
    results: list[tuple[str, bool, str]] = []
    page.goto(url + "/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_url(lambda current: "/auth/login" not in current, timeout=30_000)
    for conn_id, key in (("expertsender_emulator", api_key), ("expertsender_wrong_key", "wrong-key")):
        page.goto(url + "/connections")
        page.get_by_role("button", name="Add Connection").click()
        dialog = page.get_by_role("dialog")
        dialog.locator("input[name=connection_id]").fill(conn_id)
        dialog.get_by_role("combobox").first.click()
        page.keyboard.type("ExpertSender")
        page.get_by_role("option", name="ExpertSender", exact=True).click()
        host = dialog.locator("input[name=host]")
        key_field = dialog.locator("input[name=password]")
        host.wait_for()
        if conn_id == "expertsender_emulator":
            results += _form_checks_af3(page, dialog)
        host.fill(emulator)
        key_field.fill(key)
        if conn_id == "expertsender_emulator":
            page.screenshot(path=str(SHOTS / "connection-form-af3.png"))
            dialog.get_by_role("button", name="Extra Fields", exact=True).click()
            dialog.locator("input[name=element_read_timeout]").fill("30")
        dialog.get_by_role("button", name="Save").click()
        page.get_by_role("dialog").wait_for(state="hidden", timeout=30_000)
        page.get_by_text(conn_id, exact=True).first.wait_for(timeout=30_000)
    results.append(("Airflow 3.3: both connections saved through the dialog and listed", True, ""))
    # The row's Test icon (the first button of the row): what a user sees when pressing it.
    page.get_by_role("row").filter(has_text="expertsender_emulator").get_by_role("button").first.click()
    toast = page.locator("[data-scope=toast][data-part=root]").filter(has_text="Test Connection").first
    toast.wait_for(timeout=30_000)
    toast_text = " ".join(toast.inner_text().split())
    page.screenshot(path=str(SHOTS / "connection-row-test-af3.png"))
    results.append(
        (
            "Airflow 3.3: the list row's Test icon answers (it cannot test a stored key)",
            bool(toast_text),
            toast_text[:200],
        )
    )

    # The dialog has no Test button, and the list row's Test sends the stored password as "***" (the
    # server answers 400): the test goes through the REST call, from the logged-in page's session.
    token = page.request.post(url + "/auth/token", data={"username": "admin", "password": password}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for conn_id, key, expect_ok in (
        ("expertsender_emulator", api_key, True),
        ("expertsender_wrong_key", "wrong-key", False),
    ):
        stored = page.request.get(f"{url}/api/v2/connections/{conn_id}", headers=headers).json()
        body = {k: stored.get(k) for k in ("connection_id", "conn_type", "host", "extra")} | {"password": key}
        answer = page.request.post(f"{url}/api/v2/connections/test", data=body, headers=headers).json()
        ok = (
            answer.get("status") is expect_ok
            and ("accepted" if expect_ok else "rejected") in answer["message"]
        )
        what = "the emulator accepts the key" if expect_ok else "a wrong key is rejected"
        results.append((f"Airflow 3.3: POST /api/v2/connections/test: {what}", ok, answer.get("message", "")))
        extra = json.loads(stored.get("extra") or "{}")
        if expect_ok:
            results.append(
                (
                    "Airflow 3.3: the form saved its number fields as extras",
                    extra.get("read_timeout") == 30,
                    str(extra),
                )
            )
    return results


def _form_checks_af3(page: Any, dialog: Any) -> list[tuple[str, bool, str]]:
    results = []
    key_label = dialog.locator("label[for]").filter(has_text="API key")
    key_type = dialog.locator("input[name=password]").get_attribute("type")
    results.append(
        (
            "Airflow 3.3: the key field is labelled 'API key' and masked",
            key_label.count() == 1 and key_type == "password",
            f"input type={key_type}",
        )
    )
    host_label = dialog.locator("label[for]").filter(has_text="Base URL").count()
    results.append(("Airflow 3.3: the host field is labelled 'Base URL'", host_label == 1, ""))
    hidden = [n for n in ("login", "schema", "port") if dialog.locator(f"input[name={n}]").count()]
    results.append(
        ("Airflow 3.3: login, schema and port are hidden", not hidden, f"shown: {hidden}" if hidden else "")
    )
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    found = {
        n: dialog.locator(f"input[name=element_{n}]").input_value()
        for n in EXPECTED_EXTRAS
        if dialog.locator(f"input[name=element_{n}]").count()
    }
    results.append(
        (
            "Airflow 3.3: the extras have their own fields, with the defaults",
            found == {"connect_timeout": "10", "read_timeout": "60", "max_retries": "5", "batch_size": "100"},
            json.dumps(found),
        )
    )
    page.screenshot(path=str(SHOTS / "connection-form-af3-extras.png"))
    dialog.get_by_role("button", name="Standard Fields", exact=True).click()  # one section open at a time
    return results


def ui_af2(page: Any, url: str, password: str, emulator: str, api_key: str) -> list[tuple[str, bool, str]]:
    """Airflow 2.10's webserver: the classic form, its Test button, Save."""
    results: list[tuple[str, bool, str]] = []
    page.goto(url + "/login/")
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill(password)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(lambda current: "/login" not in current, timeout=30_000)
    for conn_id, key, expect_ok in (
        ("expertsender_emulator", api_key, True),
        ("expertsender_wrong_key", "wrong-key", False),
    ):
        page.goto(url + "/connection/add")
        page.locator("#conn_type").select_option("expertsender")
        page.locator("#conn_id").fill(conn_id)
        if expect_ok:
            results += _form_checks_af2(page)
        page.locator("#host").fill(emulator)
        page.locator("#password").fill(key)
        if expect_ok:
            page.locator("#extra__expertsender__read_timeout").fill("30")
        page.locator("#test-connection").click()
        alert = page.locator(".alert").filter(has_text="API key").first  # the hook's message names the key
        alert.wait_for(timeout=60_000)
        message = " ".join(alert.inner_text().split())
        shot = "connection-test-af2.png" if expect_ok else "connection-test-wrong-key-af2.png"
        page.evaluate("window.scrollTo(0, 0)")  # the answer shows above the form
        page.screenshot(path=str(SHOTS / shot))
        word = "accepted" if expect_ok else "rejected"
        what = "Test: the emulator accepts the key" if expect_ok else "Test: a wrong key is rejected"
        results.append((f"Airflow 2.10: {what}", word in message, message[:300]))
        page.locator("form button[type=submit]").filter(has_text="Save").click()
        page.get_by_text("Added Row").wait_for(timeout=30_000)
    page.goto(url + "/connection/list/")
    listed = all(
        page.get_by_text(c, exact=True).count() for c in ("expertsender_emulator", "expertsender_wrong_key")
    )
    results.append(("Airflow 2.10: both connections saved and listed", listed, ""))
    return results


def _form_checks_af2(page: Any) -> list[tuple[str, bool, str]]:
    results = []
    key_label = " ".join(page.locator("label[for=password]").inner_text().split())
    key_type = page.locator("#password").get_attribute("type")
    results.append(
        (
            "Airflow 2.10: the key field is labelled 'API key' and masked",
            key_label.startswith("API key") and key_type == "password",
            f"{key_label!r}, type={key_type}",
        )
    )
    host_label = " ".join(page.locator("label[for=host]").inner_text().split())
    results.append(
        ("Airflow 2.10: the host field is labelled 'Base URL'", host_label.startswith("Base URL"), "")
    )
    shown = [n for n in ("login", "schema", "port") if page.locator(f"#{n}").is_visible()]
    results.append(
        ("Airflow 2.10: login, schema and port are hidden", not shown, f"shown: {shown}" if shown else "")
    )
    fields = [n for n in EXPECTED_EXTRAS if page.locator(f"#extra__expertsender__{n}").is_visible()]
    results.append(
        ("Airflow 2.10: the extras have their own fields", fields == list(EXPECTED_EXTRAS), str(fields))
    )
    page.screenshot(path=str(SHOTS / "connection-form-af2.png"), full_page=True)
    return results


if __name__ == "__main__":
    sys.exit(main())
