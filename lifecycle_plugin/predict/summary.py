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
    """Summarise orders given as equal-length arrays: customer key (int), day, amount.

    ``day`` is a calendar day number (integers; the leanest input, no conversion) or
    a fractional day (floats, floored to its calendar day). ``end_day`` is the last
    day observed (the same epoch as ``day``): a customer whose first order is on
    ``end_day`` has T = 0. Vectorised: at most one sort and a few reductions, no
    Python loop over customers or orders.
    """
    customer = np.asarray(customer)
    if not np.issubdtype(customer.dtype, np.integer):
        customer = customer.astype(np.int64)
    calendar_day = _calendar_day(np.asarray(day))
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

    if not len(customer):
        empty = np.zeros(0)
        return Summary(customer=customer, x=empty, t_x=empty, T=empty, monetary=empty, transactions=empty)

    # Straight from the sorted orders to one row per customer, without an intermediate
    # array per transaction (that would be most of the orders again, at a million customers).
    first = np.flatnonzero(np.concatenate(([True], customer[1:] != customer[:-1])))
    ends = np.append(first[1:], len(customer))
    # A transaction starts at each customer's first order and wherever the day changes.
    new_day = np.concatenate(([True], calendar_day[1:] != calendar_day[:-1]))
    new_day[first] = True
    transactions = np.add.reduceat(new_day, first, dtype=np.int64)
    del new_day
    first_day = calendar_day[first]
    on_first_day = calendar_day == np.repeat(first_day, ends - first)
    first_day_spend = np.add.reduceat(np.where(on_first_day, amount, 0.0), first)
    del on_first_day
    repeat_spend = np.add.reduceat(amount, first) - first_day_spend
    x = transactions - 1
    first_day = first_day.astype(float)
    return Summary(
        customer=customer[first],
        x=x.astype(float),
        t_x=(calendar_day[ends - 1] - first_day) / DAYS_PER_WEEK,
        T=(np.floor(end_day) - first_day) / DAYS_PER_WEEK,
        monetary=np.divide(repeat_spend, x, out=np.zeros(len(x)), where=x > 0),
        transactions=transactions,
    )


def _calendar_day(day):
    """int32 calendar days (±5.8 million years around the epoch: half the memory of int64)."""
    if np.issubdtype(day.dtype, np.integer):
        return day.astype(np.int32, copy=False)
    calendar_day = day.astype(np.int32)  # truncates towards zero ...
    calendar_day -= day < calendar_day  # ... so step back one day below zero: floor
    return calendar_day


def _sorted_by_customer_then_day(customer, calendar_day) -> bool:
    if (customer[1:] < customer[:-1]).any():
        return False
    same_customer = customer[1:] == customer[:-1]
    return not (same_customer & (calendar_day[1:] < calendar_day[:-1])).any()
