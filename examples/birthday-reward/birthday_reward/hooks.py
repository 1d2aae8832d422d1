"""Hook implementations, registered through the ``lifecycle_plugin`` entry point (setup.cfg).

How it stays exactly-once: the daily tick only *decides* and writes two ledger rows
(the voucher and the message) keyed by the year, inside the engine's transaction; a
second tick on the same day, a retry or a second worker finds the rows and does
nothing. The work happens after the commit in ``lifecycle_run_action``, using the
built-in helpers, so the owner's delivery channel, consent setting and the
voucher-before-message retry safety apply to this action too.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.conf import settings

from lifecycle_plugin.api import (
    VoucherOffer,
    enqueue_message,
    hookimpl,
    order_data,
    parse_days,
    parse_discount,
    run_voucher,
    send_message,
    triggering_order,
    voucher_action,
)

ACTION = "birthday_reward"
TEMPLATES = Path(__file__).resolve().parent / "templates"

#: Overridable with a Django setting, e.g. ``BIRTHDAY_REWARD = {"discount": "USD 5, EUR 5"}``.
DEFAULTS = {"discount": "15%", "valid_days": "14"}


def options() -> dict:
    configured = {**DEFAULTS, **getattr(settings, "BIRTHDAY_REWARD", {})}
    return {"discount": parse_discount(configured["discount"]), "valid_days": parse_days(configured["valid_days"])}


def is_shop_birthday(first_order_on: date, today: date) -> bool:
    """Whole years since the first order; 29 February is celebrated on 28 February in other years."""
    if today.year <= first_order_on.year:
        return False
    month, day = first_order_on.month, first_order_on.day
    if (month, day) == (2, 29):
        try:
            date(today.year, 2, 29)
        except ValueError:
            day = 28
    return (today.month, today.day) == (month, day)


@hookimpl
def lifecycle_daily_tick(context, today):
    first = context.profile.first_order_at
    if first is None or not is_shop_birthday(first.date(), today):
        return
    order = triggering_order(context, context.now)  # the voucher is for the channel they last bought in
    if order is None:
        return
    chosen = options()
    enqueue_message(
        context,
        ACTION,
        key=str(today.year),  # once a year, whatever happens twice
        data={"years": today.year - first.year, "order": order_data(order)},
        voucher=VoucherOffer.for_order(order, chosen["discount"], chosen["valid_days"]),
        voucher_required=True,
    )


@hookimpl
def lifecycle_run_action(context, entry):
    if entry.action == ACTION:
        return send_message(context, entry, marketing=True, template_dirs=[TEMPLATES])
    if entry.action == voucher_action(ACTION):
        return run_voucher(context, entry, marketing=True)
    return None  # not ours: let the owner of the action answer
