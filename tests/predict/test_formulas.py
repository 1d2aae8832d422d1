"""The closed forms and gradients checked against direct numerical computation from the models' definitions."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from scipy import integrate, optimize, special, stats  # noqa: E402

from lifecycle_plugin.predict import bgnbd, gamma_gamma  # noqa: E402

from .cdnow import published_summary  # noqa: E402

PURCHASES = bgnbd.BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0.0, customers=0, repeat_buyers=0)
SPEND = gamma_gamma.GammaGamma(p=6.25, q=3.74, gamma=15.44, log_likelihood=0.0, repeat_buyers=0)


def _posterior_expectation(customer, future):
    """E[future(p, T) · 1{active} | x, t_x, T] by integrating over the priors (FHL 2005, section 3).

    ``future(p, mixed)`` is what an active customer with drop-out probability p contributes,
    given ``mixed(s)`` = E over the Gamma(r, α) prior of λ^x e^(−λs): the λ integral is done
    in closed form, the p integral numerically.
    """
    x, t_x, T = customer
    r, alpha = PURCHASES.r, PURCHASES.alpha
    dropout = stats.beta(PURCHASES.a, PURCHASES.b)

    def mixed(s):
        return np.exp(special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + s))

    def active(p):  # made x repeat purchases and is still active at T
        return (1 - p) ** x * dropout.pdf(p)

    def inactive(p):  # dropped out just after the x-th repeat purchase, at t_x
        return p * (1 - p) ** (x - 1) * mixed(t_x) * dropout.pdf(p)

    def integral(f):
        return integrate.quad(f, 0, 1, epsabs=1e-14, epsrel=1e-10, limit=200)[0]

    return integral(lambda p: future(p, mixed) * active(p)) / integral(lambda p: mixed(T) * active(p) + inactive(p))


CUSTOMERS = [(2, 30.43, 38.86), (1, 36.0, 38.86), (5, 12.0, 38.0), (3, 38.0, 38.5)]


@pytest.mark.parametrize("customer", CUSTOMERS)
def test_probability_alive_is_the_posterior_share_of_active_histories(customer):
    expected = _posterior_expectation(customer, lambda p, mixed: mixed(customer[2]))
    assert bgnbd.probability_alive(PURCHASES, *customer) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("customer", CUSTOMERS)
def test_expected_purchases_integrate_the_active_customers_future(customer):
    t = 52.0
    # An active customer's expected purchases in t are (1 − e^(−λpt)) / p (FHL 2005, equation 7);
    # with the e^(−λT) of still being active: (e^(−λT) − e^(−λ(T + pt))) / p, mixed over λ.
    T = customer[2]
    expected = _posterior_expectation(customer, lambda p, mixed: (mixed(T) - mixed(T + p * t)) / p)
    assert bgnbd.expected_purchases(PURCHASES, t, *customer) == pytest.approx(expected, rel=1e-5)


def test_without_repeat_purchases_a_customer_is_alive():
    assert bgnbd.probability_alive(PURCHASES, 0, 0.0, 30.0) == 1.0


@pytest.mark.parametrize("x, zbar", [(1, 11.77), (2, 22.35), (7, 45.0), (0, 0.0)])
def test_expected_average_spend_is_the_posterior_mean(x, zbar):
    # ν | x, zbar ∝ Gamma(q, γ) prior × ν^(px) e^(−ν·x·zbar); the mean spend is p/ν.
    # Integrated in logs, relative to the peak, over the range that carries the mass.
    shape, rate = SPEND.q + SPEND.p * x, SPEND.gamma + x * zbar

    def weight(nu):
        mode = (shape - 1) / rate
        return np.exp((shape - 1) * np.log(nu / mode) - rate * (nu - mode))

    upper = 50 * shape / rate
    expected = (
        integrate.quad(lambda nu: SPEND.p / nu * weight(nu), 0, upper, points=[(shape - 1) / rate], epsrel=1e-11)[0]
        / integrate.quad(weight, 0, upper, points=[(shape - 1) / rate], epsrel=1e-11)[0]
    )
    assert gamma_gamma.expected_average_spend(SPEND, x, zbar) == pytest.approx(expected, rel=1e-6)


def test_the_analytic_gradients_match_finite_differences():
    cdnow = published_summary()
    x, t_x, T, zbar = cdnow["x"], cdnow["t_x"], cdnow["T"], cdnow["zbar"]
    repeat = x > 0
    checks = [
        (lambda v: bgnbd._negative_ll_and_gradient(v, x, t_x, T), np.log([0.3, 5.0, 0.9, 2.0])),
        (lambda v: gamma_gamma._negative_ll_and_gradient(v, x[repeat], zbar[repeat]), np.log([5.0, 3.0, 20.0])),
    ]
    for function, point in checks:
        analytic = function(point)[1]
        numeric = optimize.approx_fprime(point, lambda v: function(v)[0], 1e-7)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-3)
