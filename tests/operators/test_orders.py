"""The order operators against the emulator, in every variant of the API's unknowns that concerns them."""

from __future__ import annotations

import pytest

from airflow_provider_expertsender.emulator.pytest_plugin import connection_json
from airflow_provider_expertsender.exceptions import (
    ExpertSenderConfigError,
    ExpertSenderError,
    ExpertSenderInvalidRecordError,
    ExpertSenderNotFoundError,
)
from airflow_provider_expertsender.operators.orders import (
    ExpertSenderDeleteOrderOperator,
    ExpertSenderGetOrderOperator,
    ExpertSenderRegisterOrdersOperator,
    ExpertSenderUpdateOrderStatusOperator,
)

from .conftest import JANE, order_record


# [UNK] GET order path: the emulator serves /orders/id/{id}, /orders/{id}, or both. The provider calls
# the path the connection extra order_get_path picks (endpoints.ORDER_GET_PATHS; default "id").
@pytest.fixture(params=[("id",), ("bare",), ("id", "bare")], ids=lambda p: "+".join(p))
def order_get_paths(request, emulator, expertsender_conn, monkeypatch):
    emulator.switches.order_get_paths = request.param
    if request.param == ("bare",):
        monkeypatch.setenv(
            "AIRFLOW_CONN_EXPERTSENDER_DEFAULT", connection_json(emulator, order_get_path="bare")
        )
    return request.param


@pytest.fixture(params=[("id",), ("bare",), ("id", "bare")], ids=lambda p: "+".join(p))
def any_order_get_paths(request, emulator):
    """The path variants, for tests whose outcome must not depend on them."""
    emulator.switches.order_get_paths = request.param
    return request.param


@pytest.fixture(params=[404, 400])
def missing_order_status(request, emulator):
    """[UNK] what PUT /orders/status and DELETE /orders/{id} answer for an unknown order."""
    emulator.switches.missing_order_status = request.param
    return request.param


class TestRegister:
    def test_registers_orders_and_returns_the_summary(self, customers, store, run_op):
        op = ExpertSenderRegisterOrdersOperator(
            task_id="register",
            orders=[
                {
                    "id": "{{ params.order_id }}",
                    "date": "2025-11-03T14:05:00Z",
                    "customer": {"email": JANE["email"]},
                    "products": [{"id": "SKU-1", "name": "Sock", "price": 4.5, "quantity": 2}],
                    "total_value": 9,
                }
            ],
        )
        summary = run_op(op, params={"order_id": "ORD-9"})
        assert (summary["resource"], summary["mode"], summary["accepted"]) == ("orders", "AddOrReplace", 1)
        assert store.order("ORD-9")["customer"]["email"] == JANE["email"]

    def test_templates_its_records_param(self):
        assert "orders" in ExpertSenderRegisterOrdersOperator.template_fields
        assert ExpertSenderRegisterOrdersOperator.template_fields_renderers["orders"] == "json"

    @pytest.mark.parametrize("mode", ["Add", "Replace", "AddOrReplace"])
    def test_modes(self, mode, orders, store, run_op):
        order_id = "ORD-NEW" if mode == "Add" else "ORD-1"
        op = ExpertSenderRegisterOrdersOperator(
            task_id="register", mode=mode, orders=[order_record(order_id, currency="EUR")]
        )
        summary = run_op(op)
        assert (summary["mode"], summary["accepted"]) == (mode, 1)
        assert store.order(order_id)["currency"] == "EUR"


class TestGet:
    def test_returns_the_order(self, orders, order_get_paths, not_found_style, run_op):
        op = ExpertSenderGetOrderOperator(task_id="get", order_id="ORD-2")
        order = run_op(op)
        assert order["id"] == "ORD-2"
        assert order["customer"]["email"] == JANE["email"]
        assert order["products"][0]["id"] == "SKU-77"

    def test_templated_and_integer_order_ids(self, customers, hook, run_op):
        hook.register_orders([order_record("100042")], mode="AddOrReplace")
        assert run_op(ExpertSenderGetOrderOperator(task_id="get", order_id=100042))["id"] == "100042"
        op = ExpertSenderGetOrderOperator(task_id="get", order_id="{{ params.o }}")
        assert run_op(op, params={"o": "100042"})["id"] == "100042"

    def test_missing_order_fails_with_not_found(self, emulator, any_order_get_paths, not_found_style, run_op):
        with pytest.raises(ExpertSenderNotFoundError):
            run_op(ExpertSenderGetOrderOperator(task_id="get", order_id="NOPE"))

    def test_missing_order_with_missing_ok_returns_none(self, emulator, not_found_style, run_op):
        assert run_op(ExpertSenderGetOrderOperator(task_id="get", order_id="NOPE", missing_ok=True)) is None

    @pytest.mark.parametrize("order_id", [None, ""])
    def test_missing_order_id_fails_when_parsed(self, order_id):
        with pytest.raises(ExpertSenderConfigError, match="needs order_id"):
            ExpertSenderGetOrderOperator(task_id="get", order_id=order_id)

    def test_order_id_rendering_empty_fails_before_any_request(self, emulator, store, run_op):
        with pytest.raises(ExpertSenderConfigError, match="needs order_id"):
            run_op(ExpertSenderGetOrderOperator(task_id="get", order_id="{{ params.o }}"), params={"o": ""})
        assert store.request_count == 0


class TestUpdateStatus:
    @pytest.mark.parametrize(
        ("given", "sent"), [("paid", "paid"), ("Completed", "completed"), ("CANCELED", "canceled")]
    )
    def test_changes_the_status(self, given, sent, orders, store, run_op):
        result = run_op(
            ExpertSenderUpdateOrderStatusOperator(task_id="status", order_id="ORD-1", status=given)
        )
        assert result == {"order_id": "ORD-1", "status": sent, "website_id": None}
        assert store.order("ORD-1")["status"] == sent
        assert store.order("ORD-2")["status"] == "placed"

    def test_templated_status_and_website_id(self, customers, hook, store, run_op):
        hook.register_orders([order_record("W-1", websiteId=7)], mode="AddOrReplace")
        op = ExpertSenderUpdateOrderStatusOperator(
            task_id="status", order_id="{{ params.o }}", status="{{ params.s }}", website_id="{{ params.w }}"
        )
        result = run_op(op, params={"o": "W-1", "s": "Paid", "w": "7"})
        assert result == {"order_id": "W-1", "status": "paid", "website_id": 7}
        assert store.order("W-1", website_id=7)["status"] == "paid"

    def test_unknown_status_fails_when_parsed(self):
        with pytest.raises(ExpertSenderConfigError, match="placed, paid, completed, canceled"):
            ExpertSenderUpdateOrderStatusOperator(task_id="status", order_id="ORD-1", status="shipped")

    def test_rendered_unknown_status_fails_before_any_request(self, emulator, store, run_op):
        op = ExpertSenderUpdateOrderStatusOperator(
            task_id="status", order_id="ORD-1", status="{{ params.s }}"
        )
        with pytest.raises(ExpertSenderConfigError, match="order status 'shipped'"):
            run_op(op, params={"s": "shipped"})
        assert store.request_count == 0

    def test_invalid_website_id_fails_before_any_request(self, emulator, store, run_op):
        op = ExpertSenderUpdateOrderStatusOperator(
            task_id="s", order_id="ORD-1", status="paid", website_id="x"
        )
        with pytest.raises(ExpertSenderInvalidRecordError, match="websiteId"):
            run_op(op)
        assert store.request_count == 0

    def test_unknown_order_fails(self, emulator, missing_order_status, store, run_op):
        op = ExpertSenderUpdateOrderStatusOperator(task_id="status", order_id="NOPE", status="paid")
        with pytest.raises(ExpertSenderError) as info:
            run_op(op)
        assert info.value.status == missing_order_status
        if missing_order_status == 404:
            assert isinstance(info.value, ExpertSenderNotFoundError)
        assert store.orders == []


class TestDelete:
    @pytest.mark.parametrize("delete_status", [200, 204])
    def test_deletes_the_order(self, delete_status, emulator, orders, store, run_op):
        emulator.switches.delete_status = delete_status
        result = run_op(ExpertSenderDeleteOrderOperator(task_id="delete", order_id="ORD-3"))
        assert result == {"order_id": "ORD-3", "deleted": True}
        assert store.order("ORD-3").get("isDeleted") is True
        assert not store.order("ORD-1").get("isDeleted")

    def test_unknown_order_fails(self, emulator, missing_order_status, run_op):
        with pytest.raises(ExpertSenderError) as info:
            run_op(ExpertSenderDeleteOrderOperator(task_id="delete", order_id="NOPE"))
        assert info.value.status == missing_order_status

    def test_unknown_order_with_missing_ok(self, emulator, run_op):
        emulator.switches.missing_order_status = 404
        result = run_op(ExpertSenderDeleteOrderOperator(task_id="delete", order_id="NOPE", missing_ok=True))
        assert result == {"order_id": "NOPE", "deleted": False}

    def test_missing_order_id_fails_when_parsed(self):
        with pytest.raises(ExpertSenderConfigError, match="ExpertSenderDeleteOrderOperator needs order_id"):
            ExpertSenderDeleteOrderOperator(task_id="delete", order_id=None)
