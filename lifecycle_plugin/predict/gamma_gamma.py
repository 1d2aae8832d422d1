"""The Gamma-Gamma spend model (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value").

The value of each of a customer's transactions is Gamma(p, ν) around their own mean
p/ν, and across customers ν ~ Gamma(q, γ); spend is independent of how often a
customer buys. A customer is summarised by ``x`` transactions and their average
value ``zbar``; the fit is over repeat buyers (x > 0) with a positive average, where
x counts the repeat transactions and zbar is their average (the first purchase is
left out, as in the paper's CDNOW example).

Every function takes numpy arrays (or scalars) and works on all customers at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._deps import load
from ._fit import maximise_log_likelihood
from .guard import MIN_REPEAT_BUYERS, NoFit

np, special, _optimize = load()


@dataclass(frozen=True)
class GammaGamma:
    """Fitted Gamma-Gamma parameters (γ in the currency's units) and the log-likelihood they reached."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    repeat_buyers: int


def _negative_ll_and_gradient(log_params, x, zbar):
    p, q, gamma = np.exp(log_params)
    px = p * x
    log_total = np.log(gamma + x * zbar)
    log_x_zbar = np.log(x * zbar)
    # Density of the average zbar of x values (FH 2013, equation 4).
    terms = (
        special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q)
        + q * np.log(gamma) + px * log_x_zbar - np.log(zbar) - (px + q) * log_total
    )
    psi_pxq = special.digamma(px + q)
    d_p = x * (psi_pxq - special.digamma(px) + log_x_zbar - log_total)
    d_q = psi_pxq - special.digamma(q) + np.log(gamma) - log_total
    d_gamma = q / gamma - (px + q) / (gamma + x * zbar)
    gradient = np.array([p * d_p.sum(), q * d_q.sum(), gamma * d_gamma.sum()])
    return -terms.sum(), -gradient


def fit(x, zbar, *, min_repeat_buyers: int = MIN_REPEAT_BUYERS) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma parameters, or NoFit with the reason.

    ``x`` and ``zbar`` are one entry per customer; customers without a repeat
    purchase or with a zero average are left out of the fit (they carry no
    information about spend per transaction in this model).
    """
    x = np.asarray(x, dtype=float)
    zbar = np.asarray(zbar, dtype=float)
    usable = (x > 0) & (zbar > 0)
    x, zbar = x[usable], zbar[usable]
    if len(x) < min_repeat_buyers:
        raise NoFit(
            f"too little data: {len(x)} customers bought more than once with a positive spend, "
            f"the spend model needs at least {min_repeat_buyers}"
        )
    # Fitted on spend divided by its mean, so γ is near 1 whatever the currency's unit
    # (yen or dollars); γ is scaled back and the log-likelihood gets the Jacobian −n·log(scale).
    scale = float(np.mean(zbar))
    parameters, log_likelihood = maximise_log_likelihood(
        _negative_ll_and_gradient, (x, zbar / scale), ("p", "q", "gamma"), model="spend (Gamma-Gamma)"
    )
    parameters["gamma"] *= scale
    log_likelihood -= len(x) * float(np.log(scale))
    model = GammaGamma(**parameters, log_likelihood=log_likelihood, repeat_buyers=len(x))
    if model.q <= 1:
        raise NoFit(
            f"the spend model's q = {model.q:.3g} is at most 1: average spend has no finite mean "
            "in this store's orders, so none is predicted"
        )
    return model


def expected_average_spend(model: GammaGamma, x, zbar):
    """E[value of a future transaction | x, zbar] (FH 2013, equation 5).

    A weighted mean of the population mean p·γ/(q − 1) and the customer's own average
    zbar, the weight on zbar growing with x; with x = 0 it is the population mean.
    """
    x = np.asarray(x, dtype=float)
    zbar = np.where(x > 0, np.asarray(zbar, dtype=float), 0.0)
    return model.p * (model.gamma + x * zbar) / (model.p * x + model.q - 1)
