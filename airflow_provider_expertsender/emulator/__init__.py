"""A local ExpertSender ECDP: every endpoint of the API, over real HTTP, standard library only.

Use it in tests and in CI instead of a real business unit::

    from airflow_provider_expertsender.emulator import Emulator, Switches

    with Emulator(api_keys=["test-key"]) as emu:
        emu.url                              # http://127.0.0.1:<free port>
        emu.switches.item_error_style = "errors_2xx"
        emu.store("test-key").customers     # what the "platform" received

or from a shell: ``python -m airflow_provider_expertsender.emulator --port 8080 --api-key KEY``.
Importing this package does not import Airflow.
"""

from __future__ import annotations

from airflow_provider_expertsender.emulator.seeds import Seeds, SettingItem
from airflow_provider_expertsender.emulator.server import Emulator, RequestRecord
from airflow_provider_expertsender.emulator.store import BusinessUnit
from airflow_provider_expertsender.emulator.switches import Fault, Switches

__all__ = ["BusinessUnit", "Emulator", "Fault", "RequestRecord", "Seeds", "SettingItem", "Switches"]
