"""Repeat-purchase discount: a personal single-use voucher when a customer enters a chosen stage.

By default the stage is ``new``, so a first-time buyer gets a reason to come back.
The voucher is issued in the channel (and currency) of the order that brought the
customer into the stage, and the message announces its code. A customer earns it
once per stage: the dedupe key is the stage, so replays, a cancelled-and-replaced
first order or a second visit to the stage never hand out a second voucher.
"""

from __future__ import annotations

import logging

from .. import hookimpl
from ..conf import STRING, Setting
from . import REPEAT_PURCHASE
from .base import is_enabled, is_history, option, skip, triggering_order
from .offers import VoucherOffer, enqueue_message, order_data, run_voucher, send_message, voucher_action
from .options import BUYER_STAGES, discount_setting, stage_list_parser, switch_setting, template_settings, valid_days_setting

logger = logging.getLogger(__name__)


_LABEL = "Repeat-purchase discount"
SETTINGS = [
    switch_setting("repeat_purchase_enabled", f"{_LABEL}: on",
                   "Send customers a personal single-use voucher when they enter one of the chosen stages "
                   "(by default 'new': after their first order)."),
    Setting("repeat_purchase_stages", "new", STRING, f"{_LABEL}: stages",
            "Stage codes, separated by commas, whose customers earn the voucher: new, repeat, loyal, "
            "at_risk, lapsed. A customer earns it once per stage; it is issued in the channel of their "
            "latest order.",
            stage_list_parser(BUYER_STAGES, "a voucher is issued in the channel of an order")),
    discount_setting("repeat_purchase_discount", f"{_LABEL}: discount"),
    valid_days_setting("repeat_purchase_valid_days", f"{_LABEL}: valid for (days)"),
    *template_settings(REPEAT_PURCHASE, _LABEL),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS


@hookimpl
def lifecycle_stage_changed(context, change):
    if not is_enabled(context, REPEAT_PURCHASE):
        return
    if change.to_stage not in option(context, "repeat_purchase_stages"):
        return
    order = triggering_order(context, change.occurred_at)
    if order is None:  # a third-party stage without an order: nowhere to issue a voucher
        logger.info("repeat_purchase: profile %s entered %s without an order", context.profile.id, change.to_stage)
        return
    if change.from_stage is None and is_history(order, change.occurred_at):
        return  # first seen long after that order: not a fresh purchase to thank them for
    offer = VoucherOffer.for_order(
        order, option(context, "repeat_purchase_discount"), option(context, "repeat_purchase_valid_days")
    )
    enqueue_message(
        context,
        REPEAT_PURCHASE,
        key=change.to_stage,
        data={"trigger_stage": change.to_stage, "order": order_data(order)},
        voucher=offer,
        voucher_required=True,  # the message is only about the voucher
    )


@hookimpl
def lifecycle_run_action(context, entry):
    if entry.action not in (REPEAT_PURCHASE, voucher_action(REPEAT_PURCHASE)):
        return None
    if not is_enabled(context, REPEAT_PURCHASE):
        return skip("switched off")
    if entry.action == REPEAT_PURCHASE:
        return send_message(context, entry)
    return run_voucher(context, entry)
