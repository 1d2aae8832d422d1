"""The event inbox on the sandbox host: events queued by the hooks, drained in batches.

These tests commit (transaction=True), as the hooks and a worker do.
"""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from lifecycle_plugin import tasks
from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine import inbox
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile, InboxState, PendingEvent, StageTransition
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.store import SandboxStore, ensure_channels

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)  # after the new profile's history cut-off: the order hooks fire


@pytest.fixture
def engine():
    return LifecycleEngine(SandboxHost(), plugin_manager=make_plugin_manager(load_entry_points=False))


@pytest.fixture
def shop():
    ensure_channels()
    return SandboxStore(engine=None)  # changes the store only; the inbox tells the engine


@pytest.fixture(autouse=True)
def flag_row():
    # transaction=True tests flush every table after each test, the flag's row too
    InboxState.objects.get_or_create(id=1)


def buyers(shop, count, prefix="c"):
    emails = [f"{prefix}{index}@example.com" for index in range(count)]
    for email in emails:
        shop.place_order(email, "40", at=timezone.now() - HOUR, notify=False)
    return emails


def test_only_the_event_that_raises_the_flag_asks_for_a_drain(engine):
    assert inbox.queue_events([("a@example.com", None, "order_created")]) is True
    assert inbox.queue_events([("b@example.com", None, "order_created")]) is False
    inbox.drain(engine)
    assert InboxState.objects.get().drain_requested is False
    assert inbox.queue_events([("c@example.com", None, "order_created")]) is True


def test_a_drain_takes_every_event_in_batches(shop, engine):
    emails = buyers(shop, 7)
    inbox.queue_events([(email.upper(), None, "order_created") for email in emails])

    report = inbox.drain(engine, batch_size=3)

    assert (report.events, report.batches, report.failed, report.more) == (7, 3, 0, False)
    assert sorted(CustomerProfile.objects.values_list("email", flat=True)) == sorted(emails)
    assert set(StageTransition.objects.values_list("event", flat=True)) == {"order_created"}
    assert not PendingEvent.objects.exists()


def test_a_burst_of_events_for_one_customer_is_one_decision(shop, engine):
    (email,) = buyers(shop, 1)
    inbox.queue_events([(email, None, event) for event in ("order_created", "order_paid", "order_fully_paid")])

    assert inbox.drain(engine).events == 3
    profile = CustomerProfile.objects.get()
    assert (profile.stage, profile.version) == ("new", 1)
    (move,) = profile.transitions.all()
    assert move.event == "order_fully_paid"  # the latest event of the burst
    assert ActionLedgerEntry.objects.filter(action="event:order_counted").count() == 1


def test_max_batches_leaves_the_rest_for_the_next_drain(shop, engine):
    inbox.queue_events([(email, None, "order_created") for email in buyers(shop, 5)])

    report = inbox.drain(engine, batch_size=2, max_batches=1)

    assert (report.events, report.more) == (2, True)
    assert PendingEvent.objects.count() == 3
    assert inbox.drain(engine, batch_size=2).events == 3


def test_a_failing_customer_waits_and_the_rest_of_its_batch_goes_through(shop, engine, break_decisions, caplog):
    emails = buyers(shop, 4)
    broken = emails[1]
    break_decisions(engine, broken)
    inbox.queue_events([(email, None, "order_created") for email in emails])

    report = inbox.drain(engine)

    assert (report.events, report.failed) == (3, 1)
    assert sorted(CustomerProfile.objects.values_list("email", flat=True)) == sorted(set(emails) - {broken})
    waiting = PendingEvent.objects.get()
    assert (waiting.email, waiting.attempts, waiting.last_error) == (broken, 1, "ValueError: bad data")
    assert waiting.available_at > timezone.now()
    assert inbox.drain(engine).events == 0  # not taken again before its time

    # The last try: dropped, with an error in the log.
    PendingEvent.objects.update(available_at=timezone.now() - DAY, attempts=inbox.MAX_ATTEMPTS - 1)
    with caplog.at_level(logging.ERROR, logger="lifecycle_plugin.engine.inbox"):
        assert inbox.drain(engine).failed == 1
    assert not PendingEvent.objects.exists()
    assert f"dropping 1 events of {broken}" in caplog.text


def test_events_that_force_the_projection_write_it_though_nothing_changed(shop, engine, monkeypatch):
    (email,) = buyers(shop, 1)
    inbox.queue_events([(email, None, "order_created")])
    inbox.drain(engine)
    written = []
    monkeypatch.setattr(engine.host, "write_projection", lambda rows: written.extend(rows))

    inbox.queue_events([(email, None, "order_paid")])
    inbox.drain(engine)
    assert written == []
    inbox.queue_events([(email, None, "customer_metadata_updated")], force_projection=True)
    inbox.drain(engine)
    assert [p.stage for p in written] == ["new"]


def test_queued_events_reach_the_engine_through_the_drain_task(shop):
    (email,) = buyers(shop, 1)
    # Without a broker the sandbox's Celery app runs the drain inline.
    tasks.queue_events([(email, None, "order_created")])
    assert CustomerProfile.objects.get().stage == "new"
    assert not PendingEvent.objects.exists()
    assert tasks.drain_events.delay().get() == {"events": 0, "batches": 0, "failed": 0, "more": False}


def test_concurrent_events_and_drains_lose_no_update(shop, engine):
    """Ten threads place and queue 200 orders for one customer while two threads drain."""
    email = "busy@example.com"
    producers_done = threading.Event()
    errors = []

    def produce(count):
        try:
            for _ in range(count):
                shop.place_order(email, "10", at=timezone.now() - HOUR, notify=False)
                inbox.queue_events([(email, None, "order_created")])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def consume():
        try:
            while not producers_done.is_set():
                inbox.drain(engine, batch_size=7)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    producers = [threading.Thread(target=produce, args=(20,)) for _ in range(10)]
    consumers = [threading.Thread(target=consume) for _ in range(2)]
    for thread in consumers + producers:
        thread.start()
    for thread in producers:
        thread.join()
    producers_done.set()
    for thread in consumers:
        thread.join()
    inbox.drain(engine)

    assert errors == []
    profile = CustomerProfile.objects.get()
    assert profile.orders_count == 200
    assert ActionLedgerEntry.objects.filter(profile=profile, action="event:order_counted").count() == 200
    assert not PendingEvent.objects.exists()
