"""Referral and advocacy: customers in chosen stages get a shareable referral code; a new
customer's first counted order with it earns the referrer a reward voucher.

- Entering a stage of ``referral_stages`` (default ``repeat``, ``loyal``) issues the
  customer's code once (ledger key ``code``): a real voucher of the host's that anyone but
  its owner may redeem once (`VoucherRequest.shareable`), giving the new customer
  ``referral_discount`` on that order; the ``referral_code`` message announces it
  (marketing). The code is kept in `ReferralCode`.
- A counted order that redeemed a referral code (`Host.order_voucher_codes`) is decided by
  `rules.referral.refusal` and kept as a `Referral`: refused with the reason, or pending.
- A pending referral is checked one return window after the order
  (``referral_check``, scheduled on the referee): paid and unrefunded by the window's end,
  the referrer gets the ``referral_reward`` message with a personal voucher (ledger key:
  the order, so once); refunded or cancelled, the referral is cancelled.
- Referrals made and rewarded are facts on the referrer's profile
  (``referrals_made``, ``referrals_rewarded``), which make an advocate
  (`rules.referral.advocate_of`, public metadata ``lifecycle.advocate``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Q

from .. import hookimpl
from ..conf import STRING, Setting, whole_number
from ..engine.inbox import add_events
from ..host import CustomerRef
from ..models import CustomerProfile, Referral, ReferralCode
from ..rules import counts
from ..rules.config import MAX_DAYS
from ..rules.referral import Party, ReferralCheck, RewardStep, refusal, reward_step
from . import REFERRAL_CODE, REFERRAL_REWARD
from .base import option, skip, triggering_order
from .offers import VoucherOffer, enqueue_message, order_data, run_voucher, send_message, voucher_action
from .options import (
    BUYER_STAGES,
    discount_setting,
    parse_days,
    stage_list_parser,
    switch_setting,
    template_settings,
    valid_days_setting,
)

logger = logging.getLogger(__name__)

#: The scheduled check of a pending referral, on the referee's profile.
REFERRAL_CHECK = "referral_check"
MAX_PER_CODE = 1000

_LABEL = "Referrals"
SETTINGS = [
    switch_setting("referral_enabled", f"{_LABEL}: on",
                   "Give customers in the chosen stages a shareable referral code (a voucher for new "
                   "customers), and reward them with a voucher when a new customer's first order with it "
                   "is paid and kept past the return window."),
    Setting("referral_stages", "repeat, loyal", STRING, f"{_LABEL}: stages",
            "Stage codes, separated by commas, whose customers get a referral code: new, repeat, loyal, "
            "at_risk, lapsed. Once per customer; the code works in the channel of their latest order.",
            stage_list_parser(BUYER_STAGES, "a code is issued in the channel of an order")),
    discount_setting("referral_discount", f"{_LABEL}: the new customer's discount"),
    Setting("referral_code_valid_days", "365", STRING, f"{_LABEL}: code valid for (days)",
            f"The referral code expires this many days after it is issued (1 to {MAX_DAYS}).", parse_days),
    discount_setting("referral_reward_discount", f"{_LABEL}: the referrer's reward"),
    valid_days_setting("referral_reward_valid_days", f"{_LABEL}: reward valid for (days)"),
    Setting("referral_return_window_days", "14", STRING, f"{_LABEL}: return window (days)",
            f"The reward waits this many days after the new customer's order is paid; a refund or "
            f"cancellation before then cancels it (0 to {MAX_DAYS}).",
            lambda raw: whole_number(raw, 0, MAX_DAYS, "days")),
    Setting("referral_max_per_code", "10", STRING, f"{_LABEL}: referrals per code",
            f"How many new customers one code may bring in (1 to {MAX_PER_CODE}); later ones are refused.",
            lambda raw: whole_number(raw, 1, MAX_PER_CODE, "referrals")),
    *template_settings(REFERRAL_CODE, f"{_LABEL} (code message)"),
    *template_settings(REFERRAL_REWARD, f"{_LABEL} (reward message)"),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS


def _enabled(context) -> bool:
    return bool(option(context, "referral_enabled"))


def _terms(context, currency: str) -> dict:
    """What the code's message says about the programme (template variable ``referral``)."""
    return {
        "reward_discount": option(context, "referral_reward_discount").describe(currency),
        "return_window_days": option(context, "referral_return_window_days"),
        "max_per_code": option(context, "referral_max_per_code"),
    }


@hookimpl
def lifecycle_stage_changed(context, change):
    if not _enabled(context) or change.to_stage not in option(context, "referral_stages"):
        return
    order = triggering_order(context, change.occurred_at)
    if order is None:
        return
    enqueue_message(
        context, REFERRAL_CODE, key="code",  # one code per customer, ever
        data={"trigger_stage": change.to_stage, "order": order_data(order), "referral": _terms(context, order.currency)},
        voucher=VoucherOffer.for_order(order, option(context, "referral_discount"),
                                       option(context, "referral_code_valid_days")),
        voucher_required=True,
    )


# ---------------------------------------------------------------------------- the referee's order


def _requeue(profile: CustomerProfile | None) -> None:
    """The referrer's facts changed: decide them again (the inbox's next drain)."""
    if profile is not None:
        add_events([(profile.email, profile.user_id, "referral")])


def _addresses(host, order_ids) -> frozenset[str]:
    lookup = getattr(host, "order_shipping_addresses", None)
    return frozenset(lookup(list(order_ids)).values()) if lookup is not None and order_ids else frozenset()


def _referrer_party(host, profile: CustomerProfile | None) -> Party | None:
    """The code's owner with the shipping addresses of all their orders; None when deleted."""
    if profile is None:
        return None
    ref = CustomerRef(profile.email, profile.user_id)
    facts = host.read_facts([ref]).get(ref)
    order_ids = [o.order_id for o in facts.orders] if facts else []
    return Party(profile.email, profile.user_id, _addresses(host, order_ids))


@hookimpl
def lifecycle_order_counted(context, order):
    if not _enabled(context):
        return
    lookup = getattr(context.host, "order_voucher_codes", None)
    if lookup is None:
        return
    code = (lookup([order.order_id]).get(order.order_id) or "").strip()
    if not code:
        return
    referral_code = ReferralCode.objects.select_related("referrer").filter(code__iexact=code).first()
    if referral_code is None or Referral.objects.filter(order_id=order.order_id).exists():
        return  # not a referral code, or this order was decided before
    customer = context.profile.customer
    facts = context.host.read_facts([customer]).get(customer)
    earlier = sum(1 for o in (facts.orders if facts else ()) if o.order_id != order.order_id
                  and o.placed_at <= order.placed_at and counts(o, context.config))
    accepted = Q(status__in=[Referral.PENDING, Referral.REWARDED])
    check = ReferralCheck(
        referrer=_referrer_party(context.host, referral_code.referrer),
        referee=Party(customer.email, customer.user_id, _addresses(context.host, [order.order_id])),
        earlier_counted_orders=earlier,
        already_referred=Referral.objects.filter(accepted | Q(status=Referral.CANCELLED),
                                                 referee_id=context.profile.id).exists(),
        code_referrals=Referral.objects.filter(accepted, code=referral_code.code).count(),
        max_per_code=option(context, "referral_max_per_code"),
    )
    reason = refusal(check)
    referral = Referral.objects.create(
        order_id=order.order_id, code=referral_code.code, referrer=referral_code.referrer,
        referee_id=context.profile.id, status=Referral.REFUSED if reason else Referral.PENDING,
        reason=reason or "", created_at=context.now, decided_at=context.now if reason else None,
    )
    if reason:
        logger.info("referral of order %s with code %s refused: %s", order.order_id, code, reason)
    else:
        window = timedelta(days=option(context, "referral_return_window_days"))
        context.schedule(REFERRAL_CHECK, key=order.order_id, due_at=order.placed_at + window,
                         payload={"referral": referral.pk, "order_id": order.order_id})
    _requeue(referral_code.referrer)


# ---------------------------------------------------------------------------- the reward


def _finish(referral: Referral, status: str, reason: str, now: datetime) -> None:
    referral.status, referral.reason, referral.decided_at = status, reason, now
    referral.save(update_fields=["status", "reason", "decided_at"])
    _requeue(referral.referrer)


def _check(context, entry):
    """A pending referral's check has come due: wait, cancel or reward."""
    referral = Referral.objects.select_for_update().filter(pk=entry.payload["referral"]).first()
    if referral is None or referral.status != Referral.PENDING:
        return skip("the referral was decided before")
    customer = context.profile.customer
    facts = context.host.read_facts([customer]).get(customer)
    orders = facts.orders if facts else ()
    order = next((o for o in orders if o.order_id == referral.order_id), None)
    paid_seen_at = entry.payload.get("paid_seen_at")
    decision = reward_step(
        order, window=timedelta(days=option(context, "referral_return_window_days")), now=context.now,
        paid_seen_at=datetime.fromisoformat(paid_seen_at) if paid_seen_at else None,
        seen_unpaid=bool(entry.payload.get("seen_unpaid")),
        counted={o.order_id for o in orders if counts(o, context.config)},
    )
    if decision.step is RewardStep.WAIT:
        seen = decision.paid_seen_at
        context.schedule(REFERRAL_CHECK, key=f"{referral.order_id}:{decision.check_at:%Y%m%dT%H%M%S}",
                         due_at=decision.check_at,
                         payload={**entry.payload, "seen_unpaid": bool(entry.payload.get("seen_unpaid"))
                                  or (order is not None and not order.paid),
                                  "paid_seen_at": seen.isoformat() if seen else None})
        return {"waiting": decision.reason}
    if decision.step is RewardStep.CANCEL:
        _finish(referral, Referral.CANCELLED, decision.reason, context.now)
        return {"cancelled": decision.reason}
    if referral.referrer is None:
        _finish(referral, Referral.CANCELLED, "the code's owner was deleted", context.now)
        return {"cancelled": "the code's owner was deleted"}
    referrer = context.for_profile(referral.referrer)
    enqueue_message(
        referrer, REFERRAL_REWARD, key=referral.order_id,
        data={"referral": {"code": referral.code, "placed_at": order.placed_at.isoformat()}},
        voucher=VoucherOffer.for_order(order, option(context, "referral_reward_discount"),
                                       option(context, "referral_reward_valid_days")),
        voucher_required=True,
    )
    _finish(referral, Referral.REWARDED, "", context.now)
    return {"rewarded": referral.referrer_id}


def _keep_code(context, result) -> None:
    """The code's voucher was issued: remember whose it is (a referee's order names only the code)."""
    if result.get("code"):
        ReferralCode.objects.get_or_create(code=result["code"], defaults={
            "referrer_id": context.profile.id, "voucher_id": result.get("voucher_id", ""),
            "channel": result.get("channel", ""), "issued_at": context.now})


@hookimpl
def lifecycle_run_action(context, entry):
    actions = (REFERRAL_CODE, voucher_action(REFERRAL_CODE), REFERRAL_REWARD, voucher_action(REFERRAL_REWARD),
               REFERRAL_CHECK)
    if entry.action not in actions:
        return None
    if not _enabled(context):
        if entry.action == REFERRAL_CHECK:  # the referral ends without a reward, and says why
            referral = Referral.objects.filter(pk=entry.payload["referral"], status=Referral.PENDING).first()
            if referral is not None:
                _finish(referral, Referral.CANCELLED, "switched off", context.now)
        return skip("switched off")
    if entry.action == REFERRAL_CHECK:
        return _check(context, entry)
    if entry.action in (REFERRAL_CODE, REFERRAL_REWARD):
        return send_message(context, entry)
    if entry.action == voucher_action(REFERRAL_CODE):
        result = run_voucher(context, entry, shareable=True)
        _keep_code(context, result)
        return result
    return run_voucher(context, entry)


# ---------------------------------------------------------------------------- facts


@hookimpl
def lifecycle_collect_facts(customers):
    """``referrals_made`` (accepted: pending, rewarded or cancelled later) and
    ``referrals_rewarded`` for customers whose code brought anyone in; one query."""
    if "dummy" in connection.settings_dict.get("ENGINE", "dummy"):
        return None  # no database (a plugin author's unit test on the in-memory host): no referrals
    emails = [customer.email for customer in customers]
    rows = (Referral.objects.filter(referrer__email__in=emails).exclude(status=Referral.REFUSED)
            .values("referrer__email")
            .annotate(made=Count("id"), rewarded=Count("id", filter=Q(status=Referral.REWARDED))))
    by_email = {row["referrer__email"]: row for row in rows}
    return {customer: {"referrals_made": by_email[customer.email]["made"],
                       "referrals_rewarded": by_email[customer.email]["rewarded"]}
            for customer in customers if customer.email in by_email} or None


# Only a referrer (who has a profile) has referral facts: the SQL backfill, which decides
# customers without a profile, may run beside this implementation.
lifecycle_collect_facts.profiles_only = True
