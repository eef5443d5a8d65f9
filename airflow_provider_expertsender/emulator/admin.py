"""The admin API (off unless ``admin=True`` / ``--admin``): drive a running emulator from another process.

No API key is needed, so it is served only on a loopback address (the CLI and :class:`Emulator` refuse
``admin`` with another host) and only to requests a browser cannot be tricked into sending: the ``Host`` must
be a loopback name with the emulator's port (a DNS-rebinding page names its own host), an ``Origin``, when
sent, must be the emulator's own, and a body must not be one of the types a cross-site form may post without
asking (``text/plain``, form data). Endpoints (JSON in, JSON out):

- ``GET /_emulator/switches``; ``PATCH`` (or ``PUT``) ``/_emulator/switches`` with ``{"name": value, ...}``
- ``POST /_emulator/fail-next`` ``{"n": 1, "status": 503, "retry_after": null, "html": false}``
- ``POST /_emulator/drop-next`` ``{"n": 1, "after_apply": false}``
- ``POST /_emulator/reset``
- ``GET /_emulator/requests``: the request log
- ``GET /_emulator/units``: counters per business unit (by position of its key, never the key)
- ``GET /_emulator/units/{n}/customers`` | ``orders`` | ``events``: a business unit's data
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

from airflow_provider_expertsender.emulator import app

if TYPE_CHECKING:
    from collections.abc import Mapping
    from email.message import Message

    from airflow_provider_expertsender.emulator.server import Emulator

PREFIX = "/_emulator/"


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_SIMPLE_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a name) is the loopback interface."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(emu: Emulator, headers: Mapping[str, str] | Message, path: str) -> app.Response | None:
    """The 403 for a request a web page may have sent on the user's behalf, else None."""
    port = emu.port
    hosts = {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]", f"[{emu.host}]", emu.host)}
    host = (headers.get("Host") or "").strip().lower()
    if host not in hosts:
        return app.problem(403, "AdminForbidden", "The admin API answers only to a loopback Host.", path)
    origin = headers.get("Origin")
    if origin is not None and origin.strip().lower() not in {f"http://{h}" for h in hosts}:
        return app.problem(403, "AdminForbidden", "The admin API answers no cross-site request.", path)
    kind = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if kind in _SIMPLE_TYPES:
        return app.problem(415, "AdminUnsupportedMediaType", "Send the body as application/json.", path)
    return None


def handle(emu: Emulator, method: str, path: str, query: str, body: bytes) -> app.Response:
    """Serve one admin request (already past :func:`refusal`)."""
    parts = path[len(PREFIX) :].strip("/").split("/")
    try:
        payload = json.loads(body) if body.strip() else {}
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
        return _route(emu, method, parts, payload)
    except (ValueError, TypeError, AttributeError) as err:
        return app.problem(400, "AdminBadRequest", str(err), path)
    except RecursionError:
        return app.problem(400, "AdminBadRequest", "The JSON is nested too deeply.", path)


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
