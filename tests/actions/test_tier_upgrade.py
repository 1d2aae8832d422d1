"""Tier upgrades: news (and an optional voucher) on the way up, nothing on the way down."""

from datetime import timedelta
from decimal import Decimal

import pytest

from .conftest import T0, buy, only

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"


@pytest.fixture
def shop(make_shop):
    return make_shop(only("tier_upgrade"))


def test_an_upgrade_is_announced_once(shop, host, clock):
    buy(host, ANN, T0, total="600")  # silver at once
    shop.process(ANN)
    clock.advance(days=1)
    buy(host, ANN, clock.now, total="1000")  # gold
    shop.process(ANN)
    shop.process(ANN)  # replay
    ids = [e.pk for e in shop.entries()]
    assert shop.run_entries(ids) == 0
    messages = shop.messages("tier_upgrade")
    assert [(m.payload["previous_tier"], m.payload["new_tier"]) for m in messages] == [("", "silver"), ("silver", "gold")]
    assert messages[1].subject == "Welcome to Gold!"
    assert "up from Silver" in messages[1].text
    assert host.vouchers == []  # no voucher unless the owner asks for one


def test_a_downgrade_sends_nothing_and_the_same_tier_is_not_announced_twice_in_a_window(shop, host, clock):
    first = buy(host, ANN, T0, total="600")
    shop.process(ANN)
    assert len(shop.messages()) == 1
    clock.advance(days=5)
    host.update_order(ANN, first.order_id, refunded=Decimal("600"))
    shop.process(ANN, event="order_fully_refunded")  # silver -> no tier
    clock.advance(days=5)
    buy(host, ANN, clock.now, total="700")
    shop.process(ANN)  # silver again, ten days later
    assert len(shop.messages()) == 1
    clock.advance(days=400)
    shop.sweep()  # the order left the window: no tier
    buy(host, ANN, clock.now, total="700")
    shop.process(ANN)  # silver again, a year later: worth telling
    assert [m.payload["new_tier"] for m in shop.messages()] == ["silver", "silver"]


def test_a_tier_voucher_in_the_channel_of_the_order(make_shop, host, clock):
    shop = make_shop(only("tier_upgrade", tier_upgrade_voucher="true", tier_upgrade_discount="PLN 40, USD 10",
                          tier_upgrade_valid_days="60"))
    buy(host, ANN, T0, total="2500", currency="PLN", channel="channel-pln")
    shop.process(ANN)
    [request] = host.vouchers
    assert (request.channel, request.discount_type, request.value, request.currency) == (
        "channel-pln", "fixed", Decimal("40"), "PLN")
    assert request.valid_until == clock.now + timedelta(days=60)
    [message] = shop.messages()
    assert message.payload["voucher"]["code"] == host.issued[0].code and "40.00 PLN" in message.text
