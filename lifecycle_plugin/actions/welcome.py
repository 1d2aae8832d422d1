"""Welcome sequence: a welcome when an account is created, then nurture messages while the customer stays a lead.

- A fresh account entering ``lead`` (registered at most a day before, with no counted
  order) starts the sequence: the welcome message (with ``welcome_voucher``, a personal
  first-order voucher in ``welcome_voucher_channel``) is written to the ledger at once,
  and nurture message 1 is scheduled ``welcome_nurture_days[0]`` days after it.
- Each nurture message, when due, checks the customer is still a lead, writes its message
  (announcing the welcome voucher while it is valid) and schedules the next one, at the
  next delay counted from the welcome.
- An account whose e-mail is not confirmed yet gets nothing until it is: the welcome
  waits as a scheduled action that looks again every ``CONFIRMATION_RECHECK`` and gives
  up after ``CONFIRMATION_WAIT``. Marketing to an address nobody proved is theirs would
  write to whoever's address was typed in.
- Leaving ``lead`` (an order, or a cart: ``prospect``) stops the sequence: pending
  nurture is cancelled and a ``welcome_stopped`` ledger entry says why; a message still
  waiting to be sent is skipped with the reason when it runs.

Keys: the account id, so one account gets one welcome whatever the replays, and a
customer who is a lead again later (an emptied cart) does not start a second sequence.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from .. import hookimpl
from ..conf import STRING, Setting
from ..engine import hold
from ..engine.service import FIRST_SIGHT_GRACE
from ..models import ActionLedgerEntry, ActionStatus
from ..rules import Stage
from ..rules.config import MAX_DAYS
from ..rules.currencies import is_currency_code
from . import WELCOME, WELCOME_NURTURE, WELCOME_STOPPED
from .base import is_enabled, ledger_key, option, skip
from .offers import VoucherOffer, enqueue_message, run_voucher, send_message, voucher_action
from .unsubscribe import UNSUBSCRIBED, has_opted_out
from .options import MAX_REMINDERS, Discount, switch_setting, template_settings, voucher_settings

#: How often a welcome waiting for the account's confirmation looks again, and for how long.
CONFIRMATION_RECHECK = timedelta(hours=1)
CONFIRMATION_WAIT = timedelta(days=14)
#: The scheduled action of a welcome that waits for the account to be confirmed.
WELCOME_WAITING = "welcome_waiting"
_LEAD = Stage.LEAD.value
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$", re.IGNORECASE)


def parse_nurture_days(raw: Any) -> tuple[int, ...]:
    """``3, 10, 30``: days after the welcome, one per nurture message, each later than the one before."""
    if isinstance(raw, (list, tuple)):
        items = [str(item) for item in raw]
    else:
        items = [part for part in re.split(r"[\s,]+", str(raw or "").strip()) if part]
    days: list[int] = []
    for item in items:
        if not re.fullmatch(r"\d+", item.strip()):
            raise ValueError(f"write whole numbers of days separated by commas, such as '3, 10', got {item!r}")
        value = int(item)
        if not 1 <= value <= MAX_DAYS:
            raise ValueError(f"each delay must be from 1 to {MAX_DAYS} days, got {value}")
        if days and value <= days[-1]:
            raise ValueError(f"the delays count from the welcome, so each must be later than the one before: "
                             f"{value} comes after {days[-1]}")
        days.append(value)
    if len(days) > MAX_REMINDERS:
        raise ValueError(f"at most {MAX_REMINDERS} nurture messages, got {len(days)}")
    return tuple(days)


def parse_voucher_channel(raw: Any) -> tuple[str, str]:
    """``default-channel`` or ``default-channel USD``: the channel slug, and its currency for fixed amounts."""
    if isinstance(raw, tuple):
        raw = " ".join(part for part in raw if part)
    parts = str(raw or "").split()
    if not parts:
        raise ValueError("name the channel (its slug, such as 'default-channel') the welcome voucher is issued in")
    if len(parts) > 2 or not _SLUG.match(parts[0]):
        raise ValueError(f"write a channel slug, optionally with its currency, such as 'default-channel' or "
                         f"'default-channel USD', got {str(raw).strip()!r}")
    currency = parts[1].upper() if len(parts) == 2 else ""
    if currency and not is_currency_code(currency):
        raise ValueError(f"{parts[1]!r} is not an ISO 4217 currency code such as USD or EUR")
    return parts[0], currency


_LABEL = "Welcome sequence"
SETTINGS = [
    switch_setting("welcome_enabled", f"{_LABEL}: on",
                   "Welcome customers when they create an account, then send the nurture messages below while "
                   "they have not ordered; their first order (or a cart) stops the sequence. Marketing: needs "
                   "consent like every marketing message."),
    Setting("welcome_nurture_days", "3, 10", STRING, f"{_LABEL}: nurture messages (days after the welcome)",
            f"One number per nurture message: the days after the welcome it is sent, each later than the one "
            f"before, such as '3, 10' (at most {MAX_REMINDERS}, each from 1 to {MAX_DAYS}). Empty: the welcome "
            "only.", parse_nurture_days),
    *voucher_settings(WELCOME, _LABEL,
                      "Add a personal single-use first-order voucher to the welcome (the nurture messages remind "
                      "the customer of it while it is valid)."),
    Setting("welcome_voucher_channel", "default-channel", STRING, f"{_LABEL}: voucher channel",
            "The slug of the channel the welcome voucher is issued in (a new account has no order to take it "
            "from), followed by the channel's currency when the discount is a fixed amount: "
            "'default-channel' or 'default-channel USD'.", parse_voucher_channel),
    *template_settings(WELCOME, _LABEL),
    *template_settings(WELCOME_NURTURE, f"{_LABEL} (nurture)"),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS


def _account(context) -> Any:
    """The customer's facts as the host has them now, when they are an account's."""
    customer = context.profile.customer
    if customer.user_id is None:
        return None
    facts = context.host.read_facts([customer]).get(customer)
    return facts if facts is not None and facts.has_account and facts.user_id == customer.user_id else None


def _not_a_lead(context) -> str | None:
    """Why the sequence is over for this customer, or None while they are still a lead."""
    if context.profile.orders_count > 0:
        return "the customer ordered"
    if context.profile.stage != _LEAD:
        return f"the customer is no longer a lead (now {context.profile.stage})"
    return None


@hookimpl
def lifecycle_stage_changed(context, change):
    if change.from_stage == _LEAD and change.to_stage != _LEAD:
        _stop(context, change)
        return
    if change.to_stage != _LEAD or not is_enabled(context, WELCOME) or _not_a_lead(context):
        return
    facts = _account(context)
    if facts is None or facts.account_created_at is None:
        return  # a lead without an account is a plugin's stage; nobody registered
    if facts.account_created_at < change.occurred_at - FIRST_SIGHT_GRACE:
        return  # an old account first seen now, or a lead again after a cart: no welcome
    account = str(context.profile.customer.user_id)
    if facts.account_confirmed:
        _start(context, account)
    else:
        context.schedule(WELCOME_WAITING, key=account, due_at=context.now + CONFIRMATION_RECHECK,
                         payload={"account": account, "registered_at": facts.account_created_at.isoformat()})


def _voucher_offer(context) -> VoucherOffer | None:
    if not option(context, "welcome_voucher"):
        return None
    channel, currency = option(context, "welcome_voucher_channel")
    discount: Discount = option(context, "welcome_discount")
    return VoucherOffer(discount, channel, currency, option(context, "welcome_valid_days"))


def _start(context, account: str) -> None:
    """Write the welcome (and its voucher) to the ledger and schedule the first nurture message."""
    days = option(context, "welcome_nurture_days")
    offer = _voucher_offer(context)
    fresh = enqueue_message(context, WELCOME, key=account, data={"nurture": {"number": 0, "count": len(days)}},
                            voucher=offer, voucher_data={"account": account})
    if fresh and days:
        _schedule_nurture(context, account, 1, context.now, days)


def _schedule_nurture(context, account: str, number: int, welcomed_at: datetime, days) -> None:
    due_at = max(context.now, welcomed_at + timedelta(days=days[number - 1]))
    context.schedule(WELCOME_NURTURE, key=f"{account}:{number}", due_at=due_at,
                     payload={"account": account, "number": number, "welcomed_at": welcomed_at.isoformat()})


def _stop(context, change) -> None:
    """The customer left lead: cancel what is scheduled and record why (even when switched off since)."""
    cancelled = context.cancel_scheduled(WELCOME_NURTURE) + context.cancel_scheduled(WELCOME_WAITING)
    if not cancelled:
        return
    reason = "the customer ordered" if context.profile.orders_count > 0 else \
        f"the customer is no longer a lead (now {change.to_stage})"
    sent = ActionLedgerEntry.objects.filter(profile_id=context.profile.id, action=WELCOME_NURTURE,
                                            status=ActionStatus.DONE).count()
    context.enqueue(WELCOME_STOPPED, key=str(context.profile.customer.user_id or context.profile.id),
                    payload={"reason": reason, "to_stage": change.to_stage, "nurture_sent": sent,
                             "nurture_cancelled": cancelled})


def _waiting(context, entry):
    """A welcome waiting for the account's confirmation has come due."""
    why = _not_a_lead(context)
    if why:
        return skip(why)
    if has_opted_out(context.profile.id):
        return skip(UNSUBSCRIBED)  # nothing to start: every message would be skipped
    facts = _account(context)
    if facts is None:
        return skip("the account no longer exists")
    if not facts.account_confirmed:
        registered = datetime.fromisoformat(entry.payload["registered_at"])
        if context.now >= registered + CONFIRMATION_WAIT:
            return skip(f"the account was not confirmed within {CONFIRMATION_WAIT.days} days")
        return hold(context.now + CONFIRMATION_RECHECK, "waiting for the account to be confirmed")
    _start(context, entry.payload["account"])
    return {"confirmed": True}


def _nurture(context, entry):
    """A nurture message has come due: write it to the ledger and schedule the next one."""
    account, number = entry.payload["account"], int(entry.payload["number"])
    why = _not_a_lead(context)
    if why:
        return skip(why)
    days = option(context, "welcome_nurture_days")
    if number > len(days):
        return skip("no nurture messages left (the owner shortened the list)")
    voucher_entry = ledger_key(context, voucher_action(WELCOME), account)
    context.enqueue(WELCOME_NURTURE, key=f"{account}:{number}", payload={
        "nurture": {"number": number, "count": len(days)},
        # The welcome's voucher, announced while it is valid (none when it was not issued).
        "voucher_entry": voucher_entry if ActionLedgerEntry.objects.filter(dedupe_key=voucher_entry).exists()
        else None,
        "voucher_required": False,
    })
    if number < len(days):
        _schedule_nurture(context, account, number + 1, datetime.fromisoformat(entry.payload["welcomed_at"]), days)
    return {"nurture": number}


_MESSAGES = (WELCOME, voucher_action(WELCOME), WELCOME_NURTURE)


@hookimpl
def lifecycle_run_action(context, entry):
    if entry.action == WELCOME_STOPPED:
        # Bookkeeping only: the payload is the record; keep the reason as the result too.
        return {"recorded": True, "reason": entry.payload.get("reason", "")}
    if entry.action not in (*_MESSAGES, WELCOME_WAITING):
        return None
    if not is_enabled(context, WELCOME):
        return skip("switched off")
    if entry.action == WELCOME_WAITING:
        return _waiting(context, entry)
    if entry.kind == "scheduled":
        return _nurture(context, entry)
    why = _not_a_lead(context)
    if why:
        return skip(why)
    if entry.action == voucher_action(WELCOME):
        if "amounts" in entry.payload.get("discount", {}) and not entry.payload.get("currency"):
            return skip("a fixed-amount welcome voucher needs the channel's currency in the voucher channel "
                        "setting, such as 'default-channel USD'")
        return run_voucher(context, entry)
    return send_message(context, entry)
