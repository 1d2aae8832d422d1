"""What every built-in action needs: its settings, the order behind a change, consent."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..conf import setting_named
from ..engine import ActionContext, skip
from ..engine.service import FIRST_SIGHT_GRACE
from ..hooks import call_isolated
from ..models import MarketingOptOut
from ..rules import OrderFact, counts

logger = logging.getLogger(__name__)

__all__ = [
    "ConsentUnknown",
    "has_consent",
    "has_marketing_consent",
    "has_option",
    "is_enabled",
    "is_history",
    "ledger_key",
    "may_send",
    "needs_consent",
    "option",
    "option_from",
    "skip",
    "triggering_order",
]


def has_option(name: str) -> bool:
    """Whether some plugin declares the setting `name` (``lifecycle_declare_settings``)."""
    return setting_named(name) is not None


def option_from(settings: Mapping[str, Any], name: str) -> Any:
    """The parsed value of a declared setting; its default when the engine was given none.

    Engines built by ``runtime.get_engine`` carry parsed values already; the parsers
    accept their own output, so parsing again is harmless and also catches raw
    strings handed to an engine directly.
    """
    definition = setting_named(name)
    if definition is None:
        raise KeyError(f"no plugin declares the setting {name!r}")
    raw = settings.get(name)
    if raw is None or raw == "":
        raw = definition.default
    return definition.parse(raw)


def option(context: ActionContext, name: str) -> Any:
    return option_from(context.settings, name)


def is_enabled(context: ActionContext, action: str) -> bool:
    """The action's on/off switch (``<action>_enabled``)."""
    return bool(option(context, f"{action}_enabled"))


def ledger_key(context: ActionContext, action: str, key: str) -> str:
    """The dedupe key `context.enqueue(action, key)` gives its ledger row (same format)."""
    return f"{action}:{context.profile.id}:{key}"


def triggering_order(context: ActionContext, at: datetime) -> OrderFact | None:
    """The customer's latest counted order placed by `at`: the one whose channel a voucher is issued in.

    Read from the host (one set-based read) because stage and tier hooks are not
    handed the orders.
    """
    customer = context.profile.customer
    facts = context.host.read_facts([customer]).get(customer)
    if facts is None:
        return None
    orders = [o for o in facts.orders if counts(o, context.config) and o.placed_at <= at]
    return max(orders, key=lambda o: o.placed_at, default=None)


def is_history(order: OrderFact, at: datetime) -> bool:
    """Whether `order` is old news at `at`.

    When the engine first meets a customer who bought long ago (before the backfill
    ran, say), their profile starts in a buying stage and tier at once. Thanking them
    for that old order, or announcing a tier it reached, would be odd; the engine
    does the same for order hooks (``FIRST_SIGHT_GRACE``).
    """
    return order.placed_at < at - FIRST_SIGHT_GRACE


class ConsentUnknown(RuntimeError):
    """A consent plugin failed: the entry fails and is retried, rather than guessed."""


def needs_consent(context: ActionContext, marketing: bool) -> bool:
    """Marketing always does; a transactional message (a review request about an order)
    only when the owner says so (``transactional_consent_required``)."""
    return marketing or bool(option(context, "transactional_consent_required"))


def has_consent(context: ActionContext, action: str) -> bool:
    """Whether the customer agreed to messages such as `action`, in this order:

    1. unsubscribed with the link in a message: no, whatever anyone says later;
    2. the ``lifecycle_consent`` hook (a consent-management plugin): its first answer;
    3. the metadata under ``marketing_consent_key``, when one is set;
    4. otherwise yes only when the owner switched ``marketing_consent_required`` off.

    A host without ``marketing_consent`` cannot read the key, so nobody gets the
    message then: sending to customers who said no is worse than sending nothing.
    """
    if MarketingOptOut.objects.filter(profile_id=context.profile.id).exists():
        return False
    customer = context.profile.customer
    failures = []

    def failed(error) -> None:
        failures.append(error)
        context.record_hook_error(error)

    answers = call_isolated(context.plugin_manager, "lifecycle_consent", customer=customer, action=action,
                            host=context.host, settings=context.settings, on_error=failed,
                            timeout=context.hook_timeout)
    if answers:
        return bool(answers[0])
    if failures:
        raise ConsentUnknown(f"the consent plugin {failures[0].plugin} failed: {failures[0].error}")
    key = option(context, "marketing_consent_key")
    if not key:
        return not option(context, "marketing_consent_required")
    lookup = getattr(context.host, "marketing_consent", None)
    if lookup is None:
        logger.warning(
            "marketing_consent_key is set but host %r cannot look up consent; no marketing is sent",
            getattr(context.host, "name", context.host),
        )
        return False
    return bool(lookup([customer], key).get(customer, False))


def may_send(context: ActionContext, action: str, marketing: bool) -> bool:
    """Whether a message (or voucher) of `action` may go to the customer now."""
    return not needs_consent(context, marketing) or has_consent(context, action)


def has_marketing_consent(context: ActionContext, action: str = "") -> bool:
    """Whether the customer may receive marketing (`has_consent` for a marketing action)."""
    return has_consent(context, action)
