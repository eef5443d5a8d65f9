"""ExpertSenderGetCustomerOperator and ExpertSenderUpsertCustomersOperator against the emulator."""

from __future__ import annotations

import pytest

from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderConfigError,
    ExpertSenderNotFoundError,
)
from airflow_provider_expertsender.operators.customers import (
    ExpertSenderGetCustomerOperator,
    ExpertSenderUpsertCustomersOperator,
)

from .conftest import JANE

IDENTIFIER_OF = {"customer_id": "id", "email": "email", "phone": "phone", "crm_id": "crmId"}


@pytest.mark.parametrize("kind", list(IDENTIFIER_OF))
def test_get_customer_by_each_identifier(kind, customers, not_found_style, run_op):
    jane = customers["jane"]
    op = ExpertSenderGetCustomerOperator(task_id="get", **{kind: jane[IDENTIFIER_OF[kind]]})
    got = run_op(op)
    assert got["id"] == jane["id"]
    assert got["email"] == JANE["email"]
    assert got["firstName"] == "Jane"


def test_get_customer_with_templated_identifier(customers, run_op):
    op = ExpertSenderGetCustomerOperator(task_id="get", crm_id="{{ params.crm }}")
    assert run_op(op, params={"crm": "CRM-43"})["email"] == "john.roe@example.com"


def test_identifier_is_url_encoded_not_a_path(orders, run_op):
    # Unencoded, /customers/crmId/../../orders/id/ORD-1 would normalize to an existing order.
    op = ExpertSenderGetCustomerOperator(task_id="get", crm_id="../../orders/id/ORD-1")
    with pytest.raises(ExpertSenderNotFoundError):
        run_op(op)


def test_missing_customer_fails_with_not_found(emulator, not_found_style, run_op):
    op = ExpertSenderGetCustomerOperator(task_id="get", email="nobody@example.com")
    with pytest.raises(ExpertSenderNotFoundError):
        run_op(op)


def test_missing_customer_with_missing_ok_returns_none(emulator, not_found_style, run_op):
    op = ExpertSenderGetCustomerOperator(task_id="get", email="nobody@example.com", missing_ok=True)
    assert run_op(op) is None


def test_missing_ok_does_not_hide_other_errors(emulator, run_op):
    emulator.switches.forbidden_resources = ("customers",)
    op = ExpertSenderGetCustomerOperator(task_id="get", email="nobody@example.com", missing_ok=True)
    with pytest.raises(ExpertSenderAuthError):
        run_op(op)


class TestInvalidIdentifiers:
    def test_none_fails_when_the_dag_is_parsed(self):
        with pytest.raises(ExpertSenderConfigError, match="exactly one of customer_id, email, phone, crm_id"):
            ExpertSenderGetCustomerOperator(task_id="get")

    def test_two_literals_fail_when_the_dag_is_parsed(self):
        with pytest.raises(ExpertSenderConfigError, match=r"got 2 \(email, crm_id\)"):
            ExpertSenderGetCustomerOperator(task_id="get", email=JANE["email"], crm_id="CRM-42")

    def test_two_rendered_values_fail_before_any_request(self, emulator, store, run_op):
        op = ExpertSenderGetCustomerOperator(
            task_id="get", email="{{ params.email }}", phone="{{ params.phone }}"
        )
        with pytest.raises(ExpertSenderConfigError, match=r"got 2 \(email, phone\)") as info:
            run_op(op, params={"email": JANE["email"], "phone": JANE["phone"]})
        assert JANE["email"] not in str(info.value)
        assert store.request_count == 0

    def test_a_template_rendering_empty_counts_as_not_given(self, customers, run_op):
        op = ExpertSenderGetCustomerOperator(
            task_id="get", email="{{ params.email }}", phone="{{ params.phone }}"
        )
        got = run_op(op, params={"email": "", "phone": JANE["phone"]})
        assert got["email"] == JANE["email"]

    def test_all_rendering_empty_fails_before_any_request(self, emulator, store, run_op):
        op = ExpertSenderGetCustomerOperator(task_id="get", email="{{ params.email }}")
        with pytest.raises(ExpertSenderConfigError, match="none was given"):
            run_op(op, params={"email": ""})
        assert store.request_count == 0


def test_upsert_customers_writes_and_returns_the_summary(emulator, store, run_op):
    op = ExpertSenderUpsertCustomersOperator(
        task_id="upsert",
        customers=[
            {"email": "{{ params.email }}", "first_name": "Jane"},
            {"email": "john.roe@example.com", "firstName": "John"},
        ],
    )
    summary = run_op(op, params={"email": JANE["email"]})
    assert summary["resource"] == "customers"
    assert summary["mode"] == "AddOrUpdate"
    assert summary["match_by"] == "Email"
    assert summary["accepted"] == 2
    assert summary["rejected"] == 0
    assert {c["email"]: c.get("firstName") for c in store.customers} == {
        JANE["email"]: "Jane",
        "john.roe@example.com": "John",
    }


def test_upsert_customers_update_mode_by_crm_id(customers, store, run_op):
    op = ExpertSenderUpsertCustomersOperator(
        task_id="upsert",
        customers=[{"crm_id": "CRM-42", "last_name": "Doe"}],
        mode="Update",
        match_by="CrmId",
    )
    summary = run_op(op)
    assert (summary["mode"], summary["match_by"], summary["accepted"]) == ("Update", "CrmId", 1)
    assert store.customer(crm_id="CRM-42")["lastName"] == "Doe"
    assert store.customer(crm_id="CRM-42")["firstName"] == "Jane"


def test_upsert_customers_templates_its_records_param():
    assert "customers" in ExpertSenderUpsertCustomersOperator.template_fields
    assert ExpertSenderUpsertCustomersOperator.template_fields_renderers["customers"] == "json"
    op = ExpertSenderUpsertCustomersOperator(task_id="upsert", customers=[{"email": JANE["email"]}])
    assert op.customers == [{"email": JANE["email"]}]
