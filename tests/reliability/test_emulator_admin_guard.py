"""The emulator's admin API (no key) cannot be driven by a web page or from another machine (issue 11, 14).

A page the user opens may POST ``text/plain`` to ``http://127.0.0.1:<port>`` without a CORS preflight, or
resolve its own host name to 127.0.0.1 (DNS rebinding) and then read the answers. Each check below answered
200 before the fix.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from airflow_provider_expertsender.emulator import Emulator


@pytest.fixture
def admin_emulator() -> Iterator[Emulator]:
    with Emulator(["k"], admin=True) as emu:
        yield emu


def _customers(emu: Emulator) -> int:
    return len(emu.store("k").customers)


def test_a_cross_site_text_plain_post_cannot_reset_the_emulator(admin_emulator: Emulator) -> None:
    requests.post(
        f"{admin_emulator.url}/customers",
        json={"mode": "AddOrUpdate", "matchBy": "Email", "data": [{"email": "a@example.com"}]},
        headers={"x-api-key": "k"},
        timeout=5,
    ).raise_for_status()
    answer = requests.post(
        f"{admin_emulator.url}/_emulator/reset",
        data='{"n": 1}',
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://attacker.example"},
        timeout=5,
    )
    assert answer.status_code in (403, 415)
    assert _customers(admin_emulator) == 1
    form = requests.post(
        f"{admin_emulator.url}/_emulator/fail-next", data={"n": "5"}, timeout=5
    )  # form data, no Origin (an old browser or a plain <form>)
    assert form.status_code == 415
    assert admin_emulator.switches.pending_faults == 0


def test_a_rebound_host_name_cannot_read_the_admin_api(admin_emulator: Emulator) -> None:
    answer = requests.get(
        f"{admin_emulator.url}/_emulator/units/0/customers",
        headers={"Host": f"rebind.attacker.example:{admin_emulator.port}"},
        timeout=5,
    )
    assert answer.status_code == 403


def test_another_origin_cannot_use_the_admin_api(admin_emulator: Emulator) -> None:
    url = f"{admin_emulator.url}/_emulator/switches"
    evil = requests.patch(url, json={"hang": True}, headers={"Origin": "http://attacker.example"}, timeout=5)
    assert evil.status_code == 403
    assert admin_emulator.switches.hang is False
    own = requests.patch(url, json={"latency_ms": 1}, headers={"Origin": admin_emulator.url}, timeout=5)
    assert own.status_code == 200
    assert requests.get(url, timeout=5).status_code == 200  # a local script sends neither Origin nor a form


def test_admin_on_a_non_loopback_host_is_refused() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Emulator(["k"], admin=True, host="0.0.0.0")
    cli = [sys.executable, "-m", "airflow_provider_expertsender.emulator", "--api-key", "k", "--admin"]
    done = subprocess.run(
        [*cli, "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "--admin needs a loopback --host" in done.stderr
