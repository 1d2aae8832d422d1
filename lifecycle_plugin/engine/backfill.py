"""Backfill: every customer from the host's history, in chunks, with set-based SQL.

Per chunk: one query for the existing profiles, the host's constant number of
fact queries, the pure rules in Python, then one statement for the new profiles
(with their transitions and tier changes) and one for the updated ones, and one
projection write. Each profile update checks the `version` read at the start of
the chunk, before the facts; a customer whose profile an event changed in the
meantime is redone through the single-customer path, so the backfill never
overwrites a newer decision.

Outside a transaction the next chunk's profiles and facts are read on a second
connection while this chunk is decided and written (PostgreSQL works on one while
Python works on the other). Inside a transaction (tests, a caller's atomic block)
everything runs on the caller's connection, which is the only one that sees its
uncommitted rows.

The backfill records history (reason ``backfill``) but fires no stage or tier
hooks: installing the plugin must not message every existing customer.

That is the Python path. When the host offers SQL (`Host.ladder_sources`) and no hook
changes facts or decisions, customers without a profile are decided in SQL instead,
with their history dated from their orders (`backfill_sql`); the report's `path` says
which path ran and `path_reason` why not SQL.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ..host import CustomerRef, Projection
from ..rules.referral import advocate_of
from ..stage_flow_model import StageCountChange, StageEntry
from .backfill_sql import backfill_in_sql, why_not_sql
from .backfill_writes import (
    PROFILE_COLUMNS,
    PROFILE_TABLE,
    TIER_TABLE,
    TRANSITION_TABLE,
    UPDATE_COLUMNS,
    Rows,
    insert_profiles,
    update_profiles,
)
from .bulk import JSON, bulk_cursor, json_text
from .deletion import hold_off_deletions
from .digest_writes import DIGEST_TABLE, write_digests_by_email
from .planner import money_json, stage_code
from .plans import prediction_summary, profile_summary
from .service import LifecycleEngine

logger = logging.getLogger(__name__)

DELETION_CLOCK_MARGIN = timedelta(minutes=1)


@dataclass
class BackfillReport:
    customers: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stage_changes: int = 0
    tier_changes: int = 0
    conflicts: int = 0
    last_email: str | None = None
    stage_counts: Counter = field(default_factory=Counter)
    tier_counts: Counter = field(default_factory=Counter)
    #: "sql" (new customers decided in SQL, the others in Python) or "python".
    path: str = "python"
    #: Why the Python path ran ("" on the SQL path).
    path_reason: str = ""

    def add(self, other: BackfillReport) -> None:
        for name in ("customers", "created", "updated", "unchanged", "stage_changes", "tier_changes", "conflicts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.stage_counts.update(other.stage_counts)
        self.tier_counts.update(other.tier_counts)
        self.last_email = other.last_email or self.last_email


def backfill(
    engine: LifecycleEngine,
    *,
    chunk_size: int = 2000,
    start_after: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int, str], None] | None = None,
    read_ahead: bool | None = None,
    evaluator: str = "auto",
    connections: int = 2,
) -> BackfillReport:
    """Decide every customer the host knows. Resumable: pass the last e-mail done as `start_after`.

    `read_ahead` reads the next chunk on a second connection while this one is written;
    by default it is on outside a transaction, where that connection sees the same data.
    `evaluator`: "auto" (SQL when `backfill_sql.why_not_sql` finds nothing against it),
    "sql" (refused with that reason otherwise) or "python".
    `connections`: how many database connections the SQL evaluator decides the store on at
    once, outside a transaction (each takes one core of the database server; 1: only this one).
    """
    if connections < 1:
        raise ValueError("connections must be at least 1")
    reason = "the Python path was asked for" if evaluator == "python" else why_not_sql(engine)
    if reason is None:
        report = BackfillReport(path="sql")
        backfill_in_sql(engine, report, chunk_size=chunk_size, start_after=start_after, dry_run=dry_run,
                        progress=progress, connections=connections,
                        python_chunk=lambda customers: backfill_chunk(engine, customers, dry_run=dry_run))
        if not dry_run and report.created + report.updated:
            _analyze()
        return report
    if evaluator == "sql":
        raise ValueError(f"the backfill cannot run in SQL: {reason}")
    if read_ahead is None:
        read_ahead = not connection.in_atomic_block
    read = _read_ahead if read_ahead else _read_in_turn
    report = BackfillReport(path="python", path_reason=reason)
    for customers, existing, facts, read_at in read(engine, chunk_size, start_after):
        chunk = _backfill_chunk(engine, customers, existing, facts, read_at, dry_run=dry_run)
        report.add(chunk)
        if progress is not None:
            # The resume cursor: the chunk's last customer that was not deleted (None: keep
            # the previous one), so it never names a deleted customer.
            progress(len(customers), chunk.last_email)
    if not dry_run and report.created + report.updated:
        _analyze()
    return report


def _analyze() -> None:
    """Fresh planner statistics for the tables a backfill has just filled.

    Until autovacuum gets to them, PostgreSQL plans with the statistics of the empty
    tables: the sweep's `next_check_at <= now` then looks like a tenth of the table and
    is planned as a sequential scan and a sort (8 ms at 20,000 profiles, over 100 ms at
    a million) instead of an index range scan that finds nothing in a millisecond. The
    ladder digests and the stage flow's rollups (written by the history's trigger) are
    read by key on every event and recompute chunk: planned on an empty table's figures,
    such a read can become a scan of millions of rows.
    """
    tables = (PROFILE_TABLE, TRANSITION_TABLE, TIER_TABLE, DIGEST_TABLE, StageEntry._meta.db_table,
              StageCountChange._meta.db_table)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(tables)}")
    except DatabaseError:  # not the tables' owner: autovacuum will do it later
        logger.warning("could not ANALYZE the lifecycle tables after the backfill", exc_info=True)


def backfill_chunk(engine: LifecycleEngine, customers: Sequence[CustomerRef], *, dry_run: bool = False) -> BackfillReport:
    """One chunk of customers (a fanned-out backfill's task)."""
    if not customers:
        return BackfillReport()
    return _backfill_chunk(engine, customers, *_read_chunk(engine, customers), dry_run=dry_run)


# ---------------------------------------------------------------------------- reading

def _read_chunk(engine: LifecycleEngine, customers: Sequence[CustomerRef]):
    # Profiles first: an event that changes a profile after this read bumps its
    # version, so the write below notices it even if the facts read missed the event.
    read_at = timezone.now()
    existing = _existing_profiles(customers)
    return existing, engine.read_facts(customers), read_at


def _read_in_turn(engine: LifecycleEngine, chunk_size: int, start_after: str | None) -> Iterator[tuple]:
    for customers in engine.host.customer_chunks(chunk_size, start_after=start_after):
        if customers:
            yield (customers, *_read_chunk(engine, customers))


_DONE = object()


def _read_ahead(engine: LifecycleEngine, chunk_size: int, start_after: str | None) -> Iterator[tuple]:
    """`_read_in_turn` on a reader thread (its own database connection), one chunk ahead."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for item in _read_in_turn(engine, chunk_size, start_after):
                if not hand_over(item):
                    return
            hand_over(_DONE)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            hand_over(exc)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=reader, name="lifecycle-backfill-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _existing_profiles(customers: Sequence[CustomerRef]) -> dict[tuple[str, object], tuple]:
    """(id, version, user_id, email, stage, tier, stage_since, and the five prediction
    columns) of the chunk's profiles, by e-mail and by account."""
    emails = [c.email for c in customers]
    user_ids = [c.user_id for c in customers if c.user_id]
    with transaction.atomic(), bulk_cursor() as cursor:
        cursor.execute(
            f"""SELECT id, version, user_id, email, stage, tier, stage_since, predicted_orders_365,
                       probability_active, predicted_spend::text, predicted_at, prediction_reason FROM {PROFILE_TABLE}
                WHERE email = ANY(%b::text[]) OR user_id = ANY(%b::bigint[])""",
            [emails, user_ids],
        )
        rows = cursor.fetchall()
    found: dict[tuple[str, object], tuple] = {}
    for row in rows:
        found[("email", row[3])] = row
        if row[2]:
            found[("user", row[2])] = row
    return found


# ---------------------------------------------------------------------------- deciding

_ID, _VERSION, _USER_ID, _EMAIL, _STAGE, _TIER, _STAGE_SINCE = range(7)
_PREDICTION = slice(7, 12)


def _stored_prediction(current: tuple | None) -> dict | None:
    """The prediction a profile row read by `_existing_profiles` carries (a backfill keeps it)."""
    if current is None:
        return None
    expected, active, spend, at, reason = current[_PREDICTION]
    return prediction_summary(expected, active, json.loads(spend) if spend else None, at, reason)


def _backfill_chunk(engine: LifecycleEngine, customers: Sequence[CustomerRef], existing: dict, facts: dict,
                    read_at: datetime,
                    *, dry_run: bool = False) -> BackfillReport:
    report = BackfillReport(customers=len(customers), last_email=customers[-1].email if customers else None)
    now = engine.clock()
    decide = engine.decide
    inserts = Rows(name for name, _ in PROFILE_COLUMNS)
    updates = Rows(name for name, _ in UPDATE_COLUMNS)
    projections: list[Projection] = []
    handed_over: list[CustomerRef] = []
    stage_counts, tier_counts = report.stage_counts, report.tier_counts
    encode = JSON.encode

    for customer in customers:
        customer_facts = facts[customer]
        if not customer_facts.known:
            continue
        user_id = customer.user_id or customer_facts.user_id
        current = existing.get(("user", user_id)) if user_id else None
        current = current or existing.get(("email", customer.email))
        if current is not None and user_id and current[_USER_ID] != user_id and not customer_facts.account_confirmed:
            # An unconfirmed account has no claim on the guest profile of its e-mail: the
            # single-customer path decides whose profile it is (`identity.as_profile_owners`).
            handed_over.append(customer)
            continue
        decision = decide(customer_facts, now)
        stage = stage_code(decision.stage)
        tier = decision.tier
        stage_counts[stage] += 1
        tier_counts[tier or ""] += 1
        stage_changed = current is None or current[_STAGE] != stage
        tier_changed = (current[_TIER] if current else None) != tier

        summary = decision.summary
        lifetime = money_json(summary.lifetime_spend)
        window = money_json(summary.window_spend)
        first_at, last_at, next_at = summary.first_order_at, summary.last_order_at, decision.next_change_at
        values = (
            user_id, customer.email, stage, decision.rule, tier, summary.orders_count,
            json_text(summary.orders_by_currency), json_text(lifetime), json_text(window), first_at, last_at,
            json_text(customer_facts.extra), next_at,
            encode(dict(decision.facts)) if stage_changed else None,
        )
        if current is None:
            inserts.add(*values)
        else:
            updates.add(current[_ID], current[_VERSION], current[_STAGE], current[_TIER], *values)
            if not (stage_changed or tier_changed):
                report.unchanged += 1
        report.stage_changes += stage_changed
        report.tier_changes += tier_changed
        if stage_changed or tier_changed:
            projections.append(Projection(
                customer=CustomerRef(customer.email, user_id),
                stage=stage,
                tier=tier,
                profile=profile_summary(
                    stage=stage, stage_since=now if stage_changed else current[_STAGE_SINCE], tier=tier,
                    orders=summary.orders_count, lifetime_spend=lifetime, window_spend=window,
                    first_order_at=first_at, last_order_at=last_at, next_check_at=next_at,
                    prediction=_stored_prediction(current), advocate=advocate_of(customer_facts.extra),
                ),
                decided_at=now,
                advocate=advocate_of(customer_facts.extra),
            ))
    if dry_run:
        return report

    with transaction.atomic():
        # A customer deleted since this chunk was read must not be written back (a minute
        # early, for clocks that differ between processes).
        deleted = hold_off_deletions(customers)
        gone = {email for email, at in deleted.items() if at > read_at - DELETION_CLOCK_MARGIN}
        if gone:
            inserts, updates = inserts.without(gone), updates.without(gone)
            projections = [p for p in projections if p.customer.email not in gone]
        # The resume cursor never names a deleted customer (unless the e-mail is a customer again).
        report.last_email = next((c.email for c in reversed(customers)
                                  if c.email not in deleted or (c.email not in gone and facts[c].known)), None)
        updated = update_profiles(updates, now)
        inserted = insert_profiles(inserts, now)
        written = updated | inserted
        write_digests_by_email(written, facts, now)
        engine.host.write_projection([p for p in projections if p.customer.email in written])
    report.created = len(inserted)
    report.updated = len(updated)

    # Rows an event touched since we read them are redone one by one, under the lock.
    conflicted = [email for email in (*inserts.emails, *updates.emails) if email not in written]
    by_email = {c.email: c for c in customers}
    for email in [*conflicted, *(c.email for c in handed_over if c.email not in gone)]:
        engine.process(by_email[email], event="backfill", recompute=True)
    report.conflicts = len(conflicted) + len(handed_over)
    return report
