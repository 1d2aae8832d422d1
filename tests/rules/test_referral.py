"""The referral decision on plain values: which refusal wins, and when the reward is due."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from lifecycle_plugin.host_support import address_key
from lifecycle_plugin.rules import OrderFact, OrderState
from lifecycle_plugin.rules import referral as r

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
WINDOW = timedelta(days=14)
ANN = r.Party("ann@example.com", 1, frozenset({"1 main st"}))
BOB = r.Party("bob@example.com", 2, frozenset({"9 elm rd"}))


def check(**changes):
    return r.ReferralCheck(**{"referrer": ANN, "referee": BOB, "earlier_counted_orders": 0, **changes})


@pytest.mark.parametrize("changes, reason", [
    ({}, None),
    ({"referrer": None}, r.REFERRER_DELETED),
    ({"referee": r.Party("ann@example.com", 1)}, r.SAME_ACCOUNT),
    ({"referee": r.Party("ann@example.com", None)}, r.SAME_EMAIL),
    ({"referee": r.Party("bob@example.com", 2, frozenset({"1 main st"}))}, r.SAME_ADDRESS),
    ({"already_referred": True, "earlier_counted_orders": 3}, r.ALREADY_REFERRED),
    ({"earlier_counted_orders": 1}, r.NOT_NEW),
    ({"code_referrals": 10}, r.code_used_up(10)),
    ({"code_referrals": 9}, None),
    ({"code_referrals": 1, "max_per_code": 1}, "the code has had its 1 referral"),
])
def test_refusals(changes, reason):
    assert r.refusal(check(**changes)) == reason


def test_an_account_without_an_id_is_not_the_same_account():
    assert r.refusal(check(referrer=r.Party("ann@example.com"), referee=r.Party("bob@example.com"))) is None


def order(**changes):
    return OrderFact(**{"order_id": "o1", "placed_at": T0, "currency": "USD", "total": Decimal("50"), **changes})


def test_paid_at_checkout_the_window_runs_from_placement():
    early = r.reward_step(order(), window=WINDOW, now=T0 + timedelta(days=3))
    assert (early.step, early.check_at) == (r.RewardStep.WAIT, T0 + WINDOW)
    assert r.reward_step(order(), window=WINDOW, now=T0 + WINDOW).step is r.RewardStep.REWARD


def test_found_paid_late_the_window_runs_from_then():
    unpaid = r.reward_step(order(paid=False), window=WINDOW, now=T0 + WINDOW)
    assert (unpaid.step, unpaid.check_at) == (r.RewardStep.WAIT, T0 + WINDOW + r.PAYMENT_RECHECK)
    seen = T0 + WINDOW + timedelta(days=2)
    paid = r.reward_step(order(), window=WINDOW, now=seen, seen_unpaid=True)
    assert (paid.step, paid.paid_seen_at, paid.check_at) == (r.RewardStep.WAIT, seen, seen + WINDOW)
    assert r.reward_step(order(), window=WINDOW, now=seen + WINDOW, paid_seen_at=seen).step is r.RewardStep.REWARD
    never = r.reward_step(order(paid=False), window=WINDOW, now=T0 + r.PAYMENT_WAIT)
    assert never.step is r.RewardStep.CANCEL


@pytest.mark.parametrize("changes, reason", [
    ({"refunded": Decimal("0.01")}, "the order was refunded within the return window"),
    ({"state": OrderState.CANCELLED}, "the order is cancelled"),
])
def test_a_refund_or_cancellation_cancels(changes, reason):
    decision = r.reward_step(order(**changes), window=WINDOW, now=T0 + WINDOW)
    assert (decision.step, decision.reason) == (r.RewardStep.CANCEL, reason)


def test_an_order_that_stopped_counting_or_vanished_cancels():
    assert r.reward_step(order(), window=WINDOW, now=T0 + WINDOW, counted=set()).step is r.RewardStep.CANCEL
    assert r.reward_step(None, window=WINDOW, now=T0).step is r.RewardStep.CANCEL


def test_advocates():
    assert r.advocate_of({"referrals_rewarded": 1}) and r.advocate_of({"reviews_written": 2})
    assert not r.advocate_of({"referrals_made": 3, "referrals_rewarded": 0})
    assert not r.advocate_of({"referrals_rewarded": True, "reviews_written": "5"})  # not counts


def test_address_keys_ignore_case_spaces_and_punctuation():
    assert address_key("1 Main St.", "", "62701", "Springfield", "US") == address_key(
        "  1  MAIN st", None, "62701", "springfield,", "us")
    assert address_key("1 Main St") != address_key("2 Main St")
    assert address_key("", None, " ") == ""
