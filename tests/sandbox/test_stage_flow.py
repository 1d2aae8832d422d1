"""lifecycleStageFlow: customers per stage at each point of a period and the conversions
between stages, checked against hand-derived figures over a history written row by row
(moves on a point's exact moment, customers first seen after a point, a win-back, a
settings change, two moves at one moment), and against plain SQL and a Python reading of
the history rows on a generated, backfilled store; bad input, permissions, an empty store."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.engine.stage_flow import boundaries, Interval
from lifecycle_plugin.graphql.execution import execute_graphql
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import CustomerProfile, StageTransition
from lifecycle_plugin.sandbox.generator import generate_store
from lifecycle_plugin.testing import MemoryHost

from .test_kpis import ORDERS_SQL

STAFF = Viewer.app(can_manage_users=True)
UTC = timezone.utc

FLOW = """query($since: DateTime!, $until: DateTime!, $interval: LifecycleFlowInterval!, $channel: String) {
  lifecycleStageFlow(since: $since, until: $until, interval: $interval, channel: $channel) {
    since until interval channel
    points { at total stages { stage { key } count } }
    conversions { name fromStages { key } toStages { key } entered converted rate medianDays unavailable }
  }
}"""


def run(engine, viewer=STAFF, **variables):
    return execute_graphql({"query": FLOW, "variables": variables}, viewer, engine_factory=lambda: engine)


def flow(engine, **variables) -> dict:
    body = run(engine, **variables)
    assert "errors" not in body, body["errors"]
    return body["data"]["lifecycleStageFlow"]


def counts(point: dict) -> dict:
    return {row["stage"]["key"]: row["count"] for row in point["stages"] if row["count"]}


def conversions(data: dict) -> dict:
    return {c["name"]: (c["entered"], c["converted"], c["medianDays"]) for c in data["conversions"]}


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def write_history(email: str, *moves: tuple) -> None:
    """A profile and its moves (to_stage, occurred_at[, reason]), from_stage chained."""
    last = moves[-1]
    profile = CustomerProfile.objects.create(email=email, stage=last[0], stage_since=last[1], stage_rule="test",
                                             history_cutoff=moves[0][1], decided_at=last[1])
    previous = None
    for stage, moment, *reason in moves:
        StageTransition.objects.create(profile=profile, from_stage=previous, to_stage=stage, occurred_at=moment,
                                       reason=reason[0] if reason else "event", rule="test")
        previous = stage


@pytest.fixture
def history(db):
    write_history("ann@example.com", ("lead", at(12, 1, 2025)), ("new", at(2, 1)), ("repeat", at(3, 11)))
    write_history("bob@example.com", ("lead", at(2, 15)), ("new", at(3, 20)))  # first seen after two points
    write_history("cat@example.com", ("new", at(6, 1, 2025)), ("at_risk", at(9, 1, 2025)), ("lapsed", at(1, 10)),
                  ("repeat", at(2, 20), "win_back"))
    write_history("dan@example.com", ("repeat", at(10, 1, 2025)), ("at_risk", at(1, 5)), ("lapsed", at(3, 5)))
    write_history("eve@example.com", ("new", at(10, 1, 2025)), ("at_risk", at(1, 20)),
                  ("repeat", at(2, 10), "win_back"))
    write_history("fay@example.com", ("repeat", at(11, 1, 2025)), ("loyal", at(1, 15), "settings_change"))
    write_history("gus@example.com", ("new", at(1, 2)), ("repeat", at(1, 12), "settings_change"),
                  ("loyal", at(3, 2)))
    write_history("hal@example.com", ("lead", at(1, 5)), ("new", at(1, 5)))  # two moves at one moment


def test_stage_counts_at_each_point_as_derived_by_hand(history, engine):
    data = flow(engine, since="2026-01-01T00:00:00Z", until="2026-04-01T00:00:00Z", interval="MONTH")
    assert [p["at"][:10] for p in data["points"]] == ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]
    assert [counts(p) for p in data["points"]] == [
        {"lead": 1, "new": 1, "repeat": 2, "at_risk": 1},  # gus, hal and bob not known yet
        # ann's move to new is at exactly 1 February: held at that point
        {"new": 2, "repeat": 1, "loyal": 1, "at_risk": 2, "lapsed": 1},
        {"lead": 1, "new": 2, "repeat": 3, "loyal": 1, "at_risk": 1},
        {"new": 2, "repeat": 3, "loyal": 2, "lapsed": 1},
    ]
    assert [p["total"] for p in data["points"]] == [5, 7, 8, 8]
    assert [row["stage"]["key"] for row in data["points"][0]["stages"]][:8] == [
        "visitor", "lead", "prospect", "new", "repeat", "loyal", "at_risk", "lapsed"]


def test_conversions_and_median_days_as_derived_by_hand(history, engine):
    data = flow(engine, since="2026-01-01T00:00:00Z", until="2026-04-01T00:00:00Z", interval="MONTH")
    assert conversions(data) == {
        "lead_to_new": (2, 2, 16.5),  # hal at once (0 days), bob 15 Feb -> 20 Mar (33)
        # ann 1 Feb -> 11 Mar (38), gus 2 Jan -> loyal 2 Mar (59; his settings-change repeat is not his move)
        "new_to_repeat": (4, 2, 48.5),
        "repeat_to_loyal": (3, 0, None),  # ann, cat and eve entered repeat; gus's repeat was a settings change
        "win_back": (2, 1, 21.0),  # dan and eve went dormant in the period (cat was dormant before); eve back in 21
    }
    rates = {c["name"]: c["rate"] for c in data["conversions"]}
    assert rates == {"lead_to_new": 1.0, "new_to_repeat": 0.5, "repeat_to_loyal": 0.0, "win_back": 0.5}
    win_back = data["conversions"][3]
    assert [s["key"] for s in win_back["fromStages"]] == ["at_risk", "lapsed"]
    assert [s["key"] for s in win_back["toStages"]] == ["new", "repeat", "loyal"]


def test_a_point_on_a_move_counts_it_as_lifecycle_stage_counts_does(history, engine):
    data = flow(engine, since="2026-02-01T00:00:00Z", until="2026-02-02T00:00:00Z", interval="DAY")
    body = execute_graphql({"query": 'query { lifecycleStageCounts(at: "2026-02-01T00:00:00Z") '
                                     "{ stage { key } count } }"}, STAFF, engine_factory=lambda: engine)
    assert counts(data["points"][0]) == {row["stage"]["key"]: row["count"]
                                         for row in body["data"]["lifecycleStageCounts"] if row["count"]}
    assert counts(data["points"][0])["new"] == 2  # ann, moved at that very moment
    just_before = flow(engine, since="2026-01-31T23:59:59.999999Z", until="2026-02-01T00:00:00Z", interval="DAY")
    assert counts(just_before["points"][0]).get("new", 0) == 1  # hal only
    assert counts(just_before["points"][1])["new"] == 2


def test_boundaries_keep_the_day_of_the_month_and_end_at_until():
    points = boundaries(at(1, 31), at(5, 15), Interval.MONTH)
    assert points == [at(1, 31), at(2, 28), at(3, 31), at(4, 30), at(5, 15)]
    assert boundaries(at(1, 1), at(1, 15), Interval.WEEK) == [at(1, 1), at(1, 8), at(1, 15)]
    assert boundaries(at(1, 1), at(2, 1), Interval.MONTH) == [at(1, 1), at(2, 1)]
    assert len(boundaries(at(1, 1), at(1, 1) + timedelta(days=999), Interval.DAY)) == 1000


# ---- a generated store, against plain SQL over its history and orders ----

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SINCE, UNTIL = at(9, 1, 2025), at(3, 1)


@pytest.fixture
def generated(store, engine):
    generate_store(customers=400, years=3, seed=5, now=NOW)
    backfill(engine)
    return engine


def history_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT profile_id, from_stage, to_stage, occurred_at, reason "
                       "FROM lifecycle_plugin_stagetransition ORDER BY profile_id, occurred_at, id")
        return cursor.fetchall()


def stage_counts_at(moment: datetime, people: set | None) -> Counter:
    with connection.cursor() as cursor:
        cursor.execute("""SELECT DISTINCT ON (profile_id) profile_id, to_stage FROM lifecycle_plugin_stagetransition
                          WHERE occurred_at <= %s ORDER BY profile_id, occurred_at DESC, id DESC""", [moment])
        return Counter(stage for profile, stage in cursor.fetchall() if people is None or profile in people)


def expected_conversion(rows, from_stages, to_stages, people, since=SINCE, until=UNTIL):
    """(entered, converted, median days) over [since, until), read from the history rows in Python."""
    by_profile: dict[int, list] = {}
    for row in rows:
        if people is None or row[0] in people:
            by_profile.setdefault(row[0], []).append(row)
    entered, days = 0, []
    for moves in by_profile.values():
        entry = next((i for i, (_, source, target, moment, reason) in enumerate(moves)
                      if target in from_stages and source not in from_stages and since <= moment < until
                      and reason != "settings_change"), None)
        if entry is None:
            continue
        entered += 1
        reached = next((m for _, _, target, m, reason in moves[entry + 1:]
                        if target in to_stages and reason != "settings_change" and m < until), None)
        if reached is not None:
            days.append((reached - moves[entry][3]).total_seconds() / 86400)
    return entered, len(days), statistics.median(days) if days else None


PATHS = {"lead_to_new": ({"lead"}, {"new", "repeat", "loyal"}), "new_to_repeat": ({"new"}, {"repeat", "loyal"}),
         "repeat_to_loyal": ({"repeat"}, {"loyal"}), "win_back": ({"at_risk", "lapsed"}, {"new", "repeat", "loyal"})}


def acquired_in(channel: str) -> set:
    """Profiles whose first counted order before UNTIL was in `channel`, from the sandbox's tables."""
    first: dict[int, tuple] = {}
    with connection.cursor() as cursor:
        cursor.execute(ORDERS_SQL)
        for profile, _, _, placed, _, slug, _ in cursor.fetchall():
            if placed < UNTIL and (profile not in first or placed < first[profile][0]):
                first[profile] = (placed, slug)
    return {profile for profile, (_, slug) in first.items() if slug == channel}


@pytest.mark.parametrize("channel", [None, "default-channel"])
def test_a_generated_store_matches_plain_sql_over_its_history(generated, channel):
    people = None if channel is None else acquired_in(channel)
    assert people is None or 0 < len(people) < CustomerProfile.objects.count()
    data = flow(generated, since=SINCE.isoformat(), until=UNTIL.isoformat(), interval="WEEK", channel=channel)
    assert len(data["points"]) == 27  # 26 weeks and 1 day, then until
    for point in data["points"]:
        expected = stage_counts_at(datetime.fromisoformat(point["at"]), people)
        assert counts(point) == dict(expected), point["at"]
        assert point["total"] == sum(expected.values())
    rows = history_rows()
    got = {c["name"]: c for c in data["conversions"]}
    for name, (from_stages, to_stages) in PATHS.items():
        if channel is not None and name == "lead_to_new":
            assert got[name]["entered"] is None and got[name]["unavailable"]
            continue
        entered, converted, median = expected_conversion(rows, from_stages, to_stages, people)
        assert (got[name]["entered"], got[name]["converted"]) == (entered, converted), name
        assert got[name]["medianDays"] == (None if median is None else pytest.approx(median)), name
    assert got["win_back"]["converted"] > 0 and got["new_to_repeat"]["converted"] > 0


# ---- bad input, permissions, empty store ----

PERIOD = {"since": "2026-01-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"}


def errors(body) -> list[tuple[str, str | None]]:
    return [(e["extensions"]["code"], e["extensions"].get("argument")) for e in body.get("errors", [])]


def test_an_empty_store_answers_zeros_and_nulls(store, engine):
    data = flow(engine, interval="WEEK", **PERIOD)
    assert all(p["total"] == 0 and not counts(p) for p in data["points"])
    assert [(c["entered"], c["converted"], c["rate"], c["medianDays"]) for c in data["conversions"]] == [
        (0, 0, None, None)] * 4


@pytest.mark.parametrize("variables, expected", [
    ({"since": "2026-06-01T00:00:00Z", "until": "2026-01-01T00:00:00Z", "interval": "DAY"}, ("BAD_USER_INPUT", "until")),
    ({"since": "2010-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z", "interval": "MONTH"},
     ("BAD_USER_INPUT", "until")),
    ({"since": "2022-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z", "interval": "DAY"},
     ("BAD_USER_INPUT", "interval")),
    ({**PERIOD, "interval": "DAY", "channel": "no-such-channel"}, ("BAD_USER_INPUT", "channel")),
    ({**PERIOD, "interval": "DAY", "channel": " "}, ("BAD_USER_INPUT", "channel")),
])
def test_bad_input_names_the_argument(store, engine, variables, expected):
    store.register("ann@example.com", at=at(1, 2))
    assert errors(run(engine, **variables)) == [expected]


@pytest.mark.parametrize("viewer, code", [
    (Viewer.customer(1, "ann@example.com"), "PERMISSION_DENIED"),
    (Viewer.staff(2, "clerk@example.com", can_manage_users=False), "PERMISSION_DENIED"),
    (Viewer.app(can_manage_users=False), "PERMISSION_DENIED"),
    (Viewer.anonymous(), "UNAUTHENTICATED"),
])
def test_only_staff_with_manage_users_may_read_it(store, engine, viewer, code):
    assert errors(run(engine, viewer=viewer, interval="DAY", **PERIOD)) == [(code, None)]


def test_a_host_without_sql_answers_without_a_channel_and_refuses_one(db, clock):
    engine = LifecycleEngine(MemoryHost(), clock=clock, plugin_manager=make_plugin_manager(load_entry_points=False))
    assert flow(engine, interval="MONTH", **PERIOD)["points"][0]["total"] == 0
    assert errors(run(engine, interval="MONTH", channel="default-channel", **PERIOD)) == [("UNAVAILABLE", None)]
