"""The event inbox: events wait in a table for a worker that takes hundreds at once.

A transaction per event costs its round trips and a WAL flush at commit whatever it
does: on the reference machine even a lock, one row read and one row written back
commit under 1,000 times a second. So Saleor's hooks do not queue a task per event;
they add the event to `PendingEvent` (one INSERT, inside the request's transaction
when one is open, so the event commits with the order it is about), and a
`drain_events` task hands up to `batch_size` events at a time to
`engine.process_many`, one transaction per batch.

One task per burst, not per event: once the event has committed, the hook raises
the `InboxState` flag if it was down, and only the call that raised it queues a
drain. The drain lowers the flag first, then takes events until the inbox is empty,
so an event committed meanwhile is either taken by that drain or raises the flag
again. An event whose flag was never raised (the process died right after the
commit) waits for the periodic drain (every minute, `apps.beat_schedule`); an event
that never reached the inbox (the hook ran after Saleor's commit and its INSERT
failed) is found by the reconciliation (`engine/reconcile.py`).

A batch that fails is rolled back (its events stay) and redone customer by
customer; a customer whose events still fail waits with a growing delay and is
dropped, with an error in the log, after `MAX_ATTEMPTS` tries: the profile is
decided again by the customer's next event or a recompute.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from ..host import CustomerRef
from ..models import InboxState, PendingEvent
from .retries import retry_delay
from .transactions import lock_customers

logger = logging.getLogger(__name__)

PENDING = PendingEvent._meta.db_table
STATE = InboxState._meta.db_table

#: Events per transaction. Each customer of a batch holds an advisory lock until it
#: commits, which counts against PostgreSQL's shared lock table
#: (max_locks_per_transaction x max_connections, 6,400 by default).
BATCH_SIZE = 500
#: Tries per customer before their events are dropped (logged as an error).
MAX_ATTEMPTS = 5


@dataclass
class DrainReport:
    events: int = 0
    batches: int = 0
    #: Customers whose events failed and wait for another try, or were dropped.
    failed: int = 0
    #: The drain stopped at `max_batches` with events left.
    more: bool = False


def _columns(events: Iterable[tuple[str, int | None, str]], force_projection: bool) -> list | None:
    rows = [(CustomerRef.of(email, user_id), event) for email, user_id, event in events if email]
    if not rows:
        return None
    now = timezone.now()
    return [force_projection, now, now, [ref.email for ref, _ in rows], [ref.user_id for ref, _ in rows],
            [event[:64] for _, event in rows]]


_INSERT = f"""INSERT INTO {PENDING}
        (email, user_id, event, force_projection, queued_at, available_at, attempts, last_error)
    SELECT v.email, v.user_id, v.event, %s, %s, %s, 0, ''
    FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS v(email, user_id, event)"""
_RAISE = f"UPDATE {STATE} SET drain_requested = true WHERE id = 1 AND NOT drain_requested RETURNING 1"


def queue_events(events: Iterable[tuple[str, int | None, str]], *, force_projection: bool = False) -> bool:
    """Add (e-mail, account id, event) triples to the inbox and raise the drain flag, in one statement.

    Returns True when this call raised the drain flag: the caller then queues one
    `drain_events` task. Meant for autocommit: inside a longer transaction the flag's
    row stays locked until it commits (see `add_events`).
    """
    params = _columns(events, force_projection)
    if params is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"WITH queued AS ({_INSERT}) {_RAISE}", params)
        return cursor.fetchone() is not None


def add_events(events: Iterable[tuple[str, int | None, str]], *, force_projection: bool = False) -> int:
    """Add (e-mail, account id, event) triples to the inbox, without touching the flag.

    For a hook inside Saleor's transaction: the row commits (or rolls back) with the
    order it is about, and the statement locks nothing another transaction waits for,
    whereas raising the flag there would hold the flag's single row until Saleor
    commits, making every concurrent request wait on it. Raise it (`raise_flag`)
    after the commit. Returns the number of events added.
    """
    params = _columns(events, force_projection)
    if params is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, params)
        return cursor.rowcount


def raise_flag() -> bool:
    """Raise the drain flag; True when this call raised it (then queue one drain)."""
    with connection.cursor() as cursor:
        cursor.execute(_RAISE)
        return cursor.fetchone() is not None


def drain(engine, *, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> DrainReport:
    """Process the inbox until it is empty, or for `max_batches` batches (then `more` is set)."""
    _lower_flag()
    report = DrainReport()
    while True:
        if max_batches is not None and report.batches >= max_batches:
            report.more = True
            break
        taken = _drain_batch(engine, batch_size, report)
        if taken:
            report.batches += 1
        if taken < batch_size:
            break
    return report


@dataclass(frozen=True)
class _Taken:
    id: int
    customer: CustomerRef
    event: str
    force_projection: bool
    attempts: int


_CLAIM = f"""
    DELETE FROM {PENDING} WHERE id IN (
        SELECT id FROM {PENDING} WHERE available_at <= %s {{extra}}
        ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
    RETURNING id, email, user_id, event, force_projection, attempts
"""


def _claim(now, limit: int, ids: Sequence[int] | None = None) -> list[_Taken]:
    """Take (delete, in the caller's transaction) events no other drain holds."""
    with connection.cursor() as cursor:
        if ids is None:
            cursor.execute(_CLAIM.format(extra=""), [now, limit])
        else:
            cursor.execute(_CLAIM.format(extra="AND id = ANY(%s)"), [now, list(ids), limit])
        rows = cursor.fetchall()
    rows.sort()  # oldest first: a customer's last event names the batch's transition
    return [_Taken(row[0], CustomerRef(row[1], row[2]), row[3], row[4], row[5]) for row in rows]


def _process(engine, taken: Sequence[_Taken]) -> None:
    plain = [(t.customer, t.event) for t in taken if not t.force_projection]
    forced = [(t.customer, t.event) for t in taken if t.force_projection]
    if plain and forced:
        # Every lock of the batch at once, in key order, before the two calls take theirs
        # again: taken call by call, two drains could each hold a lock the other waits for.
        lock_customers(sorted({t.customer.email for t in taken}))
    if plain:
        engine.process_many(plain)
    if forced:
        engine.process_many(forced, force_projection=True)


def _drain_batch(engine, batch_size: int, report: DrainReport) -> int:
    now = timezone.now()
    taken: list[_Taken] = []
    try:
        with transaction.atomic():
            taken = _claim(now, batch_size)
            if taken:
                _process(engine, taken)
    except Exception:
        if not taken:
            raise  # the claim itself failed: nothing to redo here
        logger.warning("lifecycle inbox: a batch of %s events failed; redoing it customer by customer",
                       len(taken), exc_info=True)
        _one_by_one(engine, taken, now, report)
    else:
        report.events += len(taken)
    return len(taken)


def _one_by_one(engine, taken: Sequence[_Taken], now, report: DrainReport) -> None:
    by_email: dict[str, list[_Taken]] = {}
    for item in taken:
        by_email.setdefault(item.customer.email, []).append(item)
    for email, items in by_email.items():
        try:
            with transaction.atomic():
                mine = _claim(now, len(items), ids=[item.id for item in items])
                if mine:
                    _process(engine, mine)
            report.events += len(mine)
        except Exception as error:  # noqa: BLE001 - kept on the events, retried later
            report.failed += 1
            _postpone(email, items, error, now)


def _postpone(email: str, items: Sequence[_Taken], error: Exception, now) -> None:
    attempts = max(item.attempts for item in items) + 1
    ids = [item.id for item in items]
    message = f"{type(error).__name__}: {error}"
    with transaction.atomic(), connection.cursor() as cursor:
        if attempts >= MAX_ATTEMPTS:
            logger.error("lifecycle inbox: dropping %s events of %s after %s attempts: %s",
                         len(ids), email, attempts, message)
            cursor.execute(f"DELETE FROM {PENDING} WHERE id = ANY(%s)", [ids])
            return
        logger.warning("lifecycle inbox: events of %s failed (attempt %s), retried later: %s", email, attempts, message)
        cursor.execute(
            f"UPDATE {PENDING} SET attempts = %s, available_at = %s, last_error = %s WHERE id = ANY(%s)",
            [attempts, now + retry_delay(attempts), message, ids],
        )


def _lower_flag() -> None:
    """Lower the drain flag before looking at the inbox (and put its row back if it is gone)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {STATE} (id, drain_requested) VALUES (1, false)
                ON CONFLICT (id) DO UPDATE SET drain_requested = false WHERE {STATE}.drain_requested"""
        )
