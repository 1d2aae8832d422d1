"""A customer hook implementation that raises is called again later, that one only."""

import pytest

from lifecycle_plugin import hookimpl
from lifecycle_plugin.engine.retries import RETRY_DELAY, MAX_ACTION_ATTEMPTS
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import HookFailure

from .test_engine import T0, Recorder, make_engine, host  # noqa: F401 - host: a fixture

pytestmark = pytest.mark.django_db


class Flaky:
    """Raises on its first `failures` calls of each hook it implements, then records."""

    def __init__(self, failures=1):
        self.failures = failures
        self.calls = []

    def _maybe_fail(self, what):
        self.calls.append(what)
        if sum(1 for call in self.calls if call[0] == what[0]) <= self.failures:
            raise RuntimeError(f"{what[0]} is down")

    @hookimpl
    def lifecycle_stage_changed(self, context, change):
        self._maybe_fail(("stage", change.from_stage, change.to_stage, change.occurred_at, context.profile.stage))

    @hookimpl
    def lifecycle_order_counted(self, order, win_back):
        self._maybe_fail(("counted", order.order_id, win_back))


def test_a_failed_stage_hook_is_called_again_with_the_same_change(host, clock):
    flaky, others = Flaky(), Recorder()
    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, others, flaky)
    engine.process(CustomerRef("ann@example.com"), event="order_created")

    stage_failure = HookFailure.objects.get(hook="lifecycle_stage_changed")
    assert stage_failure.retry_at == T0 + RETRY_DELAY
    assert stage_failure.arguments["change"]["to_stage"] == "new"
    assert engine.retry_hook_failures() == 0  # not due yet

    clock.advance(minutes=5)
    assert engine.retry_hook_failures() == 2  # the stage hook and the order hook

    first, again = [call for call in flaky.calls if call[0] == "stage"]
    assert again == first  # same move, same moment
    assert [call for call in flaky.calls if call[0] == "counted"] == [("counted", "1", False)] * 2
    assert len([c for c in others.calls if c[0] == "stage"]) == 1  # the plugins that worked are not called again
    stage_failure.refresh_from_db()
    assert (stage_failure.resolved_at, stage_failure.retry_at) == (clock.now, None)
    assert engine.retry_hook_failures() == 0


def test_a_hook_that_keeps_failing_is_given_up_after_the_last_attempt(host, clock):
    flaky = Flaky(failures=100)
    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, flaky)
    engine.process(CustomerRef("ann@example.com"))
    for _ in range(10):
        clock.advance(days=1)
        engine.retry_hook_failures()

    failure = HookFailure.objects.get(hook="lifecycle_stage_changed")
    assert (failure.attempts, failure.retry_at, failure.resolved_at) == (MAX_ACTION_ATTEMPTS, None, None)
    assert len([call for call in flaky.calls if call[0] == "stage"]) == MAX_ACTION_ATTEMPTS
    assert failure.error == "RuntimeError: stage is down"


def test_the_delay_doubles_from_one_attempt_to_the_next(host, clock):
    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, Flaky(failures=100))
    engine.process(CustomerRef("ann@example.com"))
    failure = HookFailure.objects.get(hook="lifecycle_stage_changed")
    delays = []
    for _ in range(MAX_ACTION_ATTEMPTS - 2):
        clock.now = failure.retry_at
        engine.retry_hook_failures()
        failure.refresh_from_db()
        delays.append(failure.retry_at - clock.now)
    assert delays == [RETRY_DELAY * 2, RETRY_DELAY * 4, RETRY_DELAY * 8]


def test_an_order_hook_is_not_retried_once_the_order_is_gone(host, clock):
    flaky = Flaky()
    order = host.order("ann@example.com", T0)
    engine = make_engine(host, clock, flaky)
    engine.process(CustomerRef("ann@example.com"))
    host.delete_order(order.order_id)
    clock.advance(hours=1)

    assert engine.retry_hook_failures() == 1  # the stage hook; the order hook has nothing to be about
    counted = HookFailure.objects.get(hook="lifecycle_order_counted")
    assert (counted.retry_at, counted.resolved_at) == (None, None)
    assert [call[0] for call in flaky.calls].count("counted") == 1


def test_nothing_is_retried_for_a_plugin_no_longer_installed(host, clock):
    flaky = Flaky()
    host.order("ann@example.com", T0)
    make_engine(host, clock, flaky).process(CustomerRef("ann@example.com"))
    clock.advance(hours=1)

    assert make_engine(host, clock).retry_hook_failures() == 0
    assert not HookFailure.objects.filter(retry_at__isnull=False).exists()
    assert len(flaky.calls) == 2  # the first calls only


def test_decision_hooks_are_not_retried(host, clock):
    class BrokenFacts:
        @hookimpl
        def lifecycle_collect_facts(self, customers):
            raise RuntimeError("facts are down")

    host.order("ann@example.com", T0)
    make_engine(host, clock, BrokenFacts()).process(CustomerRef("ann@example.com"))
    failure = HookFailure.objects.get()
    assert (failure.hook, failure.retry_at) == ("lifecycle_collect_facts", None)


def test_a_retried_hook_that_acts_has_its_entry_run_after_the_commit(host, clock, django_capture_on_commit_callbacks):
    class FlakyThanks:
        calls = 0

        @hookimpl
        def lifecycle_order_counted(self, context, order):
            FlakyThanks.calls += 1
            if FlakyThanks.calls == 1:
                raise RuntimeError("down")
            context.enqueue("thanks", key=order.order_id)

        @hookimpl
        def lifecycle_run_action(self, entry):
            return {"sent": entry.dedupe_key} if entry.action == "thanks" else None

    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, FlakyThanks())
    engine.process(CustomerRef("ann@example.com"))
    clock.advance(minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        assert engine.retry_hook_failures() == 1
    from lifecycle_plugin.models import ActionLedgerEntry

    assert ActionLedgerEntry.objects.get(action="thanks").status == "done"


def test_a_failure_that_cannot_be_called_again_does_not_stop_the_others(host, clock):
    flaky = Flaky()
    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, flaky)
    engine.process(CustomerRef("ann@example.com"))
    stage = HookFailure.objects.get(hook="lifecycle_stage_changed")
    # written by another version: a field this one's StageChange does not have, and due first
    HookFailure.objects.filter(pk=stage.pk).update(
        arguments={"change": {**stage.arguments["change"], "colour": "red"}}, retry_at=T0)
    clock.advance(minutes=5)

    assert engine.retry_hook_failures() == 1  # the order hook behind it
    stage.refresh_from_db()
    assert (stage.retry_at, stage.resolved_at) == (None, None)
    assert HookFailure.objects.get(hook="lifecycle_order_counted").resolved_at == clock.now


def test_a_plugin_registered_without_a_name_is_called_again_in_another_process(host, clock):
    """pluggy would name it by its object's id; the worker that retries has another object."""
    host.order("ann@example.com", T0)
    make_engine(host, clock, Flaky()).process(CustomerRef("ann@example.com"), event="order_created")
    assert set(HookFailure.objects.values_list("plugin", flat=True)) == {"tests.engine.test_hook_retry.Flaky"}

    clock.advance(minutes=5)
    again = Flaky(failures=0)  # what another worker process would have registered
    assert make_engine(host, clock, again).retry_hook_failures() == 2
    assert {call[0] for call in again.calls} == {"stage", "counted"}
