"""Orders drawn from a known BG/NBD + Gamma-Gamma population: for the holdout test and the benchmark.

Each customer is acquired (first order) on a uniform day in ``[0, acquisition_days)``,
buys at rate λ ~ Gamma(r, α) per week while active, drops out after each repeat
order with probability p ~ Beta(a, b), and spends Gamma(p_spend, ν) per order with
ν ~ Gamma(q, γ). Orders run to ``days``. Exactly the models' assumptions, so a fit
on these orders should recover the parameters drawn from.

Vectorised over customers; the one loop is over purchase rounds (a few hundred at most).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._deps import load
from .summary import DAYS_PER_WEEK

np, _special, _optimize = load()


@dataclass(frozen=True)
class Population:
    """The parameters orders are drawn from (α in weeks, γ in currency units)."""

    r: float
    alpha: float
    a: float
    b: float
    p_spend: float
    q: float
    gamma: float


@dataclass(frozen=True)
class SimulatedOrders:
    """Orders as the store-level prediction takes them, sorted by customer then day."""

    customer: "np.ndarray"
    day: "np.ndarray"
    amount: "np.ndarray"
    currency: "np.ndarray"


def simulate_orders(
    population: Population,
    customers: int,
    *,
    days: float,
    acquisition_days: float,
    seed: int,
    currencies: tuple[tuple[str, float], ...] = (("USD", 1.0),),
) -> SimulatedOrders:
    """Draw every order of ``customers`` customers up to ``days``; each customer buys in one currency."""
    rng = np.random.default_rng(seed)
    rate_per_day = rng.gamma(population.r, 1.0 / population.alpha, customers) / DAYS_PER_WEEK
    dropout = rng.beta(population.a, population.b, customers)
    spend_rate = rng.gamma(population.q, 1.0 / population.gamma, customers)
    names = np.array([name for name, _share in currencies])
    shares = np.array([share for _name, share in currencies], dtype=float)
    currency_of = rng.choice(len(names), size=customers, p=shares / shares.sum()).astype(np.int8)

    now = rng.uniform(0.0, acquisition_days, customers)
    rounds_customer = [np.arange(customers)]
    rounds_day = [now.copy()]
    active = np.arange(customers)
    while len(active):
        now[active] += rng.exponential(1.0, len(active)) / rate_per_day[active]
        active = active[now[active] <= days]
        rounds_customer.append(active)
        rounds_day.append(now[active])
        # Drop-out happens just after a repeat order (never after the first one).
        active = active[rng.random(len(active)) >= dropout[active]]

    customer = np.concatenate(rounds_customer)
    day = np.concatenate(rounds_day)
    order = np.lexsort((day, customer))
    customer, day = customer[order], day[order]
    amount = rng.gamma(population.p_spend, 1.0 / spend_rate[customer])
    return SimulatedOrders(customer=customer, day=day, amount=amount, currency=names[currency_of[customer]])
