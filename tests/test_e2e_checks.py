"""The log checks of ``make e2e`` (scripts/e2e.py), on lines of the shapes a real run served.

The deployment itself runs in ``make e2e`` only; these tests pin what its personal-data check calls a leak.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _e2e():
    spec = importlib.util.spec_from_file_location("_e2e_script", ROOT / "scripts" / "e2e.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_e2e_script"] = module
    spec.loader.exec_module(module)
    return module


EMAILS = {"ada@example.com", "alan@example.com", "customer0042@example.com"}


def test_a_returned_value_naming_a_customer_is_a_leak():
    e2e = _e2e()
    line = '{"event": "Done. Returned value was: [{\'email\': \'ada@example.com\'}]", "level": "info"}'
    leaks, documented = e2e.personal_data({"dag.task try 1": [line]}, EMAILS)
    assert leaks == ["dag.task try 1: ada@example.com"]
    assert documented == []


def test_identifiers_of_invalid_and_rejected_records_are_documented_not_leaks():
    e2e = _e2e()
    lines = [
        '{"event": "Invalid customer record #1 (alan@example.com): points: not a number"}',
        '{"event": "Rejected by the API: customer #10 (customer0042@example.com): not an option"}',
    ]
    leaks, documented = e2e.personal_data({"dag.upsert try 1": lines}, EMAILS)
    assert leaks == []
    assert [entry.split(" (")[0] for entry in documented] == [
        "dag.upsert try 1: alan@example.com",
        "dag.upsert try 1: customer0042@example.com",
    ]


def test_a_trigger_event_carrying_a_record_is_a_leak():
    """The triggerer logs every event, and the UI serves that log: an event carries no record."""
    e2e = _e2e()
    line = (
        '{"event": "trigger ... completed", "result": "TriggerEvent<{\'status\': \'success\', '
        "'record': {'email': 'ada@example.com'}}>\"}"
    )
    leaks, documented = e2e.personal_data({"dag.wait_for_customer try 1": [line]}, EMAILS)
    assert leaks == ["dag.wait_for_customer try 1: ada@example.com"]
    assert documented == []


def test_addresses_that_are_not_the_runs_are_not_counted():
    e2e = _e2e()
    leaks, _ = e2e.personal_data({"t try 1": ["mail admin@localhost or ops@elsewhere.org"]}, EMAILS)
    assert leaks == []


def test_the_example_folder_helper_gives_the_warehouse_set_up_commands():
    e2e = _e2e()
    commands = e2e.setup_commands({"warehouse_path": "/x/warehouse.db"})
    assert commands[0][:2] == ["pools", "set"]
    assert commands[1][:3] == ["connections", "add", "expertsender_example_warehouse"]
