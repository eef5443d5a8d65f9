"""hooks/_responses.py: status and body -> typed exception; envelopes; per-item errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_expertsender.exceptions import (
    ExpertSenderAuthError,
    ExpertSenderError,
    ExpertSenderNotFoundError,
    ExpertSenderRateLimitError,
    ExpertSenderResponseError,
    ExpertSenderServerError,
    ExpertSenderTransportError,
    ExpertSenderValidationError,
)
from airflow_provider_expertsender.hooks._responses import (
    ItemError,
    RequestInfo,
    WriteResult,
    error_for_response,
    parse_item_errors,
    parse_success,
    unwrap_list,
    unwrap_optional,
    unwrap_record,
    write_result,
)

REQ = RequestInfo("GET", "/customers/email/{value}", "/customers/email/jane%40example.com")
HTML = b"<html><body><h1>502 Bad Gateway</h1><p>upstream jane@example.com</p></body></html>"


def problem(status: int, **extra) -> bytes:
    body = {"type": "t", "title": "Bad request", "status": status, "substatus": "CustomerInvalidModelState"}
    body.update(extra)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("status", "raw", "expected"),
    [
        (401, problem(401), ExpertSenderAuthError),
        (403, b"", ExpertSenderAuthError),
        (404, b"", ExpertSenderNotFoundError),
        (400, problem(400), ExpertSenderValidationError),
        (422, problem(422), ExpertSenderValidationError),
        (413, HTML, ExpertSenderValidationError),
        (429, b"", ExpertSenderRateLimitError),
        (500, problem(500), ExpertSenderServerError),
        (502, HTML, ExpertSenderServerError),
        (503, b"", ExpertSenderServerError),
        (301, b"", ExpertSenderResponseError),
        (405, HTML, ExpertSenderError),
    ],
)
def test_status_maps_to_its_exception_whatever_the_body(status, raw, expected):
    error = error_for_response(status, raw, {}, REQ)
    assert type(error) is expected
    assert (error.status, error.method, error.path) == (status, "GET", REQ.path)
    assert "GET /customers/email/{value}" in error.message
    # Neither the identifier in the path nor anything from a non-JSON body reaches the message.
    assert "jane" not in error.message
    assert "Bad Gateway" not in error.message


def test_auth_error_says_the_key_was_rejected():
    assert "the API key was rejected" in error_for_response(401, problem(401), {}, REQ).message


def test_html_error_page_says_so():
    error = error_for_response(502, HTML, {}, REQ)
    assert f"non-JSON body, {len(HTML)} bytes" in error.message
    assert error.maybe_applied is True
    assert "empty body" in error_for_response(503, b"  ", {}, REQ).message


def test_validation_error_keeps_problem_details_but_only_field_names_in_the_message():
    errors = {"data[0].email": ["'not-an-email' is not a valid e-mail"], "data[2].phone": ["too long"]}
    raw = problem(400, detail="One or more validation errors occurred.", errors=errors)
    error = error_for_response(400, raw, {}, REQ)
    assert isinstance(error, ExpertSenderValidationError)
    assert error.title == "Bad request"
    assert error.detail == "One or more validation errors occurred."
    assert error.substatus == "CustomerInvalidModelState"
    assert error.errors == errors
    assert "data[0].email, data[2].phone" in error.message
    assert "CustomerInvalidModelState" in error.message
    assert "not-an-email" not in error.message


def test_list_style_errors_give_field_names_only():
    raw = problem(400, errors=["data[3].email: 'x@' is invalid", "mode: unknown"])
    error = error_for_response(400, raw, {}, REQ)
    assert "fields: data[3].email, mode" in error.message
    assert "x@" not in error.message


def test_rate_limit_carries_retry_after():
    assert error_for_response(429, b"", {"Retry-After": "7"}, REQ).retry_after == 7.0
    dated = error_for_response(429, b"", {"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, REQ)
    assert dated.retry_after == 0.0
    assert error_for_response(429, b"", {}, REQ).retry_after is None


def test_redirect_names_the_target_host_only_and_says_it_is_not_followed():
    headers = {"Location": "https://evil.example/steal?email=jane@example.com"}
    error = error_for_response(302, b"", headers, REQ)
    assert "https://evil.example" in error.message
    assert "not followed" in error.message
    assert "steal" not in error.message
    assert "jane" not in error.message


def test_success_body_that_is_not_json_is_a_transport_error():
    with pytest.raises(ExpertSenderTransportError) as info:
        parse_success(200, HTML, REQ)
    assert info.value.maybe_applied is True
    assert info.value.status == 200
    assert parse_success(201, b"", REQ) is None


@pytest.mark.parametrize(
    "body", [{"status": 0, "data": {"email": "a@b.c"}}, {"email": "a@b.c"}], ids=["envelope", "bare"]
)
def test_unwrap_record(body):
    assert unwrap_record(body, REQ) == {"email": "a@b.c"}


@pytest.mark.parametrize("body", [{"status": 0, "data": None}, {"status": 0}, {"data": {}}])
def test_record_not_found_in_a_200(body):
    with pytest.raises(ExpertSenderNotFoundError):
        unwrap_record(body, REQ)


def test_unexpected_shapes_are_response_errors():
    with pytest.raises(ExpertSenderResponseError):
        unwrap_record({"data": [1, 2]}, REQ)
    with pytest.raises(ExpertSenderResponseError):
        unwrap_list({"data": {"id": 1}}, REQ)
    with pytest.raises(ExpertSenderResponseError):
        unwrap_list({"data": [1]}, REQ)
    with pytest.raises(ExpertSenderResponseError, match="empty body"):
        unwrap_record(None, REQ)
    with pytest.raises(ExpertSenderResponseError, match="empty body"):
        unwrap_list(None, REQ)


def test_unwrap_list_and_optional():
    assert unwrap_list({"status": 0, "data": [{"id": 1}]}, REQ) == [{"id": 1}]
    assert unwrap_list({"status": 0, "data": []}, REQ) == []
    assert unwrap_list([{"id": 2}], REQ) == [{"id": 2}]
    assert unwrap_list({"status": 0, "data": None}, REQ) == []
    assert unwrap_optional(None) == {}
    assert unwrap_optional({"status": 0}) == {}
    assert unwrap_optional({"status": 0, "data": {"id": 5}}) == {"id": 5}
    assert unwrap_optional({"status": 0, "data": [1]}) == {}


def test_item_errors_in_every_shape():
    strings = parse_item_errors(["data[3].email: invalid", "Data[0]: rejected", "general failure"], 5)
    assert strings == (
        ItemError(3, "data[3].email: invalid"),
        ItemError(0, "Data[0]: rejected"),
        ItemError(None, "general failure"),
    )
    mapped = parse_item_errors({"data[1].phone": ["too long", "has spaces"], "$.data[2]": "bad"}, 5)
    assert [e.index for e in mapped] == [1, 1, 2]
    assert mapped[1].message == "data[1].phone: has spaces"
    objects = parse_item_errors([{"index": 4, "message": "dup"}, {"error": "data[2].id: missing"}], 5)
    assert objects == (ItemError(4, "dup"), ItemError(2, "data[2].id: missing"))
    assert parse_item_errors(["data[9].email: x", "metadata[1]: y"], 5) == (
        ItemError(None, "data[9].email: x"),
        ItemError(None, "metadata[1]: y"),
    )
    assert parse_item_errors(None) == ()
    assert parse_item_errors("data[0]: single string", 1) == (ItemError(0, "data[0]: single string"),)


def test_write_result_counts_distinct_indexed_errors():
    body = {"status": 0, "errors": ["data[1].email: a", "data[1].phone: b", "data[3]: c", "overall"]}
    result = write_result(201, body, 5)
    assert result.rejected_indexes == {1, 3}
    # "overall" names no record: any of the other 3 may have failed, none counts as accepted
    assert (result.accepted, result.in_doubt) == (0, 3)
    assert len(result.item_errors) == 4
    assert write_result(201, {"errors": ["data[1].email: a"]}, 5).accepted == 4
    assert write_result(201, None, 5) == WriteResult(status=201, sent=5)
    assert write_result(201, None, 5).accepted == 5


@given(st.binary(max_size=300), st.integers(min_value=300, max_value=599))
def test_any_body_with_any_error_status_gives_a_typed_error(raw, status):
    error = error_for_response(status, raw, {"Retry-After": "x"}, REQ)
    assert isinstance(error, ExpertSenderError)
    assert error.status == status
    assert "{value}" in error.message


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"errors": {"data[1].email": ["bad", "too long"]}}, "data[1].email: bad; data[1].email: too long"),
        ({"errors": {"data[0]": "bad"}}, "data[0]: bad"),
        ({"errors": ["data[2].phone: bad"], "detail": "ignored"}, "data[2].phone: bad"),
        ({"detail": "The body is invalid.", "title": "Bad Request"}, "The body is invalid."),
        ({"title": "Bad Request"}, "Bad Request"),
        ({}, "POST /customers was rejected (400)."),
    ],
)
def test_refusal_reason_is_one_line_from_the_problem_details(kwargs, reason):
    from airflow_provider_expertsender.hooks.expertsender import refusal_reason

    error = ExpertSenderValidationError("POST /customers was rejected (400).", **kwargs)
    assert refusal_reason(error) == reason
