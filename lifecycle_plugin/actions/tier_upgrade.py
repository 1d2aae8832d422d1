"""Tier upgrade: tell a customer they reached a higher loyalty tier, optionally with a voucher.

Tier changes fire ``lifecycle_tier_changed`` both ways; only upgrades send anything.
A customer hears about a tier at most once per tier window (``tier_window_days``),
so a refund that drops them a tier and the next order that lifts them back do not
earn a second message or voucher.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .. import hookimpl
from ..models import ActionLedgerEntry
from ..rules import tier_label
from . import TIER_UPGRADE
from .base import is_enabled, is_history, option, skip, triggering_order
from .offers import VoucherOffer, enqueue_message, order_data, run_voucher, send_message, voucher_action
from .options import switch_setting, template_settings, voucher_settings


def _told_within_window(context, change) -> bool:
    since = change.occurred_at - timedelta(days=context.config.tier_window_days)
    earlier = ActionLedgerEntry.objects.filter(
        profile_id=context.profile.id, action=TIER_UPGRADE, payload__new_tier=change.to_tier
    ).values_list("payload", flat=True)
    return any(datetime.fromisoformat(payload["occurred_at"]) > since for payload in earlier)


_LABEL = "Tier upgrade"
SETTINGS = [
    switch_setting("tier_upgrade_enabled", f"{_LABEL}: on",
                   "Tell customers when they reach a higher loyalty tier (at most once per tier per tier "
                   "window). Downgrades send nothing."),
    *voucher_settings(TIER_UPGRADE, _LABEL, "Add a personal single-use voucher to the tier-upgrade message."),
    *template_settings(TIER_UPGRADE, _LABEL),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS


@hookimpl
def lifecycle_tier_changed(context, change):
    if not change.upgrade or not change.to_tier or not is_enabled(context, TIER_UPGRADE):
        return
    if _told_within_window(context, change):
        return
    order = triggering_order(context, change.occurred_at)
    if change.from_tier is None and order is not None and is_history(order, change.occurred_at):
        return  # a customer first seen with old orders: their tier is not news
    offer = None
    if option(context, "tier_upgrade_voucher") and order is not None:
        offer = VoucherOffer.for_order(
            order, option(context, "tier_upgrade_discount"), option(context, "tier_upgrade_valid_days")
        )
    enqueue_message(
        context,
        TIER_UPGRADE,
        key=f"{change.to_tier}:{change.occurred_at:%Y%m%dT%H%M%S}",
        data={
            "new_tier": change.to_tier,
            "new_tier_label": tier_label(change.to_tier),
            "previous_tier": change.from_tier or "",
            "previous_tier_label": tier_label(change.from_tier),
            "occurred_at": change.occurred_at.isoformat(),
            "window_spend": dict(change.window_spend),
            "order": order_data(order) if order else None,
        },
        voucher=offer,
    )


@hookimpl
def lifecycle_run_action(context, entry):
    if entry.action not in (TIER_UPGRADE, voucher_action(TIER_UPGRADE)):
        return None
    if not is_enabled(context, TIER_UPGRADE):
        return skip("switched off")
    if entry.action == TIER_UPGRADE:
        return send_message(context, entry)
    return run_voucher(context, entry)
