"""The outbox: what is waiting to go out, soonest first.

The ledger is the history of deliveries; the outbox is the part of it (and of the
schedule) that has not happened yet, in the order it will:

- **due**: a ledger entry left *pending* (its first run right after the commit that made
  it did not happen: a crash, a worker gone); the retry task picks it up once it has not
  changed for `LEDGER_RETRY_AFTER`;
- **held**: a *pending* entry held back by the quiet hours (``not_before`` still ahead;
  ``reason`` says until when);
- **retry**: a *failed* entry with tries left (``MAX_ACTION_ATTEMPTS``), tried again by
  the same task;
- **scheduled**: a *pending* scheduled action (a review request, a reminder, a nurture
  message), due at ``due_at``; it usually enqueues the message then.

Entries that are done, skipped, cancelled, failed for good, *sending* or *uncertain*
are not waiting for anything and are only in the ledger. ``goes_out_at`` is the
earliest time the message may leave (the next run of the retry or due-action task at or
after it sends it). Read-only, two index-backed SELECTs (the ledger's partial index on
open entries, the schedule's on pending rows), whatever the size of the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from .retries import LEDGER_RETRY_AFTER, MAX_ACTION_ATTEMPTS

#: The outbox states, in the order the page offers them.
OUTBOX_STATES = ("due", "held", "retry", "scheduled")


@dataclass(frozen=True)
class OutboxFilter:
    action: str = ""
    state: str = ""
    email: str = ""  # normalised


@dataclass(frozen=True)
class OutboxEntry:
    kind: str  # "ledger" or "scheduled"
    id: int
    action: str
    state: str
    email: str
    goes_out_at: datetime
    created_at: datetime
    attempts: int
    last_error: str
    reason: str


@dataclass(frozen=True)
class OutboxPage:
    total_count: int
    entries: list[OutboxEntry]
    actions: list[str]


_LEDGER = """
    SELECT 'ledger' AS kind, l.id, l.action,
           CASE WHEN l.status = 'failed' THEN 'retry'
                WHEN l.not_before > %(now)s THEN 'held' ELSE 'due' END AS state,
           p.email, GREATEST(l.updated_at + %(retry_after)s, l.not_before) AS goes_out_at,
           l.created_at, l.attempts, l.last_error,
           CASE WHEN l.not_before > %(now)s THEN COALESCE(l.result->>'held', '') ELSE '' END AS reason
      FROM lifecycle_plugin_actionledgerentry l
      JOIN lifecycle_plugin_customerprofile p ON p.id = l.profile_id
     WHERE l.status IN ('pending', 'failed') AND l.attempts < %(max_attempts)s"""
_SCHEDULED = """
    SELECT 'scheduled' AS kind, s.id, s.action, 'scheduled' AS state, p.email, s.due_at AS goes_out_at,
           s.created_at, s.attempts, s.last_error, '' AS reason
      FROM lifecycle_plugin_scheduledaction s
      JOIN lifecycle_plugin_customerprofile p ON p.id = s.profile_id
     WHERE s.status = 'pending'"""
_LEDGER_STATE = {
    "due": " AND l.status = 'pending' AND (l.not_before IS NULL OR l.not_before <= %(now)s)",
    "held": " AND l.status = 'pending' AND l.not_before > %(now)s",
    "retry": " AND l.status = 'failed'",
}


def _branches(outbox_filter: OutboxFilter) -> list[str]:
    """The SELECTs for the filter, each with its conditions inside (so each uses its index)."""
    extra = (" AND {t}.action = %(action)s" if outbox_filter.action else "") + (
        " AND p.email = %(email)s" if outbox_filter.email else "")
    branches = []
    if outbox_filter.state in ("", *_LEDGER_STATE):
        branches.append(_LEDGER + _LEDGER_STATE.get(outbox_filter.state, "") + extra.format(t="l"))
    if outbox_filter.state in ("", "scheduled"):
        branches.append(_SCHEDULED + extra.format(t="s"))
    return branches


def outbox_page(now: datetime, outbox_filter: OutboxFilter, first: int, offset: int) -> OutboxPage:
    """One page of the outbox, soonest first; the filter's values are checked by the caller."""
    if outbox_filter.state and outbox_filter.state not in OUTBOX_STATES:
        raise ValueError(f"unknown outbox state {outbox_filter.state!r}")
    params = {"now": now, "retry_after": LEDGER_RETRY_AFTER, "max_attempts": MAX_ACTION_ATTEMPTS,
              "action": outbox_filter.action, "email": outbox_filter.email, "first": first, "offset": offset}
    union = " UNION ALL ".join(_branches(outbox_filter))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({union}) o", params)
        total = cursor.fetchone()[0]
        cursor.execute(f"SELECT * FROM ({union}) o ORDER BY goes_out_at, kind, id LIMIT %(first)s OFFSET %(offset)s",
                       params)
        entries = [OutboxEntry(*row) for row in cursor.fetchall()]
        # Every action with something waiting, whatever the filter: the page's action choices.
        cursor.execute(f"SELECT DISTINCT action FROM ({' UNION ALL '.join(_branches(OutboxFilter()))}) o "
                       "ORDER BY action", params)
        actions = [row[0] for row in cursor.fetchall()]
    return OutboxPage(total_count=total, entries=entries, actions=actions)
