"""The data guard: when a model is not fitted, and the reason the store owner is given."""

from __future__ import annotations

#: Fewer repeat buyers than this and a store (or, for the spend model, a currency) gets
#: no fit, only a reason: below it the parameters are mostly noise.
MIN_REPEAT_BUYERS = 200


class NoFit(Exception):
    """The model was not fitted; ``reason`` says why in one sentence (too little data, no convergence)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
