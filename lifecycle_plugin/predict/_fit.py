"""Maximum likelihood on log-parameters with scipy, shared by both models.

Each model supplies its negative log-likelihood and its gradient with respect to
the logs of its (positive) parameters; this module runs ``scipy.optimize.minimize``
(L-BFGS-B) and turns every way a fit can go wrong into a :class:`NoFit` reason.
"""

from __future__ import annotations

from collections.abc import Callable

from ._deps import load
from .guard import NoFit

np, _special, optimize = load()

#: Parameters are searched in log space within ±LOG_BOUND (e^±20, about 2e-9 to 5e8).
LOG_BOUND = 20.0
#: A parameter that ends beyond e^±PLAUSIBLE_LOG (about 3e-7 to 3e6; times in weeks,
#: spend rescaled to its mean) has run off towards zero or infinity: the data do not
#: identify the model, and the fit is refused rather than reported.
PLAUSIBLE_LOG = 15.0
#: The likelihood is summed over this many customers at a time: at a million customers
#: the temporaries of one evaluation stay near 30 MB instead of 120 MB.
CHUNK = 1 << 18


def maximise_log_likelihood(
    negative_ll_and_gradient: Callable,
    data: tuple,
    names: tuple[str, ...],
    *,
    model: str,
) -> tuple[dict[str, float], float]:
    """``(parameters by name, log-likelihood)`` at the maximum, or NoFit with the reason.

    ``negative_ll_and_gradient(log_params, *columns)`` returns the negative log-likelihood
    summed over the customers in ``columns`` (equal-length arrays, a slice of ``data``)
    and its gradient in log-parameters. The optimiser sees both divided by the number of
    customers, so its tolerances mean the same at 2,000 customers and at 1,000,000.
    """
    observations = len(data[0])
    scale = 1.0 / max(observations, 1)

    def scaled(log_params):
        value, gradient = 0.0, np.zeros(len(names))
        for start in range(0, observations, CHUNK):
            chunk_value, chunk_gradient = negative_ll_and_gradient(
                log_params, *(column[start:start + CHUNK] for column in data)
            )
            value += chunk_value
            gradient += chunk_gradient
        return value * scale, gradient * scale

    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        result = optimize.minimize(
            scaled,
            np.zeros(len(names)),  # every parameter 1
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * len(names),
            options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-8},
        )
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise NoFit(f"the {model} fit did not converge (the likelihood became undefined)")
    if not result.success:
        raise NoFit(f"the {model} fit did not converge ({result.message})")
    at_edge = [name for name, value in zip(names, result.x) if abs(value) > PLAUSIBLE_LOG]
    if at_edge:
        raise NoFit(
            f"the {model} fit ran {', '.join(at_edge)} to zero or infinity: the orders do not identify the model"
        )
    parameters = {name: float(value) for name, value in zip(names, np.exp(result.x))}
    return parameters, -float(result.fun) / scale
