"""Stage flow over a period (docs/metrics.md, "Stage flow"): customers per stage at each
day, week or month boundary, and the conversions between stages with the median time
they took, from the dated stage history (`StageTransition`) through its rollups
(`stage_flow_model`): the hourly changes per stage, and each entry into a conversion path
with its conversion. The history's triggers keep both, so a query reads a few rows per
hour of the period and the period's entries instead of the whole history.

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
convert: `lead → new` is then not computed (`unavailable` says why). The counts for one
channel are a pass over its customers' history (the hourly changes are the whole store's).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from django.db import connection, transaction

from ..models import StageCountChange, StageEntry, StageTransition
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


_COUNTS = StageCountChange._meta.db_table
_ENTRIES = StageEntry._meta.db_table
_HOUR = timedelta(hours=1)
_MICROSECOND = timedelta(microseconds=1)

# The whole store's counts come from the hourly changes (`StageCountChange`, kept by the
# history's triggers), summed up to an hour boundary next to each point, then corrected by
# the moves between that boundary and the point, read from the history: the hour's moves up
# to the point added, or those after it taken away, whichever are fewer (a backfill dates
# every customer without orders to one moment, which may well be a point).
_HOURLY_COUNTS_SQL = f"""
    SELECT width_bucket(c.hour, %(bounds)s::timestamptz[]), c.stage, sum(c.delta)
    FROM {_COUNTS} c WHERE c.hour < %(last_bound)s
    GROUP BY 1, 2"""

# (Counted up to a cap: past it, which side is cheaper matters less than counting it.)
_MOVES_AROUND_POINTS_SQL = f"""
    SELECT (SELECT count(*) FROM (SELECT FROM {_HISTORY} t WHERE t.occurred_at BETWEEN w.hour AND w.at
                                  LIMIT 64) AS before_),
           (SELECT count(*) FROM (SELECT FROM {_HISTORY} t
                                  WHERE t.occurred_at BETWEEN w.at + interval '1 microsecond'
                                                          AND w.next_hour - interval '1 microsecond'
                                  LIMIT 64) AS after_)
    FROM unnest(%(points)s::timestamptz[], %(hours)s::timestamptz[], %(next_hours)s::timestamptz[])
         WITH ORDINALITY AS w(at, hour, next_hour, n)
    ORDER BY w.n"""

# Each move in a window: its stage +1 and -1 for the stage the customer held until then
# (their move just before it, by time then id), times the window's sign.
_WINDOW_MOVES_SQL = f"""
    WITH windows AS (
        SELECT * FROM unnest(%(index)s::int[], %(low)s::timestamptz[], %(high)s::timestamptz[], %(sign)s::int[])
                      AS w(index_, low, high, sign)),
    moved AS MATERIALIZED (
        SELECT w.index_, w.sign, t.profile_id, t.id, t.occurred_at, t.to_stage
        FROM windows w JOIN {_HISTORY} t ON t.occurred_at BETWEEN w.low AND w.high)
    SELECT m.index_, d.stage, sum(m.sign * d.delta)
    FROM moved m
    CROSS JOIN LATERAL (
        SELECT m.to_stage, 1
        UNION ALL
        (SELECT p.to_stage, -1 FROM {_HISTORY} p
         WHERE p.profile_id = m.profile_id AND p.occurred_at <= m.occurred_at
           AND (p.occurred_at, p.id) < (m.occurred_at, m.id)
         ORDER BY p.occurred_at DESC, p.id DESC LIMIT 1)) AS d(stage, delta)
    GROUP BY 1, 2"""

# With a channel: one pass over its customers' history (the hourly changes are the whole store's).
_CHANNEL_COUNTS_SQL = f"""
    WITH moves AS (
        SELECT t.to_stage, t.occurred_at,
               lead(t.occurred_at) OVER (PARTITION BY t.profile_id ORDER BY t.occurred_at, t.id) AS left_at
        FROM {_HISTORY} t
        WHERE t.occurred_at <= %(last)s AND t.profile_id IN (SELECT profile FROM lc_flow_people))
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

# Each customer's first entry into a path in the period is the entry whose previous one came
# before the period (`StageEntry`); converted when their next move into the to-stages came
# before `until`.
_CONVERSIONS_SQL = f"""
    SELECT e.path, count(*), count(*) FILTER (WHERE e.converted_at < %(until)s),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.converted_at - e.entered_at) / 86400)
               FILTER (WHERE e.converted_at < %(until)s)
    FROM {_ENTRIES} e
    WHERE e.path = ANY(%(paths)s) AND e.entered_at >= %(since)s AND e.entered_at < %(until)s
      AND (e.previous_entry_at IS NULL OR e.previous_entry_at < %(since)s) {{only_people}}
    GROUP BY e.path"""


@contextmanager
def _people(host, config: LifecycleConfig, scope: Scope) -> Iterator[tuple[object, bool]]:
    """A cursor, and whether `lc_flow_people` holds the scope's customers: with a channel,
    those whose first counted order before `until` was in it (read from the host's orders
    SELECT: a channel needs a host with `ladder_sources`); without one, everyone."""
    if scope.channel is None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            yield cursor, False
        return
    with kpi_tables(host, config, scope) as cursor:
        cursor.execute("DROP TABLE IF EXISTS lc_flow_people")
        cursor.execute("""
            CREATE TEMP TABLE lc_flow_people ON COMMIT DROP AS
            SELECT profile FROM (SELECT DISTINCT ON (profile) profile, channel FROM lc_kpi_orders
                                 ORDER BY profile, placed_at) first_orders
            WHERE channel = %(channel)s""", {"channel": scope.channel})
        cursor.execute("ALTER TABLE lc_flow_people ADD PRIMARY KEY (profile)")
        yield cursor, True
        cursor.execute("DROP TABLE lc_flow_people")


def _stage_counts(cursor, points: list[datetime], by_channel: bool) -> list[dict[str, int]]:
    """Customers per stage at each of `points` (in UTC), zeros left out."""
    if by_channel:
        cursor.execute(_CHANNEL_COUNTS_SQL, {"last": points[-1], "points": points})
        return _running_sums(_by_index(cursor.fetchall()), len(points))
    hours = [point.replace(minute=0, second=0, microsecond=0) for point in points]
    next_hours = [hour + _HOUR for hour in hours]
    cursor.execute(_MOVES_AROUND_POINTS_SQL, {"points": points, "hours": hours, "next_hours": next_hours})
    # Per point: the hour boundary summed up to, and the window of moves that corrects it.
    bounds, windows = [], []
    for index, (point, hour, next_hour, (before, after)) in enumerate(
            zip(points, hours, next_hours, cursor.fetchall())):
        if before <= after:
            bounds.append(hour)
            windows.append((index, hour, point, 1))
        else:
            bounds.append(next_hour)
            windows.append((index, point + _MICROSECOND, next_hour - _MICROSECOND, -1))
    distinct_bounds = sorted(set(bounds))
    cursor.execute(_HOURLY_COUNTS_SQL, {"bounds": distinct_bounds, "last_bound": distinct_bounds[-1]})
    # A change of the hour h is in the sums up to every bound after h, i.e. from bucket
    # width_bucket(h) (the number of bounds at or before h) on.
    up_to_bound = _running_sums(_by_index(cursor.fetchall()), len(distinct_bounds))
    index, low, high, sign = (list(column) for column in zip(*windows))
    cursor.execute(_WINDOW_MOVES_SQL, {"index": index, "low": low, "high": high, "sign": sign})
    corrections = _by_index(cursor.fetchall())
    counts = []
    for index, bound in enumerate(bounds):
        stages = dict(up_to_bound[distinct_bounds.index(bound)])
        for stage, delta in corrections.get(index, {}).items():
            stages[stage] = stages.get(stage, 0) + delta
        counts.append({stage: count for stage, count in stages.items() if count})
    return counts


def _by_index(rows) -> dict[int, dict[str, int]]:
    deltas: dict[int, dict[str, int]] = defaultdict(dict)
    for index, stage, delta in rows:
        deltas[index][stage] = deltas[index].get(stage, 0) + int(delta)
    return deltas


def _running_sums(deltas: dict[int, dict[str, int]], size: int) -> list[dict[str, int]]:
    """For each index below `size`, the sums of the deltas of every index up to it."""
    held: dict[str, int] = defaultdict(int)
    sums = []
    for index in range(size):
        for stage, delta in deltas.get(index, {}).items():
            held[stage] += delta
        sums.append({stage: count for stage, count in held.items() if count})
    return sums


def stage_counts_at(moment: datetime) -> dict[str, int]:
    """The whole store's customers per stage at `moment` (its stage at a moment, above)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # (the lateral lookups' estimates would have it compile the plan)
        return _stage_counts(cursor, [moment.astimezone(timezone.utc)], False)[0]


def stage_flow(host, config: LifecycleConfig, scope: Scope, interval: Interval) -> StageFlow:
    """Customers per stage at each of `boundaries(...)`, and `PATHS`' conversions over the
    period. `ScopeError` for too many points or a channel no order of the store is in."""
    points = [point.astimezone(timezone.utc) for point in boundaries(scope.since, scope.until, interval)]
    with _people(host, config, scope) as (cursor, by_channel):
        counts = _stage_counts(cursor, points, by_channel)
        # Leads who never bought have no channel: a channel cannot choose the leads to count.
        paths = [path for path in PATHS if not (by_channel and path.from_stages == (Stage.LEAD.value,))]
        only_people = "AND e.profile_id IN (SELECT profile FROM lc_flow_people)" if by_channel else ""
        cursor.execute(_CONVERSIONS_SQL.format(only_people=only_people), {
            "paths": [path.name for path in paths], "since": scope.since, "until": scope.until})
        found = {name: (entered, converted, median) for name, entered, converted, median in cursor.fetchall()}
    conversions = []
    for path in PATHS:
        if path not in paths:
            conversions.append(Conversion(path, None, None, None, unavailable=(
                "Leads who never bought have no channel: a channel cannot choose the leads to count.")))
            continue
        entered, converted, median = found.get(path.name, (0, 0, None))
        conversions.append(Conversion(path, entered, converted, None if median is None else float(median)))
    flow = tuple(FlowPoint(at, stages) for at, stages in zip(points, counts))
    return StageFlow(scope, interval, flow, tuple(conversions))
