"""The ladder digest: what the ladder's conditions need of one customer, for any `now` and
any settings, in a few flat arrays (pure; written with the profile, read in SQL).

A what-if asks for the decision at `now` under candidate settings for a whole store. The
orders themselves are too many to read for that (5 per customer), the profile too little
(its figures are those of the settings in force). The digest sits between: per customer,

- the pre-purchase facts (`has_account`, `open_cart_lines`);
- the moments (microseconds since the epoch, ascending) of the orders counted when
  "paid only" is off, and of those counted when it is on: "at least `m` orders in the
  window" is then one subscript, the silence one subtraction, the order count a length;
- the median gap between consecutive counted orders, for both sets (None under 2 orders),
  computed exactly as `decide` does (`timedelta / 2` on an even count);
- for the tiers, per currency the counted orders' moments ascending followed by a sentinel
  (`SENTINEL`), with the spend from each order's moment on (net amounts, 0 at the
  sentinel), once over every counted order and once with unpaid orders adding 0: the spend
  in any trailing window is one binary search (`width_bucket`) and one subscript.

Settings never enter it, so changing a threshold leaves every digest valid. The SQL
evaluator over it is `engine.sql_digest`; the SQL that writes it from a host's orders is
`engine.digest_writes.digests_from_sources_sql`, and tests/ladder/test_digest.py holds
both to this definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from .facts import CustomerFacts, OrderFact, OrderState

#: Bumped when the digest's shape or meaning changes: older rows count as missing.
DIGEST_VERSION = 1
#: Ends each currency's moments, so a binary search over one currency's slice never runs
#: into the next currency's (the largest bigint: no order is placed after it).
SENTINEL = 2**63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class LadderDigest:
    has_account: bool
    open_cart_lines: int
    moments: tuple[int, ...]
    paid_moments: tuple[int, ...]
    median_gap_us: int | None
    paid_median_gap_us: int | None
    #: Currencies in alphabetical order; `spend_starts[i]` is where currency i's slice of
    #: `spend_moments` begins (1-based, as SQL arrays), plus one entry past the end.
    spend_currencies: tuple[str, ...]
    spend_starts: tuple[int, ...]
    spend_moments: tuple[int, ...]
    spend_from: tuple[Decimal, ...]
    paid_spend_from: tuple[Decimal, ...]


def epoch_us(moment: datetime) -> int:
    # The normalised parts of the delta, not `delta // _MICROSECOND`: the same integer for
    # any moment, without a timedelta division per order on the event path.
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def counted_any_payment(order: OrderFact) -> bool:
    """Counted when "paid only" is off (`decide.counts` without its payment condition)."""
    return order.state == OrderState.PLACED and not order.fully_refunded


def median_gap_us(moments: list[int]) -> int | None:
    """The median gap between consecutive moments, in microseconds, as `decide` takes it."""
    if len(moments) < 2:
        return None
    gaps = sorted([b - a for a, b in zip(moments, moments[1:])])
    middle = len(gaps) // 2
    if len(gaps) % 2:
        return gaps[middle]
    return (timedelta(microseconds=gaps[middle - 1] + gaps[middle]) / 2) // _MICROSECOND


_ZERO = Decimal(0)


def _first(pair: tuple) -> int:
    return pair[0]


def digest_of(facts: CustomerFacts) -> LadderDigest:
    # The event path calls this for every event: one pass over the orders computes each
    # counted order's moment and net amount once, and a customer with one currency (most)
    # skips the grouping.
    counted = [(epoch_us(order.placed_at), order.currency, order.net_amount, order.paid)
               for order in facts.orders if counted_any_payment(order)]
    if not counted:
        return LadderDigest(has_account=facts.has_account, open_cart_lines=facts.open_cart_lines, moments=(),
                            paid_moments=(), median_gap_us=None, paid_median_gap_us=None, spend_currencies=(),
                            spend_starts=(1,), spend_moments=(), spend_from=(), paid_spend_from=())
    counted.sort(key=_first)  # stable, as `sorted`: ties keep the host's order
    moments = [us for us, _, _, _ in counted]
    paid = [us for us, _, _, is_paid in counted if is_paid]
    currencies = sorted({currency for _, currency, _, _ in counted})
    if len(currencies) == 1:
        groups = [counted]
    else:
        groups = [[item for item in counted if item[1] == currency] for currency in currencies]
    starts, spend_moments, spend_from, paid_from = [], [], [], []
    for mine in groups:
        starts.append(len(spend_moments) + 1)
        spend_moments += [us for us, _, _, _ in mine]
        spend_moments.append(SENTINEL)
        spend_from += _spend_from([(us, net) for us, _, net, _ in mine])
        paid_from += _spend_from([(us, net if is_paid else _ZERO) for us, _, net, is_paid in mine])
    starts.append(len(spend_moments) + 1)
    return LadderDigest(
        has_account=facts.has_account, open_cart_lines=facts.open_cart_lines,
        moments=tuple(moments), paid_moments=tuple(paid),
        median_gap_us=median_gap_us(moments), paid_median_gap_us=median_gap_us(paid),
        spend_currencies=tuple(currencies), spend_starts=tuple(starts),
        spend_moments=tuple(spend_moments), spend_from=tuple(spend_from), paid_spend_from=tuple(paid_from),
    )


def _spend_from(orders: list[tuple[int, Decimal]]) -> list[Decimal]:
    """For each (moment, amount), ascending, the spend of the orders placed at that moment or
    later (orders at one moment share it, whatever their order), then 0 (the sentinel's)."""
    sums = [Decimal(0)]
    running, index = Decimal(0), len(orders) - 1
    while index >= 0:
        moment, group = orders[index][0], index
        while group >= 0 and orders[group][0] == moment:
            running += orders[group][1]
            group -= 1
        sums += [running] * (index - group)
        index = group
    return sums[::-1]
