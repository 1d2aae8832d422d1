"""The stage flow's rollups (hourly stage changes and path entries, kept by triggers on the
history table) stay equal to what the history says through every kind of write: rows
added one by one, in bulk, out of order, at one moment; a merge moving rows between
profiles; a profile deleted; a row edited or removed from the middle; the table truncated;
and the daily fold. Each time the flow, read through the rollups at points inside hours as
well as on them, is checked against plain SQL and a Python reading of the history rows."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection

from lifecycle_plugin.engine import stage_flow as stage_flow_module
from lifecycle_plugin.engine import stage_flow_rollups
from lifecycle_plugin.engine.identity import merge_into
from lifecycle_plugin.engine.stage_flow_rollups import fold_stage_count_changes
from lifecycle_plugin.models import CustomerProfile, StageCountChange, StageEntry, StageTransition

from .test_stage_flow import PATHS, at, counts, expected_conversion, flow, history_rows, stage_counts_at, write_history

MIGRATION = __import__("lifecycle_plugin.migrations.0017_stage_flow_rollups", fromlist=["PATHS"])


def assert_flow_matches_history(engine, since: datetime, until: datetime, interval: str = "DAY") -> None:
    data = flow(engine, since=since.isoformat(), until=until.isoformat(), interval=interval)
    assert len(data["points"]) > 2
    for point in data["points"]:
        assert counts(point) == dict(stage_counts_at(datetime.fromisoformat(point["at"]), None)), point["at"]
    rows = history_rows()
    for conversion in data["conversions"]:
        from_stages, to_stages = PATHS[conversion["name"]]
        entered, converted, median = expected_conversion(rows, from_stages, to_stages, None, since, until)
        assert (conversion["entered"], conversion["converted"]) == (entered, converted), conversion["name"]
        assert conversion["medianDays"] == (None if median is None else pytest.approx(median)), conversion["name"]


def assert_rollups_match_history(engine) -> None:
    """Every summed change equals the last stage of each profile with history; the flow over
    January to April 2026 (daily points at 07:30:00.5, so inside an hour, and weekly points
    at midnight, on some moves' exact moment) equals the history read directly."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT stage, sum(delta) FROM {StageCountChange._meta.db_table} "
                       "GROUP BY stage HAVING sum(delta) <> 0")
        summed = dict(cursor.fetchall())
    assert summed == dict(stage_counts_at(datetime(2100, 1, 1, tzinfo=at(1, 1).tzinfo), None))
    assert_flow_matches_history(engine, at(1, 1) + timedelta(hours=7, minutes=30, microseconds=500000), at(4, 1))
    assert_flow_matches_history(engine, at(12, 1, 2025), at(4, 15), "WEEK")


def write_people() -> None:
    write_history("ann@example.com", ("lead", at(12, 1, 2025)), ("new", at(2, 1)), ("repeat", at(3, 11)))
    write_history("bob@example.com", ("lead", at(2, 15)), ("new", at(3, 20)))
    write_history("cat@example.com", ("new", at(6, 1, 2025)), ("at_risk", at(9, 1, 2025)), ("lapsed", at(1, 10)),
                  ("repeat", at(2, 20), "win_back"))
    write_history("gus@example.com", ("new", at(1, 2)), ("repeat", at(1, 12), "settings_change"),
                  ("loyal", at(3, 2)))
    write_history("hal@example.com", ("lead", at(1, 5)), ("new", at(1, 5)))  # two moves at one moment


def profile(email: str) -> CustomerProfile:
    return CustomerProfile.objects.get(email=email)


def test_the_migration_freezes_the_engines_conversion_paths_and_setting():
    assert MIGRATION.PATHS == tuple((p.name, p.from_stages, p.to_stages) for p in stage_flow_module.PATHS)
    assert MIGRATION.NEW_PROFILES_SETTING == stage_flow_rollups.NEW_PROFILES_SETTING


def test_new_profiles_history_declared_as_such_is_rolled_up_alike(store, engine):
    """The backfill's declaration (one statement writing profiles' first history rows) skips
    looking for earlier rows: the same rollups result."""
    write_people()
    rows = list(StageTransition.objects.order_by("id"))
    StageTransition.objects.all().delete()
    assert not StageEntry.objects.exists()
    for row in rows:
        row.pk = None
    with connection.cursor() as cursor, stage_flow_rollups.history_of_new_profiles(cursor):
        StageTransition.objects.bulk_create(rows)
        cursor.execute("SELECT current_setting(%s, true)", [stage_flow_rollups.NEW_PROFILES_SETTING])
        assert cursor.fetchone()[0] == "on"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [stage_flow_rollups.NEW_PROFILES_SETTING])
        assert cursor.fetchone()[0] == "off"
    assert_rollups_match_history(engine)


def test_rows_written_one_by_one_are_rolled_up(store, engine):
    write_people()
    assert StageEntry.objects.filter(path="lead_to_new").count() == 3  # ann, bob and hal
    assert_rollups_match_history(engine)


def test_a_move_written_before_others_in_bulk_and_at_an_existing_moment(store, engine):
    write_people()
    ann, bob = profile("ann@example.com"), profile("bob@example.com")
    StageTransition.objects.bulk_create([
        # before ann's move to repeat: her repeat now ends an at-risk spell, not a new one
        StageTransition(profile=ann, from_stage="new", to_stage="at_risk", occurred_at=at(2, 20, 2026) +
                        timedelta(hours=7, minutes=45), reason="time", rule="test"),
        # at bob's very moment of moving to new: the row id breaks the tie
        StageTransition(profile=bob, from_stage="new", to_stage="repeat", occurred_at=at(3, 20), reason="event",
                        rule="test"),
        StageTransition(profile=bob, from_stage="repeat", to_stage="loyal", occurred_at=at(3, 25, 2026) +
                        timedelta(minutes=1), reason="event", rule="test"),
    ])
    assert_rollups_match_history(engine)


def test_a_merge_moves_one_profiles_history_into_another(store, engine):
    write_people()
    merge_into(profile("ann@example.com"), profile("bob@example.com"))
    assert not CustomerProfile.objects.filter(email="bob@example.com").exists()
    assert StageTransition.objects.filter(profile=profile("ann@example.com")).count() == 5
    assert_rollups_match_history(engine)


def test_a_deleted_profile_and_a_row_taken_out_or_edited_in_the_middle(store, engine):
    write_people()
    profile("cat@example.com").delete()
    gus = profile("gus@example.com")
    StageTransition.objects.filter(profile=gus, to_stage="repeat").delete()
    StageTransition.objects.filter(profile=profile("ann@example.com"), to_stage="new").update(
        to_stage="prospect", occurred_at=at(2, 3, 2026) + timedelta(minutes=30))
    assert_rollups_match_history(engine)


def test_truncating_the_history_empties_the_rollups(store, engine):
    write_people()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as the sandbox's generator does before it
        cursor.execute(f"TRUNCATE {StageTransition._meta.db_table}")
    assert not StageCountChange.objects.exists() and not StageEntry.objects.exists()


def test_the_daily_fold_leaves_one_row_per_hour_and_stage_and_the_same_flow(store, engine):
    write_people()
    merge_into(profile("ann@example.com"), profile("hal@example.com"))
    rows = StageCountChange.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM (SELECT DISTINCT hour, stage FROM {StageCountChange._meta.db_table} "
                       f"GROUP BY hour, stage HAVING sum(delta) <> 0) kept")
        kept = cursor.fetchone()[0]
    assert rows > kept
    assert fold_stage_count_changes() == rows - kept
    assert StageCountChange.objects.count() == kept
    assert fold_stage_count_changes() == 0
    assert_rollups_match_history(engine)


def test_points_corrected_from_either_side_of_their_hour(store, engine):
    """A point with more moves at its moment than after it in its hour is counted from the
    hour's end, taking away the later moves; one with fewer, from the hour's start."""
    write_people()
    midnight = at(2, 1)
    write_history("ivy@example.com", ("lead", at(1, 20)), ("new", midnight))
    write_history("lee@example.com", ("lead", midnight))
    write_history("jon@example.com", ("new", at(1, 3)), ("repeat", midnight + timedelta(minutes=20)))
    write_history("kim@example.com", ("new", midnight + timedelta(minutes=59, seconds=59, microseconds=999999)),
                  ("repeat", midnight + timedelta(hours=1)))  # the next hour's: not the point's to take away
    for since in (midnight, midnight + timedelta(minutes=20), midnight + timedelta(minutes=30)):
        assert_flow_matches_history(engine, since - timedelta(days=2), since + timedelta(days=1), "DAY")
    assert_rollups_match_history(engine)
