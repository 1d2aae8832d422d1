"""Recompute after a settings change: the profiles the new thresholds can move, in
resumable chunks, with progress an owner can watch.

Saving changed thresholds (the Dashboard's `pluginUpdate`, `lifecycle-sandbox settings`)
calls `request_recompute` with the old and new `LifecycleConfig`. What changed decides
which profiles are looked at (`scope_of`):

- only the tier table (`tiers`): profiles with a tier or spend in the tier window;
- a stage threshold or the tier window: profiles with counted orders;
- `count_only_paid` (which orders count at all): every profile.

One run is open at a time (`RecomputeRun.open` is unique): a request while one is open
widens that run to the union of both scopes and starts it over (the customers it had done
were decided with the older settings), so two saves at once make one run.

`run_recompute` takes chunks of profiles in id order. Each chunk is first sorted in SQL
(`recompute_sql`: the digest evaluator under the new settings against the stored profiles)
into profiles left as they are, profiles whose next check alone changes (written there),
and profiles the event path decides (`LifecycleEngine.process_many`, under the customers'
locks, replaying due time moves first). Where that sort cannot be exact (a change of the
tier window or of "paid only", third-party decision hooks) the event path decides the whole
chunk; the run records which (`evaluator`). A chunk's writes and the run's progress commit
in one transaction: a worker killed
or a database restarted anywhere leaves the run at its last committed chunk, and the next
run carries on from there with the same result as an uninterrupted one (a customer redone
is decided again from the same facts and settings: nothing moves twice). A session-level
advisory lock keeps a second worker off a run that one is working on.

Moves the new settings alone cause are recorded with the reason ``settings_change``
(`rules.timeline.SETTINGS_CHANGE`) and fire no stage or tier hook (no message, no voucher)
unless the owner switched on the `recompute_actions` setting. A win-back (an order the
profile had not seen) and due time moves keep their own reasons and hooks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..host import CustomerRef
from ..models import CustomerProfile, RecomputeRun
from ..rules import LifecycleConfig
from ..rules.timeline import SETTINGS_CHANGE
from .recompute_sql import sort_chunk, why_not_sql, write_next_checks
from .transactions import lock_customers

#: Scopes from narrow to wide, with the profiles each covers.
SCOPES = ("tiers", "buyers", "all")
SCOPE_SQL = {
    "tiers": "(tier IS NOT NULL OR window_spend <> '{}'::jsonb)",
    "buyers": "(orders_count > 0 OR tier IS NOT NULL)",
    "all": "true",
}
#: Settings fields by the scope their change needs; a field not listed moves nobody.
FIELD_SCOPES = {
    "tiers": "tiers",
    "tier_window_days": "buyers",
    "at_risk_days": "buyers",
    "lapsed_days": "buyers",
    "loyal_min_orders": "buyers",
    "loyal_window_days": "buyers",
    "personal_gap_min_orders": "buyers",
    "personal_gap_multiplier": "buyers",
    "personal_gap_floor_days": "buyers",
    "count_only_paid": "all",
}
#: Progress is committed (and so visible) at least this often: chunks are cut shorter when slow.
PROGRESS_EVERY = timedelta(seconds=5)
#: What a chunk aims to take. A quarter of PROGRESS_EVERY leaves room for a chunk three or four
#: times slower than the one it was sized on (a checkpoint's writes, a run of movers): at a
#: million customers a chunk aimed at half of it once took 5.2 s.
CHUNK_BUDGET = PROGRESS_EVERY / 4
#: Chunks are never cut below this (each has a fixed cost: the run row, the scope's keyset read).
SMALLEST_CHUNK = 50
#: Profiles per chunk by evaluator, unless the caller names a size: sorted in SQL
#: (`recompute_sql`), most of a chunk needs no write or one UPDATE.
CHUNK_SIZES = {"sql": 4000, "python": 500}
_LOCK = "lifecycle_plugin.recompute"


def changed_fields(old: LifecycleConfig, new: LifecycleConfig) -> list[str]:
    """The `LifecycleConfig` fields whose values differ, in declaration order."""
    return [f.name for f in dataclasses.fields(LifecycleConfig) if getattr(old, f.name) != getattr(new, f.name)]


def scope_of(changed: Iterable[str]) -> str | None:
    """The widest scope the changed fields need (None: nobody can move)."""
    needed = [FIELD_SCOPES[name] for name in changed if name in FIELD_SCOPES]
    return max(needed, key=SCOPES.index) if needed else None


def request_recompute(old: LifecycleConfig, new: LifecycleConfig, *, now: datetime | None = None
                      ) -> RecomputeRun | None:
    """Open a run for what changed from `old` to `new` (or widen and restart the open one).

    Call it in the transaction that saves the settings: the run commits with them.
    Returns None when nothing a customer's stage or tier depends on changed.
    """
    changed = changed_fields(old, new)
    scope = scope_of(changed)
    if scope is None:
        return None
    now = now or timezone.now()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                run = RecomputeRun.objects.select_for_update().filter(open=True).first()
                if run is None:
                    return RecomputeRun.objects.create(scope=scope, changed=changed, requested_at=now)
                run.scope = max(run.scope, scope, key=SCOPES.index)
                run.changed = [name for name in FIELD_SCOPES if name in {*run.changed, *changed}]
                run.state, run.requested_at, run.started_at = RecomputeRun.STATE_QUEUED, now, None
                run.done = run.moved = run.last_profile_id = run.total = 0
                run.seconds, run.last_error, run.generation = 0, "", run.generation + 1
                run.save()
                return run
        except IntegrityError:  # another request opened one at the same moment: widen that one
            continue
    raise RuntimeError("could not open a recompute run")


def open_run() -> RecomputeRun | None:
    return RecomputeRun.objects.filter(open=True).first()


def profiles_in_scope(scope: str, after_id: int = 0) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {CustomerProfile._meta.db_table} WHERE {SCOPE_SQL[scope]} AND id > %s",
                       [after_id])
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class RecomputeStatus:
    """What `lifecycleRecomputeStatus` and `lifecycle_recompute --status` show."""

    state: str
    scope: str
    changed: tuple[str, ...]
    done: int
    total: int
    moved: int
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: Seconds left at the rate of the chunks done so far (None until a chunk is done, 0 when done).
    eta_seconds: float | None
    last_error: str
    #: "sql", "python", or empty until a worker starts (`RecomputeRun.evaluator`), and why not SQL.
    evaluator: str = ""
    evaluator_reason: str = ""


def status(run: RecomputeRun | None = None) -> RecomputeStatus | None:
    """The open run's status, else the last finished one's (None: never requested)."""
    run = run or RecomputeRun.objects.order_by("-open", "-requested_at", "-id").first()
    if run is None:
        return None
    total = max(run.total, run.done)
    if run.state == RecomputeRun.STATE_DONE:
        eta = 0.0
    elif run.done and run.seconds:
        eta = round(run.seconds / run.done * (total - run.done), 1)
    else:
        eta = None
    return RecomputeStatus(run.state, run.scope, tuple(run.changed), run.done, total, run.moved, run.requested_at,
                           run.started_at, run.finished_at, eta, run.last_error, run.evaluator,
                           run.evaluator_reason)


def describe(state: RecomputeStatus | None) -> str:
    """One line for the commands: scope, state, done/total, moved, ETA."""
    if state is None:
        return "No settings recompute has been requested."
    eta = "unknown" if state.eta_seconds is None else f"{state.eta_seconds:g} s"
    text = (f"Recompute ({state.scope}; changed: {', '.join(state.changed)}): {state.state}, "
            f"{state.done}/{state.total} profiles, {state.moved} moved, ETA {eta}")
    if state.evaluator == "sql":
        text += "; sorted in SQL from the ladder digests, the event path deciding the profiles that can move"
    elif state.evaluator:
        text += f"; every profile on the event path ({state.evaluator_reason})"
    if state.last_error:
        text += f"; last error: {state.last_error}"
    return text


class _Restarted(Exception):
    """A newer request reset the run while this worker held older settings."""


def run_recompute(engine, *, chunk_size: int | None = None, max_chunks: int | None = None,
                  progress: Callable[[RecomputeStatus], None] | None = None, evaluator: str = "auto"
                  ) -> RecomputeStatus | None:
    """Work on the open run until it is done (or `max_chunks` chunks). Returns its status,
    or None when no run is open or another worker holds it.

    `engine` must carry the settings the run was requested for (a fresh engine per task):
    a run reset by a newer request while this one works stops at its next chunk.
    `chunk_size`: profiles per transaction at most (default `CHUNK_SIZES` of the evaluator);
    chunks are sized to take about `CHUNK_BUDGET` (`next_chunk_size`).
    `evaluator`: "auto" (sorted in SQL whenever `recompute_sql` can) or "python" (the
    event path decides every profile).
    """
    if evaluator not in ("auto", "python"):
        raise ValueError(f"evaluator must be auto or python, got {evaluator!r}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [_LOCK])
        if not cursor.fetchone()[0]:
            return None
    try:
        return _run(engine, chunk_size, max_chunks, progress, evaluator)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [_LOCK])


def _run(engine, chunk_size, max_chunks, progress, asked):
    run = open_run()
    if run is None:
        return None
    reason = "the event path was asked for" if asked == "python" else why_not_sql(engine, run.changed)
    evaluator = "python" if reason else "sql"
    if run.state != RecomputeRun.STATE_RUNNING or not run.total or run.evaluator != evaluator:
        run.state = RecomputeRun.STATE_RUNNING
        run.started_at = run.started_at or timezone.now()
        run.total = run.done + profiles_in_scope(run.scope, run.last_profile_id)
        run.evaluator, run.evaluator_reason = evaluator, reason or ""
        run.save(update_fields=["state", "started_at", "total", "evaluator", "evaluator_reason"])
        if progress is not None:  # counting the scope takes seconds at a million profiles
            progress(status(run))
    largest = chunk_size or CHUNK_SIZES[evaluator]
    # The first chunk reads cold pages: by default it is a quarter, grown while chunks are quick.
    generation, chunks, size = run.generation, 0, chunk_size or largest // 4
    while max_chunks is None or chunks < max_chunks:
        started = time.monotonic()
        try:
            with transaction.atomic():
                run = RecomputeRun.objects.select_for_update().get(pk=run.pk)
                if run.generation != generation or not run.open:
                    raise _Restarted
                customers = _next_chunk(run, size)
                if not customers:
                    run.state, run.open, run.finished_at = RecomputeRun.STATE_DONE, None, timezone.now()
                    run.total = run.done
                    run.save()
                    break
                to_decide = customers if evaluator == "python" else _sorted_in_sql(engine, customers)
                outcomes = engine.process_many([(ref, SETTINGS_CHANGE) for _, ref in to_decide],
                                               recompute=SETTINGS_CHANGE)
                run.done += len(customers)
                run.total = max(run.total, run.done)
                run.moved += sum(1 for o in outcomes if o is not None and (o.stage_changes or o.tier_changes))
                run.last_profile_id = customers[-1][0]
                run.seconds += time.monotonic() - started
                run.save()
        except _Restarted:
            return status(RecomputeRun.objects.get(pk=run.pk))
        chunks += 1
        size = next_chunk_size(size, time.monotonic() - started, largest)
        if progress is not None:
            progress(status(run))
    return status(RecomputeRun.objects.get(pk=run.pk))


def next_chunk_size(size: int, seconds: float, largest: int) -> int:
    """The next chunk's size after one of `size` profiles took `seconds`: cut in proportion
    at once when over `CHUNK_BUDGET` (halving could leave it over for several chunks), doubled
    while under half of it, never above `largest` nor below `SMALLEST_CHUNK`."""
    budget = CHUNK_BUDGET.total_seconds()
    if seconds > budget:
        return min(size, max(SMALLEST_CHUNK, int(size * budget / seconds)))
    if seconds < budget / 2:
        return min(largest, size * 2)
    return size


def _sorted_in_sql(engine, customers: list[tuple[int, CustomerRef]]) -> list[tuple[int, CustomerRef]]:
    """The chunk's customers the event path must decide; the others' new next checks written
    (`recompute_sql`). Their locks are taken first, so no event writes them in between."""
    lock_customers([ref.email for _, ref in customers])
    chunk = sort_chunk(engine, [pk for pk, _ in customers])
    write_next_checks(chunk.next_checks)
    to_decide = set(chunk.to_decide)
    return [(pk, ref) for pk, ref in customers if pk in to_decide]


def _next_chunk(run: RecomputeRun, size: int) -> list[tuple[int, CustomerRef]]:
    with connection.cursor() as cursor:
        cursor.execute(f"""SELECT id, email, user_id FROM {CustomerProfile._meta.db_table}
                           WHERE {SCOPE_SQL[run.scope]} AND id > %s ORDER BY id LIMIT %s""",
                       [run.last_profile_id, size])
        return [(pk, CustomerRef(email, user_id)) for pk, email, user_id in cursor.fetchall()]


def mark_failed(error: BaseException) -> None:
    """Keep the error on the open run (the next request or beat resumes it)."""
    RecomputeRun.objects.filter(open=True).update(state=RecomputeRun.STATE_FAILED, last_error=repr(error)[:2000])
