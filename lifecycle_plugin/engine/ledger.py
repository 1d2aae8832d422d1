"""Carrying out actions: ledger entries after their commit, and scheduled actions once due.

A ledger entry is run at most once, even with two workers at once (a row lock with
SKIP LOCKED, then its status). Work that leaves the database (a `Delivery`) is
committed as *sending* first and sent outside any transaction, so a worker that dies
in between never sends it twice: the owner is shown it instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..hooks import HookError
from ..isolation import HookTimeout, time_limit
from ..models import ActionLedgerEntry, ActionStatus, ScheduledAction
from .context import ActionContext, ActionEntry, Delivery, DeliveryUncertain, Hold, is_skip
from .hook_calls import call_each, record_hook_error
from .retries import MAX_ACTION_ATTEMPTS, retry_delay

if TYPE_CHECKING:
    from .service import LifecycleEngine

logger = logging.getLogger(__name__)

#: A ledger entry still *sending* after this was interrupted (a delivery takes
#: seconds, `hook_timeout_seconds` at most): it is reported as unsure.
SENDING_STALE_AFTER = timedelta(minutes=10)


def run_entries(engine: LifecycleEngine, entry_ids: Sequence[int]) -> int:
    """Carry out ledger entries (see `LifecycleEngine.run_entries`)."""
    done = 0
    for entry_id in entry_ids:
        delivery = None
        with transaction.atomic():
            entry = (
                # Lock the entry only (`of`): FOR UPDATE would also lock the joined
                # profile, which a concurrent event for the same customer holds, and
                # skip_locked would then leave the entry pending until the retry task.
                ActionLedgerEntry.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("profile")
                .filter(pk=entry_id, status__in=[ActionStatus.PENDING, ActionStatus.FAILED])
                .filter(_not_held(engine.clock()))
                .first()
            )
            if entry is None:
                continue  # done already, or another worker holds it
            ran = _run_one(engine, entry, "ledger")
            if isinstance(ran, Delivery):
                delivery = ran
            else:
                done += ran
        if delivery is not None:
            done += _deliver(engine, entry, delivery)
    return done


def _deliver(engine: LifecycleEngine, entry: ActionLedgerEntry, delivery: Delivery) -> int:
    """Send what a committed *sending* entry holds, outside any transaction; record how it went.

    Nothing here holds a lock: the *sending* state keeps other workers away.
    """
    sending = ActionLedgerEntry.objects.filter(pk=entry.pk, status=ActionStatus.SENDING)
    timeout = None if delivery.own_time_limits else engine.hook_timeout
    try:
        with time_limit(timeout, f"the delivery of ledger entry {entry.pk}"):
            gained = delivery.send()
    except (DeliveryUncertain, HookTimeout) as error:
        logger.error("lifecycle: ledger entry %s (%s) may or may not have been delivered: %s",
                     entry.pk, entry.dedupe_key, error)
        sending.update(status=ActionStatus.UNCERTAIN, last_error=f"{type(error).__name__}: {error}",
                       updated_at=timezone.now())
        return 0
    except Exception as error:  # nothing went out: failed, and retried like any failed entry
        logger.exception("lifecycle: delivering ledger entry %s failed", entry.pk)
        sending.update(status=ActionStatus.FAILED, last_error=f"{type(error).__name__}: {error}",
                       updated_at=timezone.now())
        return 0
    sending.update(status=ActionStatus.DONE, result={**dict(delivery.result), **dict(gained or {})},
                   completed_at=engine.clock(), updated_at=timezone.now())
    return 1


def unsure_deliveries(stale_after: timedelta = SENDING_STALE_AFTER):
    """Ledger entries that may or may not have gone out (see `LifecycleEngine.unsure_deliveries`)."""
    return (ActionLedgerEntry.objects.select_related("profile")
            .filter(Q(status=ActionStatus.UNCERTAIN)
                    | Q(status=ActionStatus.SENDING, updated_at__lte=timezone.now() - stale_after))
            .order_by("updated_at", "pk"))


def retry_failed_entries(engine: LifecycleEngine, older_than: timedelta, limit: int) -> int:
    """Run entries left pending or failed (a crash after commit, a failing action)."""
    cutoff = engine.clock() - older_than
    ids = list(
        ActionLedgerEntry.objects.filter(
            status__in=[ActionStatus.PENDING, ActionStatus.FAILED], updated_at__lte=cutoff,
            attempts__lt=MAX_ACTION_ATTEMPTS,
        )
        .filter(_not_held(engine.clock()))
        # Oldest first: an action's later entries may wait for its earlier ones
        # (a message waits for the voucher it announces).
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return engine.run_entries(ids)


def run_due_actions(engine: LifecycleEngine, limit: int) -> int:
    """Run scheduled actions whose due time has come, 100 a transaction."""
    now = engine.clock()
    done = 0
    while done < limit:
        # A due action usually decides to send something: the ledger entries it
        # enqueued run once this batch commits, as after an event.
        with transaction.atomic(), engine.after_commit.collect():
            batch = list(
                ScheduledAction.objects.select_for_update(skip_locked=True)
                .select_related("profile")
                .filter(status=ActionStatus.PENDING, due_at__lte=now)
                .order_by("due_at")[: min(100, limit - done)]
            )
            if not batch:
                break
            for scheduled in batch:
                _run_one(engine, scheduled, "scheduled")
                done += 1
    return done


def _not_held(now) -> Q:
    """Entries not held back, or whose hold has ended."""
    return Q(not_before__isnull=True) | Q(not_before__lte=now)


def _held(row, kind: str, held: Hold) -> int:
    row.attempts -= 1  # waiting is not a failed try
    if kind == "ledger":
        row.not_before = held.until
        row.result = {"held": held.reason, "until": held.until.isoformat()}
    else:
        row.due_at = held.until
    row.save()
    return 0


def _run_one(engine: LifecycleEngine, row, kind: str) -> int | Delivery:
    """Run one entry's action in the caller's transaction; a `Delivery` is left for after its commit."""
    now = engine.clock()
    errors: list[HookError] = []
    entry = ActionEntry(row.pk, kind, row.action, row.dedupe_key, dict(row.payload), row.attempts)
    context = ActionContext(engine, row.profile, now)
    results = call_each(engine, "lifecycle_run_action", context=context, entry=entry, on_error=errors.append)
    row.attempts += 1
    for error in errors:
        record_hook_error(engine, error, row.profile_id)
    # An implementation that raised fails the entry only when none carried it out:
    # a broken plugin that does not own the action must not make the owner's
    # finished work (a voucher, a message) run a second time on retry.
    if errors and not results:
        row.last_error = f"{type(errors[0].error).__name__}: {errors[0].error}"
        if kind == "scheduled":
            if row.attempts >= MAX_ACTION_ATTEMPTS:
                row.status = ActionStatus.FAILED
            else:  # try again later with a growing delay
                row.due_at = now + retry_delay(row.attempts)
        else:
            row.status = ActionStatus.FAILED
        row.save()
        return 0
    if results and isinstance(results[0], Hold):
        return _held(row, kind, results[0])
    if results and isinstance(results[0], Delivery):
        if kind == "ledger":
            # What held it back before stays on record next to what went out.
            held = {"held": row.result["held"]} if row.result.get("held") else {}
            delivery = replace(results[0], result={**held, **dict(results[0].result)})
            row.status, row.result = ActionStatus.SENDING, dict(delivery.result)
            row.save()  # committed by the caller before anything leaves
            return delivery
        # A scheduled action has no sending state to keep a message from going twice.
        row.status = ActionStatus.FAILED
        row.last_error = "a scheduled action cannot deliver; it enqueues a ledger entry that does"
        row.save()
        return 0
    if not results:
        row.status = ActionStatus.SKIPPED
        row.last_error = f"no installed plugin carries out action {row.action!r}"
    elif is_skip(results[0]):
        row.status = ActionStatus.SKIPPED
        if kind == "ledger":
            row.result = dict(results[0])  # keeps the reason, e.g. "no marketing consent"
        elif results[0].get("reason"):  # a scheduled row has no result: why it did nothing
            row.last_error = f"skipped: {results[0]['reason']}"
    else:
        row.status = ActionStatus.DONE
        if kind == "ledger":
            row.result = results[0] if isinstance(results[0], dict) else {"result": str(results[0])}
    if kind == "ledger":
        row.completed_at = now
    row.save()
    return 1
