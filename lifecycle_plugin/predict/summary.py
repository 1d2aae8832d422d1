"""Counted orders → the papers' per-customer summary (x, t_x, T, average repeat spend).

Time unit: the models are fitted in **weeks**, as in both papers, so fitted α and the
CDNOW figures compare directly; orders come in as **days** (any epoch, fractions
allowed) and are converted here (``/ 7``).

A *transaction* is a customer's calendar day with at least one order: several orders
on the same day count once and their amounts add up, as in the CDNOW summary. Then,
per customer, with the first transaction as time zero:

- ``x``: repeat transactions (transactions after the first);
- ``t_x``: time of the last transaction (0 without repeats);
- ``T``: time from the first transaction to the end of the observation period;
- ``monetary``: average value of the repeat transactions (0 without repeats); the
  first purchase is left out, as in the Gamma-Gamma paper's CDNOW example.

Orders after ``end_day`` are ignored, so one order history serves a calibration
period and the holdout after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._deps import load

np, _special, _optimize = load()

DAYS_PER_WEEK = 7.0


@dataclass(frozen=True)
class Summary:
    """One entry per customer with an order by ``end_day``, in ascending customer order."""

    customer: "np.ndarray"  # the caller's customer keys (int64)
    x: "np.ndarray"  # repeat transactions
    t_x: "np.ndarray"  # weeks from first to last transaction
    T: "np.ndarray"  # weeks from first transaction to end_day
    monetary: "np.ndarray"  # average repeat-transaction value
    transactions: "np.ndarray"  # x + 1 (the first transaction included)

    def __len__(self) -> int:
        return len(self.customer)


def summarise(customer, day, amount, *, end_day: float) -> Summary:
    """Summarise orders given as equal-length arrays: customer key, day (float), amount.

    ``end_day`` is the last day observed (the same epoch as ``day``): a customer whose
    first order is on ``end_day`` has T = 0. Vectorised: a sort and a few reductions,
    no Python loop over customers or orders.
    """
    customer = np.asarray(customer, dtype=np.int64)
    # int32 days: ±5.8 million years either side of the epoch, half the memory of int64.
    calendar_day = np.floor(np.asarray(day, dtype=float)).astype(np.int32)
    amount = np.asarray(amount, dtype=float)
    observed = calendar_day <= np.floor(end_day)
    if not observed.all():
        customer, calendar_day, amount = customer[observed], calendar_day[observed], amount[observed]
    del observed

    # Orders fetched ORDER BY customer, day need no sort (and no sorted copies).
    if not _sorted_by_customer_then_day(customer, calendar_day):
        order = np.lexsort((calendar_day, customer))
        customer, calendar_day, amount = customer[order], calendar_day[order], amount[order]
        del order

    # Transactions: one per (customer, calendar day), amounts summed.
    new_transaction = np.ones(len(customer), dtype=bool)
    new_transaction[1:] = (customer[1:] != customer[:-1]) | (calendar_day[1:] != calendar_day[:-1])
    starts = np.flatnonzero(new_transaction)
    del new_transaction
    if not len(starts):
        empty = np.zeros(0)
        return Summary(customer=customer, x=empty, t_x=empty, T=empty, monetary=empty, transactions=empty)
    value = np.add.reduceat(amount, starts)
    customer, calendar_day = customer[starts], calendar_day[starts]
    del starts

    # Customers: runs of transactions, already sorted by day within each customer.
    first_of_customer = np.ones(len(customer), dtype=bool)
    first_of_customer[1:] = customer[1:] != customer[:-1]
    first = np.flatnonzero(first_of_customer)
    last = np.append(first[1:], len(customer)).astype(np.int64) - 1
    transactions = last - first + 1
    total = np.add.reduceat(value, first)
    repeat_spend = total - value[first]
    x = transactions - 1
    first_day = calendar_day[first].astype(float)
    return Summary(
        customer=customer[first],
        x=x.astype(float),
        t_x=(calendar_day[last] - first_day) / DAYS_PER_WEEK,
        T=(np.floor(end_day) - first_day) / DAYS_PER_WEEK,
        monetary=np.divide(repeat_spend, x, out=np.zeros(len(x)), where=x > 0),
        transactions=transactions,
    )


def _sorted_by_customer_then_day(customer, calendar_day) -> bool:
    step = np.diff(customer)
    if (step < 0).any():
        return False
    same_customer = step == 0
    del step
    return not (same_customer & (calendar_day[1:] < calendar_day[:-1])).any()
