"""Running the compiled ladder on a database connection and reading what it decided.

    with connection.cursor() as cursor:
        result = evaluate(cursor, config, now, customers_sql=..., orders_sql=...)

A caller that writes the results with INSERT ... SELECT (a backfill) runs
`create_tables` instead, reads the lc_ladder_* tables in SQL, and drops them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..rules.config import LifecycleConfig
from .sql_ladder import CompiledLadder, compile_ladder


@dataclass(frozen=True)
class SqlDecision:
    stage: str
    tier: str | None
    rule: str
    facts: dict[str, Any]
    next_check_at: datetime | None
    orders_count: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    orders_by_currency: dict[str, int]
    lifetime_spend: dict[str, str]
    window_spend: dict[str, str]


@dataclass(frozen=True)
class SqlStageMove:
    at: datetime
    from_stage: str | None
    to_stage: str
    reason: str
    rule: str
    facts: dict[str, Any]


@dataclass(frozen=True)
class SqlTierMove:
    at: datetime
    from_tier: str | None
    to_tier: str | None
    reason: str
    window_spend: dict[str, str]


@dataclass
class SqlLadderResult:
    decisions: dict[Any, SqlDecision]
    #: Per customer, in time order.
    stage_moves: dict[Any, list[SqlStageMove]]
    tier_moves: dict[Any, list[SqlTierMove]]


def create_tables(cursor, compiled: CompiledLadder, params: dict | None = None) -> None:
    """Create the lc_ladder_* temporary tables; `params` binds placeholders in the host's SELECTs."""
    cursor.execute(compiled.drop)
    for statement in compiled.statements:
        cursor.execute(statement, {**compiled.params, **(params or {})})


def evaluate(cursor, config: LifecycleConfig, now: datetime, *, customers_sql: str, orders_sql: str,
             params: dict | None = None) -> SqlLadderResult:
    """Decide every customer of `customers_sql` as of `now`, with their dated history."""
    compiled = compile_ladder(config, now, customers_sql=customers_sql, orders_sql=orders_sql)
    create_tables(cursor, compiled, params)
    try:
        return _read(cursor)
    finally:
        cursor.execute(compiled.drop)


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _read(cursor) -> SqlLadderResult:
    cursor.execute(
        """SELECT customer, stage, tier, rule, facts, next_check_at, orders_count, first_order_at, last_order_at,
                  orders_by_currency, lifetime_spend, window_spend FROM lc_ladder_decisions"""
    )
    decisions = {
        row[0]: SqlDecision(row[1], row[2], row[3], _json(row[4]), row[5], row[6], row[7], row[8],
                            _json(row[9]), _json(row[10]), _json(row[11]))
        for row in cursor.fetchall()
    }
    stage_moves: dict[Any, list[SqlStageMove]] = defaultdict(list)
    cursor.execute("""SELECT c.customer, m.at, m.from_stage, m.to_stage, m.reason, m.rule, m.facts
                      FROM lc_ladder_stage_moves m JOIN lc_ladder_customers c USING (cid)
                      ORDER BY c.customer, m.at""")
    for customer, at, from_stage, to_stage, reason, rule, facts in cursor.fetchall():
        stage_moves[customer].append(SqlStageMove(at, from_stage, to_stage, reason, rule, _json(facts)))
    tier_moves: dict[Any, list[SqlTierMove]] = defaultdict(list)
    cursor.execute("""SELECT c.customer, m.at, m.from_tier, m.to_tier, m.reason, m.window_spend
                      FROM lc_ladder_tier_moves m JOIN lc_ladder_customers c USING (cid)
                      ORDER BY c.customer, m.at""")
    for customer, at, from_tier, to_tier, reason, spend in cursor.fetchall():
        tier_moves[customer].append(SqlTierMove(at, from_tier, to_tier, reason, _json(spend)))
    return SqlLadderResult(decisions, dict(stage_moves), dict(tier_moves))
