"""The BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way").

While active, a customer buys at a Poisson rate λ; after each repeat purchase they
become inactive for good with probability p. Across customers λ ~ Gamma(r, α) and
p ~ Beta(a, b). A customer is summarised by ``x`` repeat purchases, the time ``t_x``
of the last one and their age ``T``, both since their first purchase (see
:mod:`.summary`); times are in weeks, as in the paper, so α is in weeks too.

Every function takes numpy arrays (or scalars) and works on all customers at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._deps import load
from ._fit import maximise_log_likelihood
from .guard import MIN_REPEAT_BUYERS, NoFit

np, special, _optimize = load()

@dataclass(frozen=True)
class BgNbd:
    """Fitted BG/NBD parameters (α in weeks) and the log-likelihood they reached."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int
    repeat_buyers: int


def _negative_ll_and_gradient(log_params, x, t_x, T):
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    log_a3 = -(r + x) * log_alpha_T
    log_a4 = np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * log_alpha_tx
    # w: the share of the likelihood from "dropped out after the last purchase".
    w = np.where(repeat, special.expit(log_a4 - log_a3), 0.0)

    terms = (
        special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
        + special.betaln(a, b + x) - special.betaln(a, b)
        + np.where(repeat, np.logaddexp(log_a3, log_a4), log_a3)
    )
    d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - (1 - w) * log_alpha_T - w * log_alpha_tx
    d_alpha = r / alpha - (r + x) * ((1 - w) / (alpha + T) + w / (alpha + t_x))
    psi_ab = special.digamma(a + b)
    psi_abx = special.digamma(a + b + x)
    d_a = psi_ab - psi_abx + w / a
    d_b = special.digamma(b + x) - special.digamma(b) + psi_ab - psi_abx - w / np.where(repeat, b + x - 1, 1.0)
    # Chain rule for log-parameters: d/d(log θ) = θ · d/dθ.
    gradient = np.array([r * d_r.sum(), alpha * d_alpha.sum(), a * d_a.sum(), b * d_b.sum()])
    return -terms.sum(), -gradient


def fit(x, t_x, T, *, min_repeat_buyers: int = MIN_REPEAT_BUYERS) -> BgNbd:
    """Maximum-likelihood BG/NBD parameters for these customers, or NoFit with the reason.

    ``x``, ``t_x`` and ``T`` are equal-length arrays (times in weeks), one entry per customer.
    """
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    repeat_buyers = int(np.count_nonzero(x > 0))
    if repeat_buyers < min_repeat_buyers:
        raise NoFit(
            f"too little data: {repeat_buyers} customers bought more than once, "
            f"the purchase model needs at least {min_repeat_buyers}"
        )
    parameters, log_likelihood = maximise_log_likelihood(
        _negative_ll_and_gradient, (x, t_x, T), ("r", "alpha", "a", "b"), model="purchase (BG/NBD)"
    )
    return BgNbd(
        **parameters, log_likelihood=log_likelihood, customers=len(x), repeat_buyers=repeat_buyers
    )


def _log_dropout_odds(model: BgNbd, x, t_x, T):
    """log of P(inactive) / P(active) given the history; -inf without repeat purchases."""
    repeat = x > 0
    safe = np.where(repeat, model.b + x - 1, 1.0)
    odds = np.log(model.a) - np.log(safe) + (model.r + x) * (np.log(model.alpha + T) - np.log(model.alpha + t_x))
    return np.where(repeat, odds, -np.inf)


def probability_alive(model: BgNbd, x, t_x, T):
    """P(still active at T | x, t_x, T) (FHL 2005, equation 11)."""
    x = np.asarray(x, dtype=float)
    return special.expit(-_log_dropout_odds(model, x, np.asarray(t_x, float), np.asarray(T, float)))


def expected_purchases(model: BgNbd, t, x, t_x, T):
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, equation 10), t in weeks."""
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    with np.errstate(over="ignore"):
        shrink = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        hypergeometric = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        numerator = (a + b + x - 1) / (a - 1) * (1 - shrink * hypergeometric)
        return numerator * probability_alive(model, x, t_x, T)


def expected_purchases_new_customer(model: BgNbd, t):
    """E[repeat purchases in (0, t]] for a customer just acquired (FHL 2005, equation 9)."""
    t = np.asarray(t, dtype=float)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    shrink = (alpha / (alpha + t)) ** r
    return (a + b - 1) / (a - 1) * (1 - shrink * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))
