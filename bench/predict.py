"""Predicted value benchmark: the daily fit and scoring of 1,000,000 customers.

    .venv/bin/python bench/predict.py --seed 1

No database: the orders are drawn from a known BG/NBD + Gamma-Gamma population
(lifecycle_plugin.predict.simulate; three years, customers acquired over the first
two, USD for 80% of them and PLN for the rest, about 5 orders each) by one child and
saved to a scratch folder. A fresh child then loads them and runs what the daily task
will run, `predict_store` as of the last day: the per-customer summary, the purchase
model fitted over all orders, the spend model fitted per currency, and every
customer's expected orders, probability alive and 12-month spend per currency. Its
time is timed in the child; its peak memory is the child's ru_maxrss (inputs, numpy
and scipy included). A third child times each phase on its own, for the breakdown.

Targets (issue #15): at most 120 s and 400 MB at 1,000,000 customers.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "predict.py"
DAYS = 3 * 365
ACQUISITION_DAYS = 2 * 365
CURRENCIES = (("USD", 0.8), ("PLN", 0.2))


def _population():
    from lifecycle_plugin.predict.simulate import Population

    return Population(r=0.8, alpha=12.0, a=0.6, b=3.0, p_spend=4.0, q=3.0, gamma=60.0)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_draw(folder: str, customers: str, seed: str) -> None:
    import numpy as np

    from lifecycle_plugin.predict.simulate import simulate_orders

    started = time.perf_counter()
    orders = simulate_orders(
        _population(), int(customers), days=DAYS, acquisition_days=ACQUISITION_DAYS, seed=int(seed),
        currencies=CURRENCIES,
    )
    # As the daily task will fetch them: ORDER BY customer, day; days as int32 calendar
    # days; currencies as int8 indexes into CURRENCIES.
    np.save(os.path.join(folder, "customer.npy"), orders.customer)
    np.save(os.path.join(folder, "day.npy"), np.floor(orders.day).astype(np.int32))
    np.save(os.path.join(folder, "amount.npy"), orders.amount)
    index = {name: number for number, (name, _share) in enumerate(CURRENCIES)}
    np.save(os.path.join(folder, "currency.npy"), np.vectorize(index.get, otypes=[np.int8])(orders.currency))
    common.answer(orders=len(orders.customer), seconds=time.perf_counter() - started)


def _load(folder: str):
    import numpy as np

    return [np.load(os.path.join(folder, f"{name}.npy")) for name in ("customer", "day", "amount", "currency")]


def child_fit(folder: str) -> None:
    import numpy as np  # noqa: F401  (imported before the baseline, as the daily task would have it)
    import scipy.optimize  # noqa: F401

    from lifecycle_plugin.predict.store import predict_store

    customer, day, amount, currency = _load(folder)
    baseline = _peak_mb()
    started = time.perf_counter()
    names = tuple(name for name, _share in CURRENCIES)
    prediction = predict_store(customer, day, amount, currency, currency_names=names, as_of_day=DAYS)
    seconds = time.perf_counter() - started
    model = prediction.purchase_model
    common.answer(
        seconds=seconds,
        baseline_maxrss_mb=baseline,
        customers=len(prediction.customer),
        reason=prediction.reason,
        purchase_model={"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b},
        spend_models={
            code: None if spend.model is None else {"p": spend.model.p, "q": spend.model.q, "gamma": spend.model.gamma}
            for code, spend in prediction.spend.items()
        },
    )


def child_phases(folder: str) -> None:
    from lifecycle_plugin.predict import bgnbd
    from lifecycle_plugin.predict.summary import summarise

    customer, day, amount, _currency = _load(folder)
    phases = {}
    started = time.perf_counter()
    summary = summarise(customer, day, amount, end_day=DAYS)
    phases["summary"] = time.perf_counter() - started
    started = time.perf_counter()
    model = bgnbd.fit(summary.x, summary.t_x, summary.T)
    phases["purchase_fit"] = time.perf_counter() - started
    started = time.perf_counter()
    bgnbd.expected_purchases(model, 365 / 7, summary.x, summary.t_x, summary.T)
    bgnbd.probability_alive(model, summary.x, summary.t_x, summary.T)
    phases["purchase_scoring"] = time.perf_counter() - started
    common.answer(**phases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=common.DEFAULT_SEED)
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=common.argparse_suppress())
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, common.ROOT)
        kind, *rest = args.child
        {"draw": child_draw, "fit": child_fit, "phases": child_phases}[kind](*rest)
        return

    with tempfile.TemporaryDirectory(prefix="bench-predict-") as folder:
        common.log(f"drawing the orders of {args.customers:,} customers (seed {args.seed})")
        drawn = common.run_child(SCRIPT, "", "draw", folder, str(args.customers), str(args.seed))
        common.log(f"{drawn['orders']:,} orders in {drawn['seconds']:.0f}s")
        fitted = common.run_child(SCRIPT, "", "fit", folder)
        common.emit(
            figure="predict_store", customers=fitted["customers"], orders=drawn["orders"],
            seconds=round(fitted["seconds"], 2), peak_mb=round(fitted["child_maxrss_mb"], 1),
            inputs_loaded_mb=round(fitted["baseline_maxrss_mb"], 1), reason=fitted["reason"],
            purchase_model=fitted["purchase_model"], spend_models=fitted["spend_models"],
        )
        phases = common.run_child(SCRIPT, "", "phases", folder)
        phases.pop("child_maxrss_mb")
        common.emit(figure="phases", **{name: round(value, 2) for name, value in phases.items()})


if __name__ == "__main__":
    main()
