"""The stage ladder: stable codes, English labels and the order used to reason about moves.

`stage_label` and `tier_label` are the one place a stage or tier gets the words a
person reads: GraphQL, the messages' templates and the sandbox's printouts all call
them, so a plugin's `advocate` stage or an owner's `vip_plus` tier reads the same everywhere.
"""

from __future__ import annotations

import enum


class Stage(str, enum.Enum):
    """Lifecycle stage codes. The values are public API (metadata, GraphQL, history)."""

    VISITOR = "visitor"
    LEAD = "lead"
    PROSPECT = "prospect"
    NEW = "new"
    REPEAT = "repeat"
    LOYAL = "loyal"
    AT_RISK = "at_risk"
    LAPSED = "lapsed"

    @property
    def label(self) -> str:
        return STAGE_LABELS[self]

    def __str__(self) -> str:  # so f-strings and JSON dumps show the code
        return self.value


STAGE_LABELS = {
    Stage.VISITOR: "Visitor",
    Stage.LEAD: "Lead",
    Stage.PROSPECT: "Prospect",
    Stage.NEW: "New customer",
    Stage.REPEAT: "Repeat customer",
    Stage.LOYAL: "Loyal customer",
    Stage.AT_RISK: "At risk",
    Stage.LAPSED: "Lapsed",
}

STAGE_DESCRIPTIONS = {
    Stage.VISITOR: "Known only by an e-mail from a guest checkout; no account, no counted order.",
    Stage.LEAD: "Registered, never bought, no open cart.",
    Stage.PROSPECT: "No counted order yet, but an open checkout with lines.",
    Stage.NEW: "Exactly one counted order.",
    Stage.REPEAT: "Two or more counted orders.",
    Stage.LOYAL: "At least loyal_min_orders counted orders in the trailing loyal_window_days.",
    Stage.AT_RISK: "No order for at_risk_days, or for k x their own median gap once they have enough orders.",
    Stage.LAPSED: "No order for lapsed_days.",
}

def stage_label(code: str) -> str:
    """The label of a stage code: the built-in label, or a plugin's stage code in words (`advocate` -> "Advocate")."""
    builtin = next((stage for stage in Stage if stage.value == code), None)
    return STAGE_LABELS[builtin] if builtin is not None else code.replace("_", " ").capitalize()


def tier_label(code: str | None) -> str:
    """The label of a tier code from the settings (`vip_plus` -> "Vip Plus"); empty for no tier."""
    return (code or "").replace("_", " ").title()


#: Stages of customers who have never bought. Time alone never changes them.
PRE_PURCHASE = frozenset({Stage.VISITOR, Stage.LEAD, Stage.PROSPECT})

#: Stages of buyers who are still active.
ACTIVE_BUYER = frozenset({Stage.NEW, Stage.REPEAT, Stage.LOYAL})

#: Stages a buyer drifts into when they stop ordering.
DORMANT = frozenset({Stage.AT_RISK, Stage.LAPSED})

#: Engagement of buyers, lowest first. Time passing without an order may only
#: move a buyer down this ranking, never up.
BUYER_RANK = {
    Stage.LAPSED: 0,
    Stage.AT_RISK: 1,
    Stage.NEW: 2,
    Stage.REPEAT: 3,
    Stage.LOYAL: 4,
}


def is_win_back(previous: Stage | str | None, current: Stage | str) -> bool:
    """A dormant buyer who is active again has been won back.

    Time passing never moves a buyer from at_risk/lapsed to an active stage, so
    such a move can only come from a new counted order.
    """
    # Plugins may add stages of their own (an "advocate"); those are neither dormant nor built-in active.
    return previous in DORMANT and current in ACTIVE_BUYER
