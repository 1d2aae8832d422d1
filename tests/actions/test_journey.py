"""One customer's journey through every built-in action: consent and the switches apply to all."""

from datetime import timedelta

import pytest

from lifecycle_plugin.models import ActionLedgerEntry

from .conftest import T0, buy, customer_account

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"
VOUCHERS_EVERYWHERE = {
    "marketing_consent_key": "newsletter",
    "transactional_consent_required": "true",  # review requests need consent here too
    "tier_upgrade_voucher": "true",
    "winback_reminder_voucher": "true",
    "review_request_delay_days": "3",
}


def journey(shop, host, clock):
    """First order (fulfilled), a tier, then silence long enough for every reminder."""
    order = buy(host, ANN, T0, total="150")  # new, and bronze
    shop.process(ANN)
    clock.advance(days=1)
    host.update_order(ANN, order.order_id, fulfilled_at=clock.now)
    shop.process(ANN, event="order_fulfilled")
    for _ in range(40):  # 200 days, the periodic tasks running every 5 days
        clock.advance(days=5)
        shop.sweep()
        shop.run_due()


def test_a_consenting_customer_hears_from_every_action_once(make_shop, host, clock):
    host.metadata[customer_account(host, ANN).user_id] = {"newsletter": "yes"}
    shop = make_shop(VOUCHERS_EVERYWHERE)
    journey(shop, host, clock)
    actions = [m.action for m in shop.messages()]
    assert sorted(set(actions)) == ["repeat_purchase", "review_request", "tier_upgrade", "winback_reminder"]
    assert actions.count("winback_reminder") == 3 and len(actions) == 6
    assert len(host.vouchers) == 3  # repeat purchase, tier, one for the win-back series
    shop.process(ANN, event="customer_updated")
    assert shop.retry() == 0 and len(shop.messages()) == 6


def test_no_consent_no_message_and_no_voucher_from_any_action(make_shop, host, clock):
    host.metadata[customer_account(host, ANN).user_id] = {"newsletter": "no"}
    shop = make_shop(VOUCHERS_EVERYWHERE)
    journey(shop, host, clock)
    assert shop.messages() == [] and host.vouchers == []
    reasons = {e.result.get("reason") for e in shop.entries() if e.action != "winback_order"}
    assert reasons == {"no marketing consent"}


def test_switched_off_actions_do_nothing_and_keep_their_ledger(make_shop, host, clock):
    shop = make_shop()
    buy(host, ANN, T0, total="150")
    shop.process(ANN)
    ledger = ActionLedgerEntry.objects.exclude(action__startswith="event:").order_by("id")
    kept = list(ledger.values_list("dedupe_key", "status"))
    assert [key.split(":")[0] for key, _ in kept] == ["repeat_purchase_voucher", "repeat_purchase", "tier_upgrade"]
    shop.configure(repeat_purchase_enabled="false", tier_upgrade_enabled="false",
                   review_request_enabled="false", winback_reminder_enabled="false")
    messages = len(shop.messages())
    order = buy(host, ANN, clock.now + timedelta(hours=1), total="600")  # silver
    clock.advance(hours=2)
    host.update_order(ANN, order.order_id, fulfilled_at=clock.now)
    shop.process(ANN, event="order_fulfilled")
    for _ in range(40):
        clock.advance(days=5)
        shop.sweep()
        shop.run_due()
    assert len(shop.messages()) == messages
    assert list(ledger.values_list("dedupe_key", "status")) == kept  # nothing new, nothing lost
