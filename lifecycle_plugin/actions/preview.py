"""Preview: any built-in action's message as the owner's settings render it now.

For a chosen customer (their name, stage, tier, language, last order) or sample data,
with a sample voucher, products and reminder, so every part of a template shows. Nothing
is written: no ledger entry, no voucher, no consent check. The unsubscribe link is a
sample that does nothing (a working one would let whoever previews unsubscribe the
customer). Sending the rendered message to an address is `test_send`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..engine import ActionContext, ActionEntry
from ..host import CustomerRef
from ..models import CustomerProfile
from ..rules import stage_label, tier_label
from . import MARKETING_ACTIONS, MESSAGE_ACTIONS
from .base import triggering_order
from .offers import customer_language, message_data, order_data, owner_templates, template_overrides
from .rendering import RenderedMessage, render_message
from .unsubscribe import ROUTE


class PreviewError(ValueError):
    """The preview cannot be made as asked (unknown action, customer or recipient)."""


SAMPLE_CUSTOMER = {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "name": "Ann Lee"}
SAMPLE_PRODUCTS = [{"name": "Blue mug", "variant": "Large", "quantity": 2, "product_id": "", "sku": "MUG-L"},
                   {"name": "Green tea", "variant": "", "quantity": 1, "product_id": "", "sku": "TEA"}]


def _sample_payload(action: str, now: datetime, order: dict[str, Any]) -> dict[str, Any]:
    extra = {
        "repeat_purchase": {"trigger_stage": "new"},
        "tier_upgrade": {"new_tier": "gold", "new_tier_label": tier_label("gold"), "previous_tier": "silver",
                         "previous_tier_label": tier_label("silver"), "occurred_at": now.isoformat(),
                         "window_spend": {}},
        "winback_reminder": {"reminder": {"number": 1, "count": 3}, "episode": "preview"},
        "review_request": {"products": SAMPLE_PRODUCTS},
        "welcome": {"nurture": {"number": 0, "count": 2}},
        "welcome_nurture": {"nurture": {"number": 1, "count": 2}},
        "abandoned_checkout": {"products": SAMPLE_PRODUCTS, "reminder": {"number": 1, "count": 2},
                               "token": "preview", "changed": "preview",
                               "checkout": {"token": "preview", "url": "https://shop.example.com/checkout/preview",
                                            "channel": "default-channel", "language": "",
                                            "created_at": now.isoformat(), "changed_at": now.isoformat(),
                                            "lines": len(SAMPLE_PRODUCTS)}},
        "referral_code": {"trigger_stage": "repeat",
                          "referral": {"reward_discount": "10%", "return_window_days": 14, "max_per_code": 10}},
        "referral_reward": {"referral": {"code": "LC-PREVIEW00000", "placed_at": now.isoformat()}},
    }[action]
    return {"order": order, **extra}


def _sample_voucher(now: datetime) -> dict[str, Any]:
    until = now + timedelta(days=30)
    return {"code": "LC-PREVIEW00000", "voucher_id": "", "channel": "", "discount": "10%",
            "valid_until": until.isoformat(), "valid_until_date": until.date().isoformat()}


def _sample_order(now: datetime) -> dict[str, Any]:
    return {"id": "preview", "placed_at": now.isoformat(), "fulfilled_at": now.isoformat(),
            "channel": "default-channel", "currency": "USD", "total": "42.00"}


def preview_message(engine: Any, action: str, customer: CustomerRef | None, now: datetime) -> RenderedMessage:
    """Render `action`'s message for `customer` (None: sample data)."""
    if action not in MESSAGE_ACTIONS:
        raise PreviewError(f"{action!r} is not a message action; choose one of {', '.join(MESSAGE_ACTIONS)}")
    profile = None
    if customer is not None:
        found = CustomerProfile.objects.filter(email=customer.email)
        profile = (found.filter(user_id=customer.user_id) if customer.user_id else found).first()
        if profile is None:
            raise PreviewError(f"the plugin knows no customer {customer.email}")
    plugin_url = getattr(engine.host, "plugin_url", None)
    sample_link = plugin_url(ROUTE) + "?token=preview" if plugin_url else ""
    if profile is None:
        order = _sample_order(now)
        data = {**_sample_payload(action, now, order), "action": action, "dedupe_key": "preview",
                "marketing": action in MARKETING_ACTIONS, "customer": SAMPLE_CUSTOMER, "stage": "new",
                "stage_label": stage_label("new"), "tier": "silver", "tier_label": tier_label("silver"),
                "voucher": _sample_voucher(now), "products": SAMPLE_PRODUCTS}
        overrides, language = owner_templates(engine.settings, action), ""
    else:
        context = ActionContext(engine, profile, now)
        last = triggering_order(context, now)
        payload = _sample_payload(action, now, order_data(last) if last else _sample_order(now))
        entry = ActionEntry(0, "preview", action, "preview", payload, 0)
        data = message_data(context, entry, _sample_voucher(now))
        overrides, language = template_overrides(context, action), customer_language(context)
    if data.get("marketing"):
        data["unsubscribe_url"] = sample_link
    return render_message(action, data, overrides, language=language)
