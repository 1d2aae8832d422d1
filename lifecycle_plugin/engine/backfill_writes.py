"""The backfill's writes: a chunk's new and changed profiles, with their history, a statement each.

Column arrays are bound in binary and unnested in SQL (`bulk`). An update only lands
where the profile's `version` is still the one the backfill read; the e-mails
returned are the profiles written, and the others are redone one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..models import CustomerProfile, StageTransition, TierChange
from .bulk import bulk_cursor, column_params, unnest_rows

PROFILE_TABLE = CustomerProfile._meta.db_table
TRANSITION_TABLE = StageTransition._meta.db_table
TIER_TABLE = TierChange._meta.db_table


class Rows:
    """Column arrays for one bulk statement, filled row by row."""

    def __init__(self, names: Sequence[str]):
        self.names = tuple(names)
        self.columns: list[list] = [[] for _ in self.names]
        self.emails = self.columns[self.names.index("email")]

    def add(self, *values) -> None:
        for column, value in zip(self.columns, values):
            column.append(value)

    def __len__(self) -> int:
        return len(self.emails)

    def without(self, emails: set[str]) -> Rows:
        """These rows but those of `emails`."""
        kept = Rows(self.names)
        for position, email in enumerate(self.emails):
            if email not in emails:
                kept.add(*(column[position] for column in self.columns))
        return kept


# Columns shared by new and updated profiles, then what the history rows need.
PROFILE_COLUMNS = (
    ("user_id", "bigint"),
    ("email", "text"),
    ("stage", "text"),
    ("rule", "text"),
    ("tier", "text"),
    ("orders_count", "integer"),
    ("orders_by_currency", "text"),  # JSON texts, cast to jsonb in SQL
    ("lifetime_spend", "text"),
    ("window_spend", "text"),
    ("first_order_at", "timestamptz"),
    ("last_order_at", "timestamptz"),
    ("extra_facts", "text"),
    ("next_check_at", "timestamptz"),
    ("facts", "text"),  # the decision's facts, for the stage transition (NULL: no transition)
)
UPDATE_COLUMNS = (("id", "bigint"), ("version", "integer"), ("from_stage", "text"), ("from_tier", "text"),
                   *PROFILE_COLUMNS)


def insert_profiles(rows: Rows, now: datetime) -> set[str]:
    """New profiles, each with its first transition (and tier change when it has a tier).

    ON CONFLICT DO NOTHING skips a customer whose profile an event created meanwhile;
    the e-mails returned are the profiles written.
    """
    if not rows:
        return set()
    sql = f"""
        WITH v AS MATERIALIZED ({unnest_rows(PROFILE_COLUMNS)}),
        inserted AS (
            INSERT INTO {PROFILE_TABLE} (
                user_id, email, stage, stage_since, stage_rule, tier, tier_since, orders_count,
                orders_by_currency, lifetime_spend, window_spend, first_order_at, last_order_at,
                extra_facts, history_cutoff, decided_at, next_check_at, version, created_at, updated_at
            )
            SELECT v.user_id, v.email, v.stage, %(now)b, v.rule, v.tier,
                   CASE WHEN v.tier IS NULL THEN NULL ELSE %(now)b::timestamptz END, v.orders_count,
                   v.orders_by_currency::jsonb, v.lifetime_spend::jsonb, v.window_spend::jsonb,
                   v.first_order_at, v.last_order_at, v.extra_facts::jsonb, %(now)b, %(now)b, v.next_check_at, 1,
                   %(now)b, %(now)b
            FROM v ORDER BY v.position
            ON CONFLICT DO NOTHING
            RETURNING id, email, tier, window_spend
        ),
        transitions AS (
            INSERT INTO {TRANSITION_TABLE}
                (profile_id, from_stage, to_stage, occurred_at, recorded_at, reason, event, rule, facts)
            SELECT i.id, NULL, v.stage, %(now)b, %(now)b, %(reason)b, '', v.rule, v.facts::jsonb
            FROM inserted i JOIN v ON v.email = i.email ORDER BY v.position
        ),
        tier_changes AS (
            INSERT INTO {TIER_TABLE} (profile_id, from_tier, to_tier, occurred_at, recorded_at, reason, window_spend)
            SELECT i.id, NULL, i.tier, %(now)b, %(now)b, %(reason)b, i.window_spend
            FROM inserted i JOIN v ON v.email = i.email WHERE i.tier IS NOT NULL ORDER BY v.position
        )
        SELECT email FROM inserted
    """
    return _run(sql, rows, now)


def update_profiles(rows: Rows, now: datetime) -> set[str]:
    """Existing profiles whose version is still the one read, with their history rows."""
    if not rows:
        return set()
    sql = f"""
        WITH v AS MATERIALIZED ({unnest_rows(UPDATE_COLUMNS)}),
        updated AS (
            UPDATE {PROFILE_TABLE} AS p SET
                user_id = COALESCE(v.user_id, p.user_id),
                email = v.email,
                stage_since = CASE WHEN p.stage = v.stage THEN p.stage_since ELSE %(now)b END,
                stage = v.stage,
                stage_rule = v.rule,
                tier_since = CASE WHEN p.tier IS NOT DISTINCT FROM v.tier THEN p.tier_since ELSE %(now)b END,
                tier = v.tier,
                orders_count = v.orders_count,
                orders_by_currency = v.orders_by_currency::jsonb,
                lifetime_spend = v.lifetime_spend::jsonb,
                window_spend = v.window_spend::jsonb,
                first_order_at = v.first_order_at,
                last_order_at = v.last_order_at,
                extra_facts = v.extra_facts::jsonb,
                next_check_at = v.next_check_at,
                decided_at = %(now)b,
                version = p.version + 1,
                updated_at = %(now)b
            FROM v
            WHERE p.id = v.id AND p.version = v.version
            RETURNING p.id, p.email, p.window_spend
        ),
        transitions AS (
            INSERT INTO {TRANSITION_TABLE}
                (profile_id, from_stage, to_stage, occurred_at, recorded_at, reason, event, rule, facts)
            SELECT u.id, v.from_stage, v.stage, %(now)b, %(now)b, %(reason)b, '', v.rule, v.facts::jsonb
            FROM updated u JOIN v ON v.id = u.id WHERE v.from_stage IS DISTINCT FROM v.stage ORDER BY v.position
        ),
        tier_changes AS (
            INSERT INTO {TIER_TABLE} (profile_id, from_tier, to_tier, occurred_at, recorded_at, reason, window_spend)
            SELECT u.id, v.from_tier, v.tier, %(now)b, %(now)b, %(reason)b, u.window_spend
            FROM updated u JOIN v ON v.id = u.id WHERE v.from_tier IS DISTINCT FROM v.tier ORDER BY v.position
        )
        SELECT email FROM updated
    """
    return _run(sql, rows, now)


def _run(sql: str, rows: Rows, now: datetime) -> set[str]:
    with bulk_cursor() as cursor:
        cursor.execute(sql, {"now": now, "reason": StageTransition.REASON_BACKFILL, **column_params(rows.columns)})
        return {email for (email,) in cursor.fetchall()}
