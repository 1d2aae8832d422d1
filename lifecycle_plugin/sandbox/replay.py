"""Replay the store's recent history day by day with a simulated clock.

The store holds all of its history. The engine is first shown the store as it
stood `days` ago (the host hides everything created later, see
`SandboxHost(as_of=...)`) and backfilled then. Each simulated day, every order
placed or fulfilled, cart opened and account made that day is processed at the
moment it happened with the event Saleor would have sent, and then the sweep runs
with the clock at the end of the day, so time-based moves (to at risk, to lapsed,
loyal back to repeat) happen on the way, at the moments they take effect.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection

from ..host import CustomerRef
from .models import Checkout, Order


class SimulatedClock:
    """A clock the engine and the host share: setting `now` moves both."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class DayReport:
    day: datetime
    customers: int = 0
    events: Counter = field(default_factory=Counter)
    swept: int = 0


def changes_between(start: datetime, end: datetime) -> list[tuple[datetime, CustomerRef, str]]:
    """(time, customer, event) for every order placed or fulfilled, cart opened and account
    made in (start, end], in time order. One query.
    """
    user_table = get_user_model()._meta.db_table
    order_table, checkout_table = Order._meta.db_table, Checkout._meta.db_table
    sql = f"""
        SELECT x.at, COALESCE(u.email, x.email), x.user_id, x.event FROM (
            SELECT created_at AS at, user_id, user_email AS email, 'order_created' AS event FROM {order_table}
            WHERE created_at > %(start)s AND created_at <= %(end)s
            UNION ALL
            SELECT fulfilled_at, user_id, user_email, 'order_fulfilled' FROM {order_table}
            WHERE fulfilled_at > %(start)s AND fulfilled_at <= %(end)s
            UNION ALL
            SELECT created_at, user_id, email, 'checkout_updated' FROM {checkout_table}
            WHERE created_at > %(start)s AND created_at <= %(end)s AND email <> ''
            UNION ALL
            SELECT date_joined, id, email, 'customer_created' FROM {user_table}
            WHERE date_joined > %(start)s AND date_joined <= %(end)s AND NOT is_staff
        ) AS x LEFT JOIN {user_table} u ON u.id = x.user_id
        ORDER BY x.at
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"start": start, "end": end})
        rows = cursor.fetchall()
    changes = []
    for at, email, user_id, event in rows:
        if email and email.strip():
            changes.append((at, CustomerRef.of(email, user_id), event))
    return list(dict.fromkeys(changes))


def replay_days(
    engine,
    clock: SimulatedClock,
    until: datetime,
    *,
    step: timedelta = timedelta(days=1),
    on_day: Callable[[DayReport], None] | None = None,
    during_day: Callable[[datetime, datetime], None] | None = None,
) -> list[DayReport]:
    """Advance `clock` from its current time to `until` one `step` at a time.

    Each step processes the customers that changed in it (clock at the end of the
    step) and then sweeps. `engine` must use `clock`, and its host must hide what
    lies after `clock` (SandboxHost(as_of=clock)). `during_day(start, end)`: shoppers who act
    live in the step, after its recorded changes (`referrals.make_referrals`).
    """
    reports = []
    while clock.now < until:
        start = clock.now
        end = min(start + step, until)
        report = DayReport(end)
        customers = set()
        # Each change is processed at the moment it happened, as Saleor's hooks would
        # report it; the host shows the engine the store as it stood then.
        for at, customer, event in changes_between(start, end):
            clock.now = at
            engine.process(customer, event=event)
            customers.add(customer)
            report.events[event] += 1
        if during_day is not None:
            during_day(start, end)
        clock.now = end
        report.customers = len(customers)
        report.swept = engine.sweep().profiles
        engine.run_due_actions()
        reports.append(report)
        if on_day is not None:
            on_day(report)
    return reports
