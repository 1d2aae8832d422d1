"""Abandoned checkout: remind a shopper of a cart that stopped changing, with its lines and a link back.

A reminder is a scheduled action named by the checkout and the moment it last changed
(``<token>:<changed at>:<number>``), so:

- every event about the customer (``lifecycle_event_processed``) reads their checkouts
  (`Host.customer_checkouts`, only when one has lines or a reminder is pending) and
  schedules reminder 1 for each checkout with lines, due
  ``abandoned_checkout_delay_hours`` after its last change; a checkout that changed
  again gets a new name, so its reminder moves later and the old one is cancelled;
- a checkout that is completed (Saleor deletes it) or emptied cancels its reminders at
  the customer's next event; a deleted checkout has no event, so each reminder reads
  the checkout again when it falls due, and its message again before it is sent;
- replaying events schedules nothing twice (the name is the ledger's dedupe key).

Never for a checkout older than the customer's last order (they bought since they
started it), for guests (the checkout's e-mail) and accounts alike. The optional second
reminder follows the first by ``abandoned_checkout_second_hours``. The link is
``checkout_url_template`` with the checkout's token. Reminders are marketing: consent,
unsubscribe link, quiet hours and the frequency cap apply, and a guest's message is in
the checkout's language.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

from .. import hookimpl
from ..conf import STRING, Setting, whole_number
from ..host import OpenCheckout
from ..models import ActionStatus, ScheduledAction
from ..rules import OrderState
from . import ABANDONED_CHECKOUT
from .base import is_enabled, option, skip
from .offers import enqueue_message, products_data, send_message
from .options import switch_setting, template_settings

_LABEL = "Abandoned checkout"
#: Up to 30 days for either wait.
MAX_HOURS = 720
#: A reminder that falls due this much later than planned (workers down, the action
#: switched on over old carts) is not sent: "you left something" a week on is odd.
MAX_LATE = timedelta(days=1)
#: What ``checkout_url_template`` may contain.
URL_FIELDS = ("token", "channel")


def parse_hours(raw: Any) -> int:
    return whole_number(raw, 1, MAX_HOURS, "hours")


def parse_second_hours(raw: Any) -> int:
    return whole_number(raw, 0, MAX_HOURS, "hours")


def parse_checkout_url(raw: Any) -> str:
    """``https://shop.example.com/checkout/{token}``: an http(s) address with ``{token}``."""
    text = str(raw or "").strip()
    if not text:
        return ""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text)
                  if name is not None]
    except ValueError as error:
        raise ValueError(f"{text!r} is not a valid address template ({error}); write braces only around "
                         f"{', '.join('{' + f + '}' for f in URL_FIELDS)}") from None
    for name, spec, conversion in fields:
        if name not in URL_FIELDS:
            raise ValueError(f"unknown placeholder {{{name}}} in the checkout address; use "
                             f"{', '.join('{' + f + '}' for f in URL_FIELDS)}")
        if spec or conversion:
            raise ValueError(f"write {{{name}}} without a format or conversion")
    if "token" not in {name for name, _, _ in fields}:
        raise ValueError("the checkout address must contain {token}, the checkout's id, to lead back to the cart")
    parts = urlsplit(text.replace("{token}", "t").replace("{channel}", "c"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not an http(s) address such as https://shop.example.com/checkout/{{token}}")
    return text


SETTINGS = [
    switch_setting("abandoned_checkout_enabled", f"{_LABEL}: on",
                   "Remind shoppers of a checkout with lines that stopped changing, listing its lines with a "
                   "link back; cancelled when the checkout is completed, emptied or deleted. Marketing: needs "
                   "consent like every offer."),
    Setting("abandoned_checkout_delay_hours", "4", STRING, f"{_LABEL}: hours after the last change",
            f"How long a checkout must stay unchanged before the reminder (1 to {MAX_HOURS}).", parse_hours),
    Setting("abandoned_checkout_second_hours", "20", STRING, f"{_LABEL}: second reminder, hours later",
            f"Hours from the first reminder to a second one (1 to {MAX_HOURS}); 0 for no second reminder. "
            "The defaults send one 4 hours and one 24 hours after the checkout's last change.",
            parse_second_hours),
    Setting("checkout_url_template", "", STRING, f"{_LABEL}: checkout address",
            "The storefront address of a checkout, with {token} for its token (and optionally {channel} "
            "for its channel's slug), e.g. https://shop.example.com/checkout?token={token}. Empty: the "
            "reminder has no link.", parse_checkout_url),
    *template_settings(ABANDONED_CHECKOUT, _LABEL),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%f")


def _key(checkout: OpenCheckout, number: int) -> str:
    return f"{checkout.token}:{_stamp(checkout.changed_at)}:{number}"


def _due(context, checkout: OpenCheckout, number: int) -> datetime:
    due = checkout.changed_at + timedelta(hours=option(context, "abandoned_checkout_delay_hours"))
    return due + timedelta(hours=option(context, "abandoned_checkout_second_hours")) if number == 2 else due


def _reminders(context) -> int:
    return 2 if option(context, "abandoned_checkout_second_hours") else 1


def _checkouts(context) -> list[OpenCheckout] | None:
    """The customer's checkouts now, or None when the host cannot list them."""
    lookup = getattr(context.host, "customer_checkouts", None)
    if lookup is None:
        return None
    customer = context.profile.customer
    return lookup([customer]).get(customer, [])


def _last_order_at(orders) -> datetime | None:
    return max((o.placed_at for o in orders if o.state is not OrderState.DRAFT), default=None)


def _ordered_since(checkout: OpenCheckout, last_order_at: datetime | None) -> bool:
    """The customer placed an order after they started this checkout."""
    return last_order_at is not None and checkout.created_at <= last_order_at


def _schedule_first(context, checkout: OpenCheckout) -> None:
    due = _due(context, checkout, 1)
    if due + MAX_LATE < context.now:
        return  # an old cart met for the first time (the action was just switched on)
    context.schedule(ABANDONED_CHECKOUT, key=_key(checkout, 1), due_at=due,
                     payload={"token": checkout.token, "changed": _stamp(checkout.changed_at), "number": 1})


@hookimpl
def lifecycle_event_processed(context, facts):
    if not is_enabled(context, ABANDONED_CHECKOUT):
        return
    checkouts = _checkouts(context) if facts.open_cart_lines else []
    if checkouts is None:
        return
    last_order_at = _last_order_at(facts.orders)
    waiting = [c for c in checkouts if c.lines and not _ordered_since(c, last_order_at)]
    if not waiting:
        context.cancel_scheduled(ABANDONED_CHECKOUT)  # no query when none is pending
        return
    current = {(c.token, _stamp(c.changed_at)) for c in waiting}
    pending = ScheduledAction.objects.filter(profile_id=context.profile.id, action=ABANDONED_CHECKOUT,
                                             status=ActionStatus.PENDING).values_list("id", "payload")
    # Completed, emptied or changed since: its reminders give way (a changed one gets a new, later one).
    stale = [pk for pk, payload in pending if (payload.get("token"), payload.get("changed")) not in current]
    if stale:
        ScheduledAction.objects.filter(pk__in=stale).update(status=ActionStatus.CANCELLED, updated_at=context.now)
    for checkout in waiting:
        _schedule_first(context, checkout)


def checkout_url(template: str, checkout: OpenCheckout) -> str:
    if not template:
        return ""
    return template.format(token=quote(checkout.token, safe=""), channel=quote(checkout.channel, safe=""))


def checkout_data(context, checkout: OpenCheckout) -> dict[str, Any]:
    """The checkout as templates and the notify payload show it (JSON-serialisable)."""
    return {
        "token": checkout.token,
        "url": checkout_url(option(context, "checkout_url_template"), checkout),
        "channel": checkout.channel,
        "language": checkout.language,
        "created_at": checkout.created_at.isoformat(),
        "changed_at": checkout.changed_at.isoformat(),
        "lines": len(checkout.lines),
    }


def _still_abandoned(context, payload: Mapping[str, Any]) -> OpenCheckout | dict[str, Any]:
    """The checkout of a reminder, as it is now, or the skip that says why there is no reminder."""
    checkouts = _checkouts(context)
    if checkouts is None:
        return skip("the store cannot list checkouts")
    checkout = next((c for c in checkouts if c.token == payload["token"]), None)
    if checkout is None:
        return skip("the checkout was completed or deleted")
    if not checkout.lines:
        return skip("the checkout was emptied")
    if _stamp(checkout.changed_at) != payload["changed"]:
        _schedule_first(context, checkout)  # its own event may not have come through
        return skip("the checkout changed since; a later reminder is due")
    customer = context.profile.customer
    facts = context.host.read_facts([customer]).get(customer)
    if facts is not None and _ordered_since(checkout, _last_order_at(facts.orders)):
        return skip("the customer ordered since starting the checkout")
    return checkout


def _remind(context, entry):
    """A reminder has come due: check the checkout again, then write its message to the ledger."""
    number = int(entry.payload["number"])
    count = _reminders(context)
    if number > count:
        return skip("no second reminder (the owner set it to 0 hours)")
    checkout = _still_abandoned(context, entry.payload)
    if not isinstance(checkout, OpenCheckout):
        return checkout
    if _due(context, checkout, number) + MAX_LATE < context.now:
        return skip("more than a day late")
    enqueue_message(context, ABANDONED_CHECKOUT, key=_key(checkout, number), data={
        "token": checkout.token,
        "changed": _stamp(checkout.changed_at),
        "checkout": checkout_data(context, checkout),
        "products": products_data(list(checkout.lines)),
        "reminder": {"number": number, "count": count},
    })
    if number < count:
        context.schedule(ABANDONED_CHECKOUT, key=_key(checkout, number + 1), due_at=_due(context, checkout, number + 1),
                         payload={"token": checkout.token, "changed": entry.payload["changed"], "number": number + 1})
    return {"reminder": number}


@hookimpl
def lifecycle_run_action(context, entry):
    if entry.action != ABANDONED_CHECKOUT:
        return None
    if not is_enabled(context, ABANDONED_CHECKOUT):
        return skip("switched off")
    if entry.kind == "scheduled":
        return _remind(context, entry)
    # The message may have waited (quiet hours, a retry): the cart may be gone by now.
    checkout = _still_abandoned(context, entry.payload)
    if not isinstance(checkout, OpenCheckout):
        return checkout
    # A guest writes in the checkout's language; an account in its own (the host's answer).
    guest_language = checkout.language if context.profile.customer.user_id is None and checkout.language else None
    return send_message(context, entry, language=guest_language)
