"""Celery tasks: the work Saleor's hooks defer, and the periodic jobs.

Written with `shared_task`, so inside Saleor they bind to Saleor's Celery app
and its writer-database guard; every task that writes opens `allow_writer()`.
The beat entries are added to CELERY_BEAT_SCHEDULE in `apps.py`.
"""

from __future__ import annotations

import logging

from celery import shared_task

from .host import CustomerRef
from .runtime import allow_writer, get_engine, get_host, is_enabled

logger = logging.getLogger(__name__)


class PluginDisabled(Exception):
    """The owner switched the plugin off after the task was queued."""


def _engine():
    host = get_host()
    if not is_enabled(host):
        raise PluginDisabled
    return get_engine(host, dispatch_entries=lambda ids: run_action_entries.delay(list(ids)))


def _skip_when_disabled(task_function):
    import functools

    @functools.wraps(task_function)
    def wrapper(*args, **kwargs):
        try:
            return task_function(*args, **kwargs)
        except PluginDisabled:
            logger.info("lifecycle plugin is off; %s skipped", task_function.__name__)
            return None

    return wrapper


#: A drain queued by an event or by a drain with events left, and still in the broker
#: after this many seconds, is dropped: while workers are down, queued drains would pile
#: up, and the events wait in the table for beat's drain (every minute) either way.
DRAIN_EXPIRES = 50


@shared_task(name="lifecycle_plugin.drain_events", acks_late=True, expires=DRAIN_EXPIRES)
@_skip_when_disabled
def drain_events(max_batches: int = 20):
    """Process the event inbox, `inbox.BATCH_SIZE` events per transaction.

    Queued by the event that raised the inbox's drain flag, and every minute by beat.
    After `max_batches` batches with events left it queues itself again and returns,
    so that under a steady stream of events one task does not run for ever and other
    tasks get their turn on the worker.
    """
    from .engine.inbox import drain

    with allow_writer():
        report = drain(_engine(), max_batches=max_batches)
    if report.more:
        drain_events.delay(max_batches)
    return {"events": report.events, "batches": report.batches, "failed": report.failed, "more": report.more}


def queue_events(events, *, force_projection: bool = False) -> None:
    """Add (e-mail, account id, event) triples to the inbox in the caller's transaction;
    once it commits, raise the drain flag and queue a drain if none is queued.

    Inside Saleor's atomic block the INSERT runs in a savepoint: if it fails, only the
    savepoint is rolled back and the error reaches the caller (the hook logs it), so
    Saleor's own transaction goes on. The event is then missing from the inbox until
    the reconciliation (`reconcile`) finds the change it was about.
    """
    from django.db import connection, transaction

    from .engine.inbox import add_events

    with allow_writer(), transaction.atomic():
        added = add_events(events, force_projection=force_projection)
    # Once per transaction: checkoutComplete alone fires four hooks. (Outside a
    # transaction on_commit runs at once and nothing waits in run_on_commit.)
    if added and not any(getattr(callback, "lifecycle_drain_pending", False)
                         for _, callback, _ in connection.run_on_commit):
        # robust: the flag is raised after Saleor's commit, outside the hook's guard; a
        # failure there (the connection gone) must not reach Saleor's request. The event
        # has committed by then and the drain beat takes it within a minute.
        transaction.on_commit(_drain_after_commit(), robust=True)


def _drain_after_commit():
    """`request_drain` as an on-commit callback that marks itself done when it runs:
    Django's test cases keep the callbacks they have run in `run_on_commit` (they never
    commit). A function, not a callable object: Django logs a failed robust callback
    by its `__qualname__`."""

    def drain_after_commit() -> None:
        drain_after_commit.lifecycle_drain_pending = False
        request_drain()

    drain_after_commit.lifecycle_drain_pending = True
    return drain_after_commit


def request_drain() -> None:
    """Raise the inbox's drain flag; queue a drain if this call raised it."""
    from .engine.inbox import raise_flag

    with allow_writer():
        raised = raise_flag()
    if raised:
        drain_events.delay()


@shared_task(name="lifecycle_plugin.process_customer", acks_late=True)
@_skip_when_disabled
def process_customer(email: str, user_id: int | None = None, event: str = "", force_projection: bool = False):
    """Bring one customer up to date at once (events go through the inbox; this is for
    callers that want one customer now, and tasks queued by versions before the inbox)."""
    with allow_writer():
        outcome = _engine().process(CustomerRef.of(email, user_id), event=event, force_projection=force_projection)
    return outcome.stage if outcome else None


@shared_task(name="lifecycle_plugin.process_customers", acks_late=True)
@_skip_when_disabled
def process_customers(customers: list[list], event: str = ""):
    """Several customers at once, in transactions of `inbox.BATCH_SIZE` customers."""
    from .engine.inbox import BATCH_SIZE

    # _engine() reads the plugin's settings row: inside allow_writer() too, or Saleor's
    # writer guard refuses the query (and the whole import is never processed).
    with allow_writer():
        engine = _engine()
        refs = [(CustomerRef.of(email, user_id), event) for email, user_id in customers]
        for start in range(0, len(refs), BATCH_SIZE):
            engine.process_many(refs[start:start + BATCH_SIZE])
    return len(customers)


@shared_task(name="lifecycle_plugin.forget_customer")
def forget_customer(email: str, user_id: int | None = None, also_emails: list[str] | None = None,
                    voucher_ids: list[str] | None = None):
    """Delete everything kept about a deleted customer and leave their tombstone
    (`engine.deletion.forget`), when the deletion could not do it at once. Runs whether
    the plugin is switched on or not: a deletion never waits for it."""
    from .engine.deletion import forget

    with allow_writer():
        return forget(CustomerRef.of(email, user_id), host=get_host(), also_emails=also_emails or (),
                      known_vouchers=voucher_ids or ())


@shared_task(name="lifecycle_plugin.run_action_entries", acks_late=True)
@_skip_when_disabled
def run_action_entries(entry_ids: list[int]):
    with allow_writer():
        return _engine().run_entries(entry_ids)


@shared_task(name="lifecycle_plugin.sweep", expires=600)
@_skip_when_disabled
def sweep():
    """Advance the profiles whose next-check time has passed."""
    with allow_writer():
        report = _engine().sweep()
    return {"profiles": report.profiles, "stage_changes": report.stage_changes, "tier_changes": report.tier_changes}


@shared_task(name="lifecycle_plugin.reconcile", expires=600)
@_skip_when_disabled
def reconcile():
    """Queue events for customers whose changes never reached the inbox (`engine.reconcile`)."""
    from .engine.reconcile import reconcile as run

    with allow_writer():
        report = run(_engine())
    if report.queued:
        request_drain()
    return {"since": report.since.isoformat() if report.since else None, "until": report.until.isoformat(),
            "changed": report.changed, "queued": report.queued}


@shared_task(name="lifecycle_plugin.run_due_actions", expires=300)
@_skip_when_disabled
def run_due_actions():
    """Scheduled actions that are due, then ledger entries left pending or failed, then
    customer-hook implementations that raised and are due to be called again; and a
    warning in the log while a message is in doubt (see `report_unsure_deliveries`)."""
    with allow_writer():  # _engine() queries the default database as well
        engine = _engine()
        report = {"scheduled": engine.run_due_actions(), "retried": engine.retry_failed_entries(),
                  "hooks_retried": engine.retry_hook_failures()}
        report["unsure_deliveries"] = report_unsure_deliveries(engine)
    return report


def report_unsure_deliveries(engine) -> int:
    """Log, every time the periodic task runs, the messages nobody knows were delivered (never resent)."""
    unsure = list(engine.unsure_deliveries().values_list("pk", flat=True)[:20])
    if unsure:
        total = engine.unsure_deliveries().count() if len(unsure) == 20 else len(unsure)
        logger.warning(
            "lifecycle: %s message(s) may or may not have been delivered and are not sent again "
            "(ledger entries %s%s); check and settle them with `manage.py lifecycle_deliveries`",
            total, ", ".join(map(str, unsure)), ", ..." if total > len(unsure) else "",
        )
        return total
    return 0


@shared_task(name="lifecycle_plugin.daily_tick", expires=6 * 3600)
@_skip_when_disabled
def daily_tick():
    """The daily hook calls; first, the ladder digests of profiles written before the digest
    existed (`engine.digest_writes.fill_missing`: nothing to do once they all have one), and
    the stage flow's hourly changes folded (`engine.stage_flow_rollups`)."""
    from .engine.digest_writes import fill_missing
    from .engine.stage_flow_rollups import fold_stage_count_changes

    with allow_writer():
        engine = _engine()
        fill_missing(engine.host, engine.clock())
        fold_stage_count_changes()
        return engine.daily_tick()


@shared_task(name="lifecycle_plugin.predict", expires=6 * 3600)
@_skip_when_disabled
def predict():
    """Fit the prediction models on the store's counted orders and store every customer's
    predicted value (`engine.predictions`); daily, before the daily tick."""
    from .engine.predictions import run_predictions

    with allow_writer():
        report = run_predictions(_engine())
    return {"customers": report.customers, "repeat_buyers": report.repeat_buyers, "predicted": report.predicted,
            "reason": report.reason}


@shared_task(name="lifecycle_plugin.backfill_chunk", acks_late=True)
@_skip_when_disabled
def backfill_chunk(customers: list[list]):
    """One chunk of a fanned-out backfill; any worker can take any chunk."""
    from .engine.backfill import backfill_chunk as run_chunk

    with allow_writer():
        report = run_chunk(_engine(), [CustomerRef(email, user_id) for email, user_id in customers])
    return {"customers": report.customers, "created": report.created, "updated": report.updated,
            "conflicts": report.conflicts}


def fan_out_backfill(chunk_size: int = 2000, start_after: str | None = None) -> int:
    """Queue one `backfill_chunk` task per chunk, so adding workers speeds up a large store."""
    engine = get_engine()
    chunks = 0
    for customers in engine.host.customer_chunks(chunk_size, start_after=start_after):
        backfill_chunk.delay([[c.email, c.user_id] for c in customers])
        chunks += 1
    return chunks


@shared_task(name="lifecycle_plugin.recompute", acks_late=True, expires=50)
@_skip_when_disabled
def recompute():
    """Work on the open settings recompute (`engine.recompute`) until it is done; queued
    after a settings save commits, and every minute by beat (which resumes a run whose
    worker died). Another worker already on it: returns None at once."""
    from .engine.recompute import mark_failed, run_recompute

    with allow_writer():
        engine = _engine()
        try:
            state = run_recompute(engine)
        except Exception as exc:
            mark_failed(exc)
            raise
    if state is None:
        return None
    return {"state": state.state, "done": state.done, "total": state.total, "moved": state.moved}


def settings_saved(old_values, new_values) -> None:
    """Open (or widen) a recompute for what a settings save changed, in the caller's
    transaction, and queue its task once that commits. Values as the settings store keeps
    them (strings; the Dashboard's booleans are accepted)."""
    from django.db import transaction

    from .conf import ConfigError, load_settings, normalise_dashboard_values
    from .engine.recompute import request_recompute

    try:
        old = load_settings(normalise_dashboard_values(old_values)).config
    except ConfigError:  # settings saved before a check existed: compare with the defaults
        old = load_settings({}).config
    new = load_settings(normalise_dashboard_values(new_values)).config
    with allow_writer():
        run = request_recompute(old, new)
    if run is not None:
        logger.info("lifecycle: settings changed (%s); recomputing %s profiles", ", ".join(run.changed), run.scope)
        transaction.on_commit(lambda: recompute.delay(), robust=True)
