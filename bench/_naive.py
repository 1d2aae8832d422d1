"""The naive backfill a developer would write first: the ORM, one customer at a time.

Per customer: the account, the orders and the carts each with one ORM query (on the
indexed columns: the account's id, the normalised e-mail's functional index), the
same rules and the same history (`rules.timeline.reconstruct`: every stage and tier
move dated from the orders, as the backfill writes it), then through the ORM the
profile (update_or_create), one row per stage move and per tier move, the ladder
digest and the metadata projection (get_or_create + save): the rows the backfill
writes. It is the reference the set-based backfill is compared with, not engine code.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.db.models.functions import Lower, Trim

from lifecycle_plugin.engine.planner import money_json, stage_code
from lifecycle_plugin.models import CustomerProfile, LadderDigest, StageTransition, TierChange
from lifecycle_plugin.rules import CustomerFacts, OrderFact, OrderState
from lifecycle_plugin.rules.digest import DIGEST_VERSION, digest_of
from lifecycle_plugin.rules.timeline import reconstruct
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
        timeline = reconstruct(facts, engine.config, now)
        decision = timeline.decision
        summary = decision.summary
        stage = stage_code(decision.stage)
        profile, created = CustomerProfile.objects.update_or_create(
            email=customer.email,
            defaults=dict(
                user=account, stage=stage, stage_since=timeline.since, stage_rule=decision.rule, tier=decision.tier,
                tier_since=timeline.tier_moves[-1].at if decision.tier and timeline.tier_moves else None,
                orders_count=summary.orders_count, orders_by_currency=dict(summary.orders_by_currency),
                lifetime_spend=money_json(summary.lifetime_spend), window_spend=money_json(summary.window_spend),
                first_order_at=summary.first_order_at, last_order_at=summary.last_order_at,
                extra_facts=dict(facts.extra), history_cutoff=now, decided_at=now,
                next_check_at=decision.next_change_at,
            ),
        )
        for move in timeline.stage_moves:
            StageTransition.objects.create(
                profile=profile, from_stage=move.from_stage and stage_code(move.from_stage),
                to_stage=stage_code(move.to_stage), occurred_at=move.at, reason=move.reason,
                rule=move.rule, facts=json.loads(json.dumps(dict(move.facts), default=str)))
        for move in timeline.tier_moves:
            TierChange.objects.create(profile=profile, from_tier=move.from_tier, to_tier=move.to_tier,
                                      occurred_at=move.at, reason=move.reason,
                                      window_spend=money_json(move.window_spend))
        digest = digest_of(facts)
        LadderDigest.objects.update_or_create(profile=profile, defaults=dict(
            version=DIGEST_VERSION, written_at=now, **{field: getattr(digest, field) for field in (
                "has_account", "open_cart_lines", "moments", "paid_moments", "median_gap_us", "paid_median_gap_us",
                "spend_currencies", "spend_starts", "spend_moments", "spend_from", "paid_spend_from")}))
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
