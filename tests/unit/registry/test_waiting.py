"""The wait budget per image and registry (syncer.registry.waiting)."""

from __future__ import annotations

import pytest

from syncer.errors import WaitBudgetError, is_transient
from syncer.registry import waiting
from syncer.registry.waiting import WaitBudget

URL = "https://reg.example:5000/v2/team/app/manifests/v1"
HOST = "reg.example:5000"


def test_outside_a_scope_nothing_is_budgeted() -> None:
    slept: list[float] = []
    assert waiting.current() is None
    assert waiting.answer_limit(URL, 60.0) == (60.0, "")
    waiting.unanswered(URL, 1e6)
    waiting.pause(3.0, "backoff", HOST, asked=1e6, sleep=slept.append)
    assert slept == [3.0]


def test_the_answer_deadline_is_cut_to_what_is_left_and_says_why() -> None:
    with waiting.scope(WaitBudget(90.0)) as budget:
        assert waiting.answer_limit(URL, 60.0) == (60.0, "")
        waiting.unanswered(URL, 60.0)
        limit, why = waiting.answer_limit(URL, 60.0)
        assert limit == 30.0
        assert why == f"the rest of the 90 s wait budget for {HOST}, SYNCER_WAIT_BUDGET"
        assert budget.last == HOST
        # Another registry has a budget of its own.
        assert waiting.answer_limit("http://other.example/v2/", 60.0) == (60.0, "")


def test_a_registry_that_had_the_whole_budget_gets_no_more_requests() -> None:
    with waiting.scope(WaitBudget(10.0)):
        waiting.unanswered(URL, 10.0)
        with pytest.raises(WaitBudgetError) as caught:
            waiting.answer_limit(URL, 60.0)
    assert str(caught.value) == (
        f"/v2/team/app/manifests/v1: not sent; gave up after 10 s of waiting on {HOST}: "
        "the wait budget of one image on one registry is 10 s (SYNCER_WAIT_BUDGET)"
    )
    assert not is_transient(caught.value)


def test_pauses_are_charged_until_one_would_pass_the_budget() -> None:
    slept: list[float] = []
    with waiting.scope(WaitBudget(10.0)) as budget:
        waiting.pause(4.0, "503", HOST, sleep=slept.append)
        waiting.pause(4.0, "503", HOST, sleep=slept.append)
        with pytest.raises(WaitBudgetError, match="503; gave up after 8 s of waiting on"):
            waiting.pause(4.0, "503", HOST, sleep=slept.append)
    assert slept == [4.0, 4.0]
    assert budget.left(HOST) == 2.0


def test_a_retry_after_past_the_budget_fails_at_once_without_sleeping() -> None:
    slept: list[float] = []
    with waiting.scope(WaitBudget(90.0)), pytest.raises(WaitBudgetError):
        waiting.pause(60.0, "429", HOST, asked=86400.0, sleep=slept.append)
    assert slept == []


def test_a_pause_without_a_host_waits_on_the_registry_asked_last() -> None:
    with waiting.scope(WaitBudget(10.0)) as budget:
        waiting.answer_limit(URL, 60.0)
        waiting.pause(3.0, "reset", sleep=lambda _: None)
    assert budget.spent == {HOST: 3.0}


def test_scopes_nest_and_each_image_has_its_own() -> None:
    with waiting.scope(WaitBudget(10.0)) as outer:
        with waiting.scope() as inner:
            assert waiting.current() is inner and inner is not outer
            waiting.unanswered(URL, 5.0)
        assert waiting.current() is outer and outer.spent == {}
    assert waiting.current() is None
