"""Upkeep of the stage flow's rollups (`stage_flow_model`), which the history's triggers
(migration 0017) write: the daily fold of the hourly changes, and what a writer of brand-new
profiles' history tells the triggers."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection, transaction

from ..models import StageCountChange

_COUNTS = StageCountChange._meta.db_table
#: Read by the history's INSERT trigger (migration 0017).
NEW_PROFILES_SETTING = "lifecycle.history_of_new_profiles"


@contextmanager
def history_of_new_profiles(cursor):
    """Inside it, each statement inserting history rows writes the first rows its profiles
    have (the backfill's, for profiles it created in this transaction): the trigger then
    skips looking for earlier rows and entries (at 1,000,000 customers, a million index
    probes). Wrong for a profile with history already: that history would be counted as if
    it were not there."""
    cursor.execute("SELECT set_config(%s, 'on', true)", [NEW_PROFILES_SETTING])
    try:
        yield
    finally:
        cursor.execute("SELECT set_config(%s, 'off', true)", [NEW_PROFILES_SETTING])


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
