"""The counted orders of every customer with a profile, as lean arrays for the models.

Read through the host (`Host.read_facts`, chunk by chunk over `Host.customer_chunks`,
as the backfill reads), so it works the same on Saleor, the sandbox and the in-memory
host. Only four numbers per order are kept, in arrays that grow chunk by chunk: the
profile id (int64), the calendar day (int32, proleptic ordinal), the amount net of
refunds (float64) and the currency (int8 index into `currencies`). No Python object
per order outlives its chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timezone as dt_timezone

from ..models import CustomerProfile
from ..rules import counts
from .deletion import apply_tombstones

#: int8 currency indexes: far more than a store sells in.
MAX_CURRENCIES = 127


@dataclass
class OrderArrays:
    """Counted orders, one entry per order, sorted by profile id then day."""

    profile: object  # numpy int64
    day: object  # numpy int32: date.toordinal() of the order's UTC day
    amount: object  # numpy float64, net of refunds
    currency: object  # numpy int8, index into `currencies`
    currencies: tuple[str, ...]
    customers: int = 0  # profiles with at least one counted order
    repeat_buyers: int = 0  # of those, with orders on two or more days
    unprofiled: int = 0  # customers with counted orders but no profile yet (not predicted)
    skipped_currencies: list[str] = field(default_factory=list)


def order_day(moment) -> int:
    return moment.astimezone(dt_timezone.utc).date().toordinal()


def read_counted_orders(engine, chunk_size: int = 2000) -> OrderArrays:
    """Every customer's counted orders (the stages' rule, `rules.counts`), up to now."""
    import numpy as np

    config = engine.config
    currency_index: dict[str, int] = {}
    skipped: set[str] = set()
    parts: list[tuple] = []
    customers = repeat_buyers = unprofiled = 0
    for chunk in engine.host.customer_chunks(chunk_size):
        facts = apply_tombstones(engine.host.read_facts(chunk))
        profile_ids = dict(
            CustomerProfile.objects.filter(email__in=[ref.email for ref in chunk]).values_list("email", "id")
        )
        keys: list[int] = []
        days: list[int] = []
        amounts: list[float] = []
        codes: list[int] = []
        for ref in chunk:
            orders = [order for order in facts[ref].orders if counts(order, config)]
            if not orders:
                continue
            profile_id = profile_ids.get(ref.email)
            if profile_id is None:
                unprofiled += 1
                continue
            customer_days = set()
            for order in orders:
                index = currency_index.get(order.currency)
                if index is None:
                    if len(currency_index) >= MAX_CURRENCIES:
                        skipped.add(order.currency)
                        continue
                    index = currency_index[order.currency] = len(currency_index)
                day = order_day(order.placed_at)
                customer_days.add(day)
                keys.append(profile_id)
                days.append(day)
                amounts.append(float(order.net_amount))
                codes.append(index)
            customers += 1
            repeat_buyers += len(customer_days) > 1
        if keys:
            parts.append((np.array(keys, dtype=np.int64), np.array(days, dtype=np.int32),
                          np.array(amounts, dtype=np.float64), np.array(codes, dtype=np.int8)))
    if parts:
        profile, day, amount, currency = (np.concatenate(column) for column in zip(*parts))
        del parts
        # Profile ids do not follow the e-mail order the chunks come in: one sort here
        # saves the summary its own (and a second copy of every array).
        order = np.lexsort((day, profile))
        profile, day, amount, currency = profile[order], day[order], amount[order], currency[order]
        del order
    else:
        profile, day, amount, currency = (np.zeros(0, dtype=kind) for kind in (np.int64, np.int32, np.float64, np.int8))
    return OrderArrays(
        profile=profile, day=day, amount=amount, currency=currency,
        currencies=tuple(sorted(currency_index, key=currency_index.get)),
        customers=customers, repeat_buyers=repeat_buyers, unprofiled=unprofiled, skipped_currencies=sorted(skipped),
    )
