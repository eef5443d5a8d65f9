"""Rows to records: renames, prefixes, JSON columns, product lines, row_mapper."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError
from airflow_provider_expertsender.models import customer_payload, order_payload
from airflow_provider_expertsender.sync.mapping import RowError, RowMapper, load_row_mapper


def mapped(resource: str, rows: list[Any], **kwargs: Any) -> list[Any]:
    return list(RowMapper(resource, **kwargs).map(rows))


def shout(row: dict[str, Any]) -> dict[str, Any]:
    """A row_mapper importable by path (used below)."""
    return {"email": row["mail"].lower(), "attr_city": row["town"].upper()}


def test_rows_in_api_shape_pass_unchanged_and_uncopied():
    row = {"email": "a@example.com", "firstName": "A", "customAttributes": [{"name": "city", "value": "X"}]}
    [record] = mapped("customers", [row])
    assert record is row


def test_field_map_renames():
    [record] = mapped("customers", [{"mail": "a@example.com", "fname": "A"}], field_map={"mail": "email"})
    assert record == {"email": "a@example.com", "fname": "A"}


def test_customer_attribute_and_consent_columns():
    row = {
        "email": "a@example.com",
        "attr_city": "Warsaw",
        "attr.points": 12,
        "attr_notes": None,
        "consent_1": True,
        "consent.2": "no",
        "consent_3": None,
    }
    [record] = mapped("customers", [row])
    assert record == {
        "email": "a@example.com",
        "customAttributes": [{"name": "city", "value": "Warsaw"}, {"name": "points", "value": 12}],
        "consentsData": {"consents": [{"id": 1, "value": "True"}, {"id": 2, "value": "False"}]},
    }
    customer_payload(record, match_by="Email")  # the models accept the shape


def test_prefix_columns_extend_existing_lists():
    row = {
        "email": "a@example.com",
        "custom_attributes": '[{"name": "notes", "value": "hi"}]',
        "attr_city": "Oslo",
        "consents_data": {"force": True, "consents": [{"id": 3, "value": "True"}]},
        "consent_1": "AwaitingConfirmation",
    }
    [record] = mapped("customers", [row])
    assert record["customAttributes"] == [{"name": "notes", "value": "hi"}, {"name": "city", "value": "Oslo"}]
    assert record["consentsData"] == {
        "force": True,
        "consents": [{"id": 3, "value": "True"}, {"id": 1, "value": "AwaitingConfirmation"}],
    }
    assert "custom_attributes" not in record
    assert "consents_data" not in record


def test_dotted_keys_nest():
    [record] = mapped("customers", [{"email": "a@example.com", "consentsData.force": False}])
    assert record == {"email": "a@example.com", "consentsData": {"force": False}}


def test_order_columns():
    row = {
        "order_id": "O-1",
        "date": "2025-11-03T14:05:00Z",
        "customer_email": "a@example.com",
        "customer.crm_id": "C1",
        "attr_coupon_code": "XMAS",
        "order_attr.gift_wrap": True,
        "products": '[{"id": "SKU-1", "name": "Shoe", "price": 10, "quantity": 1}]',
    }
    [record] = mapped("orders", [row])
    assert record == {
        "id": "O-1",
        "date": "2025-11-03T14:05:00Z",
        "customer": {"email": "a@example.com", "crm_id": "C1"},
        "orderAttributes": [{"name": "coupon_code", "value": "XMAS"}, {"name": "gift_wrap", "value": True}],
        "products": [{"id": "SKU-1", "name": "Shoe", "price": 10, "quantity": 1}],
    }
    order_payload(record)


def test_an_id_column_wins_over_order_id():
    [record] = mapped("orders", [{"id": "A", "order_id": "B"}])
    assert record["id"] == "A"


def test_one_row_per_product_line_grouped_by_consecutive_order_id():
    def line(order_id: str, sku: str | None, **extra: Any) -> dict[str, Any]:
        return {
            "id": order_id,
            "date": "2025-11-03T14:05:00Z",
            "customer_email": "a@example.com",
            "product_id": sku,
            "product_name": sku and f"name {sku}",
            "product_price": sku and 5,
            "product_quantity": sku and 1,
            "product_attr_size": extra.get("size"),
        }

    rows = [
        line("O-1", "A", size="42"),
        line("O-1", "B"),
        line("O-2", None),
        line("O-3", "C"),
        line("O-1", "D"),
    ]
    mapper = RowMapper("orders")
    records = list(mapper.map(rows))

    assert [r["id"] for r in records] == ["O-1", "O-2", "O-3", "O-1"]  # consecutive rows only
    assert mapper.split_orders == 1  # O-1 came back: the input is not sorted (warned once)
    assert records[0]["products"] == [
        {
            "id": "A",
            "name": "name A",
            "price": 5,
            "quantity": 1,
            "productAttributes": [{"name": "size", "value": "42"}],
        },
        {"id": "B", "name": "name B", "price": 5, "quantity": 1},
    ]
    assert records[1]["products"] == []  # an order without lines (LEFT JOIN)
    assert records[0]["customer"] == {"email": "a@example.com"}
    for record in records:
        assert not any(key.startswith("product_") for key in record)
    order_payload(records[0])


def test_product_lines_of_the_same_id_on_two_websites_are_two_orders():
    rows = [
        {"id": "O-1", "website_id": 1, "product_id": "A"},
        {"id": "O-1", "website_id": 2, "product_id": "B"},
    ]
    mapper = RowMapper("orders")
    assert [len(r["products"]) for r in mapper.map(rows)] == [1, 1]
    assert mapper.split_orders == 0


def test_unsorted_product_lines_are_warned_about_once(caplog):
    rows = [{"id": f"O-{i % 3}", "product_id": str(i)} for i in range(9)]
    mapper = RowMapper("orders")
    with caplog.at_level("WARNING"):
        assert len(list(mapper.map(rows))) == 9
    assert mapper.split_orders == 6
    assert caplog.text.count("not consecutive") == 1


def test_row_mapper_runs_after_field_map_and_before_the_automatic_rules():
    def mapper(row: dict[str, Any]) -> dict[str, Any]:
        return {"email": row["email"].lower(), "attr_city": row["town"]}

    [record] = mapped(
        "customers",
        [{"MAIL": "A@Example.com", "town": "Oslo"}],
        field_map={"MAIL": "email"},
        row_mapper=mapper,
    )
    assert record == {"email": "a@example.com", "customAttributes": [{"name": "city", "value": "Oslo"}]}


def test_row_mapper_by_import_path():
    [record] = mapped("customers", [{"mail": "A@X.COM", "town": "oslo"}], row_mapper=f"{__name__}:shout")
    assert record == {"email": "a@x.com", "customAttributes": [{"name": "city", "value": "OSLO"}]}


def test_row_mapper_failures_become_row_errors():
    def mapper(row: dict[str, Any]) -> Any:
        if row["n"] == 1:
            raise ValueError("bad n")
        if row["n"] == 2:
            return None
        return {"email": f"u{row['n']}@example.com"}

    records = mapped("customers", [{"n": 0}, {"n": 1}, {"n": 2}], row_mapper=mapper)
    assert records[0] == {"email": "u0@example.com"}
    assert records[1] == RowError("row_mapper raised ValueError: bad n", {"n": 1})
    assert isinstance(records[2], RowError)
    assert "returned NoneType" in records[2].reason


def test_row_errors_from_sources_pass_through():
    error = RowError("file.jsonl line 3: not valid JSON")
    assert mapped("orders", [error]) == [error]
    assert mapped("customers", [error], row_mapper=lambda row: row) == [error]


@pytest.mark.parametrize("value", ["nocolon", "a:b:c", 42, "no_such_module_xyz:f", f"{__name__}:missing"])
def test_bad_row_mapper(value):
    with pytest.raises(ExpertSenderConfigError):
        load_row_mapper(value)


def test_field_map_must_be_a_mapping():
    with pytest.raises(ExpertSenderConfigError):
        RowMapper("customers", field_map=["email"])  # type: ignore[arg-type]
