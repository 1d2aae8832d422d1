"""The naive backfill a developer would write first: the ORM, one customer at a time.

Per customer: the account, the orders and the carts each with one ORM query (on the
indexed columns: the account's id, the normalised e-mail's functional index), the
same rules (`engine.decide`), then the profile (update_or_create), its transition,
its tier change and the metadata projection (get_or_create + save) through the ORM.
It is the reference the set-based backfill is compared with, not engine code.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.db.models.functions import Lower, Trim

from lifecycle_plugin.engine.planner import money_json, stage_code
from lifecycle_plugin.models import CustomerProfile, StageTransition, TierChange
from lifecycle_plugin.rules import CustomerFacts, OrderFact, OrderState
from lifecycle_plugin.host_support import PAID_CHARGE_STATUSES, PROFILE_KEY, STAGE_KEY, STATE_OF_STATUS, TIER_KEY
from lifecycle_plugin.sandbox.models import Checkout, CustomerMetadata, Order


def naive_backfill(engine, customers, now) -> int:
    User = get_user_model()
    written = 0
    for customer in customers:
        account = (
            User.objects.annotate(e=Lower(Trim("email"))).filter(is_staff=False)
            .filter(Q(pk=customer.user_id) if customer.user_id else Q(e=customer.email)).order_by("pk").first()
        )
        if account is not None:
            order_filter = Q(user=account) | Q(user__isnull=True, e=customer.email)
        else:
            order_filter = Q(user__isnull=True, e=customer.email)
        orders = [
            OrderFact(str(o.pk), o.created_at, o.currency, o.total_amount, STATE_OF_STATUS.get(o.status, OrderState.PLACED),
                      o.charge_status in PAID_CHARGE_STATUSES, o.refunded_amount, o.channel.slug, o.fulfilled_at)
            for o in Order.objects.annotate(e=Lower(Trim("user_email"))).filter(order_filter).select_related("channel")
        ]
        checkout_filter = (Q(user=account) if account is not None else Q(pk__in=[])) | Q(user__isnull=True, e=customer.email)
        carts = list(Checkout.objects.annotate(e=Lower(Trim("email"))).filter(checkout_filter))
        facts = CustomerFacts(
            email=customer.email,
            has_account=account is not None,
            user_id=account.pk if account is not None else None,
            account_created_at=account.date_joined if account is not None else None,
            orders=tuple(orders),
            open_cart_lines=sum(c.lines_count for c in carts),
            checkouts=len(carts),
        )
        if not facts.known:
            continue
        decision = engine.decide(facts, now)
        summary = decision.summary
        stage = stage_code(decision.stage)
        profile, created = CustomerProfile.objects.update_or_create(
            email=customer.email,
            defaults=dict(
                user=account, stage=stage, stage_since=now, stage_rule=decision.rule, tier=decision.tier,
                tier_since=now if decision.tier else None, orders_count=summary.orders_count,
                orders_by_currency=dict(summary.orders_by_currency),
                lifetime_spend=money_json(summary.lifetime_spend), window_spend=money_json(summary.window_spend),
                first_order_at=summary.first_order_at, last_order_at=summary.last_order_at,
                extra_facts=dict(facts.extra), history_cutoff=now, decided_at=now,
                next_check_at=decision.next_change_at,
            ),
        )
        StageTransition.objects.create(profile=profile, from_stage=None, to_stage=stage, occurred_at=now,
                                       reason=StageTransition.REASON_BACKFILL, rule=decision.rule,
                                       facts=json.loads(json.dumps(dict(decision.facts), default=str)))
        if decision.tier:
            TierChange.objects.create(profile=profile, from_tier=None, to_tier=decision.tier, occurred_at=now,
                                      reason=StageTransition.REASON_BACKFILL,
                                      window_spend=money_json(summary.window_spend))
        if account is not None:
            meta, _ = CustomerMetadata.objects.get_or_create(user=account)
            meta.metadata = {**meta.metadata, STAGE_KEY: stage, TIER_KEY: decision.tier or ""}
            meta.private_metadata = {**meta.private_metadata, PROFILE_KEY: json.dumps({
                "stage": stage, "tier": decision.tier, "orders": summary.orders_count,
                "lifetime_spend": money_json(summary.lifetime_spend),
                "window_spend": money_json(summary.window_spend),
                "next_check_at": decision.next_change_at.isoformat() if decision.next_change_at else None,
            })}
            meta.save()
        written += 1
    return written
