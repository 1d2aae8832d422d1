"""Referrals, decided without I/O: is an order that used a referral code a referral, and
when is its reward due?

The referral action (`actions/referral.py`) reads the facts (who owns the code, the
referee's earlier orders, the shipping addresses) and keeps the bookkeeping; the
decision itself is here, so it can be tested on plain values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from .facts import OrderFact, OrderState


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a referral: the e-mail (normalised), the account id, and the shipping
    addresses (normalised, `host_support.address_key`) the host knows for them."""

    email: str
    user_id: int | None = None
    addresses: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ReferralCheck:
    """What the referral decision reads.

    :param referrer: the code's owner, None when that customer was deleted.
    :param referee: who placed the order, with the order's shipping address.
    :param earlier_counted_orders: the referee's counted orders placed before this one.
    :param already_referred: the referee has a referral (any code) from an earlier order.
    :param code_referrals: accepted referrals the code has had so far.
    :param max_per_code: how many accepted referrals one code may have.
    """

    referrer: Party | None
    referee: Party
    earlier_counted_orders: int
    already_referred: bool = False
    code_referrals: int = 0
    max_per_code: int = 10


#: Reasons a referral is refused (kept with the referral, shown to the owner).
REFERRER_DELETED = "the code's owner was deleted"
SAME_ACCOUNT = "the referrer and the referee share an account (the owner used their own code)"
SAME_EMAIL = "the referrer and the referee share an e-mail (the owner used their own code)"
SAME_ADDRESS = "the referrer and the referee share a shipping address"
NOT_NEW = "the referee already had a counted order"
ALREADY_REFERRED = "the referee was already referred"


def code_used_up(limit: int) -> str:
    return f"the code has had its {limit} referral{'s' if limit != 1 else ''}"


def refusal(check: ReferralCheck) -> str | None:
    """Why the order is not a referral; None when it is one (the reward may follow)."""
    referrer, referee = check.referrer, check.referee
    if referrer is None:
        return REFERRER_DELETED
    if referrer.user_id is not None and referrer.user_id == referee.user_id:
        return SAME_ACCOUNT
    if referrer.email and referrer.email == referee.email:
        return SAME_EMAIL
    if referrer.addresses & referee.addresses:
        return SAME_ADDRESS
    if check.already_referred:
        return ALREADY_REFERRED
    if check.earlier_counted_orders > 0:
        return NOT_NEW
    if check.code_referrals >= check.max_per_code:
        return code_used_up(check.max_per_code)
    return None


class RewardStep(str, Enum):
    """What to do with an accepted referral when its check comes due."""

    REWARD = "reward"  # paid, unrefunded and past the return window: issue the reward
    WAIT = "wait"  # not yet: check again at `RewardDecision.check_at`
    CANCEL = "cancel"  # refunded, cancelled or never paid: no reward


@dataclass(frozen=True, slots=True)
class RewardDecision:
    step: RewardStep
    reason: str = ""
    check_at: datetime | None = None
    #: When the order was first seen paid (the window runs from then); to keep.
    paid_seen_at: datetime | None = None


#: An order still unpaid this long after it was placed earns no reward.
PAYMENT_WAIT = timedelta(days=60)
#: How often an unpaid order is looked at again.
PAYMENT_RECHECK = timedelta(days=1)


def reward_step(order: OrderFact | None, *, window: timedelta, now: datetime,
                paid_seen_at: datetime | None = None, seen_unpaid: bool = False,
                counted: Collection[str] | None = None) -> RewardDecision:
    """Whether the referrer's reward is due for the referee's `order`, as it stands `now`.

    The reward needs the order paid and then kept for the return `window`, and any
    refund (or a cancellation) before then cancels it. The first check comes one window
    after the order was placed. An order paid by then (the usual case: paid at
    checkout) has its window counted from its placement; an order found unpaid is
    looked at again daily (`seen_unpaid`), and its window runs from the check that first
    found it paid (`paid_seen_at`, kept between checks). `counted`: the ids of the
    referee's orders that count, when known (an order that stopped counting is cancelled).
    """
    if order is None:
        return RewardDecision(RewardStep.CANCEL, "the order is no longer known")
    if order.state is not OrderState.PLACED:
        return RewardDecision(RewardStep.CANCEL, f"the order is {order.state.value}")
    if order.refunded > 0:
        return RewardDecision(RewardStep.CANCEL, "the order was refunded within the return window")
    if counted is not None and order.order_id not in counted:
        return RewardDecision(RewardStep.CANCEL, "the order no longer counts")
    if not order.paid:
        if now - order.placed_at >= PAYMENT_WAIT:
            return RewardDecision(RewardStep.CANCEL, f"the order was not paid within {PAYMENT_WAIT.days} days")
        return RewardDecision(RewardStep.WAIT, "waiting for payment", check_at=now + PAYMENT_RECHECK)
    if paid_seen_at is None:
        paid_seen_at = now if seen_unpaid else order.placed_at
    ends = paid_seen_at + window
    if now < ends:
        return RewardDecision(RewardStep.WAIT, "within the return window", check_at=ends, paid_seen_at=paid_seen_at)
    return RewardDecision(RewardStep.REWARD, paid_seen_at=paid_seen_at)


def is_advocate(referrals_rewarded: int, reviews_written: int) -> bool:
    """An advocate has a rewarded referral or has written a review (a flag, not a stage)."""
    return referrals_rewarded > 0 or reviews_written > 0


def advocate_of(extra: Mapping) -> bool:
    """`is_advocate` from a profile's extra facts (``referrals_rewarded``, contributed by the
    referral action, and ``reviews_written``, by a reviews plugin)."""

    def number(name: str) -> int:
        value = extra.get(name, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return is_advocate(number("referrals_rewarded"), number("reviews_written"))
