"""The staff field `lifecyclePredictionsByStage`: the daily prediction run's figures per stage."""

from __future__ import annotations

from collections import defaultdict

from django.db import connection

from ..models import CustomerProfile
from ..rules import Stage
from .types import BUILTIN_STAGE_KEYS, LifecyclePredictedSpend, LifecycleStagePrediction

_PROFILE = CustomerProfile._meta.db_table

PER_STAGE_SQL = f"""
    SELECT stage, COUNT(*), COUNT(predicted_orders_365), COALESCE(SUM(predicted_orders_365), 0),
           AVG(predicted_orders_365), AVG(probability_active)
    FROM {_PROFILE} GROUP BY stage
"""

# Amounts are decimal strings: summed as numeric, so no float rounding adds up.
SPEND_SQL = f"""
    SELECT p.stage, spend.key, SUM(spend.value::numeric)
    FROM {_PROFILE} AS p, jsonb_each_text(p.predicted_spend) AS spend
    WHERE p.predicted_orders_365 IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2
"""


def predictions_by_stage() -> list[LifecycleStagePrediction]:
    """Every built-in stage (zeros included, in ladder order), then plugins' stages by key."""
    with connection.cursor() as cursor:
        cursor.execute(PER_STAGE_SQL)
        per_stage = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute(SPEND_SQL)
        spend = defaultdict(list)
        for stage, currency, total in cursor.fetchall():
            spend[stage].append((currency, total))
    keys = [stage.value for stage in Stage] + sorted(key for key in per_stage if key not in BUILTIN_STAGE_KEYS)
    result = []
    for key in keys:
        customers, predicted, orders_sum, orders_mean, active_mean = per_stage.get(key, (0, 0, 0, None, None))
        result.append(LifecycleStagePrediction(
            stage=key, customers=customers, predicted=predicted, expected_orders_sum=orders_sum,
            expected_orders_mean=orders_mean, probability_active_mean=active_mean,
            predicted_spend=[LifecyclePredictedSpend(currency=currency, sum=float(total), mean=float(total) / predicted)
                             for currency, total in spend.get(key, [])],
        ))
    return result
