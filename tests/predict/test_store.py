"""A store's predictions: the purchase model over all orders, spend per currency, never summed across them."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from lifecycle_plugin.predict import bgnbd, gamma_gamma  # noqa: E402
from lifecycle_plugin.predict.simulate import Population, simulate_orders  # noqa: E402
from lifecycle_plugin.predict.store import HORIZON_DAYS, predict_store  # noqa: E402
from lifecycle_plugin.predict.summary import summarise  # noqa: E402

POPULATION = Population(r=0.8, alpha=12.0, a=0.6, b=3.0, p_spend=4.0, q=3.0, gamma=60.0)
AS_OF = 730.0
BOTH = 10**6  # a customer key no simulated customer has


@pytest.fixture(scope="module")
def store():
    orders = simulate_orders(
        POPULATION, 8000, days=AS_OF, acquisition_days=540, seed=11, currencies=(("USD", 0.6), ("PLN", 0.4))
    )
    # One customer who buys in both currencies: 3 order days in USD, 1 in PLN (day 20 has both).
    customer = np.concatenate([orders.customer, np.full(5, BOTH)])
    day = np.concatenate([orders.day, [10.0, 20.0, 20.5, 30.0, 300.0]])
    amount = np.concatenate([orders.amount, [50.0, 70.0, 400.0, 90.0, 60.0]])
    currency = np.concatenate([orders.currency, ["USD", "USD", "PLN", "USD", "USD"]])
    return customer, day, amount, currency, predict_store(customer, day, amount, currency, as_of_day=AS_OF)


def test_the_purchase_model_is_fitted_over_all_orders(store):
    customer, day, amount, _currency, prediction = store
    summary = summarise(customer, day, amount, end_day=AS_OF)
    model = bgnbd.fit(summary.x, summary.t_x, summary.T)
    assert prediction.purchase_model == model
    np.testing.assert_array_equal(prediction.customer, summary.customer)
    np.testing.assert_allclose(
        prediction.expected_orders, bgnbd.expected_purchases(model, HORIZON_DAYS / 7, summary.x, summary.t_x, summary.T)
    )
    np.testing.assert_allclose(prediction.probability_alive, bgnbd.probability_alive(model, summary.x, summary.t_x, summary.T))


def test_spend_is_fitted_and_predicted_per_currency(store):
    customer, day, amount, currency, prediction = store
    assert sorted(prediction.spend) == ["PLN", "USD"]
    for code in ("PLN", "USD"):
        mine = currency == code
        summary = summarise(customer[mine], day[mine], amount[mine], end_day=AS_OF)
        model = gamma_gamma.fit(summary.x, summary.monetary)
        assert prediction.spend[code].model == model
        rows = np.searchsorted(prediction.customer, summary.customer)
        single = summary.customer != BOTH
        expected = prediction.expected_orders[rows] * gamma_gamma.expected_average_spend(model, summary.x, summary.monetary)
        np.testing.assert_allclose(prediction.spend[code].spend[rows][single], expected[single])
        # Customers who never bought in this currency have no spend in it.
        others = np.setdiff1d(np.arange(len(prediction.customer)), rows)
        assert (prediction.spend[code].spend[others] == 0).all()


def test_a_customer_in_two_currencies_splits_by_their_order_days(store):
    _customer, _day, _amount, _currency, prediction = store
    row = np.searchsorted(prediction.customer, BOTH)
    expected_orders = prediction.expected_orders[row]
    usd, pln = prediction.spend["USD"], prediction.spend["PLN"]
    # 5 orders on 4 order days: USD on days 10, 20, 30, 300; PLN on day 20: shares 4/5 and 1/5.
    usd_average = gamma_gamma.expected_average_spend(usd.model, 3, (70.0 + 90.0 + 60.0) / 3)
    pln_average = gamma_gamma.expected_average_spend(pln.model, 0, 0.0)
    assert usd.spend[row] == pytest.approx(expected_orders * 4 / 5 * usd_average)
    assert pln.spend[row] == pytest.approx(expected_orders * 1 / 5 * pln_average)
    assert prediction.purchase_model is not None and prediction.reason is None


def test_currencies_as_indexes_into_their_names_give_the_same_prediction(store):
    customer, day, amount, currency, prediction = store
    names = ("USD", "PLN")
    indexes = np.where(currency == "USD", 0, 1).astype(np.int8)
    lean = predict_store(
        customer, np.floor(day).astype(np.int32), amount, indexes, currency_names=names, as_of_day=AS_OF
    )
    assert lean.purchase_model == prediction.purchase_model
    np.testing.assert_array_equal(lean.expected_orders, prediction.expected_orders)
    assert sorted(lean.spend) == ["PLN", "USD"]
    for code in names:
        assert lean.spend[code].model == prediction.spend[code].model
        np.testing.assert_array_equal(lean.spend[code].spend, prediction.spend[code].spend)
