"""A local ExpertSender ECDP: every endpoint of the API, over real HTTP, standard library only.

Use it in tests and in CI instead of a real business unit::

    from airflow_provider_expertsender.emulator import Emulator, Switches

    with Emulator(api_keys=["test-key"]) as emu:
        emu.url                              # http://127.0.0.1:<free port>
        emu.switches.item_error_style = "errors_2xx"
        emu.store("test-key").customers     # what the "platform" received

or from a shell: ``python -m airflow_provider_expertsender.emulator --port 8080 --api-key KEY``.
Importing this package does not import Airflow, and imports the server only when one of the names below is
first used (the pytest plugin, loaded in every pytest run where the provider is installed, stays free).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_expertsender.emulator.seeds import Seeds, SettingItem
    from airflow_provider_expertsender.emulator.server import Emulator, RequestRecord
    from airflow_provider_expertsender.emulator.store import BusinessUnit
    from airflow_provider_expertsender.emulator.switches import Fault, Switches

__all__ = ["BusinessUnit", "Emulator", "Fault", "RequestRecord", "Seeds", "SettingItem", "Switches"]

_HOMES = {
    "BusinessUnit": "store",
    "Emulator": "server",
    "Fault": "switches",
    "RequestRecord": "server",
    "Seeds": "seeds",
    "SettingItem": "seeds",
    "Switches": "switches",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
