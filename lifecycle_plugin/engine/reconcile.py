"""The reconciliation: changes in the store whose event never reached the inbox.

A hook adds its event inside Saleor's transaction when one is open, but Saleor
calls many hooks after its own commit; if the process dies or the connection drops
between that commit and the hook's INSERT, the event is gone and nothing else
would notice a first order. So every few minutes (`apps.beat_schedule`) the
reconciliation asks the host which customers' accounts, orders and checkouts
changed since it last looked (`Host.changed_customers`, an indexed range read of
the store's change times), and queues an event for each of them that has no
decision made after their change and no event waiting in the inbox.

The window is [last upper bound - OVERLAP, now - SETTLE):

- SETTLE leaves the newest changes to their own events, which are usually still on
  their way through the inbox and the drain.
- OVERLAP looks again at what the previous run saw: Saleor stamps a row's change
  time when it saves it and commits later, so a row may become visible after a run
  has looked past its time. A transaction longer than OVERLAP can still be missed.
- The first run only records where to start (now): history is the backfill's job.
  A run after a long pause (workers down, the plugin switched off) looks back at
  most MAX_LOOKBACK.

Queueing a customer who needed nothing costs one decision that changes nothing, so
false alarms (an account's metadata written by someone else, a login) are cheap;
when nothing is missing the run is the range read and one query over the profiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction

from ..host import CustomerRef
from ..models import CustomerProfile, InboxState, PendingEvent
from .inbox import add_events

#: How far before the last run's upper bound each run looks again.
OVERLAP = timedelta(minutes=10)
#: Changes younger than this are left to their own events.
SETTLE = timedelta(minutes=2)
#: The longest look back, however long the reconciliation has not run.
MAX_LOOKBACK = timedelta(days=1)
#: The event name the queued events carry (recorded on the transitions they cause).
EVENT = "reconciliation"
#: One run at a time (an advisory lock's key).
RUN_LOCK = "lifecycle:reconcile"

PROFILE = CustomerProfile._meta.db_table
PENDING = PendingEvent._meta.db_table
STATE = InboxState._meta.db_table


@dataclass
class ReconcileReport:
    #: The window looked at; `since` is None on the first run (nothing looked at).
    since: datetime | None
    until: datetime
    #: Customers whose account, orders or checkouts changed in the window.
    changed: int = 0
    #: Of those, the ones without a later decision or a waiting event: queued.
    queued: int = 0


def reconcile(engine) -> ReconcileReport:
    """Queue an inbox event for every customer changed since the last run and not decided since.

    One transaction: the window's upper bound is stored with the events it queued,
    and an advisory lock keeps two runs from looking at the same window. Not the state
    row's lock: that row is also the drain flag, which Saleor's requests raise, and
    they must not wait for a run's range read.
    Returns the report; when `queued`, the caller raises the drain flag.
    """
    now = engine.clock()
    until = now - SETTLE
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [RUN_LOCK])
            cursor.execute(f"SELECT reconciled_until FROM {STATE} WHERE id = 1")
            row = cursor.fetchone()
        last = row[0] if row else None
        if last is None:
            _store(until)
            return ReconcileReport(since=None, until=until)
        since = max(min(last, until) - OVERLAP, now - MAX_LOOKBACK)
        changed = engine.host.changed_customers(since, until)
        missing = _undecided(changed)
        if missing:
            add_events([(ref.email, ref.user_id, EVENT) for ref in missing])
        _store(max(last, until))
    return ReconcileReport(since=since, until=until, changed=len(changed), queued=len(missing))


def _undecided(changed: Sequence[tuple[CustomerRef, datetime]]) -> list[CustomerRef]:
    """The customers of `changed` [(CustomerRef, changed at)] with no decision since and no waiting event.

    A profile found by e-mail or by account counts: an account that changed its
    e-mail still has its profile under the old one until its next decision.
    """
    if not changed:
        return []
    refs = [ref for ref, _ in changed]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT v.i FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[]) WITH ORDINALITY
                                 AS v(email, user_id, changed_at, i)
                WHERE NOT EXISTS (SELECT 1 FROM {PROFILE} p WHERE p.email = v.email AND p.decided_at >= v.changed_at)
                  AND NOT EXISTS (SELECT 1 FROM {PROFILE} p
                                   WHERE p.user_id = v.user_id AND p.decided_at >= v.changed_at)
                  AND NOT EXISTS (SELECT 1 FROM {PENDING} e WHERE e.email = v.email)
                ORDER BY v.i""",
            [[ref.email for ref in refs], [ref.user_id for ref in refs], [at for _, at in changed]],
        )
        return [refs[i - 1] for (i,) in cursor.fetchall()]


def _store(until: datetime) -> None:
    # The flag's row is made by migration 0003, but a flushed database has lost it.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {STATE} (id, drain_requested, reconciled_until) VALUES (1, false, %s)
                ON CONFLICT (id) DO UPDATE SET reconciled_until = EXCLUDED.reconciled_until""",
            [until],
        )
