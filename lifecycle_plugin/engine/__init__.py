"""The engine: events and sweeps in, profiles, history and actions out."""

from .context import (
    SKIP,
    ActionContext,
    ActionEntry,
    Delivery,
    DeliveryUncertain,
    ProfileView,
    StageChange,
    TierChange,
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
    "LifecycleEngine",
    "Outcome",
    "ProfileView",
    "StageChange",
    "SweepReport",
    "TierChange",
    "is_skip",
    "skip",
]
