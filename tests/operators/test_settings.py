"""ExpertSenderListSettingsOperator against the emulator."""

from __future__ import annotations

import pytest

from airflow_provider_expertsender.emulator.seeds import SettingItem
from airflow_provider_expertsender.endpoints import SETTINGS_LISTS
from airflow_provider_expertsender.exceptions import ExpertSenderAuthError, ExpertSenderConfigError
from airflow_provider_expertsender.operators.settings import ExpertSenderListSettingsOperator


@pytest.mark.parametrize("setting", list(SETTINGS_LISTS))
def test_lists_each_setting(setting, emulator, store, run_op):
    items = run_op(ExpertSenderListSettingsOperator(task_id="settings", setting=setting))
    assert items == [item.public() for item in store.settings(setting)]
    assert items  # the emulator seeds every list


def test_empty_list(emulator, store, run_op):
    store.set_settings("order_attributes", [])
    assert run_op(ExpertSenderListSettingsOperator(task_id="s", setting="order_attributes")) == []


def test_reflects_the_business_unit(emulator, store, run_op):
    store.set_settings("consents", [SettingItem(11, "Loyalty club", "General")])
    items = run_op(ExpertSenderListSettingsOperator(task_id="s", setting="consents"))
    assert items == [{"id": 11, "name": "Loyalty club", "type": "General"}]


@pytest.mark.parametrize("spelling", ["Customer_Attributes", " customer-attributes ", "CUSTOMER_ATTRIBUTES"])
def test_forgiving_spellings(spelling, emulator, store, run_op):
    items = run_op(ExpertSenderListSettingsOperator(task_id="s", setting=spelling))
    assert [item["name"] for item in items] == [item.name for item in store.settings("customer_attributes")]


def test_unknown_setting_fails_when_parsed():
    with pytest.raises(ExpertSenderConfigError, match=r"Unknown setting 'attributes'\. Pass setting= one of"):
        ExpertSenderListSettingsOperator(task_id="s", setting="attributes")


def test_rendered_unknown_setting_fails_before_any_request(emulator, store, run_op):
    op = ExpertSenderListSettingsOperator(task_id="s", setting="{{ params.which }}")
    with pytest.raises(ExpertSenderConfigError, match="Unknown setting 'segments'"):
        run_op(op, params={"which": "segments"})
    assert store.request_count == 0


def test_templated_setting(emulator, store, run_op):
    op = ExpertSenderListSettingsOperator(task_id="s", setting="{{ params.which }}")
    items = run_op(op, params={"which": "product_attributes"})
    assert [item["name"] for item in items] == [item.name for item in store.settings("product_attributes")]


def test_forbidden_list_fails_with_an_auth_error(emulator, run_op):
    emulator.switches.forbidden_resources = ("customerconsents",)
    with pytest.raises(ExpertSenderAuthError) as info:
        run_op(ExpertSenderListSettingsOperator(task_id="s", setting="consents"))
    assert info.value.status == 403
