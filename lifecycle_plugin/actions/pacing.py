"""Quiet hours and the marketing frequency cap: when a message may go out, and how many.

- **Quiet hours** (``quiet_hours``, e.g. ``21:00-08:00`` in ``quiet_hours_timezone``):
  a message (marketing or transactional) that comes due inside them is *held*: its
  ledger entry stays pending with the reason and the end of the quiet hours, and the
  retry task sends it then (`engine.hold`).
- **Frequency cap** (``marketing_cap_messages`` per ``marketing_cap_days``, 0 for no
  cap): a marketing message or voucher over the cap is *skipped* with the reason, not
  deferred: a reminder or an offer that waits a week for its turn is stale, and the
  next occasion (a later reminder, the next stage) brings its own message. It counts the
  marketing messages of every action, built-in and third-party (those sent with
  ``marketing=True``), that went out in the trailing window.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import hookimpl
from ..conf import STRING, Setting, whole_number
from ..engine import ActionContext
from ..engine.action_results import FREQUENCY_CAP_PREFIX
from ..models import ActionLedgerEntry, ActionStatus
from .base import option

MAX_CAP_MESSAGES = 100
MAX_CAP_DAYS = 365
#: Ledger states of a message that went out (or may have).
_SENT = (ActionStatus.SENDING, ActionStatus.DONE, ActionStatus.UNCERTAIN)


def parse_quiet_hours(raw: Any) -> tuple[time, time] | None:
    """``21:00-08:00`` (may wrap past midnight), or empty for none."""
    if raw is None or (isinstance(raw, tuple) and not raw):
        return None
    if isinstance(raw, tuple):
        return raw
    text = str(raw).strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", text)
    if not match:
        raise ValueError(f"write the quiet hours as HH:MM-HH:MM such as 21:00-08:00, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60):
        raise ValueError(f"hours go from 00 to 23 and minutes from 00 to 59, got {text!r}")
    if (h1, m1) == (h2, m2):
        raise ValueError("the quiet hours must start and end at different times")
    return time(h1, m1), time(h2, m2)


def parse_timezone(raw: Any) -> str:
    text = str(raw or "UTC").strip() or "UTC"
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not a time zone name such as Europe/Warsaw or UTC") from None
    return text


def quiet_until(context: ActionContext) -> datetime | None:
    """The end of the quiet hours when `context.now` is inside them, else None."""
    window = option(context, "quiet_hours")
    if window is None:
        return None
    start, end = window
    local = context.now.astimezone(ZoneInfo(option(context, "quiet_hours_timezone")))
    now = local.time()
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=local.tzinfo)


def over_cap(context: ActionContext) -> str | None:
    """Why the customer may get no more marketing now, or None."""
    limit = option(context, "marketing_cap_messages")
    if not limit:
        return None
    days = option(context, "marketing_cap_days")
    since = context.now - timedelta(days=days)
    sent_at = ActionLedgerEntry.objects.filter(
        profile_id=context.profile.id, status__in=_SENT, result__marketing=True
    ).values_list("result__sent_at", flat=True)
    recent = sum(1 for at in sent_at if at and datetime.fromisoformat(at) > since)
    if recent >= limit:
        return f"{FREQUENCY_CAP_PREFIX}: {recent} marketing messages in the last {days} days"
    return None


SETTINGS = [
    Setting("quiet_hours", "", STRING, "Messages: quiet hours",
            "No message goes out between these times, e.g. 21:00-08:00 (it may wrap past midnight); one that "
            "comes due then waits until they end. Empty: none.", parse_quiet_hours),
    Setting("quiet_hours_timezone", "UTC", STRING, "Messages: quiet hours time zone",
            "The time zone of the quiet hours, e.g. Europe/Warsaw.", parse_timezone),
    Setting("marketing_cap_messages", "0", STRING, "Messages: marketing cap (messages)",
            f"At most this many marketing messages per customer in the window below, across all actions "
            f"(0 to {MAX_CAP_MESSAGES}; 0: no cap). One over the cap is skipped, and the ledger says so.",
            lambda raw: whole_number(raw, 0, MAX_CAP_MESSAGES, "messages")),
    Setting("marketing_cap_days", "7", STRING, "Messages: marketing cap window (days)",
            f"The trailing window of the marketing cap (1 to {MAX_CAP_DAYS}).",
            lambda raw: whole_number(raw, 1, MAX_CAP_DAYS, "days")),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS
