"""Upkeep of the stage flow's hourly changes (`StageCountChange`): the history's triggers
append a row per hour and stage for every statement that changes the history, and the daily
task folds them back to one row per hour and stage, so the flow reads few rows."""

from __future__ import annotations

from django.db import connection, transaction

from ..models import StageCountChange

_COUNTS = StageCountChange._meta.db_table


def fold_stage_count_changes() -> int:
    """Replace the rows of every hour and stage that has more than one by their sum (none
    when it is zero); returns how many rows fewer there are.

    Safe beside writers: a row appended while this runs is not in its snapshot, so it is
    neither deleted nor summed, and stays for the next fold."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"""
            WITH repeated AS (SELECT hour, stage FROM {_COUNTS} GROUP BY hour, stage HAVING count(*) > 1),
            gone AS (DELETE FROM {_COUNTS} c USING repeated r WHERE c.hour = r.hour AND c.stage = r.stage
                     RETURNING c.hour, c.stage, c.delta),
            folded AS (INSERT INTO {_COUNTS} (hour, stage, delta)
                       SELECT hour, stage, sum(delta) FROM gone GROUP BY hour, stage HAVING sum(delta) <> 0
                       RETURNING 1)
            SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded)""")
        return cursor.fetchone()[0]
