"""The prediction run reads through the host: on the in-memory host too, with the same figures
as the pure models called on the orders the test wrote (not read back through the run)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.engine.predictions import run_predictions
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import CustomerProfile
from lifecycle_plugin.testing import MemoryHost

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from lifecycle_plugin.predict.simulate import Population, simulate_orders  # noqa: E402
from lifecycle_plugin.predict.store import predict_store  # noqa: E402

DAYS = 730


@pytest.mark.django_db
def test_the_run_on_the_in_memory_host_matches_the_models_on_the_written_orders(clock):
    host = MemoryHost()
    engine = LifecycleEngine(host, clock=clock, plugin_manager=make_plugin_manager(builtins=[], load_entry_points=False))
    start = clock.now - timedelta(days=DAYS)
    drawn = simulate_orders(Population(r=0.8, alpha=12.0, a=0.6, b=3.0, p_spend=4.0, q=3.0, gamma=60.0), 300,
                            days=DAYS, acquisition_days=365, seed=9, currencies=(("USD", 0.6), ("EUR", 0.4)))
    written = {"customer": [], "day": [], "amount": [], "currency": []}
    for customer, day, amount, currency in zip(drawn.customer, drawn.day, drawn.amount, drawn.currency):
        total = f"{max(float(amount), 1):.2f}"
        placed_at = start + timedelta(days=float(day))
        host.order(f"c{customer}@example.com", placed_at, total=total, currency=str(currency), guest=True)
        written["customer"].append(int(customer))
        written["day"].append(placed_at.date().toordinal())
        written["amount"].append(float(total))
        written["currency"].append(str(currency))
    backfill(engine)

    report = run_predictions(engine, repeat_buyers_needed=30)

    expected = predict_store(*(np.array(written[name]) for name in ("customer", "day", "amount", "currency")),
                             as_of_day=clock.now.date().toordinal(), min_repeat_buyers=30)
    assert report.reason is None and report.predicted == len(expected.customer) == 300
    stored = {int(email[1:].split("@")[0]): (orders, active, spend) for email, orders, active, spend in
              CustomerProfile.objects.values_list("email", "predicted_orders_365", "probability_active",
                                                  "predicted_spend")}
    for position, customer in enumerate(expected.customer.tolist()):
        orders, active, spend = stored[customer]
        assert orders == pytest.approx(expected.expected_orders[position], rel=1e-9)
        assert active == pytest.approx(expected.probability_alive[position], rel=1e-9)
        for code, per_currency in expected.spend.items():
            if per_currency.spend is not None and per_currency.spend[position] > 0:
                assert float(spend[code]) == pytest.approx(per_currency.spend[position], abs=0.005)
