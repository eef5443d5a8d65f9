"""``python -m airflow_provider_expertsender.emulator``: flags, seed file, admin API, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import requests

from airflow_provider_expertsender.emulator.__main__ import build_parser, main
from tests.emulator.conftest import Api, errors_of, order

MODULE = "airflow_provider_expertsender.emulator"


@pytest.fixture
def run_cli():
    procs: list[subprocess.Popen] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", MODULE, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        procs.append(proc)
        line = proc.stdout.readline()
        assert "listening on" in line, proc.stderr.read() if proc.poll() is not None else line
        url = next(word for word in line.split() if word.startswith("http://"))
        return proc, url

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_cli_serves_with_switch_flags(run_cli):
    proc, url = run_cli(
        "--api-key",
        "k1",
        "--api-key",
        "k2",
        "--item-error-style",
        "errors_2xx",
        "--max-batch-size",
        "2",
        "--accept-cancelled",
        "--order-get-paths",
        "bare",
        "--not-found-style",
        "200_null",
    )
    client = Api(url, "k1")
    response = client.customers({"email": "ok@example.com"}, {"email": "bad"})
    assert response.status_code == 201
    assert response.json()["errors"][0].startswith("data[1].email")
    assert "data" in errors_of(
        client.customers({"email": "a@example.com"}, {"email": "b@example.com"}, {"email": "c@example.com"})
    )
    assert client.orders(order(status="Cancelled")).status_code == 201
    assert client.get("/orders/o-1").status_code == 200
    assert client.get("/orders/id/o-1").status_code == 404
    assert client.get("/customers/id/99").json() == {"status": 0, "data": None}
    assert Api(url, "k2").get("/customers/email/ok%40example.com").json()["data"] is None
    assert Api(url, "nope").get("/customerconsents").status_code == 401
    assert requests.get(f"{url}/_emulator/switches", timeout=5).status_code == 401  # admin API off
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    log = proc.stderr.read()
    assert "POST /customers -> 201 (2 items" in log
    assert "k1" not in log.replace("API key", "")
    assert "ok@example.com" not in log


def test_cli_keys_from_environment_and_quiet(run_cli):
    proc, url = run_cli("--quiet", env={"EXPERTSENDER_EMULATOR_API_KEYS": "env-a,env-b"})
    assert Api(url, "env-b").get("/customerconsents").status_code == 200
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    assert "/customerconsents" not in proc.stderr.read()


def test_cli_seed_file_and_admin_api(run_cli, tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"customerConsents": [{"id": 42, "name": "Only", "type": "Sms"}]}))
    _, url = run_cli("--api-key", "k", "--seed-file", str(seed), "--admin", "--quiet")
    client = Api(url, "k")
    assert client.get("/customerconsents").json()["data"] == [{"id": 42, "name": "Only", "type": "Sms"}]
    admin = f"{url}/_emulator"
    assert requests.get(f"{admin}/switches", timeout=5).json()["item_error_style"] == "reject_batch"
    patched = requests.patch(
        f"{admin}/switches", json={"item_error_style": "errors_2xx", "latency_ms": 1}, timeout=5
    )
    assert patched.json()["item_error_style"] == "errors_2xx"
    bad = requests.patch(f"{admin}/switches", json={"latency_ms": -5}, timeout=5)
    assert bad.status_code == 400
    assert "latency_ms" in bad.json()["detail"]
    assert requests.patch(f"{admin}/switches", json={"nope": 1}, timeout=5).status_code == 400
    assert requests.post(
        f"{admin}/fail-next", json={"n": 2, "status": 503, "retry_after": 1}, timeout=5
    ).json() == {"pending_faults": 2}
    assert [client.get("/customerconsents").status_code for _ in range(3)] == [503, 503, 200]
    requests.post(f"{admin}/drop-next", json={"after_apply": True}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        client.customers({"email": "dropped@example.com"})
    assert requests.get(f"{admin}/units/0/customers", timeout=5).json()[0]["email"] == "dropped@example.com"
    units = requests.get(f"{admin}/units", timeout=5).json()
    assert units[0]["counters"]["customers_created"] == 1
    log = requests.get(f"{admin}/requests", timeout=5).json()
    assert log[-1] == {**log[-1], "method": "POST", "path": "/customers", "status": None, "items": 1}
    assert requests.post(f"{admin}/reset", timeout=5).json() == {"status": "reset"}
    assert requests.get(f"{admin}/units/0/customers", timeout=5).json() == []
    assert requests.get(f"{admin}/switches", timeout=5).json()["item_error_style"] == "reject_batch"
    assert requests.get(f"{admin}/units/5/customers", timeout=5).status_code == 404
    assert requests.get(f"{admin}/nothing", timeout=5).status_code == 404
    assert requests.post(f"{admin}/fail-next", data="[1]", timeout=5).status_code == 400


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give at least one --api-key"),
        (["--api-key", "k", "--item-error-style", "partial"], "invalid choice"),
        (["--api-key", "k", "--error-rate", "2"], "error_rate must be between 0 and 1"),
        (["--api-key", "k", "--order-get-paths", "x"], "unknown value"),
        (["--api-key", "k", "--seed-file", "/nonexistent/seed.json"], "No such file"),
    ],
)
def test_cli_refuses_bad_arguments(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("EXPERTSENDER_EMULATOR_API_KEYS", raising=False)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_every_switch_has_a_flag():
    parser = build_parser()
    args = parser.parse_args(
        [
            "--max-batch-size",
            "none",
            "--rate-limit-per-second",
            "2.5",
            "--no-hang",
            "--forbidden-resources",
            "orders",
        ]
    )
    assert args.max_batch_size is None
    assert args.rate_limit_per_second == 2.5
    assert args.hang is False
    assert args.forbidden_resources == "orders"
    help_text = parser.format_help()
    from airflow_provider_expertsender.emulator.switches import switch_docs

    for doc in switch_docs():
        assert "--" + doc["name"].replace("_", "-") in help_text
