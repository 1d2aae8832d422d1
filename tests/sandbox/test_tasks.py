"""The Celery tasks on the sandbox host, bound to the sandbox's own Celery app.

Without a broker the app runs tasks inline (as Saleor does without one), so
`.delay()` here runs the task exactly as a worker would, and returns its result.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from lifecycle_plugin import tasks
from lifecycle_plugin.apps import beat_schedule
from lifecycle_plugin.models import CustomerProfile, HookFailure, InboxState, StageTransition
from lifecycle_plugin.sandbox.celery import app as sandbox_app
from lifecycle_plugin.sandbox.store import SandboxStore

pytestmark = pytest.mark.django_db(transaction=True)  # the tasks commit, as in a worker

DAY = timedelta(days=1)


@pytest.fixture
def shop():
    return SandboxStore()  # no engine: the tasks below do the processing


def test_the_tasks_run_on_the_sandbox_app_inline_without_a_broker():
    assert tasks.process_customer.app is sandbox_app
    assert sandbox_app.conf.task_always_eager
    # Every periodic job that the app puts in the beat schedule is a registered task.
    assert {entry["task"] for entry in beat_schedule().values()} <= set(sandbox_app.tasks)


def test_process_customer_decides_and_records_the_event(shop):
    shop.place_order("ann@example.com", "80", at=timezone.now() - DAY, notify=False)

    assert tasks.process_customer.delay("Ann@Example.com", None, "order_created").get() == "new"

    profile = CustomerProfile.objects.get(email="ann@example.com")
    (move,) = StageTransition.objects.filter(profile=profile)
    assert (move.to_stage, move.reason, move.event) == ("new", "event", "order_created")
    # Repeating the event changes nothing.
    assert tasks.process_customer.delay("ann@example.com", None, "order_created").get() == "new"
    assert StageTransition.objects.filter(profile=profile).count() == 1


def test_a_customer_the_store_does_not_know_gets_no_profile():
    assert tasks.process_customer.delay("nobody@example.com", None, "customer_updated").get() is None
    assert not CustomerProfile.objects.exists()


def test_process_customers_takes_a_bulk_import(shop):
    for email in ("a@example.com", "b@example.com"):
        shop.place_order(email, "10", at=timezone.now() - 400 * DAY, notify=False)

    done = tasks.process_customers.delay([["a@example.com", None], ["b@example.com", None]],
                                         "order_bulk_created").get()

    assert done == 2
    assert set(CustomerProfile.objects.values_list("stage", flat=True)) == {"lapsed"}


def test_forget_customer_deletes_the_profile_and_history(shop):
    user = shop.register("gdpr@example.com", notify=False)
    tasks.process_customer.delay(user.email, user.pk, "customer_created")

    assert tasks.forget_customer.delay(user.email, user.pk).get() >= 1
    assert not CustomerProfile.objects.exists() and not StageTransition.objects.exists()


def test_the_periodic_tasks_report_what_they_did(shop):
    shop.place_order("quiet@example.com", "10", at=timezone.now() - 89 * DAY, notify=False)
    tasks.process_customer.delay("quiet@example.com", None, "order_created")
    CustomerProfile.objects.update(next_check_at=timezone.now() - DAY)  # as if 90 days had passed

    # Due, but a day short of at risk: looked at, left as it is, and due again at day 90.
    assert tasks.sweep.delay().get() == {"profiles": 1, "stage_changes": 0, "tier_changes": 0}
    assert CustomerProfile.objects.get().next_check_at > timezone.now()
    assert tasks.sweep.delay().get() == {"profiles": 0, "stage_changes": 0, "tier_changes": 0}
    assert tasks.run_due_actions.delay().get() == {"scheduled": 0, "retried": 0, "hooks_retried": 0,
                                                   "unsure_deliveries": 0}
    assert tasks.daily_tick.delay().get() == 0  # no built-in action uses the daily tick
    assert not HookFailure.objects.exists()


def test_a_backfill_chunk_backfills_its_customers(shop):
    shop.place_order("c1@example.com", "10", at=timezone.now() - DAY, notify=False)
    shop.register("c2@example.com", notify=False)

    report = tasks.backfill_chunk.delay([["c1@example.com", None], ["c2@example.com", None]]).get()

    assert report == {"customers": 2, "created": 2, "updated": 0, "conflicts": 0}
    assert dict(CustomerProfile.objects.values_list("email", "stage")) == {
        "c1@example.com": "new", "c2@example.com": "lead",
    }


# --------------------------------------------------------------------------- expiry


def test_every_repeating_beat_entry_expires_before_its_next_run():
    # While workers are down, beat keeps queueing: a run still waiting when the next
    # one is queued must be dropped, or a drain a minute piles up in the broker.
    schedule = beat_schedule()
    for name in ("lifecycle-drain-events", "lifecycle-sweep", "lifecycle-due-actions"):
        period = schedule[name]["schedule"].total_seconds()
        assert 0 < schedule[name]["options"]["expires"] < period, name
    assert schedule["lifecycle-daily-tick"]["options"]["expires"] < 24 * 3600


@pytest.fixture
def published(monkeypatch):
    """What the tasks publish to the broker (name and options), with the app not eager."""
    sent = []
    monkeypatch.setitem(sandbox_app.conf, "task_always_eager", False)
    monkeypatch.setattr(sandbox_app, "send_task", lambda name, args=None, kwargs=None, **options: sent.append((name, options)))
    return sent


def test_a_drain_queued_by_an_event_expires_before_beats_next_drain(published):
    beat_period = beat_schedule()["lifecycle-drain-events"]["schedule"].total_seconds()

    InboxState.objects.update_or_create(id=1, defaults={"drain_requested": False})

    tasks.queue_events([("ann@example.com", None, "order_created")])  # raises the inbox's flag

    assert [name for name, _ in published] == ["lifecycle_plugin.drain_events"]
    assert 0 < published[0][1]["expires"] < beat_period


def test_a_drain_that_queues_itself_again_expires_too(published, monkeypatch):
    from lifecycle_plugin.engine import inbox

    monkeypatch.setattr(inbox, "drain", lambda engine, max_batches: inbox.DrainReport(events=5, batches=1, failed=0, more=True))

    tasks.drain_events.apply()  # run here, as a worker would

    assert [name for name, _ in published] == ["lifecycle_plugin.drain_events"]
    assert published[0][1]["expires"] == tasks.DRAIN_EXPIRES
