"""The work that waits for a commit: collected per transaction, run once after it, dropped on a rollback.

Committing for real (transaction=True): Django runs on_commit callbacks only then.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.db import transaction

from lifecycle_plugin import hookimpl
from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.transactions import AfterCommit
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import ActionLedgerEntry
from lifecycle_plugin.rules import CustomerFacts, OrderFact

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


class Boom(Exception):
    pass


@pytest.fixture
def dispatched():
    return []


@pytest.fixture
def pending(dispatched):
    return AfterCommit(dispatched.append)


def test_collected_entries_run_once_after_the_commit(pending, dispatched):
    with transaction.atomic(), pending.collect():
        pending.add(1)
        pending.add(2)
        assert dispatched == []  # not before the commit
    assert dispatched == [[1, 2]]


def test_a_block_that_raises_runs_nothing_and_leaves_nothing_for_the_next_one(pending, dispatched):
    with pytest.raises(Boom):
        with transaction.atomic(), pending.collect():
            pending.add(1)
            raise Boom
    with transaction.atomic(), pending.collect():
        pending.add(2)
    assert dispatched == [[2]]


def test_entries_flushed_into_a_transaction_that_is_rolled_back_later_never_run(pending, dispatched):
    with pytest.raises(Boom):
        with transaction.atomic():
            with transaction.atomic(), pending.collect():
                pending.add(1)
            raise Boom
    assert dispatched == []


def test_a_rolled_back_savepoint_takes_its_entries_with_it(pending, dispatched):
    with transaction.atomic(), pending.collect():
        pending.add(1)
        with pytest.raises(Boom):
            with pending.rolled_back():
                pending.add(2)
                raise Boom
        pending.add(3)
    assert dispatched == [[1, 3]]


def test_an_inner_block_flushes_its_own_entries_and_keeps_the_outer_ones(pending, dispatched):
    with transaction.atomic(), pending.collect():
        pending.add(1)
        with transaction.atomic(), pending.collect():
            pending.add(2)
        pending.add(3)
    assert sorted(dispatched) == [[1, 3], [2]]


def test_an_entry_added_outside_any_collecting_block_is_left_for_the_retry_task(pending, dispatched):
    pending.add(1)  # an action enqueued while run_entries carries out another
    with transaction.atomic(), pending.collect():
        pending.add(2)
    assert dispatched == [[2]]


class FactsHost:
    """Just enough host for the engine: one customer with one order."""

    name = "facts"

    def read_facts(self, customers):
        order = OrderFact("1", T0, "USD", 10)
        return {c: CustomerFacts(email=c.email, orders=(order,) if c.email == "ann@example.com" else ())
                for c in customers}

    def write_projection(self, projections):
        pass


class Welcome:
    @hookimpl
    def lifecycle_stage_changed(self, context, change):
        context.enqueue("welcome", key="first")


def engine_with(dispatched):
    pm = make_plugin_manager(builtins=[], load_entry_points=False, extra=[Welcome()])
    return LifecycleEngine(FactsHost(), plugin_manager=pm, clock=lambda: T0, dispatch_entries=dispatched.append)


def test_the_engine_dispatches_an_event_s_entries_once_after_its_commit(dispatched):
    engine_with(dispatched).process(CustomerRef("ann@example.com"))
    entry = ActionLedgerEntry.objects.get(action="welcome")
    assert dispatched == [[entry.pk]]


def test_the_engine_dispatches_nothing_when_the_event_s_transaction_is_rolled_back(dispatched):
    engine = engine_with(dispatched)
    with pytest.raises(Boom):
        with transaction.atomic():
            engine.process(CustomerRef("ann@example.com"))
            assert ActionLedgerEntry.objects.filter(action="welcome").exists()
            raise Boom
    assert dispatched == [] and not ActionLedgerEntry.objects.exists()
    engine.process(CustomerRef("ann@example.com"))  # nothing left over from the rolled-back one
    assert dispatched == [[ActionLedgerEntry.objects.get(action="welcome").pk]]
