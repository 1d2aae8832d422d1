"""The referral metrics (`lifecycleReferrals`): referrals made in a period by outcome, refusals
by reason, and the store's advocates now (docs/actions.md, referral and advocacy)."""

from __future__ import annotations

from datetime import datetime

import graphene
from django.db.models import Count, Q

from ..models import CustomerProfile, Referral, ReferralCode


class LifecycleReasonCount(graphene.ObjectType):
    reason = graphene.String(required=True)
    count = graphene.Int(required=True)


class LifecycleReferrals(graphene.ObjectType):
    """Referrals whose order counted in the half-open period [since, until), by what became of them."""

    since = graphene.DateTime(required=True)
    until = graphene.DateTime(required=True)
    made = graphene.Int(required=True, description="Accepted referrals: pending, rewarded or cancelled since.")
    pending = graphene.Int(required=True, description="Waiting for payment or the end of the return window.")
    rewarded = graphene.Int(required=True, description="The referrer's reward was issued.")
    cancelled = graphene.Int(required=True, description="Refunded, cancelled or never paid: no reward.")
    refused = graphene.Int(required=True, description="Not referrals (own code, shared address, not new...).")
    refused_by_reason = graphene.List(graphene.NonNull(LifecycleReasonCount), required=True,
                                      description="The refusals by reason, most frequent first.")
    codes_issued = graphene.Int(required=True, description="Referral codes issued in the period.")
    advocates = graphene.Int(required=True, description="Customers who are advocates now (a rewarded referral "
                             "or a review), whenever they became one.")


def referral_metrics(since: datetime, until: datetime) -> LifecycleReferrals:
    rows = Referral.objects.filter(created_at__gte=since, created_at__lt=until)
    by_status = dict(rows.values_list("status").annotate(n=Count("id")))
    reasons = (rows.filter(status=Referral.REFUSED).values_list("reason").annotate(n=Count("id"))
               .order_by("-n", "reason"))
    accepted = (Referral.PENDING, Referral.REWARDED, Referral.CANCELLED)
    advocates = CustomerProfile.objects.filter(
        Q(extra_facts__referrals_rewarded__gt=0) | Q(extra_facts__reviews_written__gt=0)).count()
    return LifecycleReferrals(
        since=since, until=until,
        made=sum(by_status.get(status, 0) for status in accepted),
        pending=by_status.get(Referral.PENDING, 0), rewarded=by_status.get(Referral.REWARDED, 0),
        cancelled=by_status.get(Referral.CANCELLED, 0), refused=by_status.get(Referral.REFUSED, 0),
        refused_by_reason=[LifecycleReasonCount(reason=reason, count=n) for reason, n in reasons],
        codes_issued=ReferralCode.objects.filter(issued_at__gte=since, issued_at__lt=until).count(),
        advocates=advocates,
    )
