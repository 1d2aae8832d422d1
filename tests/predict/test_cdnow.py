"""The models against the papers, on the CDNOW sample (2,357 customers, 39-week calibration).

BG/NBD: Fader, Hardie & Lee (2005), r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL −9582.4.
Gamma-Gamma: Fader & Hardie (2013), p = 6.25, q = 3.74, γ = 15.44, LL −4055.92.
"""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from lifecycle_plugin.predict import bgnbd, gamma_gamma  # noqa: E402
from lifecycle_plugin.predict.summary import summarise  # noqa: E402

from .cdnow import CALIBRATION_END, published_summary, transactions  # noqa: E402


def within_one_percent(actual, expected):
    return abs(actual - expected) <= 0.01 * abs(expected)


@pytest.fixture(scope="module")
def cdnow():
    return published_summary()


@pytest.fixture(scope="module")
def purchase_model(cdnow):
    return bgnbd.fit(cdnow["x"], cdnow["t_x"], cdnow["T"])


def test_the_summary_of_the_raw_transactions_is_the_published_one(cdnow):
    customer, day, amount = transactions()
    summary = summarise(customer, day, amount, end_day=CALIBRATION_END)
    np.testing.assert_array_equal(summary.customer, cdnow["ID"].astype(int))
    # 177 customer-days have more than one order: counted once, so x matches exactly.
    np.testing.assert_array_equal(summary.x, cdnow["x"])
    # The published figures are rounded to cents / hundredths of a week.
    assert np.abs(summary.t_x - cdnow["t_x"]).max() <= 0.005 + 1e-9
    assert np.abs(summary.T - cdnow["T"]).max() <= 0.005 + 1e-9
    assert np.abs(summary.monetary - cdnow["zbar"]).max() <= 0.005 + 1e-9


def test_bgnbd_reproduces_the_paper(purchase_model):
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log_likelihood": -9582.4}
    fitted = {name: getattr(purchase_model, name) for name in published}
    assert all(within_one_percent(fitted[name], value) for name, value in published.items()), fitted
    assert (purchase_model.customers, purchase_model.repeat_buyers) == (2357, 946)


def test_gamma_gamma_reproduces_the_paper(cdnow):
    model = gamma_gamma.fit(cdnow["x"], cdnow["zbar"])
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44, "log_likelihood": -4055.92}
    fitted = {name: getattr(model, name) for name in published}
    assert all(within_one_percent(fitted[name], value) for name, value in published.items()), fitted
    assert model.repeat_buyers == 946


def test_expectations_match_hardies_spreadsheet(purchase_model):
    # Hardie's BG/NBD spreadsheet: a customer with x = 2, t_x = 30.43, T = 38.86 is
    # expected to make 1.226 purchases in the next 39 weeks ...
    assert bgnbd.expected_purchases(purchase_model, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=1e-3)
    # ... and a new customer this many repeat purchases by week t.
    weeks = np.array([0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00])
    expected = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])
    np.testing.assert_allclose(bgnbd.expected_purchases_new_customer(purchase_model, weeks), expected, atol=6e-4)

