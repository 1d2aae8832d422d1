"""Repeat-purchase discount: one personal voucher and one message, whatever happens twice."""

from datetime import timedelta
from decimal import Decimal

import pytest

from lifecycle_plugin.models import ActionStatus

from lifecycle_plugin.host import CustomerRef

from .conftest import T0, buy, customer_account

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"


def test_first_order_earns_a_voucher_in_the_orders_channel(shop, host, clock):
    buy(host, ANN, T0, channel="channel-eu", currency="EUR")
    shop.process(ANN)

    [request] = host.vouchers
    assert (request.channel, request.discount_type, request.value) == ("channel-eu", "percentage", Decimal("10"))
    assert request.valid_until == clock.now + timedelta(days=30)
    assert request.customer.email == ANN
    [issued] = host.issued
    [message] = shop.messages("repeat_purchase")
    assert message.payload["voucher"]["code"] == issued.code
    assert issued.code in message.text and "10%" in message.subject
    assert message.channel == "channel-eu"
    voucher_entry, message_entry = shop.entries()
    assert voucher_entry.action == "repeat_purchase_voucher" and voucher_entry.result["code"] == issued.code
    assert message_entry.action == "repeat_purchase" and message_entry.result["voucher_code"] == issued.code
    assert {voucher_entry.status, message_entry.status} == {ActionStatus.DONE}


def test_replayed_events_and_runs_give_one_voucher_and_one_message(shop, host):
    buy(host, ANN, T0)
    for _ in range(3):
        shop.process(ANN, event="order_fully_paid")
    ids = [entry.pk for entry in shop.entries()]
    assert len(ids) == 2
    assert shop.run_entries(ids) == 0  # a second worker finds them done
    assert shop.run_entries(ids) == 0
    assert len(host.vouchers) == 1 and len(shop.messages()) == 1


def test_a_failed_message_is_retried_with_the_same_voucher(shop, host, monkeypatch):
    deliver = host.deliver_message
    calls = []

    def flaky(message):
        calls.append(message)
        if len(calls) == 1:
            raise ConnectionError("mail server down")
        return deliver(message)

    monkeypatch.setattr(host, "deliver_message", flaky)
    buy(host, ANN, T0)
    shop.process(ANN)
    voucher_entry, message_entry = shop.entries()
    assert voucher_entry.status == ActionStatus.DONE
    assert message_entry.status == ActionStatus.FAILED and "mail server down" in message_entry.last_error

    assert shop.retry() == 1
    message_entry.refresh_from_db()
    assert message_entry.status == ActionStatus.DONE
    assert len(host.vouchers) == 1  # no second voucher
    assert [m.payload["voucher"]["code"] for m in calls] == [host.issued[0].code] * 2


def test_fixed_amounts_per_currency(make_shop, host):
    shop = make_shop({"repeat_purchase_discount": "USD 10, EUR 9.50"})
    buy(host, ANN, T0, channel="channel-eu", currency="EUR")
    shop.process(ANN)
    [request] = host.vouchers
    assert (request.discount_type, request.value, request.currency) == ("fixed", Decimal("9.50"), "EUR")
    assert "9.50 EUR" in shop.messages()[0].subject

    buy(host, "bob@example.com", T0, channel="channel-jp", currency="JPY")
    shop.process("bob@example.com")
    assert len(host.vouchers) == 1  # no amount for yen: no voucher, and no message about one
    voucher_entry, message_entry = shop.entries()[2:]
    assert voucher_entry.status == message_entry.status == ActionStatus.SKIPPED
    assert voucher_entry.result["reason"] == "no fixed amount is set for JPY"
    assert message_entry.result["reason"] == "its voucher was not issued"


def test_each_chosen_stage_earns_it_once(make_shop, host, clock):
    shop = make_shop({"repeat_purchase_stages": "new, repeat"})
    buy(host, ANN, T0)
    shop.process(ANN)
    clock.advance(days=10)
    buy(host, ANN, clock.now)
    shop.process(ANN)  # new -> repeat
    clock.advance(days=200)
    shop.sweep()  # -> lapsed
    buy(host, ANN, clock.now)
    shop.process(ANN)  # lapsed -> repeat again: already earned
    assert [m.payload["trigger_stage"] for m in shop.messages("repeat_purchase")] == ["new", "repeat"]
    assert len(host.vouchers) == 2


def test_no_marketing_consent_no_voucher(make_shop, host):
    shop = make_shop({"marketing_consent_key": "marketing_ok"})
    buy(host, ANN, T0)
    bob, eve = customer_account(host, "bob@example.com"), customer_account(host, "eve@example.com")
    host.metadata[bob.user_id] = {"marketing_ok": "yes"}
    buy(host, "bob@example.com", T0)
    host.metadata[eve.user_id] = {"marketing_ok": "true"}
    host.private_metadata[eve.user_id] = {"marketing_ok": "false"}  # private metadata wins
    buy(host, "eve@example.com", T0)
    for email in (ANN, "bob@example.com", "eve@example.com"):
        shop.process(email)

    assert [m.customer.email for m in shop.messages("repeat_purchase")] == ["bob@example.com"]
    assert [v.customer.email for v in host.vouchers] == ["bob@example.com"]
    skipped = [e for e in shop.entries() if e.status == ActionStatus.SKIPPED]
    assert len(skipped) == 4 and {e.result["reason"] for e in skipped} == {"no marketing consent"}


def test_a_host_that_cannot_check_consent_sends_no_marketing(make_shop, host, monkeypatch):
    monkeypatch.delattr(type(host), "marketing_consent")
    shop = make_shop({"marketing_consent_key": "marketing_ok"})
    host.metadata[customer_account(host, ANN).user_id] = {"marketing_ok": "yes"}
    buy(host, ANN, T0)
    shop.process(ANN)
    assert host.vouchers == [] and shop.messages() == []


def test_switched_off_does_nothing_and_keeps_its_ledger(shop, host):
    buy(host, ANN, T0)
    shop.process(ANN)
    assert len(shop.entries()) == 2

    shop.configure(repeat_purchase_enabled="false")
    buy(host, "bob@example.com", T0)
    shop.process("bob@example.com")
    assert len(host.vouchers) == 1 and len(shop.messages()) == 1
    assert [e.status for e in shop.entries()] == [ActionStatus.DONE, ActionStatus.DONE]  # kept as it was


def test_entries_still_pending_when_switched_off_are_skipped(shop, host):
    buy(host, ANN, T0)
    shop.engine.process(CustomerRef(ANN))  # decided; the worker has not run the entries yet
    ids = [e.pk for e in shop.entries()]
    shop.configure(repeat_purchase_enabled="false")
    shop.run_entries(ids)
    assert host.vouchers == []
    assert {e.result["reason"] for e in shop.entries()} == {"switched off"}


def test_a_customer_first_seen_long_after_their_order_gets_no_thank_you(shop, host, clock):
    buy(host, ANN, T0 - timedelta(days=30))  # bought before the plugin was installed
    shop.process(ANN, event="checkout_created")
    assert host.vouchers == [] and shop.messages("repeat_purchase") == []
