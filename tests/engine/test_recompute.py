"""Recompute after a settings change: the right customers move, with the reason
``settings_change``, quietly unless `recompute_actions` is on; scope by what changed;
one open run; resumable chunks; progress against plain SQL counts."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from lifecycle_plugin import hookimpl
from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.engine.recompute import (
    CHUNK_BUDGET,
    PROGRESS_EVERY,
    SMALLEST_CHUNK,
    next_chunk_size,
    request_recompute,
    run_recompute,
    scope_of,
    status,
)
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import CustomerProfile, RecomputeRun, StageTransition, TierChange
from lifecycle_plugin.rules import LifecycleConfig
from lifecycle_plugin.rules.config import Tier
from lifecycle_plugin.sandbox.host import SandboxHost
from tests.contract.test_sandbox_host import SandboxStoreAdapter

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
DAY = timedelta(days=1)
OLD = LifecycleConfig()
NEW = dataclasses.replace(OLD, at_risk_days=60)


class Recorder:
    def __init__(self):
        self.stage_changes, self.tier_changes = [], []

    @hookimpl
    def lifecycle_stage_changed(self, context, change):
        self.stage_changes.append((context.profile.customer.email, change.to_stage, change.reason))

    @hookimpl
    def lifecycle_tier_changed(self, context, change):
        self.tier_changes.append((context.profile.customer.email, change.to_tier, change.reason))


def engine(config=OLD, recorder=None, **settings):
    pm = make_plugin_manager(builtins=[], load_entry_points=False, extra=[recorder] if recorder else [])
    return LifecycleEngine(SandboxHost(), config, plugin_manager=pm, clock=lambda: NOW, settings=settings)


@pytest.fixture
def store(db):
    store = SandboxStoreAdapter()
    for days in (10, 70, 75, 100, 200):  # days since their one order
        store.order(f"d{days}@example.com", placed_at=NOW - days * DAY)
    store.account("lead@example.com")
    backfill(engine())
    return store


def stages():
    return dict(CustomerProfile.objects.values_list("email", "stage"))


def test_a_lower_at_risk_threshold_moves_the_customers_between_60_and_90_days_quietly(store):
    recorder = Recorder()
    before = stages()
    run = request_recompute(OLD, NEW, now=NOW)
    assert run.scope == "buyers" and run.changed == ["at_risk_days"]

    done = run_recompute(engine(NEW, recorder), chunk_size=2)

    after = stages()
    assert {email for email in after if after[email] != before[email]} == {"d70@example.com", "d75@example.com"}
    assert after["d70@example.com"] == "at_risk" and after["d10@example.com"] == "new"
    moves = StageTransition.objects.filter(reason=StageTransition.REASON_SETTINGS_CHANGE)
    assert sorted(moves.values_list("profile__email", "from_stage", "to_stage", "occurred_at")) == [
        ("d70@example.com", "new", "at_risk", NOW), ("d75@example.com", "new", "at_risk", NOW)]
    assert recorder.stage_changes == []  # quiet by default
    # Progress against plain SQL: every profile with counted orders, the two that moved.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile WHERE orders_count > 0")
        buyers = cursor.fetchone()[0]
    assert (done.state, done.done, done.total, done.moved, done.eta_seconds) == ("done", buyers, buyers, 2, 0)
    # The next check follows the new threshold for those not moved.
    d10 = CustomerProfile.objects.get(email="d10@example.com")
    assert d10.next_check_at == NOW - 10 * DAY + 60 * DAY


def test_a_higher_threshold_brings_customers_back_as_a_settings_change_not_a_win_back(store):
    # At 90 days, d100 is at risk; at 120 days it is a new buyer again. No order came in:
    # the settings moved it, so it is no win-back (which would count in the win-back
    # conversions and fire the win-back action's order hooks) and stays quiet.
    recorder = Recorder()
    assert stages()["d100@example.com"] == "at_risk"
    request_recompute(OLD, dataclasses.replace(OLD, at_risk_days=120), now=NOW)
    run_recompute(engine(dataclasses.replace(OLD, at_risk_days=120), recorder))
    assert stages()["d100@example.com"] == "new"
    move = StageTransition.objects.filter(profile__email="d100@example.com").latest("occurred_at")
    assert (move.from_stage, move.to_stage, move.reason) == ("at_risk", "new", StageTransition.REASON_SETTINGS_CHANGE)
    assert recorder.stage_changes == []


def test_the_owner_can_have_actions_run_for_settings_moves(store):
    recorder = Recorder()
    request_recompute(OLD, NEW, now=NOW)
    run_recompute(engine(NEW, recorder, recompute_actions=True))
    assert sorted(recorder.stage_changes) == [("d70@example.com", "at_risk", "settings_change"),
                                              ("d75@example.com", "at_risk", "settings_change")]


def test_only_the_tier_table_changed_looks_at_customers_with_spend_only(store):
    tiers = (Tier("bronze", {"USD": Decimal("10")}),)
    new = dataclasses.replace(OLD, tiers=tiers)
    run = request_recompute(OLD, new, now=NOW)
    assert run.scope == "tiers"
    recorder = Recorder()
    done = run_recompute(engine(new, recorder))
    with connection.cursor() as cursor:  # spend in the window or a tier: the buyers of the last 365 days
        cursor.execute("""SELECT count(*) FROM lifecycle_plugin_customerprofile
                          WHERE tier IS NOT NULL OR window_spend <> '{}'::jsonb""")
        in_scope = cursor.fetchone()[0]
    assert done.total == in_scope == 5  # not the lead
    assert set(TierChange.objects.filter(reason="settings_change").values_list("profile__email", flat=True)) == {
        f"d{days}@example.com" for days in (10, 70, 75, 100, 200)}
    assert recorder.tier_changes == []


def test_nothing_a_decision_depends_on_changed_opens_no_run(store):
    assert request_recompute(OLD, dataclasses.replace(OLD), now=NOW) is None
    assert scope_of(["hook_timeout_seconds"]) is None and scope_of(["count_only_paid", "tiers"]) == "all"


def test_two_requests_make_one_run_of_the_wider_scope(store):
    first = request_recompute(OLD, dataclasses.replace(OLD, tiers=OLD.tiers[:1]), now=NOW)
    second = request_recompute(OLD, NEW, now=NOW)
    assert first.pk == second.pk and RecomputeRun.objects.count() == 1
    assert second.scope == "buyers" and set(second.changed) == {"tiers", "at_risk_days"}


def test_a_run_stopped_halfway_resumes_to_the_same_result(store):
    request_recompute(OLD, NEW, now=NOW)
    partial = run_recompute(engine(NEW), chunk_size=2, max_chunks=1)
    assert partial.state == "running" and 0 < partial.done < partial.total
    finished = run_recompute(engine(NEW), chunk_size=2)
    assert finished.state == "done" and finished.done == finished.total == 5
    assert StageTransition.objects.filter(reason="settings_change").count() == 2
    assert stages()["d75@example.com"] == "at_risk"


def test_a_newer_request_restarts_the_run_and_the_old_worker_stops(store):
    request_recompute(OLD, NEW, now=NOW)
    run_recompute(engine(NEW), chunk_size=2, max_chunks=1)
    newer = dataclasses.replace(NEW, at_risk_days=50)
    run = request_recompute(NEW, newer, now=NOW)
    assert run.done == 0 and run.generation == 1
    assert status().done == 0
    run_recompute(engine(newer))
    assert status().state == "done"


def test_a_second_worker_leaves_a_run_another_worker_holds(store):
    import psycopg

    request_recompute(OLD, NEW, now=NOW)
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                         dbname=db["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended('lifecycle_plugin.recompute', 0))")
        assert run_recompute(engine(NEW)) is None  # the other worker is on it
        assert status().done == 0
        other.execute("SELECT pg_advisory_unlock(hashtextextended('lifecycle_plugin.recompute', 0))")
        assert run_recompute(engine(NEW)).state == "done"  # released: this worker takes the run


def test_chunks_are_sized_to_leave_room_for_a_slower_one():
    budget = CHUNK_BUDGET.total_seconds()
    assert budget <= PROGRESS_EVERY.total_seconds() / 4  # a chunk three times slower still reports in time
    # Over the budget: cut in proportion at once, not halved over several late reports.
    assert next_chunk_size(4000, budget * 4, 4000) == 1000
    assert next_chunk_size(4000, budget * 1.25, 4000) == 3200
    # Under half of it: doubled, up to the largest chunk.
    assert next_chunk_size(1000, budget / 4, 4000) == 2000
    assert next_chunk_size(3000, budget / 4, 4000) == 4000
    # Between half and all of it: kept.
    assert next_chunk_size(3000, budget * 0.75, 4000) == 3000
    # Never below SMALLEST_CHUNK, and never grown by a cut when the caller's chunks are smaller.
    assert next_chunk_size(400, budget * 100, 4000) == SMALLEST_CHUNK
    assert next_chunk_size(2, budget * 100, 2) == 2
