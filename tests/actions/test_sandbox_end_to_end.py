"""The built-in actions on the sandbox host, committing for real, with replays and two workers at once.

What the issue asks to be checked on the sandbox host: a first order yields exactly one
voucher and one message; a tier upgrade, a fulfilled order N days later and a customer
going quiet each produce the right message once, even when the triggering events are
replayed or processed by two workers at once; nothing goes to a customer without
consent; a raising third-party action changes nothing for the others.

Every test commits (``transaction=True``), so the after-commit work runs as it does in
production and each worker thread has its own database connection, as two Celery
workers would. Vouchers and messages are the sandbox's own rows (``Voucher``,
``OutboxMessage``), not an in-memory list.
"""

from datetime import timedelta

import pytest

from lifecycle_plugin import hookimpl
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import ActionLedgerEntry, ActionStatus, HookFailure
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import CustomerMetadata, OutboxMessage, Voucher
from lifecycle_plugin.sandbox.store import SandboxStore

from .conftest import T0, at_once, build_engine

pytestmark = pytest.mark.django_db(transaction=True)

ANN = "ann@example.com"
SETTINGS = {"marketing_consent_key": "newsletter", "review_request_delay_days": "14",
            "transactional_consent_required": "true"}  # review requests need consent here too


class TwoWorkers:
    """Two engines on the sandbox host (two Celery workers), each doing every job at the same time."""

    def __init__(self, clock, settings=None, plugins=()):
        self.engines = [build_engine(SandboxHost(), clock, {**SETTINGS, **(settings or {})}, plugins) for _ in "ab"]

    def process(self, customer, event):
        at_once(*(lambda e=e: e.process(customer, event=event) for e in self.engines))

    def sweep_and_run_due(self):
        at_once(*(e.sweep for e in self.engines))
        at_once(*(e.run_due_actions for e in self.engines))


def sent(action=None):
    messages = OutboxMessage.objects.order_by("id")
    return list(messages.filter(action=action) if action else messages)


@pytest.fixture
def ann():
    store = SandboxStore()  # the engine is told by the workers below, not by the store
    user = store.register(ANN, first_name="Ann", at=T0 - timedelta(days=10), notify=False)
    CustomerMetadata.objects.create(user=user, metadata={"newsletter": "yes"})
    return CustomerRef.of(ANN, user.pk)


def test_every_action_sends_its_message_once_with_replays_and_two_workers(clock, ann):
    workers = TwoWorkers(clock)
    store = SandboxStore()
    order = store.place_order(ann.user_id, "150.00", at=T0, lines=[("Blue mug", 2, "75.00")], notify=False)

    # A first order (new, and bronze at 100 USD): one voucher, its message, the tier news.
    workers.process(ann, "order_created")
    workers.process(ann, "order_created")  # Saleor reports it again
    workers.process(ann, "order_fully_paid")
    [voucher] = Voucher.objects.all()
    [welcome] = sent("repeat_purchase")
    assert voucher.code in welcome.text and voucher.customer_email == ANN and voucher.single_use
    [tier_news] = sent("tier_upgrade")
    assert tier_news.subject == "Welcome to Bronze, Ann!"

    # Fulfilled the next day: the review request waits 14 days in the schedule, then goes once.
    clock.advance(days=1)
    store.fulfil_order(order, at=clock.now)
    workers.process(ann, "order_fulfilled")
    workers.process(ann, "order_fulfilled")
    clock.advance(days=13, hours=23)
    workers.sweep_and_run_due()
    assert sent("review_request") == []  # never before it is due
    clock.advance(hours=2)
    workers.sweep_and_run_due()
    workers.sweep_and_run_due()
    [review] = sent("review_request")
    assert "Blue mug x 2" in review.text  # the products of the order

    # Quiet for 90 days: at risk, and one reminder, however often the periodic tasks run.
    clock.now = T0 + timedelta(days=90, minutes=1)
    workers.sweep_and_run_due()
    workers.sweep_and_run_due()
    workers.process(ann, "customer_updated")  # an unrelated event for the same customer
    [reminder] = sent("winback_reminder")
    assert reminder.payload["reminder"] == {"number": 1, "count": 3}

    assert [m.action for m in sent()] == ["repeat_purchase", "tier_upgrade", "review_request", "winback_reminder"]
    assert Voucher.objects.count() == 1
    assert not ActionLedgerEntry.objects.filter(status__in=[ActionStatus.PENDING, ActionStatus.FAILED]).exists()


def test_two_workers_sending_the_same_due_message_at_once(clock, ann):
    """Both workers pick up the same committed entries at the same moment: one voucher, one message."""
    dispatched = []
    engines = [
        build_engine(SandboxHost(), clock, SETTINGS, dispatch=dispatched.extend),
        build_engine(SandboxHost(), clock, SETTINGS),
    ]
    SandboxStore().place_order(ann.user_id, "50.00", at=T0, notify=False)
    engines[0].process(ann, event="order_created")  # commits; the entries wait for a worker
    assert len(dispatched) == 2

    at_once(*(lambda e=e: e.run_entries(dispatched) for e in engines))

    assert Voucher.objects.count() == 1 and len(sent("repeat_purchase")) == 1


def test_nothing_reaches_a_customer_without_consent(clock, ann):
    CustomerMetadata.objects.filter(user_id=ann.user_id).update(
        private_metadata={"newsletter": "no"}  # the shop's record wins over what the customer wrote
    )
    workers = TwoWorkers(clock, {"tier_upgrade_voucher": "true", "winback_reminder_voucher": "true"})
    store = SandboxStore()
    order = store.place_order(ann.user_id, "150.00", at=T0, notify=False)
    workers.process(ann, "order_created")
    clock.advance(days=1)
    store.fulfil_order(order, at=clock.now)
    workers.process(ann, "order_fulfilled")
    for days in (15, 90, 104, 118, 181):
        clock.now = T0 + timedelta(days=days, minutes=1)
        workers.sweep_and_run_due()

    assert sent() == [] and not Voucher.objects.exists()
    reasons = set(ActionLedgerEntry.objects.exclude(action__startswith="event:").values_list("result__reason", flat=True))
    assert reasons == {"no marketing consent"}


def test_a_raising_third_party_action_changes_nothing_for_the_built_ins(clock, ann):
    class Broken:
        @hookimpl
        def lifecycle_order_counted(self, context, order):
            context.enqueue("broken_thanks", key=order.order_id)
            raise RuntimeError("order hook bug")

        @hookimpl
        def lifecycle_tier_changed(self, context, change):
            raise RuntimeError("tier hook bug")

        @hookimpl
        def lifecycle_run_action(self, context, entry):
            raise RuntimeError("run hook bug")

        @hookimpl
        def lifecycle_deliver_message(self, message):
            raise RuntimeError("channel bug")

    workers = TwoWorkers(clock, plugins=[Broken()])
    SandboxStore().place_order(ann.user_id, "150.00", at=T0, notify=False)
    workers.process(ann, "order_created")

    assert [m.action for m in sent()] == ["repeat_purchase", "tier_upgrade"]
    assert Voucher.objects.count() == 1
    assert not ActionLedgerEntry.objects.filter(action="broken_thanks").exists()  # its writes were undone
    failed = set(HookFailure.objects.values_list("hook", flat=True))
    assert failed == {"lifecycle_order_counted", "lifecycle_tier_changed", "lifecycle_run_action",
                      "lifecycle_deliver_message"}
    assert workers.engines[0].retry_failed_entries(older_than=timedelta(0)) == 0  # nothing failed, nothing resent
    assert len(sent()) == 2
