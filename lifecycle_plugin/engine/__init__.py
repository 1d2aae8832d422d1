"""The engine: events and sweeps in, profiles, history and actions out."""

from .context import (
    SKIP,
    ActionContext,
    ActionEntry,
    Delivery,
    DeliveryUncertain,
    Hold,
    ProfileView,
    StageChange,
    TierChange,
    hold,
    is_skip,
    skip,
)
from .service import LifecycleEngine, Outcome, SweepReport

__all__ = [
    "SKIP",
    "ActionContext",
    "ActionEntry",
    "Delivery",
    "DeliveryUncertain",
    "Hold",
    "LifecycleEngine",
    "Outcome",
    "ProfileView",
    "StageChange",
    "SweepReport",
    "TierChange",
    "hold",
    "is_skip",
    "skip",
]
