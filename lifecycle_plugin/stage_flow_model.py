"""The stage flow's rollups (`engine.stage_flow`), part of the plugin's models (`models.py`
imports them).

Both are derived from the dated stage history (`StageTransition`) and kept in step with it
by triggers on the history table (migration 0017): every INSERT, UPDATE, DELETE or TRUNCATE
of history rows, by the event path, the sweep, the backfill, a merge of two profiles or a
deletion, rewrites what the changed profiles contribute, in the same transaction. Nothing
else writes them, except the daily task folding the counts' rows (`engine.stage_flow_rollups`).
"""

from __future__ import annotations

from django.db import models


class StageCountChange(models.Model):
    """How many customers came into (+) or left (−) `stage` during the UTC hour starting at
    `hour`: a customer holds a stage from a move into it until their next move. The customers
    in a stage at a moment are the sum of the changes before it (`engine.stage_flow`).

    Rows are appended (by the history's triggers) and folded to one row per hour and stage
    by the daily task, so a busy hour never becomes a row every writer waits for."""

    hour = models.DateTimeField()
    stage = models.CharField(max_length=32)
    delta = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["hour"], name="lifecycle_stagecount_hour_idx", include=["stage", "delta"])]


class StageEntry(models.Model):
    """A customer entering a conversion path's from-stages (`engine.stage_flow.PATHS`): a
    move into them from outside that was not a settings change. `previous_entry_at` is the
    customer's previous entry into the same path (so the first entry in a period is the one
    whose previous entry is before it), `converted_at` their first later move into the
    path's to-stages that was not a settings change, whenever it came."""

    profile_id = models.BigIntegerField()  # no foreign key: the history's triggers own these rows
    path = models.CharField(max_length=32)
    entered_at = models.DateTimeField()
    previous_entry_at = models.DateTimeField(null=True)
    converted_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["path", "entered_at"], name="lifecycle_stageentry_path_idx",
                         include=["previous_entry_at", "converted_at", "profile_id"]),
            models.Index(fields=["profile_id"], name="lifecycle_stageentry_prof_idx"),
        ]
