"""The rule shared by sensors and triggers: when is waiting on an order over (pure functions, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_expertsender.conditions import (
    effective_failure_statuses,
    judge_order,
    normalize_statuses,
    order_is_deleted,
    order_status,
)
from airflow_provider_expertsender.exceptions import ExpertSenderConfigError

STATUSES = ("placed", "paid", "completed", "canceled")


def judge(
    order: dict, targets: tuple[str, ...] | None = ("paid",), failures: tuple[str, ...] = ("canceled",)
):
    return judge_order(order, order_id="ORD-1", target_statuses=targets, failure_statuses=failures)


class TestNormalizeStatuses:
    def test_none_means_not_given(self) -> None:
        assert normalize_statuses(None, param="target_statuses") is None

    def test_a_single_string_is_one_status(self) -> None:
        assert normalize_statuses("Paid", param="target_statuses") == ("paid",)

    def test_british_spelling_and_case_are_the_documented_spelling(self) -> None:
        assert normalize_statuses(["Cancelled", "COMPLETED", "paid", "Paid"], param="x") == (
            "canceled",
            "completed",
            "paid",
        )

    def test_unknown_status_is_a_config_error(self) -> None:
        with pytest.raises(ExpertSenderConfigError, match="refunded"):
            normalize_statuses(["paid", "refunded"], param="target_statuses")

    def test_not_a_list_of_strings(self) -> None:
        with pytest.raises(ExpertSenderConfigError, match="target_statuses"):
            normalize_statuses([1, 2], param="target_statuses")  # type: ignore[list-item]


class TestEffectiveFailureStatuses:
    def test_default_is_canceled(self) -> None:
        assert effective_failure_statuses(("paid",), None) == ("canceled",)
        assert effective_failure_statuses(None, None) == ("canceled",)

    def test_default_steps_aside_when_canceled_is_the_target(self) -> None:
        assert effective_failure_statuses(("canceled",), None) == ()

    def test_explicit_empty_disables_failing_on_a_status(self) -> None:
        assert effective_failure_statuses(("paid",), ()) == ()

    def test_overlap_is_refused(self) -> None:
        with pytest.raises(ExpertSenderConfigError, match="share paid"):
            effective_failure_statuses(("paid", "completed"), ("paid",))


class TestJudgeOrder:
    def test_waiting_while_the_status_is_not_a_target(self) -> None:
        verdict = judge({"id": "ORD-1", "status": "placed"})
        assert verdict.state == "waiting"
        assert verdict.details["order_status"] == "placed"

    def test_success_on_a_target_status_in_any_spelling(self) -> None:
        assert judge({"status": "PAID"}).state == "success"

    def test_failure_status_ends_the_wait(self) -> None:
        verdict = judge({"status": "Cancelled"})
        assert (verdict.state, verdict.details) == ("failure", {"order_status": "canceled", "deleted": False})
        assert "ORD-1" in verdict.message

    def test_deleted_order_fails_whatever_its_status(self) -> None:
        verdict = judge({"status": "paid", "isDeleted": True})
        assert (verdict.state, verdict.details["deleted"]) == ("failure", True)

    def test_without_targets_existing_is_enough(self) -> None:
        assert judge({"status": "placed"}, targets=None).state == "success"
        assert judge({}, targets=None).state == "success"

    def test_without_a_status_it_waits_for_a_target(self) -> None:
        assert judge({"id": "ORD-1"}).state == "waiting"

    def test_unknown_status_from_the_api_matches_nothing(self) -> None:
        assert order_status({"status": "Refunded"}) == "refunded"
        assert judge({"status": "Refunded"}).state == "waiting"

    def test_field_names_are_case_insensitive(self) -> None:
        assert order_status({"Status": "Paid"}) == "paid"
        assert order_is_deleted({"IsDeleted": "true"})
        assert not order_is_deleted({"isDeleted": False})
        assert not order_is_deleted({"isDeleted": "False"})

    @given(
        status=st.sampled_from(STATUSES),
        targets=st.lists(st.sampled_from(STATUSES), min_size=1, unique=True),
        deleted=st.booleans(),
        upper=st.booleans(),
    )
    def test_exactly_one_outcome_by_the_rule(
        self, status: str, targets: list[str], deleted: bool, upper: bool
    ) -> None:
        failures = effective_failure_statuses(tuple(targets), None)
        order = {"status": status.upper() if upper else status, "isDeleted": deleted}
        verdict = judge(order, targets=tuple(targets), failures=failures)
        if deleted or status in failures:
            assert verdict.state == "failure"
        elif status in targets:
            assert verdict.state == "success"
        else:
            assert verdict.state == "waiting"
