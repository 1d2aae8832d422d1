"""One-click unsubscribe: the signed link in every marketing message, and what using it does.

The link is the plugin's own route ``unsubscribe/?token=...`` (Saleor:
``/plugins/global/saleor.lifecycle/unsubscribe/``; the sandbox's ``serve``:
``/unsubscribe/``), made absolute by the host (``host.plugin_url``). The token is
Django's `signing` of the customer's profile id and e-mail with a salt of our own and
the site's SECRET_KEY, timestamped: it expires after ``unsubscribe_link_valid_days``.
Nothing else is in it, so a forged token fails the signature and a token for one
customer cannot be edited into another's.

Using it (`opt_out`) records a `MarketingOptOut` row, writes "no" under the consent
key in the account's private metadata (when the owner set a key and the host can
write it), and stops every marketing message still waiting for the customer: pending
ledger entries are skipped with the reason, pending scheduled ones cancelled. It is
idempotent, and for a customer who was deleted since it does nothing at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.db import transaction

from .. import hookimpl
from ..conf import STRING, Setting, whole_number
from ..engine import ActionContext
from ..engine.action_results import UNSUBSCRIBED_REASON
from ..host import CustomerRef, Host
from ..models import ActionLedgerEntry, ActionStatus, CustomerProfile, MarketingOptOut, ScheduledAction
from . import MARKETING_ACTIONS
from .base import option_from

#: Our own salt: a token signed for anything else with the same SECRET_KEY is not one of ours.
SALT = "lifecycle_plugin.unsubscribe"
#: The plugin's route, relative to its own URL prefix.
ROUTE = "unsubscribe/"
#: Why a waiting marketing entry was skipped.
UNSUBSCRIBED = UNSUBSCRIBED_REASON
#: What the consent key is set to in the account's private metadata.
OPTED_OUT_VALUE = "unsubscribed"

MAX_LINK_DAYS = 3650


class BadToken(ValueError):
    """The token was not signed by us, was altered, or has expired."""


@dataclass(frozen=True)
class Recipient:
    """Whom a token names: the profile and the e-mail it had when the message was sent."""

    profile_id: int
    email: str


def make_token(profile_id: int, email: str) -> str:
    return signing.dumps({"p": profile_id, "e": email}, salt=SALT, compress=True)


def read_token(token: str, valid_days: int) -> Recipient:
    try:
        data = signing.loads(token, salt=SALT, max_age=valid_days * 86400)
        return Recipient(int(data["p"]), str(data["e"]))
    except signing.SignatureExpired as error:
        raise BadToken("this unsubscribe link has expired") from error
    except (signing.BadSignature, KeyError, TypeError, ValueError) as error:
        raise BadToken("this unsubscribe link is not valid") from error


def unsubscribe_url(context: ActionContext) -> str:
    """The customer's link, or empty when the host cannot make the plugin's URL absolute."""
    plugin_url = getattr(context.host, "plugin_url", None)
    if plugin_url is None:
        return ""
    token = make_token(context.profile.id, context.profile.customer.email)
    return plugin_url(ROUTE) + "?" + urlencode({"token": token})


def has_opted_out(profile_id: int) -> bool:
    return MarketingOptOut.objects.filter(profile_id=profile_id).exists()


def _marketing(action: str) -> bool:
    return action in MARKETING_ACTIONS or action.removesuffix("_voucher") in MARKETING_ACTIONS


def opt_out(recipient: Recipient, source: str, now: datetime, host: Host, settings: Mapping[str, Any]) -> bool:
    """Record the opt-out; False when the customer no longer exists (nothing is changed then).

    The profile row is locked, so a worker deciding for the customer right now sees
    either no opt-out or all of it.
    """
    with transaction.atomic():
        profile = CustomerProfile.objects.select_for_update().filter(
            pk=recipient.profile_id, email=recipient.email).first()
        if profile is None:
            return False
        _, created = MarketingOptOut.objects.get_or_create(
            profile=profile, defaults={"opted_out_at": now, "source": source})
        waiting = ActionLedgerEntry.objects.filter(
            profile=profile, status__in=[ActionStatus.PENDING, ActionStatus.FAILED])
        for entry in waiting:
            if _marketing(entry.action):
                entry.status, entry.result = ActionStatus.SKIPPED, {"skipped": True, "reason": UNSUBSCRIBED}
                entry.completed_at = now
                entry.save(update_fields=["status", "result", "completed_at", "updated_at"])
        ScheduledAction.objects.filter(
            profile=profile, status=ActionStatus.PENDING, action__in=list(MARKETING_ACTIONS)
        ).update(status=ActionStatus.CANCELLED, last_error=UNSUBSCRIBED, updated_at=now)
        key = option_from(settings, "marketing_consent_key")
        record = getattr(host, "record_opt_out", None)
        if created and key and profile.user_id and record is not None:
            record(CustomerRef(profile.email, profile.user_id), key, OPTED_OUT_VALUE)
    return True


def parse_link_days(raw: Any) -> int:
    return whole_number(raw, 1, MAX_LINK_DAYS, "days")


SETTINGS = [
    Setting("unsubscribe_link_valid_days", "365", STRING, "Messages: unsubscribe link valid for (days)",
            "Every marketing message carries a signed one-click unsubscribe link (and, by e-mail, the "
            f"List-Unsubscribe headers); it stops working this many days after sending (1 to {MAX_LINK_DAYS}).",
            parse_link_days),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS
