"""An event that never reaches the inbox, on the sandbox host: where the hook writes it, and
the reconciliation that finds the change it was about.

These tests commit (transaction=True), as Saleor's requests and a worker do.
"""

from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lifecycle_plugin import tasks
from lifecycle_plugin.apps import beat_schedule
from lifecycle_plugin.engine.reconcile import EVENT
from lifecycle_plugin.models import CustomerProfile, InboxState, PendingEvent, StageTransition
from lifecycle_plugin.sandbox.models import Checkout, Order
from lifecycle_plugin.sandbox.store import SandboxStore, ensure_channels

pytestmark = pytest.mark.django_db(transaction=True)

INSERT = "INSERT INTO lifecycle_plugin_pendingevent"


@pytest.fixture
def shop():
    ensure_channels()
    return SandboxStore(engine=None)  # changes the store only, as Saleor does before its hooks run


@pytest.fixture(autouse=True)
def flag_row():
    # transaction=True tests flush every table after each test, the flag's row too
    InboxState.objects.get_or_create(id=1)


@pytest.fixture
def drains(monkeypatch):
    """`drain_events.delay` recorded, not run (the sandbox runs tasks inline)."""
    queued = []
    monkeypatch.setattr(tasks.drain_events, "delay", lambda *args: queued.append(args))
    return queued


def previous_run(minutes_ago: int = 20) -> None:
    """A reconciliation ran earlier and stopped there."""
    InboxState.objects.filter(pk=1).update(reconciled_until=timezone.now() - timedelta(minutes=minutes_ago))


@contextmanager
def connection_killed_at_the_inbox_insert():
    """The database connection drops just before the hook's INSERT: the server ends the
    backend (from another connection), so the statement fails as it would in production."""

    def kill(execute, sql, params, many, context):
        if sql.lstrip().startswith(INSERT):
            with psycopg.connect(**connection.get_connection_params()) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(kill):
        yield
    connection.close()  # what Django does with an unusable connection at the end of a request or task


@contextmanager
def inbox_insert_failing():
    def fail(execute, sql, params, many, context):
        if sql.lstrip().startswith(INSERT):
            raise DatabaseError("the inbox write failed")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fail):
        yield


def test_an_event_lost_with_the_connection_after_the_commit_is_decided_after_the_reconciliation(shop):
    previous_run()
    # Saleor has committed the order; the hook that runs after that commit loses its connection.
    order = shop.place_order("ann@example.com", "40", at=timezone.now() - timedelta(minutes=5), notify=False)
    with connection_killed_at_the_inbox_insert(), pytest.raises(DatabaseError) as lost:
        tasks.queue_events([(order.user_email, None, "order_created")])
    assert "terminat" in str(lost.value)  # the server ended the connection
    assert not PendingEvent.objects.exists()
    assert not CustomerProfile.objects.exists()  # nothing else would ever notice this first order

    report = tasks.reconcile()  # the beat's run; its drain runs inline here

    assert (report["changed"], report["queued"]) == (1, 1)
    profile = CustomerProfile.objects.get(email="ann@example.com")
    assert (profile.stage, profile.orders_count) == ("new", 1)
    assert StageTransition.objects.get(profile=profile).event == EVENT
    assert not PendingEvent.objects.exists()


def test_a_failed_insert_inside_the_stores_transaction_leaves_that_transaction_intact(shop, drains):
    previous_run()
    with transaction.atomic():  # Saleor's atomic block around the change and its hooks
        order = shop.place_order("ann@example.com", "40", at=timezone.now() - timedelta(minutes=5), notify=False)
        with inbox_insert_failing(), pytest.raises(DatabaseError):
            tasks.queue_events([(order.user_email, None, "order_created")])
        # Saleor goes on, and commits.
        shop.open_checkout("ann@example.com", lines=1, at=timezone.now() - timedelta(minutes=4))
    assert not PendingEvent.objects.exists() and drains == []
    assert Order.objects.filter(pk=order.pk).exists() and Checkout.objects.filter(email="ann@example.com").exists()

    assert tasks.reconcile()["queued"] == 1
    assert PendingEvent.objects.get().event == EVENT and len(drains) == 1


def test_the_event_commits_with_the_change_and_the_drain_is_queued_after_it(shop, drains):
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        order = shop.place_order("ann@example.com", "40", notify=False)
        for event in ("order_created", "order_paid"):  # one request, several hooks
            tasks.queue_events([(order.user_email, None, event)])
        assert drains == [] and not InboxState.objects.get(pk=1).drain_requested  # nothing before the commit
    assert list(PendingEvent.objects.values_list("email", "event")) == [
        ("ann@example.com", "order_created"), ("ann@example.com", "order_paid")]
    assert drains == [()] and InboxState.objects.get(pk=1).drain_requested
    # The flag is raised once for the transaction, not once per hook.
    assert len([q for q in queries.captured_queries if q["sql"].startswith("UPDATE lifecycle_plugin_inboxstate")]) == 1


def test_a_broker_down_after_the_commit_is_logged_and_the_event_waits(shop, monkeypatch, caplog):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.drain_events, "delay", broker_down)
    with transaction.atomic():  # a real commit runs the after-commit callback as in production
        order = shop.place_order("ann@example.com", "40", notify=False)
        tasks.queue_events([(order.user_email, None, "order_created")])

    assert "broker unreachable" in caplog.text
    assert PendingEvent.objects.get().event == "order_created"  # for the drain beat


def test_the_event_of_a_rolled_back_change_never_reaches_the_drain(shop, drains):
    with pytest.raises(RuntimeError), transaction.atomic():
        order = shop.place_order("ann@example.com", "40", notify=False)
        tasks.queue_events([(order.user_email, None, "order_created")])
        raise RuntimeError("Saleor's mutation fails after the hook")
    assert not PendingEvent.objects.exists() and drains == []


def test_the_reconciliation_queues_nothing_when_every_event_arrived(shop, drains):
    previous_run()
    ann = shop.register("ann@example.com", at=timezone.now() - timedelta(minutes=9), notify=False)
    shop.place_order(ann, "40", at=timezone.now() - timedelta(minutes=8), notify=False)
    shop.place_order("guest@example.com", "20", at=timezone.now() - timedelta(minutes=7), notify=False)
    shop.open_checkout("cart@example.com", lines=2, at=timezone.now() - timedelta(minutes=6))
    for email, user_id, event in [("ann@example.com", ann.pk, "customer_created"),
                                  ("ann@example.com", ann.pk, "order_created"),
                                  ("guest@example.com", None, "order_created"),
                                  ("cart@example.com", None, "checkout_created")]:
        tasks.queue_events([(email, user_id, event)])
    tasks.drain_events()
    assert CustomerProfile.objects.count() == 3

    report = tasks.reconcile()

    assert (report["changed"], report["queued"]) == (3, 0)
    assert not PendingEvent.objects.exists() and drains == [()]  # only the events' own drain


def test_the_first_run_starts_from_now(shop, drains):
    shop.place_order("ann@example.com", "40", at=timezone.now() - timedelta(minutes=5), notify=False)

    report = tasks.reconcile()

    assert report["since"] is None and report["queued"] == 0
    assert InboxState.objects.get(pk=1).reconciled_until is not None
    assert not PendingEvent.objects.exists()


def test_the_beat_runs_the_reconciliation_every_ten_minutes():
    entry = beat_schedule()["lifecycle-reconcile"]
    assert entry["task"] == tasks.reconcile.name
    # Like every repeating entry, it expires unrun before the next one is queued.
    assert entry["schedule"] == timedelta(minutes=10) and entry["options"]["expires"] == 540


@pytest.mark.django_db(transaction=True)
def test_a_running_reconciliation_does_not_hold_up_the_drain_flag(monkeypatch):
    """The state row is also the drain flag that Saleor's requests raise after their
    commit: a run reading a day of changes must not make them wait."""
    import threading

    from lifecycle_plugin.engine import inbox
    from lifecycle_plugin.sandbox.host import SandboxHost

    InboxState.objects.update_or_create(pk=1, defaults={"reconciled_until": timezone.now() - timedelta(hours=1),
                                                        "drain_requested": False})
    reading, release = threading.Event(), threading.Event()
    read = SandboxHost.changed_customers

    def slow_read(self, since, until):
        reading.set()
        release.wait(10)
        return read(self, since, until)

    monkeypatch.setattr(SandboxHost, "changed_customers", slow_read)
    run = threading.Thread(target=lambda: (tasks.reconcile(), connection.close()))
    run.start()
    try:
        assert reading.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
            try:
                assert inbox.raise_flag()  # would wait for the run (and time out) if it held the row
            finally:
                cursor.execute("SET lock_timeout = 0")
    finally:
        release.set()
        run.join(10)
    assert InboxState.objects.get(pk=1).drain_requested
