"""The built-in actions on Saleor: e-mail through Django's mail (Saleor's EMAIL_URL), vouchers
as Saleor rows, consent read from the customer's Saleor metadata, and each message once
however often the events and periodic tasks run."""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

import pytest  # noqa: E402
from django.test import TestCase  # noqa: E402
from freezegun import freeze_time  # noqa: E402
from saleor.discount.models import VoucherCode  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.plugins.manager import get_plugins_manager  # noqa: E402

from lifecycle_plugin import tasks  # noqa: E402
from lifecycle_plugin.models import ActionLedgerEntry  # noqa: E402

from .test_flows import DRAFT_ORDER_COMPLETE, gid, mutate, profile  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]


def first_order(staff_orders, draft_order):
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    return Order.objects.get(pk=draft_order.pk)


def committed(task, *args):
    """Run an (eager) task as a worker would: what it defers to after its commit runs too.

    The test's own transaction never commits, so on_commit work needs capturing.
    """
    with TestCase.captureOnCommitCallbacks(execute=True):
        return task.delay(*args).get()


def saleor_reports(event, order):
    """Saleor's `event` hook for the order, as its actions call it after their commit: the
    plugin adds the event to its inbox, whose drain (eager here) runs at once."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        getattr(get_plugins_manager(allow_replica=False), event)(order)


def run_periodic_tasks():
    """What beat runs: the sweep, then due actions."""
    committed(tasks.sweep)
    committed(tasks.run_due_actions)


def place_order(customer, channel, amount="10"):
    order = Order.objects.create(channel=channel, currency=channel.currency_code, user=customer,
                                 user_email=customer.email, status="unfulfilled", origin="checkout",
                                 total_gross_amount=Decimal(amount), total_net_amount=Decimal(amount),
                                 undiscounted_base_shipping_price_amount=Decimal(0), lines_count=0)
    saleor_reports("order_created", order)
    return order


@pytest.mark.parametrize("lifecycle_settings", [{
    "winback_reminder_enabled": True, "winback_reminder_voucher": True, "winback_reminder_max_count": "2",
    "delivery_channel": "email",
}])
def test_a_quiet_customer_gets_each_reminder_once_by_email_until_they_order(staff_orders, draft_order,
                                                                           customer_user, mailoutbox):
    placed = first_order(staff_orders, draft_order).created_at
    assert mailoutbox == []

    with freeze_time(placed + timedelta(days=91)):  # at risk after 90 days
        run_periodic_tasks()
        run_periodic_tasks()  # beat running again (or twice at once) sends nothing more
    assert profile(customer_user.email).stage == "at_risk"
    (first,) = mailoutbox
    assert first.to == [customer_user.email]
    (code,) = VoucherCode.objects.filter(code__startswith="LC-")
    assert code.code in first.body
    html, mimetype = first.alternatives[0]
    assert mimetype == "text/html" and code.code in html

    with freeze_time(placed + timedelta(days=91 + 14)):
        run_periodic_tasks()
        run_periodic_tasks()
    assert len(mailoutbox) == 2 and code.code in mailoutbox[1].body
    assert VoucherCode.objects.filter(code__startswith="LC-").count() == 1  # one voucher for the series

    # Two reminders at most; the order that wins the customer back is logged as such.
    with freeze_time(placed + timedelta(days=91 + 28)):
        run_periodic_tasks()
        place_order(customer_user, draft_order.channel)
        run_periodic_tasks()
    assert len(mailoutbox) == 2
    assert profile(customer_user.email).stage == "repeat"
    assert ActionLedgerEntry.objects.filter(action="winback_order").count() == 1


@pytest.mark.parametrize("lifecycle_settings", [{
    "tier_upgrade_enabled": True, "tiers": "bronze: USD 5\nsilver: USD 1000", "delivery_channel": "notify",
}])
def test_a_tier_upgrade_is_announced_once(staff_orders, draft_order, customer_user, notify_log):
    order = first_order(staff_orders, draft_order)
    assert order.total_gross_amount >= 5
    assert profile(customer_user.email).tier == "bronze"

    # Saleor reports the same order again (paid, confirmed): no second message.
    saleor_reports("order_fully_paid", order)
    saleor_reports("order_confirmed", order)
    run_periodic_tasks()

    sent = [entry for entry in notify_log if entry["event"] == "lifecycle_tier_upgrade"]
    assert len(sent) == 1
    assert sent[0]["payload"]["recipient_email"] == customer_user.email
    assert sent[0]["payload"]["data"]["tier"] == "bronze"


CONSENT = {"repeat_purchase_enabled": True, "marketing_consent_key": "marketing_consent", "delivery_channel": "email"}


@pytest.mark.parametrize("lifecycle_settings", [CONSENT])
def test_no_consent_no_voucher_and_no_message(staff_orders, draft_order, customer_user, mailoutbox):
    first_order(staff_orders, draft_order)

    assert profile(customer_user.email).stage == "new"
    assert mailoutbox == []
    assert not VoucherCode.objects.filter(code__startswith="LC-").exists()
    (entry,) = ActionLedgerEntry.objects.filter(action="repeat_purchase")
    assert entry.status == "skipped" and entry.result["reason"] == "no marketing consent"


@pytest.mark.parametrize("lifecycle_settings", [CONSENT])
def test_consent_in_private_metadata_lets_the_voucher_through(staff_orders, draft_order, customer_user, mailoutbox):
    # Private metadata, which only staff and apps can write, holds the consent.
    customer_user.store_value_in_private_metadata({"marketing_consent": "granted"})
    customer_user.save(update_fields=["private_metadata"])

    first_order(staff_orders, draft_order)

    (code,) = VoucherCode.objects.filter(code__startswith="LC-")
    (message,) = mailoutbox
    assert message.to == [customer_user.email] and code.code in message.body


@pytest.mark.parametrize("lifecycle_settings", [CONSENT])
def test_consent_a_customer_wrote_publicly_is_overruled_by_private_metadata(staff_orders, draft_order,
                                                                           customer_user, mailoutbox):
    customer_user.store_value_in_metadata({"marketing_consent": "yes"})
    customer_user.store_value_in_private_metadata({"marketing_consent": "no"})
    customer_user.save(update_fields=["metadata", "private_metadata"])

    first_order(staff_orders, draft_order)

    assert mailoutbox == [] and not VoucherCode.objects.filter(code__startswith="LC-").exists()
    # The order was counted all the same.
    assert profile(customer_user.email).stage == "new"


@pytest.mark.parametrize("lifecycle_settings", [{
    "tier_upgrade_enabled": True, "tiers": "bronze: USD 5\nsilver: USD 1000", "delivery_channel": "notify",
    "hook_timeout_seconds": "0.3",
}])
def test_a_notify_that_hangs_is_cut_off_and_the_message_is_never_sent_twice(staff_orders, draft_order,
                                                                            customer_user, monkeypatch):
    import time

    from saleor.plugins.manager import PluginsManager

    calls = []

    def hanging_notify(self, event, payload_func, channel_slug=None, plugin_id=None):
        calls.append(event)
        time.sleep(5)  # a plugin's notify or the broker stops answering after taking the event

    monkeypatch.setattr(PluginsManager, "notify", hanging_notify)
    started = time.monotonic()
    first_order(staff_orders, draft_order)
    assert time.monotonic() - started < 4  # not the 5 s the notify would have taken
    (entry,) = ActionLedgerEntry.objects.filter(action="tier_upgrade")
    assert entry.status == "uncertain" and "HookTimeout" in entry.last_error
    assert entry.result["subject"]  # what was being sent is on record

    ActionLedgerEntry.objects.filter(pk=entry.pk).update(updated_at=entry.updated_at - timedelta(hours=1))
    run_periodic_tasks()  # the retry task does not take it
    assert calls == ["lifecycle_tier_upgrade"]
    assert tasks.run_due_actions.delay().get()["unsure_deliveries"] == 1  # and reports it


@pytest.mark.parametrize("lifecycle_settings", [{
    "tier_upgrade_enabled": True, "tiers": "bronze: USD 5\nsilver: USD 1000", "delivery_channel": "notify",
}])
def test_a_notify_delivery_ends_done_with_the_event_as_its_reference(staff_orders, draft_order, customer_user,
                                                                     notify_log):
    first_order(staff_orders, draft_order)
    (entry,) = ActionLedgerEntry.objects.filter(action="tier_upgrade")
    assert entry.status == "done"
    assert entry.result["delivered_by"] == "notify" and entry.result["reference"] == "lifecycle_tier_upgrade"
    assert [e["event"] for e in notify_log if e["event"].startswith("lifecycle_")] == ["lifecycle_tier_upgrade"]
