"""A deleted customer stays deleted: queued and later events, backfills and the sweep
never decide them again, and nothing readable about them is left in the plugin's tables.

On the sandbox host, committing for real (transaction=True): the account is deleted as
Saleor deletes it (`User.delete()`), and the plugin's signal receiver and its
after-commit task do the rest, as in production.
"""

from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from lifecycle_plugin import tasks
from lifecycle_plugin.engine import inbox
from lifecycle_plugin.engine.backfill import _backfill_chunk, _read_chunk, backfill
from lifecycle_plugin.engine.deletion import forget
from lifecycle_plugin.host import FORGOTTEN_VOUCHER_NAME, CustomerRef
from lifecycle_plugin.models import (
    BackfillRun,
    CustomerProfile,
    DeletedCustomer,
    HookFailure,
    InboxState,
    PendingEvent,
    ScheduledAction,
)
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import Order, OutboxMessage, Voucher
from lifecycle_plugin.sandbox.store import SandboxStore, ensure_channels

from ..actions.conftest import build_engine, only

pytestmark = pytest.mark.django_db(transaction=True)

ANN = "ann@example.com"
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


@pytest.fixture(autouse=True)
def flag_row():
    InboxState.objects.get_or_create(id=1)  # transaction=True tests flush it


@pytest.fixture
def engine():
    # The repeat-purchase action: a voucher and its message for every first order.
    return build_engine(SandboxHost(), timezone.now, only("repeat_purchase"))


@pytest.fixture
def shop():
    ensure_channels()
    return SandboxStore(engine=None)  # the store changes; the inbox tells the engine


def report(engine, *events):
    inbox.queue_events(events)
    inbox.drain(engine)


def customer_with_an_order(shop, engine):
    user = shop.register(ANN, at=timezone.now() - 30 * DAY, notify=False)
    order = shop.place_order(user, "40", at=timezone.now() - HOUR, notify=False)
    report(engine, (ANN, user.pk, "order_created"))
    assert CustomerProfile.objects.get(email=ANN).stage == "new"
    assert Voucher.objects.count() == 1 and OutboxMessage.objects.count() == 1
    # Named so that staff find its customer: by the e-mail, not the plugin's profile id.
    assert Voucher.objects.get().name == f"Lifecycle repeat_purchase for {ANN}"
    return user, order


def test_a_deleted_customer_is_not_brought_back_by_queued_or_later_events(shop, engine):
    user, order = customer_with_an_order(shop, engine)
    inbox.queue_events([(ANN, user.pk, "order_fully_paid")])  # still queued at the deletion
    BackfillRun.objects.create(chunk_size=10, last_email=ANN, customers_done=3)

    user.delete()  # customerDelete: Saleor keeps the order, with the e-mail, unlinked

    assert not CustomerProfile.objects.exists()
    assert not PendingEvent.objects.exists()
    # A later event on the kept order (now a guest order of that e-mail), and a drain.
    shop.fulfil_order(Order.objects.get(pk=order.pk))
    report(engine, (ANN, None, "order_fulfilled"), (ANN, user.pk, "order_fully_paid"))

    assert not CustomerProfile.objects.exists()
    assert Voucher.objects.count() == 1  # no second voucher
    assert not OutboxMessage.objects.exists()  # no message (and the first one is forgotten)
    # Nothing readable is left: not in the tombstone, the voucher or the backfill cursor.
    assert Voucher.objects.get().customer_email == ""
    assert Voucher.objects.get().name == FORGOTTEN_VOUCHER_NAME
    assert Voucher.objects.get().valid_until <= timezone.now()  # nobody's voucher would be anyone's
    assert BackfillRun.objects.get().last_email == ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM lifecycle_plugin_deletedcustomer")
        assert "ann" not in repr(cursor.fetchall())
    assert DeletedCustomer.objects.count() == 2  # the e-mail and the account id


def test_backfill_and_sweep_do_not_bring_a_deleted_customer_back(shop, engine):
    user, _ = customer_with_an_order(shop, engine)
    user.delete()

    report_ = backfill(engine, chunk_size=10)

    assert report_.customers == 1 and report_.created == 0  # the kept guest order is seen, and skipped
    assert report_.last_email is None  # the cursor does not name them
    assert engine.sweep().profiles == 0
    assert not CustomerProfile.objects.exists()


def test_a_deletion_between_a_backfill_chunks_read_and_its_write_wins(shop, engine):
    shop.place_order(ANN, "40", at=timezone.now() - 10 * DAY, notify=False)
    shop.place_order("bob@example.com", "40", at=timezone.now() - 10 * DAY, notify=False)
    customers = [CustomerRef(ANN), CustomerRef("bob@example.com")]
    read = _read_chunk(engine, customers)  # read, not yet written

    forget(CustomerRef(ANN), host=engine.host)
    written = _backfill_chunk(engine, customers, *read)

    assert written.created == 1
    assert list(CustomerProfile.objects.values_list("email", flat=True)) == ["bob@example.com"]
    assert written.last_email == "bob@example.com"


def test_a_new_account_after_the_deletion_starts_afresh(shop, engine):
    user, _ = customer_with_an_order(shop, engine)
    user.delete()

    again = shop.register(ANN, notify=False)
    report(engine, (ANN, again.pk, "customer_created"))

    profile = CustomerProfile.objects.get()
    assert (profile.user_id, profile.stage, profile.orders_count) == (again.pk, "lead", 0)
    # Their first order after the deletion is a first order: one new voucher and message.
    shop.place_order(again, "25", notify=False)
    report(engine, (ANN, again.pk, "order_created"))
    profile.refresh_from_db()
    assert (profile.stage, profile.orders_count) == ("new", 1)
    assert Voucher.objects.filter(customer_email=ANN).count() == 1
    assert OutboxMessage.objects.filter(email=ANN).count() == 1

    # Deleted again: the second deletion is the one that counts.
    again.delete()
    report(engine, (ANN, None, "order_fulfilled"))
    assert not CustomerProfile.objects.exists()


def test_a_guest_order_placed_after_the_deletion_is_a_new_customer(shop, engine):
    user, _ = customer_with_an_order(shop, engine)
    user.delete()

    shop.place_order(ANN, "25", notify=False)
    report(engine, (ANN, None, "order_created"))

    profile = CustomerProfile.objects.get()
    assert (profile.user_id, profile.stage, profile.orders_count) == (None, "new", 1)


def test_deletion_forgets_the_emails_the_account_used_on_its_orders(shop, engine):
    user, order = customer_with_an_order(shop, engine)
    # They changed their e-mail: the order keeps the old one.
    user.email = "ann.new@example.com"
    user.save(update_fields=["email"])
    report(engine, ("ann.new@example.com", user.pk, "customer_updated"))

    user.delete()
    report(engine, (ANN, None, "order_fulfilled"), ("ann.new@example.com", None, "order_fulfilled"))

    assert not CustomerProfile.objects.exists()
    assert DeletedCustomer.objects.count() == 3  # both e-mails and the account


def test_forget_removes_hook_failures_scheduled_actions_and_queued_events(shop, engine):
    user, _ = customer_with_an_order(shop, engine)
    profile = CustomerProfile.objects.get()
    HookFailure.objects.create(hook="lifecycle_stage_changed", plugin="x", profile=profile, error="boom")
    HookFailure.objects.create(hook="lifecycle_collect_facts", plugin="x", error=f"no data for {ANN}")
    HookFailure.objects.create(hook="lifecycle_collect_facts", plugin="x", error="someone else's")
    # Another customer whose address contains Ann's keeps theirs.
    HookFailure.objects.create(hook="lifecycle_collect_facts", plugin="x", error=f"no data for jo{ANN}")
    HookFailure.objects.create(hook="lifecycle_collect_facts", plugin="x", error=f"no data for {ANN}m")
    ScheduledAction.objects.create(dedupe_key="k", action="review_request", profile=profile,
                                   due_at=timezone.now() + DAY)
    inbox.queue_events([(ANN.upper(), None, "checkout_updated"), ("bob@example.com", None, "checkout_updated")])

    # With the plugin switched off: the task does not ask whether it is on.
    tasks.forget_customer.delay(ANN, user.pk).get()

    assert sorted(HookFailure.objects.values_list("error", flat=True)) == sorted([
        f"no data for jo{ANN}", f"no data for {ANN}m", "someone else's"])
    assert not ScheduledAction.objects.exists()
    assert list(PendingEvent.objects.values_list("email", flat=True)) == ["bob@example.com"]


def test_the_forget_task_runs_while_the_plugin_is_switched_off(shop, engine, monkeypatch):
    customer_with_an_order(shop, engine)
    monkeypatch.setattr(SandboxHost, "plugin_active", lambda self: False, raising=False)
    assert tasks.process_customer.delay(ANN, None, "check").get() is None  # the others skip

    assert tasks.forget_customer.delay(ANN, None).get() > 0

    assert not CustomerProfile.objects.exists()
    assert DeletedCustomer.objects.count() == 1


def test_the_deletion_forgets_everything_in_its_own_transaction(shop, engine, monkeypatch):
    """No after-commit task is needed: a broker that is down loses nothing."""
    user, _ = customer_with_an_order(shop, engine)
    monkeypatch.setattr(tasks.forget_customer, "delay", lambda *a, **k: pytest.fail("no task is needed"))

    with transaction.atomic():
        user.delete()
        assert not CustomerProfile.objects.exists()
        assert Voucher.objects.get().customer_email == "" and not OutboxMessage.objects.exists()


def test_a_deletion_that_cannot_forget_at_once_leaves_the_tombstone_and_the_rest_to_a_task(
        shop, engine, monkeypatch, django_capture_on_commit_callbacks):
    """A customer being decided holds their lock past the wait, say: the tombstone is written
    with the deletion, and the task forgets the vouchers read before the cascade."""
    from lifecycle_plugin.engine import deletion

    user, _ = customer_with_an_order(shop, engine)
    forget = deletion.forget
    calls = []

    def locked_once(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("canceling statement due to lock timeout")
        return forget(*args, **kwargs)

    monkeypatch.setattr(deletion, "forget", locked_once)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()

    assert DeletedCustomer.objects.count() == 2  # the tombstone, with the deletion
    assert len(calls) == 2 and calls[1]["known_vouchers"] == [str(Voucher.objects.get().pk)]
    assert Voucher.objects.get().customer_email == "" and not OutboxMessage.objects.exists()
