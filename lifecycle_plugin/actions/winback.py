"""Win-back reminders: remind customers who stopped ordering until they order again.

One *series* of reminders per silence. The silence is named by the time of the
customer's last order (the "episode"), so moving on from at_risk to lapsed during
the same silence continues the series instead of starting a second one, and a
new silence after a later order starts a new series.

- Becoming at_risk or lapsed (``winback_reminder_stages``) schedules reminder 1 at
  once; each reminder, when due, checks the customer is still silent, writes its
  message (and, with ``winback_reminder_voucher``, the series' one voucher) to the
  ledger and schedules the next one ``winback_reminder_interval_days`` later, up to
  ``winback_reminder_max_count``.
- Any counted order cancels the pending reminders, and a message that is still
  waiting is skipped when it finds the customer ordered meanwhile.
- An order that wins the customer back is logged as a ``winback_order`` ledger
  entry with the number of reminders the series had sent, beside the engine's own
  ``win_back`` transition.
"""

from __future__ import annotations

from datetime import timedelta

from .. import hookimpl
from ..conf import STRING, Setting
from ..models import ActionLedgerEntry, ActionStatus, ScheduledAction
from ..rules import DORMANT
from ..rules.config import MAX_DAYS
from . import WINBACK_ORDER, WINBACK_REMINDER
from .base import is_enabled, option, skip, triggering_order
from .offers import VoucherOffer, enqueue_message, order_data, run_voucher, send_message, voucher_action
from .options import (
    DORMANT_STAGES,
    MAX_REMINDERS,
    parse_days,
    parse_reminder_count,
    stage_list_parser,
    switch_setting,
    template_settings,
    voucher_settings,
)

_LABEL = "Win-back reminders"
SETTINGS = [
    switch_setting("winback_reminder_enabled", f"{_LABEL}: on",
                   "Remind customers who stopped ordering, at an interval, until they order again or the "
                   "reminders run out."),
    Setting("winback_reminder_stages", "at_risk, lapsed", STRING, f"{_LABEL}: stages",
            "Which of at_risk and lapsed start the reminders (the first one reached starts them; one "
            "series per silence).",
            stage_list_parser(DORMANT_STAGES, "reminders are for customers who stopped ordering")),
    Setting("winback_reminder_interval_days", "14", STRING, f"{_LABEL}: days between reminders",
            f"Days from one reminder to the next (1 to {MAX_DAYS}).", parse_days),
    Setting("winback_reminder_max_count", "3", STRING, f"{_LABEL}: how many",
            f"Reminders at most per silence, from 1 to {MAX_REMINDERS}.", parse_reminder_count),
    *voucher_settings(WINBACK_REMINDER, _LABEL,
                      "Add one personal single-use voucher to the reminders (the same code in each)."),
    *template_settings(WINBACK_REMINDER, _LABEL),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS


_DORMANT_CODES = {stage.value for stage in DORMANT}


def _episode(context) -> str | None:
    """The silence the customer is in, named by their last order's time."""
    last = context.profile.last_order_at
    return f"{last:%Y%m%dT%H%M%S}" if last else None


def _still_silent(context, episode: str) -> bool:
    return context.profile.stage in _DORMANT_CODES and _episode(context) == episode


@hookimpl
def lifecycle_stage_changed(context, change):
    if not is_enabled(context, WINBACK_REMINDER):
        return
    if change.to_stage not in option(context, "winback_reminder_stages"):
        return
    if context.profile.stage not in _DORMANT_CODES:
        return  # a late sweep replayed the move, but the same update saw them order again
    episode = _episode(context)
    if episode is None:
        return
    # Returns False when this silence already has its series (at_risk, then lapsed).
    context.schedule(
        WINBACK_REMINDER, key=f"{episode}:1", due_at=context.now, payload={"episode": episode, "number": 1}
    )


@hookimpl
def lifecycle_order_counted(context, order, win_back):
    # Only a series' customer is at risk or lapsed, so only a win-back order can end one; for
    # every other order (the great majority) this costs no query. A reminder that still falls
    # due after an order is skipped when it is run (_still_silent).
    if not win_back:
        return
    # Stop the reminders even if the action was switched off meanwhile.
    cancelled = context.cancel_scheduled(WINBACK_REMINDER)
    if not is_enabled(context, WINBACK_REMINDER):
        return
    series = (
        ScheduledAction.objects.filter(profile_id=context.profile.id, action=WINBACK_REMINDER)
        .order_by("-id")
        .values_list("payload", flat=True)
        .first()
    )
    episode = series.get("episode") if series else None
    sent = (
        ActionLedgerEntry.objects.filter(
            profile_id=context.profile.id, action=WINBACK_REMINDER, status=ActionStatus.DONE, payload__episode=episode
        ).count()
        if episode
        else 0
    )
    context.enqueue(
        WINBACK_ORDER,
        key=order.order_id,
        payload={
            "win_back": True,
            "order": order_data(order),
            "episode": episode,
            "reminders_sent": sent,
            "reminders_cancelled": cancelled,
        },
    )


def _remind(context, entry):
    """A reminder has come due: write its message to the ledger and schedule the next one."""
    episode, number = entry.payload["episode"], int(entry.payload["number"])
    if not _still_silent(context, episode):
        return skip("the customer ordered again")
    count = option(context, "winback_reminder_max_count")
    if number > count:
        return skip("no reminders left (the owner lowered the count)")
    last_order = triggering_order(context, context.now)
    offer = None
    if option(context, "winback_reminder_voucher") and last_order is not None:
        offer = VoucherOffer.for_order(
            last_order, option(context, "winback_reminder_discount"), option(context, "winback_reminder_valid_days")
        )
    enqueue_message(
        context,
        WINBACK_REMINDER,
        key=f"{episode}:{number}",
        data={
            "episode": episode,
            "reminder": {"number": number, "count": count},
            "order": order_data(last_order) if last_order else None,
        },
        voucher=offer,
        voucher_key=episode,  # one voucher per series, announced by every reminder
        voucher_data={"episode": episode},
    )
    if number < count:
        context.schedule(
            WINBACK_REMINDER,
            key=f"{episode}:{number + 1}",
            due_at=context.now + timedelta(days=option(context, "winback_reminder_interval_days")),
            payload={"episode": episode, "number": number + 1},
        )
    return {"reminder": number}


@hookimpl
def lifecycle_run_action(context, entry):
    if entry.action == WINBACK_ORDER:
        # Bookkeeping only: the payload is the record; keep it as the result too.
        return {"recorded": True, "reminders_sent": entry.payload.get("reminders_sent", 0)}
    if entry.action not in (WINBACK_REMINDER, voucher_action(WINBACK_REMINDER)):
        return None
    if not is_enabled(context, WINBACK_REMINDER):
        return skip("switched off")
    if entry.kind == "scheduled":
        return _remind(context, entry)
    if not _still_silent(context, entry.payload["episode"]):
        return skip("the customer ordered again")
    if entry.action == WINBACK_REMINDER:
        return send_message(context, entry)
    return run_voucher(context, entry)
