"""POST /orders, GET order (both paths), PUT /orders/status, DELETE /orders/{id}."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import assert_problem, errors_of, order


def test_add_or_replace_creates_then_replaces_whole_order(api, emulator):
    assert api.orders(order(orderAttributes=[{"name": "coupon_code", "value": "X"}])).status_code == 201
    assert api.orders(order(products=[{"id": "SKU-1"}], totalValue=5)).status_code == 201
    stored = emulator.store(emulator.api_key).orders
    assert len(stored) == 1
    assert stored[0]["products"] == [{"id": "SKU-1"}]
    assert stored[0]["orderAttributes"] is None  # replaced, not merged
    counters = emulator.store(emulator.api_key).counters
    assert (counters["orders_created"], counters["orders_replaced"]) == (1, 1)


@pytest.mark.parametrize("path", ["/orders/id/o-1", "/orders/o-1", "/ORDERS/ID/o-1"])
def test_get_order_on_both_paths(api, path):
    api.orders(order(status="Completed"))
    body = api.get(path).json()
    assert body["status"] == 0
    assert body["data"]["id"] == "o-1"
    assert body["data"]["status"] == "completed"
    assert body["data"]["isDeleted"] is False
    assert body["data"]["products"][0]["id"] == "SKU-77"


def test_order_ids_are_url_decoded(api):
    api.orders(order("A/1 #2"))
    assert api.get("/orders/id/A%2F1%20%232").json()["data"]["id"] == "A/1 #2"


def test_add_rejects_existing_and_replace_rejects_missing(api, emulator):
    assert api.orders(order("a"), mode="Add").status_code == 201
    assert list(errors_of(api.orders(order("b"), order("a"), mode="Add"))) == ["data[1].id"]
    assert list(errors_of(api.orders(order("zzz"), mode="Replace"))) == ["data[0].id"]
    assert api.orders(order("a", totalValue=1), mode="Replace").status_code == 201
    assert [o["id"] for o in emulator.store(emulator.api_key).orders] == ["a"]


def test_orders_are_keyed_by_website_and_id(api, emulator):
    api.orders(order("same", websiteId=1, totalValue=1), order("same", websiteId=2, totalValue=2))
    api.orders(order("same", totalValue=3))
    assert len(emulator.store(emulator.api_key).orders) == 3
    assert api.get("/orders/id/same?websiteId=2").json()["data"]["totalValue"] == 2
    assert api.get("/orders/id/same").json()["data"]["totalValue"] == 3  # the one without a website wins
    assert "websiteId" in errors_of(api.get("/orders/id/same?websiteId=x"))


def test_without_website_the_latest_created_order_is_found(api):
    api.orders(order("w", websiteId=1, totalValue=1), order("w", websiteId=2, totalValue=2))
    assert api.get("/orders/w").json()["data"]["websiteId"] == 2


def test_missing_order(api):
    assert_problem(api.get("/orders/id/nope"), 404, "OrderNotFound")


def test_status_change(api, emulator):
    api.orders(order())
    response = api.put("/orders/status", {"orderId": "o-1", "orderStatus": "COMPLETED"})
    assert response.status_code == 200
    assert response.json() == {"status": 0}
    assert api.get("/orders/o-1").json()["data"]["status"] == "completed"
    assert emulator.store(emulator.api_key).counters["status_changes"] == 1


def test_status_change_with_website(api):
    api.orders(order(websiteId=7))
    assert (
        api.put("/orders/status", {"orderId": "o-1", "orderStatus": "paid", "websiteId": 8}).status_code
        == 404
    )
    assert (
        api.put("/orders/status", {"orderId": "o-1", "orderStatus": "paid", "websiteId": 7}).status_code
        == 200
    )
    # Without websiteId the only order with that id is found.
    assert api.put("/orders/status", {"orderId": "o-1", "orderStatus": "canceled"}).status_code == 200


@pytest.mark.parametrize(("switch", "status"), [(404, 404), (400, 400)])
def test_status_change_of_unknown_order(api, emulator, switch, status):
    emulator.switches.missing_order_status = switch
    response = api.put("/orders/status", {"orderId": "ghost", "orderStatus": "paid"})
    body = assert_problem(response, status)
    if status == 400:
        assert "orderId" in body["errors"]


def test_delete_is_a_soft_delete_and_repeatable(api, emulator):
    api.orders(order())
    response = api.delete("/orders/o-1")
    assert response.status_code == 200
    assert response.json() == {"status": 0}
    assert api.get("/orders/id/o-1").json()["data"]["isDeleted"] is True
    assert api.delete("/orders/o-1").status_code == 200
    assert emulator.store(emulator.api_key).counters["orders_deleted"] == 1
    # Add on a deleted order still finds it; AddOrReplace revives it.
    assert "data[0].id" in errors_of(api.orders(order(), mode="Add"))
    api.orders(order())
    assert api.get("/orders/id/o-1").json()["data"]["isDeleted"] is False


def test_delete_with_204_switch(api, emulator):
    emulator.switches.delete_status = 204
    api.orders(order())
    response = api.delete("/orders/o-1")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize("switch", [404, 400])
def test_delete_unknown_order(api, emulator, switch):
    emulator.switches.missing_order_status = switch
    assert_problem(api.delete("/orders/ghost"), switch)


@pytest.mark.parametrize(("accept", "status"), [(True, 201), (False, 400)])
def test_cancelled_spelling_switch(api, emulator, accept, status):
    emulator.switches.accept_cancelled = accept
    assert api.orders(order(status="Cancelled")).status_code == status
    if accept:
        assert emulator.store(emulator.api_key).orders[0]["status"] == "canceled"
        assert api.put("/orders/status", {"orderId": "o-1", "orderStatus": "cancelled"}).status_code == 200


def test_total_value_required_switch(api, emulator):
    assert api.orders(order(totalValue=None)).status_code == 201
    emulator.switches.order_total_required = True
    assert "data[0].totalValue" in errors_of(api.orders(order(totalValue=None)))


def test_strict_match_by_requires_the_default_identifier_on_orders(api, emulator):
    emulator.switches.strict_match_by = True
    assert "data[0].customer.email" in errors_of(api.orders(order(customer={"crmId": "1"})))
    assert api.orders(order(customer={"email": "a@example.com"})).status_code == 201
