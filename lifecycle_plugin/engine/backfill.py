"""Backfill: every customer from the host's history, in chunks, with set-based SQL.

Per chunk: one query for the existing profiles, the host's constant number of
fact queries, the pure rules in Python, then one UPDATE and one INSERT for all
profiles, one INSERT for the transitions and one projection write. Each profile
update checks the `version` read at the start of the chunk; a customer whose
profile an event changed in the meantime is redone through the single-customer
path, so the backfill never overwrites a newer decision.

The backfill records history (reason ``backfill``) but fires no stage or tier
hooks: installing the plugin must not message every existing customer.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q

from ..host import CustomerRef, Projection
from ..models import CustomerProfile, StageTransition
from .service import LifecycleEngine, money_json, stage_code

PROFILE_TABLE = CustomerProfile._meta.db_table
TRANSITION_TABLE = StageTransition._meta.db_table
TIER_TABLE = "lifecycle_plugin_tierchange"


@dataclass
class BackfillReport:
    customers: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stage_changes: int = 0
    tier_changes: int = 0
    conflicts: int = 0
    last_email: str | None = None
    stage_counts: Counter = field(default_factory=Counter)
    tier_counts: Counter = field(default_factory=Counter)

    def add(self, other: BackfillReport) -> None:
        for name in ("customers", "created", "updated", "unchanged", "stage_changes", "tier_changes", "conflicts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.stage_counts.update(other.stage_counts)
        self.tier_counts.update(other.tier_counts)
        self.last_email = other.last_email or self.last_email


def backfill(
    engine: LifecycleEngine,
    *,
    chunk_size: int = 2000,
    start_after: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int, str], None] | None = None,
) -> BackfillReport:
    """Decide every customer the host knows. Resumable: pass the last e-mail done as `start_after`."""
    report = BackfillReport()
    for customers in engine.host.customer_chunks(chunk_size, start_after=start_after):
        if not customers:
            continue
        chunk = backfill_chunk(engine, customers, dry_run=dry_run)
        report.add(chunk)
        if progress is not None:
            progress(len(customers), customers[-1].email)
    return report


def backfill_chunk(engine: LifecycleEngine, customers: Sequence[CustomerRef], *, dry_run: bool = False) -> BackfillReport:
    report = BackfillReport(customers=len(customers), last_email=customers[-1].email if customers else None)
    now = engine.clock()
    existing = _existing_profiles(customers)
    facts = engine.read_facts(customers)

    inserts, updates, transitions, tier_changes, projections = [], [], [], [], []
    for customer in customers:
        customer_facts = facts[customer]
        if not customer_facts.known:
            continue
        decision = engine.decide(customer_facts, now)
        stage = stage_code(decision.stage)
        report.stage_counts[stage] += 1
        report.tier_counts[decision.tier or ""] += 1
        user_id = customer.user_id or customer_facts.user_id
        current = existing.get(("user", user_id)) if user_id else None
        current = current or existing.get(("email", customer.email))
        summary = decision.summary
        row = {
            "user_id": user_id,
            "email": customer.email,
            "stage": stage,
            "rule": decision.rule,
            "tier": decision.tier,
            "orders_count": summary.orders_count,
            "orders_by_currency": json.dumps(dict(summary.orders_by_currency)),
            "lifetime_spend": json.dumps(money_json(summary.lifetime_spend)),
            "window_spend": json.dumps(money_json(summary.window_spend)),
            "first_order_at": summary.first_order_at,
            "last_order_at": summary.last_order_at,
            "extra_facts": json.dumps(dict(customer_facts.extra), default=str),
            "next_check_at": decision.next_change_at,
        }
        stage_changed = current is None or current["stage"] != stage
        tier_changed = (current["tier"] if current else None) != decision.tier
        if stage_changed:
            report.stage_changes += 1
            transitions.append((customer.email, current["stage"] if current else None, stage, decision))
        if tier_changed:
            report.tier_changes += 1
            tier_changes.append((customer.email, current["tier"] if current else None, decision))
        if current is None:
            inserts.append(row)
        else:
            row["id"], row["version"] = current["id"], current["version"]
            updates.append(row)
            if not (stage_changed or tier_changed):
                report.unchanged += 1
        if stage_changed or tier_changed:
            projections.append(
                Projection(
                    customer=CustomerRef(customer.email, user_id),
                    stage=stage,
                    tier=decision.tier,
                    profile=_profile_summary(row, now),
                )
            )
    if dry_run:
        return report

    with transaction.atomic():
        updated_ids = _update(updates, now)
        inserted = _insert(inserts, now)
        ids_by_email = {row["email"]: row["id"] for row in updates if row["id"] in updated_ids}
        ids_by_email.update(inserted)
        _insert_transitions([t for t in transitions if t[0] in ids_by_email], ids_by_email, now)
        _insert_tier_changes([t for t in tier_changes if t[0] in ids_by_email], ids_by_email, now)
        engine.host.write_projection([p for p in projections if p.customer.email in ids_by_email])
    report.created = len(inserted)
    report.updated = len(updated_ids)

    # Rows an event touched since we read them are redone one by one, under the lock.
    attempted = {row["email"] for row in (*inserts, *updates)}
    conflicted = [c for c in customers if c.email in attempted and c.email not in ids_by_email]
    for customer in conflicted:
        engine.process(customer, event="backfill", recompute=True)
    report.conflicts = len(conflicted)
    return report


def _existing_profiles(customers: Sequence[CustomerRef]) -> dict[tuple[str, object], dict]:
    emails = [c.email for c in customers]
    user_ids = [c.user_id for c in customers if c.user_id]
    rows = CustomerProfile.objects.filter(Q(email__in=emails) | Q(user_id__in=user_ids)).values(
        "id", "version", "user_id", "email", "stage", "tier"
    )
    found: dict[tuple[str, object], dict] = {}
    for row in rows:
        found[("email", row["email"])] = row
        if row["user_id"]:
            found[("user", row["user_id"])] = row
    return found


def _profile_summary(row: dict, now: datetime) -> dict:
    return {
        "stage": row["stage"],
        "tier": row["tier"],
        "orders": row["orders_count"],
        "lifetime_spend": json.loads(row["lifetime_spend"]),
        "window_spend": json.loads(row["window_spend"]),
        "first_order_at": row["first_order_at"].isoformat() if row["first_order_at"] else None,
        "last_order_at": row["last_order_at"].isoformat() if row["last_order_at"] else None,
        "next_check_at": row["next_check_at"].isoformat() if row["next_check_at"] else None,
        "decided_at": now.isoformat(),
    }


_COLUMNS = (
    ("user_id", "bigint"),
    ("email", "text"),
    ("stage", "text"),
    ("rule", "text"),
    ("tier", "text"),
    ("orders_count", "integer"),
    ("orders_by_currency", "jsonb"),
    ("lifetime_spend", "jsonb"),
    ("window_spend", "jsonb"),
    ("first_order_at", "timestamptz"),
    ("last_order_at", "timestamptz"),
    ("extra_facts", "jsonb"),
    ("next_check_at", "timestamptz"),
)


def _arrays(rows: list[dict], columns) -> list[list]:
    return [[row[name] for row in rows] for name, _ in columns]


def _unnest(columns) -> str:
    # jsonb travels as text[] and is cast per element; psycopg adapts the rest.
    casts = ", ".join(f"%s::{'text' if kind == 'jsonb' else kind}[]" for _, kind in columns)
    names = ", ".join(name for name, _ in columns)
    return f"unnest({casts}) AS v({names})"


def _update(rows: list[dict], now: datetime) -> set[int]:
    if not rows:
        return set()
    columns = (("id", "bigint"), ("version", "integer"), *_COLUMNS)
    sql = f"""
        UPDATE {PROFILE_TABLE} AS p SET
            user_id = COALESCE(v.user_id, p.user_id),
            email = v.email,
            stage_since = CASE WHEN p.stage = v.stage THEN p.stage_since ELSE %s END,
            stage = v.stage,
            stage_rule = v.rule,
            tier_since = CASE WHEN p.tier IS NOT DISTINCT FROM v.tier THEN p.tier_since ELSE %s END,
            tier = v.tier,
            orders_count = v.orders_count,
            orders_by_currency = v.orders_by_currency::jsonb,
            lifetime_spend = v.lifetime_spend::jsonb,
            window_spend = v.window_spend::jsonb,
            first_order_at = v.first_order_at,
            last_order_at = v.last_order_at,
            extra_facts = v.extra_facts::jsonb,
            next_check_at = v.next_check_at,
            decided_at = %s,
            version = p.version + 1,
            updated_at = %s
        FROM {_unnest(columns)}
        WHERE p.id = v.id AND p.version = v.version
        RETURNING p.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now, now, now, *_arrays(rows, columns)])
        return {row[0] for row in cursor.fetchall()}


def _insert(rows: list[dict], now: datetime) -> dict[str, int]:
    if not rows:
        return {}
    sql = f"""
        INSERT INTO {PROFILE_TABLE} (
            user_id, email, stage, stage_since, stage_rule, tier, tier_since, orders_count,
            orders_by_currency, lifetime_spend, window_spend, first_order_at, last_order_at,
            extra_facts, history_cutoff, decided_at, next_check_at, version, created_at, updated_at
        )
        SELECT v.user_id, v.email, v.stage, %s, v.rule, v.tier,
               CASE WHEN v.tier IS NULL THEN NULL ELSE %s::timestamptz END, v.orders_count,
               v.orders_by_currency::jsonb, v.lifetime_spend::jsonb, v.window_spend::jsonb,
               v.first_order_at, v.last_order_at, v.extra_facts::jsonb, %s, %s, v.next_check_at, 1, %s, %s
        FROM {_unnest(_COLUMNS)}
        ON CONFLICT DO NOTHING
        RETURNING email, id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now, now, now, now, now, *_arrays(rows, _COLUMNS)])
        return dict(cursor.fetchall())


def _insert_transitions(transitions, ids_by_email: dict[str, int], now: datetime) -> None:
    if not transitions:
        return
    sql = f"""
        INSERT INTO {TRANSITION_TABLE}
            (profile_id, from_stage, to_stage, occurred_at, recorded_at, reason, event, rule, facts)
        SELECT v.profile_id, v.from_stage, v.to_stage, %s, %s, %s, '', v.rule, v.facts::jsonb
        FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[])
            AS v(profile_id, from_stage, to_stage, rule, facts)
    """
    params = [
        [ids_by_email[email] for email, *_ in transitions],
        [from_stage for _, from_stage, _, _ in transitions],
        [to_stage for _, _, to_stage, _ in transitions],
        [decision.rule for *_, decision in transitions],
        [json.dumps(dict(decision.facts), default=str) for *_, decision in transitions],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now, StageTransition.REASON_BACKFILL, *params])


def _insert_tier_changes(changes, ids_by_email: dict[str, int], now: datetime) -> None:
    if not changes:
        return
    sql = f"""
        INSERT INTO {TIER_TABLE} (profile_id, from_tier, to_tier, occurred_at, recorded_at, reason, window_spend)
        SELECT v.profile_id, v.from_tier, v.to_tier, %s, %s, %s, v.spend::jsonb
        FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS v(profile_id, from_tier, to_tier, spend)
    """
    params = [
        [ids_by_email[email] for email, _, _ in changes],
        [from_tier for _, from_tier, _ in changes],
        [decision.tier for *_, decision in changes],
        [json.dumps(money_json(decision.summary.window_spend)) for *_, decision in changes],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now, StageTransition.REASON_BACKFILL, *params])
