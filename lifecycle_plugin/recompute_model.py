"""The settings recompute's run (`engine.recompute`), part of the plugin's models (`models.py` imports it)."""

from __future__ import annotations

from django.db import models


class RecomputeRun(models.Model):
    """A recompute of the profiles a settings change affects (`engine.recompute`).

    One open run at a time (`open` is unique): a second request while one is open
    widens that run instead of starting another. Progress is committed with each chunk's
    writes, so a run interrupted anywhere resumes after its last committed chunk.
    """

    STATE_QUEUED = "queued"
    STATE_RUNNING = "running"
    STATE_DONE = "done"
    STATE_FAILED = "failed"
    STATE_CHOICES = [(STATE_QUEUED, "Queued"), (STATE_RUNNING, "Running"), (STATE_DONE, "Done"),
                     (STATE_FAILED, "Failed (resumed by the next run request or beat)")]

    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=STATE_QUEUED)
    #: "tiers" (profiles with spend in the tier window or a tier), "buyers" (profiles with
    #: counted orders) or "all" (every profile).
    scope = models.CharField(max_length=16)
    #: The settings fields whose change asked for the run.
    changed = models.JSONField(default=list, blank=True)
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: Profiles in scope when the run started, and how many are done (committed).
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0)
    #: The last profile id done; the next chunk starts after it.
    last_profile_id = models.BigIntegerField(default=0)
    #: Wall time spent on committed chunks (seconds), for the ETA.
    seconds = models.FloatField(default=0)
    last_error = models.TextField(blank=True)
    #: Bumped when a newer request restarts the run: a worker holding older settings stops.
    generation = models.PositiveIntegerField(default=0)
    #: "sql" (each chunk sorted from the ladder digests, the event path deciding only the
    #: profiles that can move) or "python" (the event path decides every profile); set when
    #: a worker starts on the run.
    evaluator = models.CharField(max_length=16, blank=True)
    #: Why not SQL; empty when SQL sorts.
    evaluator_reason = models.TextField(blank=True)
    #: True while the run is open (not done), NULL after: unique, so at most one open run.
    open = models.BooleanField(null=True, unique=True, default=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
