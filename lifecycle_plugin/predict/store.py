"""A whole store's predictions from its counted orders: what the daily task will call.

    prediction = predict_store(customer, day, amount, currency, as_of_day=today)

- the purchase model (BG/NBD) is fitted over all counted orders, whatever their currency;
- the spend model (Gamma-Gamma) is fitted per currency, over that currency's orders only,
  since amounts in different currencies are never added together;
- each customer gets expected orders in the next ``horizon_days`` (365), the probability
  they are still active, and per currency a predicted spend over the horizon:

      spend_c = expected orders × share_c × expected average spend_c

  where share_c is the customer's share of their transactions (order days) made in
  currency c so far, and expected average spend_c is the Gamma-Gamma conditional
  expectation from their repeat transactions in c. A customer who never bought in c
  has share 0 and no spend in c.

Nothing is predicted from noise: a store with fewer than MIN_REPEAT_BUYERS repeat
buyers gets no purchase model, a currency with fewer gets no spend model, and a fit
that does not converge is dropped; each says why in ``reason``. Without numpy/scipy
the result carries the reason too and every figure is None.

This module imports numpy and scipy only inside :func:`predict_store`, so it can be
imported (and its result type used) where the ``predict`` extra is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._deps import PredictUnavailable
from .guard import MIN_REPEAT_BUYERS, NoFit

#: How far ahead orders and spend are predicted.
HORIZON_DAYS = 365


@dataclass(frozen=True)
class CurrencySpend:
    """Predicted spend in one currency; ``model`` and ``spend`` are None when ``reason`` says why."""

    currency: str
    model: Any = None  # gamma_gamma.GammaGamma
    reason: str | None = None
    expected_average_spend: Any = None  # per customer, aligned with StorePrediction.customer
    spend: Any = None  # per customer: predicted spend over the horizon


@dataclass(frozen=True)
class StorePrediction:
    """Per-customer predictions, arrays aligned with ``customer`` (ascending keys)."""

    horizon_days: float
    customer: Any = None
    purchase_model: Any = None  # bgnbd.BgNbd
    reason: str | None = None
    expected_orders: Any = None
    probability_alive: Any = None
    spend: dict[str, CurrencySpend] = field(default_factory=dict)


def predict_store(
    customer,
    day,
    amount,
    currency,
    *,
    as_of_day: float,
    currency_names: tuple[str, ...] | None = None,
    horizon_days: float = HORIZON_DAYS,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
) -> StorePrediction:
    """Fit both models on the orders up to ``as_of_day`` and score every customer who has one.

    Orders are equal-length arrays: customer key (int), day (calendar day number, or a
    float day floored to one; any epoch), amount (net of refunds), and currency: codes
    ("USD"), or small integers indexing ``currency_names``. Only counted orders belong
    here. Leanest at a million customers: orders sorted by customer then day, days as
    int32, currencies as int8 indexes (see bench/predict.py).
    """
    try:
        from . import bgnbd, gamma_gamma
        from .summary import DAYS_PER_WEEK, summarise
    except PredictUnavailable as error:
        return StorePrediction(horizon_days=horizon_days, reason=str(error))
    import numpy as np  # present: the model modules above loaded it

    customer, day, amount, currency = (np.asarray(values) for values in (customer, day, amount, currency))
    # Spend first, one currency at a time, while only the orders are in memory: each
    # currency's orders are copied out for its summary, and only what the spend
    # prediction needs is kept.
    per_currency = []
    for code, in_currency in _currency_masks(np, currency, currency_names):
        summary = summarise(customer[in_currency], day[in_currency], amount[in_currency], end_day=as_of_day)
        del in_currency
        try:
            model, reason = gamma_gamma.fit(summary.x, summary.monetary, min_repeat_buyers=min_repeat_buyers), None
        except NoFit as no_fit:
            model, reason = None, no_fit.reason
        per_currency.append((code, model, reason, summary.customer, summary.x, summary.monetary, summary.transactions))
        del summary

    summary = summarise(customer, day, amount, end_day=as_of_day)
    try:
        purchases = bgnbd.fit(summary.x, summary.t_x, summary.T, min_repeat_buyers=min_repeat_buyers)
    except NoFit as no_fit:
        return StorePrediction(horizon_days=horizon_days, customer=summary.customer, reason=no_fit.reason)
    expected_orders = bgnbd.expected_purchases(
        purchases, horizon_days / DAYS_PER_WEEK, summary.x, summary.t_x, summary.T
    )

    # Transactions per customer across currencies, for each customer's currency shares.
    all_transactions = np.zeros(len(summary), dtype=float)
    for *_, buyers, _x, _monetary, transactions in per_currency:
        all_transactions[np.searchsorted(summary.customer, buyers)] += transactions

    spend = {}
    for code, model, reason, buyers, x, monetary, transactions in per_currency:
        if model is None:
            spend[code] = CurrencySpend(currency=code, reason=reason)
            continue
        rows = np.searchsorted(summary.customer, buyers)
        average = np.full(len(summary), np.nan)
        average[rows] = gamma_gamma.expected_average_spend(model, x, monetary)
        in_currency = np.zeros(len(summary))
        in_currency[rows] = expected_orders[rows] * transactions / all_transactions[rows] * average[rows]
        spend[code] = CurrencySpend(currency=code, model=model, expected_average_spend=average, spend=in_currency)
    return StorePrediction(
        horizon_days=horizon_days,
        customer=summary.customer,
        purchase_model=purchases,
        expected_orders=expected_orders,
        probability_alive=bgnbd.probability_alive(purchases, summary.x, summary.t_x, summary.T),
        spend=spend,
    )


def _currency_masks(np, currency, names):
    """``(code, mask of its orders)`` for each currency, in sorted order.

    One comparison pass per currency (a store has a handful) instead of np.unique,
    which would sort a copy of millions of strings.
    """
    codes = []
    unassigned = np.ones(len(currency), dtype=bool)
    while unassigned.any():
        code = currency[int(np.argmax(unassigned))]
        codes.append(code)
        unassigned &= currency != code
    del unassigned
    named = {(str(code) if names is None else names[int(code)]): code for code in codes}
    for name in sorted(named):
        yield name, currency == named[name]
