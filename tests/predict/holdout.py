"""The holdout check on a generated store: fit on months 1–24, predict months 25–36.

Orders are drawn from a known BG/NBD + Gamma-Gamma population
(lifecycle_plugin.predict.simulate), so the fit can be checked against the parameters
drawn from, and the predictions against the orders the customers then placed.
docs/predictions.md shows the table this module renders; to reproduce it:

    python -m tests.predict.holdout
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lifecycle_plugin.predict.simulate import Population, simulate_orders
from lifecycle_plugin.predict.store import StorePrediction, predict_store
from lifecycle_plugin.predict.summary import summarise

#: A store-like population (α in weeks): about 3.5 orders a year while active, one in
#: six customers gone after each repeat order, orders of about 120 on average.
POPULATION = Population(r=0.8, alpha=12.0, a=0.6, b=3.0, p_spend=4.0, q=3.0, gamma=60.0)
CUSTOMERS = 20_000
SEED = 1
MONTH = 365.25 / 12
#: Customers are acquired through months 1–24; the fit sees orders up to this day ...
CALIBRATION_END = float(np.floor(24 * MONTH))
#: ... and predicts the 365 days after it, months 25–36.
HOLDOUT_END = float(np.floor(36 * MONTH))


@dataclass(frozen=True)
class Decile:
    decile: int
    customers: int
    predicted_orders: float
    actual_orders: float
    predicted_spend: float
    actual_spend: float


@dataclass(frozen=True)
class Holdout:
    prediction: StorePrediction
    deciles: list[Decile]
    predicted_orders: float
    actual_orders: float
    predicted_spend: float
    actual_spend: float


def run() -> Holdout:
    orders = simulate_orders(POPULATION, CUSTOMERS, days=HOLDOUT_END, acquisition_days=CALIBRATION_END, seed=SEED)
    prediction = predict_store(
        orders.customer, orders.day, orders.amount, orders.currency,
        as_of_day=CALIBRATION_END, horizon_days=HOLDOUT_END - CALIBRATION_END,
    )
    # What happened in the holdout, counted the way the model counts (order days).
    calibration = summarise(orders.customer, orders.day, orders.amount, end_day=CALIBRATION_END)
    whole = summarise(orders.customer, orders.day, orders.amount, end_day=HOLDOUT_END)
    actual_orders = whole.transactions - calibration.transactions
    in_holdout = np.floor(orders.day) > CALIBRATION_END
    actual_spend = np.bincount(orders.customer[in_holdout], orders.amount[in_holdout], minlength=CUSTOMERS)

    predicted_orders = prediction.expected_orders
    predicted_spend = prediction.spend["USD"].spend
    ranked = np.argsort(predicted_orders, kind="stable")
    deciles = [
        Decile(
            decile=number,
            customers=len(rows),
            predicted_orders=float(predicted_orders[rows].mean()),
            actual_orders=float(actual_orders[rows].mean()),
            predicted_spend=float(predicted_spend[rows].mean()),
            actual_spend=float(actual_spend[prediction.customer[rows]].mean()),
        )
        for number, rows in enumerate(np.array_split(ranked, 10), start=1)
    ]
    return Holdout(
        prediction=prediction,
        deciles=deciles,
        predicted_orders=float(predicted_orders.sum()),
        actual_orders=float(actual_orders.sum()),
        predicted_spend=float(predicted_spend.sum()),
        actual_spend=float(actual_spend.sum()),
    )


def _error(predicted: float, actual: float) -> str:
    return f"{(predicted - actual) / actual:+.1%}"


def render(holdout: Holdout) -> str:
    """The markdown tables docs/predictions.md shows."""
    purchases = holdout.prediction.purchase_model
    spend = holdout.prediction.spend["USD"].model
    lines = [
        "| parameter | drawn from | fitted on months 1–24 |",
        "|---|---|---|",
    ]
    for label, true, fitted in (
        ("r", POPULATION.r, purchases.r), ("α (weeks)", POPULATION.alpha, purchases.alpha),
        ("a", POPULATION.a, purchases.a), ("b", POPULATION.b, purchases.b),
        ("p", POPULATION.p_spend, spend.p), ("q", POPULATION.q, spend.q), ("γ", POPULATION.gamma, spend.gamma),
    ):
        lines.append(f"| {label} | {true:g} | {fitted:.3f} |")
    lines += [
        "",
        "| decile of predicted orders | customers | predicted orders | actual orders | error "
        "| predicted spend | actual spend | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in holdout.deciles:
        lines.append(
            f"| {d.decile} | {d.customers:,} | {d.predicted_orders:.3f} | {d.actual_orders:.3f} "
            f"| {_error(d.predicted_orders, d.actual_orders)} | {d.predicted_spend:.2f} | {d.actual_spend:.2f} "
            f"| {_error(d.predicted_spend, d.actual_spend)} |"
        )
    customers = sum(d.customers for d in holdout.deciles)
    lines.append(
        f"| all | {customers:,} | {holdout.predicted_orders / customers:.3f} | {holdout.actual_orders / customers:.3f} "
        f"| {_error(holdout.predicted_orders, holdout.actual_orders)} | {holdout.predicted_spend / customers:.2f} "
        f"| {holdout.actual_spend / customers:.2f} | {_error(holdout.predicted_spend, holdout.actual_spend)} |"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(run()), end="")
