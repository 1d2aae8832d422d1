"""Stage flow over a period (docs/metrics.md, "Stage flow"): customers per stage at each
day, week or month boundary, and the conversions between stages with the median time
they took, read from the dated stage history (`StageTransition`) in set-based SQL.

**Stage at a moment.** A customer's stage at moment `b` is the stage of their last move
at or before `b` (ties on the time broken by the row id), as `lifecycleStageCounts(at:)`
counts it; a customer with no move by `b` was not known yet and is not counted.

**Conversions** are counted per cohort: the customers who *entered* the from-stages in
the period (their first move into them from outside, `[since, until)`), and of them those
whose first later move into the to-stages came before `until`. The median days are over
those converters, from that entry to that move. Moves with reason `settings_change` are
the owner's new thresholds reclassifying customers, not customers acting: they are no
entry and no conversion (they do set the stage held, for the counts).

**Channel.** A customer belongs to the channel of their first counted order placed before
`until` (the channel that won them); with a channel only those customers are counted.
Customers who never bought have no channel, so a channel cannot choose leads who did not
convert: `lead → new` is then not computed (`unavailable` says why).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction

from ..models import StageTransition
from ..rules import Stage
from ..rules.config import LifecycleConfig
from ..rules.ladder import LADDER
from .kpi_orders import Scope, ScopeError, kpi_tables

#: The most moments a flow may count customers at (the points of its chart).
MAX_POINTS = 1000
_HISTORY = StageTransition._meta.db_table
_NOT_BEHAVIOUR = StageTransition.REASON_SETTINGS_CHANGE


class Interval(str, enum.Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def _add_months(moment: datetime, months: int) -> datetime:
    """`moment` moved by whole calendar months, the day kept or clamped to the month's last
    (31 January + 1 month is 28 or 29 February)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (following - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def boundaries(since: datetime, until: datetime, interval: Interval) -> list[datetime]:
    """`since`, each interval after it (counted from `since`, so months keep its day) that
    falls before `until`, then `until`; `ScopeError` naming `interval` past `MAX_POINTS`."""
    step = {Interval.DAY: timedelta(days=1), Interval.WEEK: timedelta(weeks=1)}.get(interval)
    if step is not None:
        inner = -(-(until - since) // step)  # boundaries before until, since included
    else:
        inner = (until.year - since.year) * 12 + until.month - since.month + 1
        while inner > 0 and _add_months(since, inner - 1) >= until:
            inner -= 1
    if inner + 1 > MAX_POINTS:
        raise ScopeError("interval", f"A {interval.value} interval over this period gives {inner + 1:,} points; "
                                     f"at most {MAX_POINTS:,}: choose a longer interval or a shorter period.")
    if step is not None:
        return [since + k * step for k in range(inner)] + [until]
    return [_add_months(since, k) for k in range(inner)] + [until]


@dataclass(frozen=True)
class FlowPoint:
    at: datetime
    stages: dict[str, int]  # stage key -> customers holding it at `at`

    @property
    def total(self) -> int:
        return sum(self.stages.values())


@dataclass(frozen=True)
class ConversionPath:
    name: str
    from_stages: tuple[str, ...]
    to_stages: tuple[str, ...]


def _keys(*stages: Stage) -> tuple[str, ...]:
    """Stage keys in ladder order."""
    return tuple(stage.value for stage in Stage if stage in stages)


#: The conversions the flow reports, in the ladder's order. A to-stage set holds the stages
#: further up too: a first purchase may be recorded straight as `repeat` (or `loyal`) when the
#: first orders came together, and a second as `loyal` when the settings make two orders loyal.
PATHS = (
    ConversionPath("lead_to_new", _keys(Stage.LEAD), _keys(Stage.NEW, Stage.REPEAT, Stage.LOYAL)),
    ConversionPath("new_to_repeat", _keys(Stage.NEW), _keys(Stage.REPEAT, Stage.LOYAL)),
    ConversionPath("repeat_to_loyal", _keys(Stage.REPEAT), _keys(Stage.LOYAL)),
    ConversionPath("win_back", _keys(*LADDER.win_back_from), _keys(*LADDER.win_back_to)),
)


@dataclass(frozen=True)
class Conversion:
    path: ConversionPath
    entered: int | None  # customers who entered a from-stage in the period (None: unavailable)
    converted: int | None  # of them, customers who then reached a to-stage before `until`
    median_days: float | None  # from entry to that move, over the converters
    unavailable: str | None = None  # why the figures are None

    @property
    def rate(self) -> float | None:
        return self.converted / self.entered if self.entered else None


@dataclass(frozen=True)
class StageFlow:
    scope: Scope
    interval: Interval
    points: tuple[FlowPoint, ...]
    conversions: tuple[Conversion, ...]


_STAGE_COUNTS_SQL = f"""
    WITH moves AS (
        SELECT t.to_stage, t.occurred_at,
               lead(t.occurred_at) OVER (PARTITION BY t.profile_id ORDER BY t.occurred_at, t.id) AS left_at
        FROM {_HISTORY} t
        WHERE t.occurred_at <= %(last)s {{only_people}})
    -- A move holds its stage from occurred_at until the next move (left_at): it is counted at
    -- the points b with occurred_at <= b < left_at, i.e. from the index of the first point at or
    -- after occurred_at up to, not including, that of left_at. Timestamps are whole
    -- microseconds, so width_bucket over (t - 1 µs) is the number of points before t.
    SELECT d.idx, m.to_stage, sum(d.delta)
    FROM moves m
    CROSS JOIN LATERAL (VALUES (m.occurred_at, 1), (m.left_at, -1)) AS d0(at, delta)
    CROSS JOIN LATERAL (SELECT width_bucket(d0.at - interval '1 microsecond', %(points)s::timestamptz[]) AS idx,
                               d0.delta) AS d
    WHERE d0.at IS NOT NULL
    GROUP BY d.idx, m.to_stage"""

_CONVERSION_SQL = f"""
    WITH entries AS (
        SELECT DISTINCT ON (t.profile_id) t.profile_id, t.occurred_at, t.id
        FROM {_HISTORY} t
        WHERE t.to_stage = ANY(%(from)s) AND (t.from_stage IS NULL OR t.from_stage <> ALL(%(from)s))
          AND t.occurred_at >= %(since)s AND t.occurred_at < %(until)s AND t.reason <> %(not_behaviour)s
          {{only_people}}
        ORDER BY t.profile_id, t.occurred_at, t.id)
    SELECT count(*), count(c.at),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.at - e.occurred_at) / 86400)
    FROM entries e
    LEFT JOIN LATERAL (
        SELECT t.occurred_at AS at FROM {_HISTORY} t
        WHERE t.profile_id = e.profile_id AND t.to_stage = ANY(%(to)s) AND t.reason <> %(not_behaviour)s
          AND (t.occurred_at, t.id) > (e.occurred_at, e.id) AND t.occurred_at < %(until)s
        ORDER BY t.occurred_at, t.id LIMIT 1) c ON true"""


@contextmanager
def _people(host, config: LifecycleConfig, scope: Scope) -> Iterator[tuple[object, str]]:
    """A cursor and the SQL condition on `t.profile_id` keeping the scope's customers: every
    customer, or with a channel those whose first counted order before `until` was in it
    (read from the host's orders SELECT: a channel needs a host with `ladder_sources`)."""
    if scope.channel is None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            yield cursor, ""
        return
    with kpi_tables(host, config, scope) as cursor:
        cursor.execute("DROP TABLE IF EXISTS lc_flow_people")
        cursor.execute("""
            CREATE TEMP TABLE lc_flow_people ON COMMIT DROP AS
            SELECT profile FROM (SELECT DISTINCT ON (profile) profile, channel FROM lc_kpi_orders
                                 ORDER BY profile, placed_at) first_orders
            WHERE channel = %(channel)s""", {"channel": scope.channel})
        cursor.execute("ALTER TABLE lc_flow_people ADD PRIMARY KEY (profile)")
        yield cursor, "AND t.profile_id IN (SELECT profile FROM lc_flow_people)"
        cursor.execute("DROP TABLE lc_flow_people")


def stage_flow(host, config: LifecycleConfig, scope: Scope, interval: Interval) -> StageFlow:
    """Customers per stage at each of `boundaries(...)`, and `PATHS`' conversions over the
    period. `ScopeError` for too many points or a channel no order of the store is in."""
    points = boundaries(scope.since, scope.until, interval)
    with _people(host, config, scope) as (cursor, only_people):
        cursor.execute(_STAGE_COUNTS_SQL.format(only_people=only_people), {"last": points[-1], "points": points})
        deltas: dict[int, dict[str, int]] = defaultdict(dict)
        for index, stage, delta in cursor.fetchall():
            deltas[index][stage] = int(delta)
        conversions = []
        for path in PATHS:
            if scope.channel is not None and path.from_stages == (Stage.LEAD.value,):
                conversions.append(Conversion(path, None, None, None, unavailable=(
                    "Leads who never bought have no channel: a channel cannot choose the leads to count.")))
                continue
            cursor.execute(_CONVERSION_SQL.format(only_people=only_people), {
                "from": list(path.from_stages), "to": list(path.to_stages), "since": scope.since,
                "until": scope.until, "not_behaviour": _NOT_BEHAVIOUR})
            entered, converted, median = cursor.fetchone()
            conversions.append(Conversion(path, entered, converted, None if median is None else float(median)))
    # Running sums of the deltas over the point indexes: the customers per stage at each point.
    held: dict[str, int] = defaultdict(int)
    flow = []
    for index, at in enumerate(points):
        for stage, delta in deltas.get(index, {}).items():
            held[stage] += delta
        flow.append(FlowPoint(at, {stage: count for stage, count in held.items() if count}))
    return StageFlow(scope, interval, tuple(flow), tuple(conversions))
