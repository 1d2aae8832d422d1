"""Messages and the vouchers they announce, each exactly once.

The deciding hook calls `enqueue_message`, which writes up to two ledger rows in
the deciding transaction:

- ``<action>_voucher`` (optional): issues the voucher and keeps its code as the
  entry's result;
- ``<action>``: renders and delivers the message, reading the code from the
  voucher entry.

Both run after the commit through ``lifecycle_run_action`` (`run_voucher` and
`send_message`). Keeping the voucher in its own entry is what makes retries safe:
once the voucher entry is done its code is stored, so a message that failed (mail
server down) is retried with the same code and no second voucher is issued. The
message entry waits for its voucher entry: when a second worker is issuing it right
now, the row lock makes the message wait for that worker's commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..engine import ActionContext, ActionEntry, Delivery, Hold, hold, skip
from ..engine.action_results import NO_CONSENT_REASON
from ..host import Message, OrderProduct, VoucherRequest
from ..models import ActionLedgerEntry, ActionStatus
from ..rules import OrderFact, stage_label, tier_label
from . import MARKETING_ACTIONS
from .base import has_option, ledger_key, may_send, option, option_from
from .delivery import deliver
from .holdout import holdout_reason
from .options import Discount
from .pacing import over_cap, quiet_until
from .rendering import PARTS, render_message, template_setting_name
from .unsubscribe import unsubscribe_url

VOUCHER_SUFFIX = "_voucher"


def voucher_action(action: str) -> str:
    return f"{action}{VOUCHER_SUFFIX}"


class VoucherNotReady(RuntimeError):
    """The message's voucher has not been issued yet; the message entry is retried later."""


@dataclass(frozen=True)
class VoucherOffer:
    """What voucher to issue and where: decided with the message, issued after the commit."""

    discount: Discount
    channel: str
    currency: str
    valid_days: int
    order_id: str = ""

    @classmethod
    def for_order(cls, order: OrderFact, discount: Discount, valid_days: int) -> VoucherOffer:
        """A voucher in the channel (and currency) of `order`."""
        return cls(discount, order.channel, order.currency, valid_days, order.order_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "discount": self.discount.to_json(),
            "channel": self.channel,
            "currency": self.currency,
            "valid_days": self.valid_days,
            "order_id": self.order_id,
        }


def enqueue_message(
    context: ActionContext,
    action: str,
    key: str,
    data: Mapping[str, Any] | None = None,
    *,
    voucher: VoucherOffer | None = None,
    voucher_key: str | None = None,
    voucher_required: bool = False,
    voucher_data: Mapping[str, Any] | None = None,
) -> bool:
    """Record, in the deciding transaction, that `action` sends one message for `key`.

    :param data: JSON-serialisable values for the templates and the notify payload
        (``order``, ``products``, ``reminder``...), stored in the ledger payload.
    :param voucher: a voucher to issue and announce in the message.
    :param voucher_key: the voucher entry's key when several messages share one
        voucher (win-back reminders); `key` by default.
    :param voucher_required: skip the message when its voucher was not issued
        (the message is about the voucher); otherwise it goes out without one.
    :param voucher_data: more values for the voucher entry's payload, for the
        owner's checks when it runs.
    :return: False when this message was recorded before (a replay).
    """
    voucher_entry = None
    if voucher is not None:
        voucher_key = voucher_key or key
        payload = {**dict(voucher_data or {}), "for_action": action, **voucher.to_json()}
        context.enqueue(voucher_action(action), voucher_key, payload=payload)
        voucher_entry = ledger_key(context, voucher_action(action), voucher_key)
    payload = {**dict(data or {}), "voucher_entry": voucher_entry, "voucher_required": voucher_required}
    return context.enqueue(action, key, payload=payload)


def _is_marketing(action: str, marketing: bool | None) -> bool:
    return action in MARKETING_ACTIONS if marketing is None else marketing


def run_voucher(context: ActionContext, entry: ActionEntry, *, marketing: bool | None = None,
                shareable: bool = False) -> dict[str, Any]:
    """Issue the voucher of a ``<action>_voucher`` entry; the result keeps its code.

    :param marketing: whether the voucher needs marketing consent; by default the
        built-in rule (every built-in action is marketing). Third-party actions say so.
    :param shareable: a referral code (`VoucherRequest.shareable`) instead of a personal voucher.
    """
    for_action = entry.payload.get("for_action", "")
    if not may_send(context, for_action, _is_marketing(for_action, marketing)):
        return skip(NO_CONSENT_REASON)
    capped = over_cap(context) if _is_marketing(for_action, marketing) else None
    if capped:  # the message it is for would be over the cap too: no voucher nobody hears of
        return skip(capped)
    held_out = holdout_reason(context, for_action) if _is_marketing(for_action, marketing) else None
    if held_out:  # its message is held out too (the same split)
        return skip(held_out)
    discount = Discount.from_json(entry.payload["discount"])
    currency = entry.payload["currency"]
    terms = discount.terms_for(currency)
    if terms is None:
        return skip(f"no fixed amount is set for {currency}")
    if not entry.payload.get("channel"):
        return skip("the order has no channel to issue the voucher in")
    discount_type, value, voucher_currency = terms
    issued = context.host.issue_voucher(
        VoucherRequest(
            customer=context.profile.customer,
            channel=entry.payload["channel"],
            discount_type=discount_type,
            value=value,
            valid_until=context.now + timedelta(days=int(entry.payload["valid_days"])),
            # Named by the e-mail staff search customers by (the profile id means nothing in
            # Saleor's Dashboard); forgetting a deleted customer renames it.
            name=f"Lifecycle {entry.payload.get('for_action', entry.action)} for {context.profile.customer.email}",
            currency=voucher_currency,
            shareable=shareable,
        )
    )
    return {
        "code": issued.code,
        "voucher_id": issued.voucher_id,
        "channel": issued.channel,
        "valid_until": issued.valid_until.isoformat(),
        "discount": discount.describe(currency),
    }


def _voucher_of(entry: ActionEntry) -> dict[str, Any] | None:
    """The issued voucher a message announces; None when it has none or it was skipped.

    Raises VoucherNotReady while the voucher entry is pending or failed.
    """
    dedupe_key = entry.payload.get("voucher_entry")
    if not dedupe_key:
        return None
    # A plain row lock, not skip_locked: if another worker is issuing this voucher
    # right now, wait for its commit and use its code.
    row = ActionLedgerEntry.objects.select_for_update().filter(dedupe_key=dedupe_key).first()
    if row is None or row.status in (ActionStatus.SKIPPED, ActionStatus.CANCELLED):
        return None
    if row.status != ActionStatus.DONE:
        raise VoucherNotReady(f"voucher entry {dedupe_key} is {row.status}; the message waits for it")
    return dict(row.result)


def _still_valid(voucher: Mapping[str, Any] | None, now: datetime) -> Mapping[str, Any] | None:
    """A later message (the third win-back reminder) must not announce a code that has expired."""
    if voucher and voucher.get("valid_until") and datetime.fromisoformat(voucher["valid_until"]) <= now:
        return None
    return voucher


def _customer_data(context: ActionContext) -> dict[str, Any]:
    customer = context.profile.customer
    names = getattr(context.host, "customer_names", None)
    name = names([customer]).get(customer) if names is not None else None
    return {
        "email": customer.email,
        "first_name": name.first_name if name else "",
        "last_name": name.last_name if name else "",
        "name": name.full if name else "",
    }


def order_data(order: OrderFact) -> dict[str, Any]:
    """An order as templates and the notify payload show it (JSON-serialisable)."""
    return {
        "id": order.order_id,  # the host's id (Saleor: the order's UUID), not its display number
        "placed_at": order.placed_at.isoformat(),
        "fulfilled_at": order.fulfilled_at.isoformat() if order.fulfilled_at else None,
        "channel": order.channel,
        "currency": order.currency,
        "total": str(order.total),
    }


def products_data(products: list[OrderProduct]) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "variant": p.variant, "quantity": p.quantity, "product_id": p.product_id, "sku": p.sku}
        for p in products
    ]


def customer_language(context: ActionContext) -> str:
    """The customer's language (`Host.customer_languages`), or empty for the default."""
    lookup = getattr(context.host, "customer_languages", None)
    customer = context.profile.customer
    return lookup([customer]).get(customer, "") if lookup is not None else ""


def template_overrides(context: ActionContext, action: str) -> dict[str, str]:
    """The owner's templates for `action` (built-in actions only; empty parts use the shipped files)."""
    return owner_templates(context.settings, action)


def owner_templates(settings: Mapping[str, Any], action: str) -> dict[str, str]:
    """`template_overrides` from the settings alone (a preview has no customer's context)."""
    names = {part: template_setting_name(action, part) for part in PARTS}
    return {part: option_from(settings, name) if has_option(name) else "" for part, name in names.items()}


def message_data(
    context: ActionContext, entry: ActionEntry, voucher: Mapping[str, Any] | None, marketing: bool | None = None
) -> dict[str, Any]:
    """The template context, also sent as the notify payload: JSON values only."""
    profile = context.profile
    data = {key: value for key, value in entry.payload.items() if key not in ("voucher_entry", "voucher_required")}
    if voucher:
        valid_until = voucher.get("valid_until", "")
        voucher = {**voucher, "valid_until_date": valid_until[:10]}
    marketing = _is_marketing(entry.action, marketing)
    return {
        **data,
        "action": entry.action,
        "dedupe_key": entry.dedupe_key,
        "marketing": marketing,
        # Every marketing message carries it (and, by e-mail, the List-Unsubscribe headers).
        "unsubscribe_url": unsubscribe_url(context) if marketing else "",
        "customer": _customer_data(context),
        "stage": profile.stage,
        "stage_label": stage_label(profile.stage),
        "tier": profile.tier or "",
        "tier_label": tier_label(profile.tier),
        "voucher": voucher,
        "products": data.get("products", []),
        "order": data.get("order"),
    }


def send_message(
    context: ActionContext,
    entry: ActionEntry,
    *,
    marketing: bool | None = None,
    template_dirs: Sequence[str | Path] = (),
    language: str | None = None,
) -> dict[str, Any] | Delivery | Hold:
    """Render the message of a ledger entry written by `enqueue_message`, for the engine to deliver.

    :param marketing: whether the message needs marketing consent; by default the
        built-in rule (every built-in action is marketing).
    :param template_dirs: where a third-party action keeps its
        ``lifecycle_plugin/<action>.{subject.txt,txt,html}`` templates.
    :param language: the language to write in (a guest's checkout's); None: the
        customer's (`Host.customer_languages`).
    :return: a `Delivery`: the engine commits the entry as *sending* with the voucher
        code and subject as its result, then delivers, and adds the channel and its
        reference (a Message-ID) to the result; a `Hold` in the quiet hours; or a skip
        with the reason (no consent, over the frequency cap). Return it from
        ``lifecycle_run_action`` as it is.
    """
    if not may_send(context, entry.action, _is_marketing(entry.action, marketing)):
        return skip(NO_CONSENT_REASON)
    quiet = quiet_until(context)
    if quiet is not None:
        return hold(quiet, f"quiet hours until {quiet.isoformat()}")
    capped = over_cap(context) if _is_marketing(entry.action, marketing) else None
    if capped:
        return skip(capped)
    # Last of the checks, so that the held-out customers are those who would have been sent it.
    held_out = holdout_reason(context, entry.action) if _is_marketing(entry.action, marketing) else None
    if held_out:
        return skip(held_out)
    voucher = _still_valid(_voucher_of(entry), context.now)
    if voucher is None and entry.payload.get("voucher_required"):
        return skip("its voucher was not issued")
    data = message_data(context, entry, voucher, marketing)
    try:
        rendered = render_message(entry.action, data, template_overrides(context, entry.action), template_dirs,
                                  language=customer_language(context) if language is None else language)
    except Exception as error:  # the owner's template, for this customer's data: retrying cannot help
        return skip(f"the template could not be rendered: {type(error).__name__}: {error}")
    data["language"] = rendered.language
    message = Message(
        customer=context.profile.customer,
        action=entry.action,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        payload=data,
        # The Saleor channel the message is about: the voucher's, else the order's (or checkout's).
        channel=(voucher or {}).get("channel") or (data.get("order") or data.get("checkout") or {}).get("channel")
        or None,
    )

    def send() -> dict[str, Any]:
        receipt = deliver(context, message)
        return {"delivered_by": receipt.channel, "reference": receipt.reference}

    return Delivery(
        # `marketing` and `sent_at` are what the frequency cap counts (pacing.over_cap).
        result={"voucher_code": voucher["code"] if voucher else None, "subject": rendered.subject,
                "marketing": data["marketing"], "sent_at": context.now.isoformat()}, send=send,
        own_time_limits=True,  # each delivery channel runs under the hook time limit
    )
