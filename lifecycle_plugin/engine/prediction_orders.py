"""The counted orders of every customer with a profile, as lean arrays for the models.

Read through the host's facts (`Host.read_facts`, chunk by chunk over
`Host.customer_chunks`, as the backfill reads), which works on any host; `prediction_orders_sql` reads the same orders faster where the host has SQL
(`predictions.read_counted_orders` picks; tests/sandbox/test_prediction_reading.py). Only four numbers per order are kept, in arrays that grow chunk by chunk: the
profile id (int64), the calendar day (int32, proleptic ordinal), the amount net of
refunds (float64) and the currency (int8 index into `currencies`). No Python object
per order outlives its chunk.

A customer's orders in one currency placed at the same microsecond are one entry, their
net amounts added exactly before the float: the models add up a day's orders anyway, and
the ladder digest (`prediction_orders_digest`) can only give them so. Within a customer,
entries go by moment, then currency code, in every reader, so the arrays are equal
whichever reader made them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timezone as dt_timezone
from decimal import Decimal

from ..models import CustomerProfile
from ..rules import counts
from .deletion import apply_tombstones

#: int8 currency indexes: far more than a store sells in.
MAX_CURRENCIES = 127


@dataclass
class OrderArrays:
    """Counted orders, one entry per customer, currency and moment (see the module's
    docstring), sorted by profile id, then moment and currency code."""

    profile: object  # numpy int64
    day: object  # numpy int32: date.toordinal() of the order's UTC day
    amount: object  # numpy float64, net of refunds
    currency: object  # numpy int8, index into `currencies`
    currencies: tuple[str, ...]
    customers: int = 0  # profiles with at least one counted order
    repeat_buyers: int = 0  # of those, with orders on two or more days
    #: Customers with counted orders but no profile yet (not predicted); None when the
    #: reader cannot know (the digests exist only for profiles).
    unprofiled: int | None = 0
    skipped_currencies: list[str] = field(default_factory=list)


def join_columns(parts: dict[str, list], kinds: dict, *, sort: bool) -> dict:
    """Each column's chunks (`parts`, emptied) joined into one array of its kind, column by
    column, so that the orders are held twice over only one column at a time; with `sort`,
    ordered by profile one column at a time (the summary need not sort and copy all four
    at once), stably: a customer's entries keep their order by moment and currency."""
    import numpy as np

    columns = {}
    for name, kind in kinds.items():
        columns[name] = np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype=kind)
        parts[name].clear()
    if sort:
        order = np.argsort(columns["profile"], kind="stable")
        for name in columns:
            columns[name] = columns[name][order]
    return columns


def order_day(moment) -> int:
    return moment.astimezone(dt_timezone.utc).date().toordinal()


def read_counted_orders_through_facts(engine, chunk_size: int = 2000, chunks=None) -> OrderArrays:
    """`read_counted_orders` through `Host.read_facts`: any host, any hooks. `chunks`
    (lists of `CustomerRef`) reads only those customers; the whole store by default."""
    import numpy as np

    config, now = engine.config, engine.clock()
    if chunks is None:
        chunks = engine.host.customer_chunks(chunk_size)
    currency_index: dict[str, int] = {}
    skipped: set[str] = set()
    #: Per column, one array per chunk (`join_columns`).
    parts: dict[str, list] = {"profile": [], "day": [], "amount": [], "currency": []}
    customers = repeat_buyers = unprofiled = 0
    for chunk in chunks:
        facts = apply_tombstones(engine.host.read_facts(chunk))
        profile_ids = dict(
            CustomerProfile.objects.filter(email__in=[ref.email for ref in chunk]).values_list("email", "id")
        )
        keys: list[int] = []
        days: list[int] = []
        amounts: list[float] = []
        codes: list[int] = []
        for ref in chunk:
            orders = [order for order in facts[ref].orders if counts(order, config) and order.placed_at <= now]
            if not orders:
                continue
            profile_id = profile_ids.get(ref.email)
            if profile_id is None:
                unprofiled += 1
                continue
            customer_days = set()
            groups: dict[tuple, Decimal] = {}
            for order in orders:
                key = (order.placed_at, order.currency)
                groups[key] = groups.get(key, Decimal(0)) + order.net_amount
            for (placed_at, currency), amount in sorted(groups.items()):
                index = currency_index.get(currency)
                if index is None:
                    if len(currency_index) >= MAX_CURRENCIES:
                        skipped.add(currency)
                        continue
                    index = currency_index[currency] = len(currency_index)
                day = order_day(placed_at)
                customer_days.add(day)
                keys.append(profile_id)
                days.append(day)
                amounts.append(float(amount))
                codes.append(index)
            customers += 1
            repeat_buyers += len(customer_days) > 1
        for name, values, kind in (("profile", keys, np.int64), ("day", days, np.int32),
                                   ("amount", amounts, np.float64), ("currency", codes, np.int8)):
            parts[name].append(np.array(values, dtype=kind))
    # Profile ids do not follow the e-mail order the chunks come in: sorted here.
    columns = join_columns(parts, {"profile": np.int64, "day": np.int32, "amount": np.float64,
                                   "currency": np.int8}, sort=True)
    return OrderArrays(
        **columns,
        currencies=tuple(sorted(currency_index, key=currency_index.get)),
        customers=customers, repeat_buyers=repeat_buyers, unprofiled=unprofiled, skipped_currencies=sorted(skipped),
    )
