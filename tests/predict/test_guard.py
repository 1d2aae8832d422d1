"""Too little data, or data the model cannot fit, gives a reason and no parameters."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from lifecycle_plugin.predict import MIN_REPEAT_BUYERS, NoFit, bgnbd, gamma_gamma  # noqa: E402
from lifecycle_plugin.predict.simulate import Population, simulate_orders  # noqa: E402
from lifecycle_plugin.predict.store import predict_store  # noqa: E402

from .cdnow import published_summary  # noqa: E402

POPULATION = Population(r=0.8, alpha=12.0, a=0.6, b=3.0, p_spend=4.0, q=3.0, gamma=60.0)


def test_the_threshold_is_two_hundred_repeat_buyers():
    assert MIN_REPEAT_BUYERS == 200


def test_fewer_repeat_buyers_than_the_threshold_get_no_fit():
    cdnow = published_summary()
    repeat = np.flatnonzero(cdnow["x"] > 0)
    keep = np.concatenate([repeat[:199], np.flatnonzero(cdnow["x"] == 0)])
    x, t_x, T, zbar = (cdnow[name][keep] for name in ("x", "t_x", "T", "zbar"))
    with pytest.raises(NoFit, match="199 customers bought more than once, the purchase model needs at least 200"):
        bgnbd.fit(x, t_x, T)
    with pytest.raises(NoFit, match="199 customers bought more than once with a positive spend"):
        gamma_gamma.fit(x, zbar)
    # One more repeat buyer and both fit.
    keep = np.concatenate([repeat[:200], np.flatnonzero(cdnow["x"] == 0)])
    assert bgnbd.fit(cdnow["x"][keep], cdnow["t_x"][keep], cdnow["T"][keep]).repeat_buyers == 200
    assert gamma_gamma.fit(cdnow["x"][keep], cdnow["zbar"][keep]).repeat_buyers == 200


def test_a_small_store_gets_a_reason_and_no_predictions():
    orders = simulate_orders(POPULATION, 150, days=730, acquisition_days=365, seed=3)
    prediction = predict_store(orders.customer, orders.day, orders.amount, orders.currency, as_of_day=730)
    assert prediction.purchase_model is None
    assert prediction.expected_orders is None and prediction.probability_alive is None
    assert prediction.spend == {}
    assert "too little data" in prediction.reason and "at least 200" in prediction.reason
    assert len(prediction.customer) == 150


def test_a_currency_with_too_few_repeat_buyers_gets_a_reason_the_others_a_fit():
    orders = simulate_orders(
        POPULATION, 6000, days=730, acquisition_days=365, seed=4, currencies=(("USD", 0.97), ("PLN", 0.03))
    )
    prediction = predict_store(orders.customer, orders.day, orders.amount, orders.currency, as_of_day=730)
    assert prediction.purchase_model is not None
    usd, pln = prediction.spend["USD"], prediction.spend["PLN"]
    assert usd.model is not None and usd.reason is None
    assert pln.model is None and pln.spend is None
    assert "too little data" in pln.reason and "spend model needs at least 200" in pln.reason


def test_no_drop_out_in_sight_is_refused_not_reported():
    # Every customer buys every week up to the last day: nothing tells how customers
    # drop out, so the drop-out parameters run to the edge of the search.
    customers = 300
    x = np.full(customers, 20.0)
    with pytest.raises(NoFit, match="to zero or infinity: the orders do not identify the model"):
        bgnbd.fit(x, x, x)


def test_identical_spend_everywhere_is_refused_not_reported():
    # All customers spend exactly 50: no spread between customers to fit γ and q from.
    x = np.tile([1.0, 2.0, 3.0, 5.0], 100)
    with pytest.raises(NoFit, match=r"spend \(Gamma-Gamma\) fit (did not converge|ran .* to zero or infinity)"):
        gamma_gamma.fit(x, np.full(len(x), 50.0))


def test_spend_without_a_finite_mean_is_refused():
    # Heavy-tailed averages (log-normal with a huge spread) drive q below 1.
    rng = np.random.default_rng(7)
    x = rng.integers(1, 4, 2000).astype(float)
    zbar = np.exp(rng.normal(3.0, 4.0, 2000))
    with pytest.raises(NoFit, match="has no finite mean"):
        gamma_gamma.fit(x, zbar)
