"""Review requests: once per order, only N days after fulfilment, never for cancelled or refunded orders."""

from datetime import timedelta
from decimal import Decimal

import pytest

from lifecycle_plugin.host import OrderProduct
from lifecycle_plugin.models import ActionStatus
from lifecycle_plugin.rules import OrderState

from .conftest import T0, buy, customer_account, only

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"
ONLY_REVIEWS = only("review_request", review_request_delay_days="7")


@pytest.fixture
def shop(make_shop):
    return make_shop(ONLY_REVIEWS)


def fulfilled_order(shop, host, clock, **fields):
    order = buy(host, ANN, T0, **fields)
    shop.process(ANN)
    clock.advance(days=2)
    host.update_order(ANN, order.order_id, fulfilled_at=clock.now)
    shop.process(ANN, event="order_fulfilled")
    return order


def test_asks_once_n_days_after_fulfilment(shop, host, clock):
    customer_account(host, ANN, first_name="Ann", last_name="Lee")
    order = fulfilled_order(shop, host, clock)
    host.products[order.order_id] = [OrderProduct("Blue mug", 2, "Large"), OrderProduct("Tea", 1)]
    [scheduled] = shop.scheduled("review_request")
    assert scheduled.due_at == T0 + timedelta(days=2 + 7)
    shop.process(ANN, event="order_fulfilled")  # replayed event
    assert len(shop.scheduled("review_request")) == 1

    clock.advance(days=6, hours=23)
    assert shop.run_due() == 0 and shop.messages() == []
    clock.advance(hours=1)
    assert shop.run_due() == 1
    assert shop.run_due() == 0  # done: never twice

    [message] = shop.messages()
    assert message.action == "review_request" and message.customer.email == ANN
    assert [p["name"] for p in message.payload["products"]] == ["Blue mug", "Tea"]
    assert "Blue mug (Large) x 2" in message.text and "- Tea" in message.text
    assert "<li>Blue mug (Large) &times; 2</li>" in message.html
    assert message.subject == "Ann, how do you like your order?"
    assert message.payload["order"]["id"] == order.order_id
    [entry] = shop.entries("review_request")
    assert entry.status == ActionStatus.DONE and entry.dedupe_key.endswith(f":{order.order_id}")
    assert shop.run_entries([entry.pk]) == 0


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"state": OrderState.CANCELLED}, "the order is cancelled"),
        ({"refunded": Decimal("50")}, "the order was refunded"),
        ({"refunded": Decimal("5")}, "the order was refunded"),  # a partial refund is a problem too
    ],
)
def test_no_request_for_an_order_cancelled_or_refunded_meanwhile(shop, host, clock, change, reason):
    order = fulfilled_order(shop, host, clock)
    clock.advance(days=3)
    host.update_order(ANN, order.order_id, **change)
    shop.process(ANN, event="order_updated")
    clock.advance(days=5)
    assert shop.run_due() == 1
    assert shop.messages() == []
    [scheduled] = shop.scheduled("review_request")
    assert scheduled.status == ActionStatus.SKIPPED
    assert shop.entries("review_request") == []


def test_never_before_fulfilment(shop, host, clock):
    buy(host, ANN, T0)
    shop.process(ANN)
    clock.advance(days=30)
    shop.process(ANN, event="order_updated")
    assert shop.run_due() == 0
    assert shop.scheduled("review_request") == [] and shop.messages() == []


def test_one_request_per_order(shop, host, clock):
    first = fulfilled_order(shop, host, clock)
    second = buy(host, ANN, clock.now, fulfilled_at=clock.now + timedelta(hours=1))
    clock.advance(hours=2)
    shop.process(ANN, event="order_fulfilled")
    clock.advance(days=8)
    assert shop.run_due() == 2
    assert sorted(m.payload["order"]["id"] for m in shop.messages()) == sorted([first.order_id, second.order_id])


def test_switched_off_when_due(shop, host, clock):
    fulfilled_order(shop, host, clock)
    shop.configure(**{**ONLY_REVIEWS, "review_request_enabled": "false"})
    clock.advance(days=8)
    assert shop.run_due() == 1
    assert shop.messages() == []
    assert shop.scheduled("review_request")[0].status == ActionStatus.SKIPPED  # kept, not deleted
