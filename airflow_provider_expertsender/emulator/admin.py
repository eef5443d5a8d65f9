"""The admin API (off unless ``admin=True`` / ``--admin``): drive a running emulator from another process.

No API key is needed, so only enable it on a loopback address. Endpoints (JSON in, JSON out):

- ``GET /_emulator/switches``; ``PATCH`` (or ``PUT``) ``/_emulator/switches`` with ``{"name": value, ...}``
- ``POST /_emulator/fail-next`` ``{"n": 1, "status": 503, "retry_after": null, "html": false}``
- ``POST /_emulator/drop-next`` ``{"n": 1, "after_apply": false}``
- ``POST /_emulator/reset``
- ``GET /_emulator/requests``: the request log
- ``GET /_emulator/units``: counters per business unit (by position of its key, never the key)
- ``GET /_emulator/units/{n}/customers`` | ``orders`` | ``events``: a business unit's data
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.emulator import app

if TYPE_CHECKING:
    from airflow_provider_expertsender.emulator.server import Emulator

PREFIX = "/_emulator/"


def handle(emu: Emulator, method: str, path: str, query: str, body: bytes) -> app.Response:
    """Serve one admin request."""
    parts = path[len(PREFIX) :].strip("/").split("/")
    try:
        payload = json.loads(body) if body.strip() else {}
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
        return _route(emu, method, parts, payload)
    except (ValueError, TypeError, AttributeError) as err:
        return app.problem(400, "AdminBadRequest", str(err), path)


def _route(emu: Emulator, method: str, parts: list[str], payload: dict[str, Any]) -> app.Response:
    head = parts[0]
    if head == "switches" and method == "GET":
        return app.Response(200, emu.switches.as_dict())
    if head == "switches" and method in ("PATCH", "PUT"):
        emu.switches.update(**payload)
        return app.Response(200, emu.switches.as_dict())
    if head == "fail-next" and method == "POST":
        emu.switches.fail_next(**payload)
        return app.Response(200, {"pending_faults": emu.switches.pending_faults})
    if head == "drop-next" and method == "POST":
        emu.switches.drop_next(**payload)
        return app.Response(200, {"pending_faults": emu.switches.pending_faults})
    if head == "reset" and method == "POST":
        emu.reset()
        return app.Response(200, {"status": "reset"})
    if head == "requests" and method == "GET":
        return app.Response(200, [record._asdict() for record in emu.requests])
    if head == "units" and method == "GET":
        units = [emu.store(key) for key in emu.api_keys]
        if len(parts) == 1:
            return app.Response(200, [{"unit": i, "counters": u.counters} for i, u in enumerate(units)])
        if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(units):
            unit = units[int(parts[1])]
            if parts[2] in ("customers", "orders", "events"):
                return app.Response(200, getattr(unit, parts[2]))
    return app.problem(404, "ResourceNotFound", "No such admin endpoint.", PREFIX + "/".join(parts))
