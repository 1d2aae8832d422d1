"""The stable holdout: the share of customers who never get a given marketing action.

With ``holdout_percent`` above 0, a marketing message (and the voucher it announces) for a
customer the split puts in the holdout of that action is *skipped* with the reason
``held out``: nothing is issued, rendered or delivered, and the ledger entry, finished at the
moment the message would have gone out, is what `engine.action_results` compares the
customers who were sent it with (the measured lift, docs/actions.md "Action results").

The split (`rules.holdout`) is a hash of (action, customer profile id): the same customer is
always in or out of the same action, whatever the process, the run or Python's hash seed, and
independently for each action (held out of win-back reminders says nothing about the welcome). Only
marketing is held out: a transactional message (the review request, an earned referral
reward) is something the customer is owed.
"""

from __future__ import annotations

from .. import hookimpl
from ..conf import STRING, Setting, whole_number
from ..engine import ActionContext
from ..engine.action_results import HOLDOUT_REASON
from ..rules.holdout import MAX_HOLDOUT_PERCENT, is_held_out
from .base import option


def holdout_reason(context: ActionContext, action: str) -> str | None:
    """`HOLDOUT_REASON` when the customer is held out of `action`, else None."""
    percent = option(context, "holdout_percent")
    if percent and is_held_out(action, context.profile.id, percent):
        return HOLDOUT_REASON
    return None


SETTINGS = [
    Setting("holdout_percent", "0", STRING, "Messages: holdout (percent)",
            f"This share of customers (0 to {MAX_HOLDOUT_PERCENT}) never gets a given marketing action: its "
            "message and voucher are skipped as 'held out', so the action results compare the customers who "
            "got it with those who did not (the measured lift). The same customer is always held out of the "
            "same action. 0: nobody is held out.",
            lambda raw: whole_number(raw, 0, MAX_HOLDOUT_PERCENT, "percent")),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS
