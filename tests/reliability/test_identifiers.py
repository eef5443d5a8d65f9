"""Identifiers are checked by one rule on writes and reads (issue 11, finding 13).

Before the fix a lone surrogate raised a bare ``UnicodeEncodeError`` on both hooks' reads, and the crmId
``"..\\xa0"`` was stored by a write but refused by every read (the read stripped it to ``..``). Now what a
write stores can be read back, and what cannot be read back is refused at the write too, with a typed error
that does not quote the value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_expertsender.exceptions import ExpertSenderConfigError, ExpertSenderInvalidInputError
from airflow_provider_expertsender.hooks.expertsender import ExpertSenderAsyncHook

READABLE = ["..\xa0", " .. ", ". ", "\u2024\u2024", "...", "a.b"]
UNREADABLE = ["..", ".", "a\ud800b", "\udfff"]


def _reads(make_hook: Callable[..., Any], crm_id: str) -> list[Any]:
    hook = make_hook()
    asynchronous = ExpertSenderAsyncHook(expertsender_conn_id=hook.expertsender_conn_id)
    return [
        lambda: hook.get_customer(crm_id=crm_id),
        lambda: asyncio.run(asynchronous.get_customer(crm_id=crm_id)),
        lambda: hook.get_order(crm_id),
        lambda: asyncio.run(asynchronous.get_order(crm_id)),
    ]


@pytest.mark.parametrize("crm_id", READABLE, ids=repr)
def test_an_identifier_a_write_stores_is_read_back_by_both_hooks(
    emulator: Any, make_hook: Callable[..., Any], crm_id: str
) -> None:
    hook = make_hook()
    hook.upsert_customers([{"email": "c@example.com", "crmId": crm_id}])
    reads = _reads(make_hook, crm_id)
    assert reads[0]()["crmId"] == crm_id
    assert reads[1]()["crmId"] == crm_id


@pytest.mark.parametrize("crm_id", UNREADABLE, ids=repr)
def test_an_identifier_that_cannot_be_read_back_is_refused_on_write_and_read_typed(
    emulator: Any, make_hook: Callable[..., Any], crm_id: str
) -> None:
    hook = make_hook()
    with pytest.raises(ExpertSenderInvalidInputError):
        hook.upsert_customers([{"email": "c@example.com", "crmId": crm_id}])
    for read in _reads(make_hook, crm_id):
        with pytest.raises(ExpertSenderConfigError) as info:
            read()
        assert repr(crm_id) not in info.value.message  # an identifier may be personal data
    assert not emulator.store(emulator.api_key).customers
    assert not [r for r in emulator.requests if r.method == "GET"]


def test_a_lone_surrogate_in_any_field_of_an_unvalidated_body_is_a_typed_error(
    emulator: Any, make_hook: Callable[..., Any]
) -> None:
    with pytest.raises(ExpertSenderConfigError, match="lone surrogate"):
        make_hook().upsert_customers([{"email": "c@example.com", "firstName": "J\ud800"}], validate=False)
