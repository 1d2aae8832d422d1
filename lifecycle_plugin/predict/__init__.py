"""Predicted customer value: the BG/NBD purchase model and the Gamma-Gamma spend model.

Pure modules (no Django, no database, no I/O): arrays in, parameters and scores out.
numpy and scipy are an optional extra (``pip install 'saleor-lifecycle[predict]'``).

- :mod:`.summary` turns counted orders into the papers' per-customer summary
  (repeat purchases ``x``, recency ``t_x``, age ``T`` in weeks, average repeat spend);
- :mod:`.bgnbd` fits the purchase model (Fader, Hardie & Lee 2005) and scores expected
  purchases and the probability a customer is still active;
- :mod:`.gamma_gamma` fits the spend model (Fader & Hardie 2013) and scores the
  expected average spend of a customer's future orders;
- :mod:`.store` puts them together for a whole store: the purchase model over all
  orders, the spend model per currency, the data guard, predicted 12-month spend.

This package's ``__init__`` imports neither numpy nor scipy, so the names below are
always importable; :func:`missing_reason` says why predictions are unavailable.
See docs/predictions.md for the formulas and what each field means.
"""

from ._deps import PredictUnavailable, missing_reason
from .guard import MIN_REPEAT_BUYERS, NoFit

__all__ = ["MIN_REPEAT_BUYERS", "NoFit", "PredictUnavailable", "missing_reason"]
