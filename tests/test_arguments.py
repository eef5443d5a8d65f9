"""arguments.py: the one "was it given" rule and the one "exactly one identifier" check."""

from __future__ import annotations

import pytest

from airflow_provider_expertsender.arguments import is_given, one_identifier, require
from airflow_provider_expertsender.exceptions import ExpertSenderConfigError


@pytest.mark.parametrize(
    ("value", "given"), [(None, False), ("", False), ("  \n", False), ("a", True), (0, True)]
)
def test_none_and_blank_strings_are_not_given(value, given):
    assert is_given(value) is given


def test_a_blank_identifier_beside_a_real_one_is_ignored():
    assert one_identifier({"email": " ", "phone": "+48600100200"}, what="x") == ("phone", "+48600100200")


def test_messages_name_the_arguments_never_their_values():
    with pytest.raises(ExpertSenderConfigError) as info:
        one_identifier({"email": "jane@example.com", "phone": "+48600100200"}, what="The hook")
    assert "email, phone" in info.value.message
    assert "jane@example.com" not in info.value.message


def test_a_bool_is_never_an_identifier():
    with pytest.raises(ExpertSenderConfigError, match="email must be a string or a number"):
        one_identifier({"email": True, "phone": None}, what="x")
    with pytest.raises(ExpertSenderConfigError, match="order_id must be a string or a number"):
        require("order_id", False, what="x")
