"""The reconciliation's bookkeeping: its window, and who counts as missing an event."""

from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine import inbox
from lifecycle_plugin.engine.reconcile import EVENT, MAX_LOOKBACK, OVERLAP, SETTLE, reconcile
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import CustomerProfile, InboxState, PendingEvent

from lifecycle_plugin.testing import MemoryHost

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def clock_start():
    return T0


@pytest.fixture
def host():
    return MemoryHost()


@pytest.fixture
def engine(host, clock):
    return LifecycleEngine(host, plugin_manager=make_plugin_manager(load_entry_points=False), clock=clock)


def account(email: str) -> int:
    return User.objects.create(username=email, email=email).pk


def waiting() -> list[tuple[str, int | None, str]]:
    return list(PendingEvent.objects.order_by("id").values_list("email", "user_id", "event"))


def watermark():
    return InboxState.objects.get(pk=1).reconciled_until


def started(clock, engine):
    """A first run, which only records where the next one starts."""
    report = reconcile(engine)
    assert (report.since, report.queued) == (None, 0)
    return report


def test_the_first_run_starts_from_now_and_queues_nothing(host, clock, engine):
    host.order("old@example.com", T0 - timedelta(days=30))  # history: the backfill's job
    host.order("recent@example.com", T0 - 5 * MINUTE)  # before the first run: not looked at either

    report = reconcile(engine)

    assert report.since is None and report.until == T0 - SETTLE
    assert watermark() == T0 - SETTLE
    assert waiting() == [] and not CustomerProfile.objects.exists()


def test_a_change_without_a_decision_is_queued_once_and_decided_by_the_drain(host, clock, engine):
    started(clock, engine)
    clock.advance(minutes=1)
    ann = account("ann@example.com")
    host.register("ann@example.com", ann, clock.now)
    host.order("ann@example.com", clock.now)  # its event was lost
    clock.advance(minutes=10)

    report = reconcile(engine)

    assert (report.changed, report.queued) == (1, 1)
    assert waiting() == [("ann@example.com", ann, EVENT)]
    inbox.drain(engine)
    assert CustomerProfile.objects.get(email="ann@example.com").stage == "new"
    # Decided since: the next run, which looks at that change again (the overlap), queues nothing.
    clock.advance(minutes=10)
    report = reconcile(engine)
    assert (report.changed, report.queued) == (1, 0)
    assert waiting() == []


def test_nothing_is_queued_when_every_change_was_decided_after_it(host, clock, engine):
    started(clock, engine)
    customers = [f"c{index}@example.com" for index in range(20)]
    for email in customers:
        clock.advance(seconds=10)
        host.order(email, clock.now)
        engine.process(CustomerRef(email), event="order_created")  # the event arrived
    clock.advance(minutes=10)

    with CaptureQueriesContext(connection) as queries:
        report = reconcile(engine)

    assert (report.changed, report.queued) == (20, 0)
    assert waiting() == []
    # The run's lock, the state row (read, written) and one look at the profiles and the inbox.
    assert len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]) == 4


def test_a_change_after_the_customers_last_decision_is_queued(host, clock, engine):
    started(clock, engine)
    host.order("ann@example.com", clock.now)
    engine.process(CustomerRef("ann@example.com"), event="order_created")
    clock.advance(minutes=3)
    host.order("ann@example.com", clock.now)  # the second order's event was lost
    clock.advance(minutes=10)

    assert reconcile(engine).queued == 1
    inbox.drain(engine)
    assert CustomerProfile.objects.get(email="ann@example.com").orders_count == 2


def test_a_profile_found_by_the_account_counts_though_its_email_changed(host, clock, engine):
    started(clock, engine)
    user_id = account("old@example.com")
    host.register("old@example.com", user_id, clock.now)
    engine.process(CustomerRef("old@example.com", user_id), event="customer_created")
    # The change is reported under the account's new e-mail; the profile still has the old one.
    host.change_email(user_id, "new@example.com", clock.now)
    clock.advance(minutes=10)

    assert reconcile(engine).queued == 0


def test_a_customer_whose_event_waits_in_the_inbox_is_not_queued_again(host, clock, engine):
    started(clock, engine)
    host.order("ann@example.com", clock.now)
    inbox.queue_events([("ann@example.com", None, "order_created")])  # not drained yet
    clock.advance(minutes=10)

    assert reconcile(engine).queued == 0
    assert waiting() == [("ann@example.com", None, "order_created")]


def test_the_newest_changes_are_left_to_their_own_events_until_they_settle(host, clock, engine):
    started(clock, engine)
    clock.advance(minutes=10)
    host.order("ann@example.com", clock.now - MINUTE)

    assert reconcile(engine).queued == 0  # a minute old: its event is probably on its way
    clock.advance(minutes=10)
    assert reconcile(engine).queued == 1


def test_a_change_that_commits_after_a_run_looked_past_it_is_found_by_the_next(host, clock, engine):
    started(clock, engine)
    clock.advance(minutes=10)
    assert reconcile(engine).queued == 0
    # Stamped before that run's upper bound, visible only now (a long transaction).
    host.order("slow@example.com", watermark() - 5 * MINUTE)
    clock.advance(minutes=10)

    report = reconcile(engine)

    assert report.since == T0 + 10 * MINUTE - SETTLE - OVERLAP
    assert report.queued == 1


def test_after_a_long_pause_it_looks_back_at_most_max_lookback(host, clock, engine):
    started(clock, engine)
    host.order("early@example.com", T0 + MINUTE)
    clock.advance(days=3)
    host.order("late@example.com", clock.now - 3 * MINUTE)

    report = reconcile(engine)

    assert report.since == clock.now - MAX_LOOKBACK
    assert waiting() == [("late@example.com", None, EVENT)]
