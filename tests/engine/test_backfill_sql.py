"""The backfill's SQL path on the sandbox: history dated from the orders, the same result as
the Python evaluator's reconstruction, existing profiles left to the Python path, idempotent,
silent, and the fallback to Python named in the report."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from lifecycle_plugin import hookimpl
from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.engine.deletion import record
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile, StageTransition, TierChange
from lifecycle_plugin.rules.timeline import reconstruct
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import CustomerMetadata, OutboxMessage
from tests.contract.ladder_sources_contract import a_mixed_store
from tests.contract.test_sandbox_host import SandboxStoreAdapter

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
DAY = timedelta(days=1)


@pytest.fixture
def store(db):
    return SandboxStoreAdapter()


def engine(*, builtins=None, extra=()):
    pm = make_plugin_manager(builtins=builtins, load_entry_points=False, extra=extra)
    return LifecycleEngine(SandboxHost(), plugin_manager=pm, clock=lambda: NOW)


def history(email):
    return [(t.from_stage, t.to_stage, t.reason, t.occurred_at)
            for t in StageTransition.objects.filter(profile__email=email).order_by("occurred_at", "id")]


def test_a_customer_quiet_for_400_days_is_lapsed_since_the_day_it_took_effect(store):
    placed = NOW - 400 * DAY
    store.order("quiet@example.com", placed_at=placed)

    report = backfill(engine(builtins=[]))

    assert report.path == "sql" and report.created == 1
    profile = CustomerProfile.objects.get(email="quiet@example.com")
    assert profile.stage == "lapsed" and profile.stage_since == placed + 180 * DAY
    assert history("quiet@example.com") == [
        (None, "new", "event", placed),
        ("new", "at_risk", "time", placed + 90 * DAY),
        ("at_risk", "lapsed", "time", placed + 180 * DAY),
    ]


def test_a_2024_repeat_buyer_moved_to_repeat_on_the_second_order(store):
    first, second = datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 4, 20, tzinfo=timezone.utc)
    user_id = store.account("twice@example.com", joined=first - DAY)
    store.order("twice@example.com", user_id=user_id, placed_at=first)
    store.order("twice@example.com", user_id=user_id, placed_at=second)

    backfill(engine(builtins=[]))

    moves = history("twice@example.com")
    assert moves[:2] == [(None, "new", "event", first), ("new", "repeat", "event", second)]
    assert moves[-1][1] == "lapsed" and CustomerProfile.objects.get(email="twice@example.com").stage == "lapsed"
    assert store.public_metadata(user_id)["lifecycle.stage"] == "lapsed"  # the projection, written too
    assert json.loads(store.private_metadata(user_id)["lifecycle.profile"])["orders"] == 2


def test_the_sql_path_writes_what_the_python_reconstruction_says(store):
    a_mixed_store(store)
    host = SandboxHost()
    customers = [ref for chunk in host.customer_chunks(100) for ref in chunk]

    backfill(engine(builtins=[]))

    facts = engine(builtins=[]).read_facts(customers)
    profiles = {p.email: p for p in CustomerProfile.objects.all()}
    assert set(profiles) == {ref.email for ref in customers}
    for ref in customers:
        timeline = reconstruct(facts[ref], engine(builtins=[]).config, NOW)
        profile, decision = profiles[ref.email], timeline.decision
        assert (profile.stage, profile.stage_rule, profile.tier, profile.next_check_at, profile.user_id) == (
            decision.stage.value, decision.rule, decision.tier, decision.next_change_at, ref.user_id), ref
        assert profile.stage_since == timeline.since
        assert history(ref.email) == [(m.from_stage and m.from_stage.value, m.to_stage.value, m.reason, m.at)
                                      for m in timeline.stage_moves]
        tiers = [(t.from_tier, t.to_tier, t.reason, t.occurred_at)
                 for t in TierChange.objects.filter(profile=profile).order_by("occurred_at", "id")]
        assert tiers == [(m.from_tier, m.to_tier, m.reason, m.at) for m in timeline.tier_moves]


def test_existing_profiles_keep_their_history_and_a_rerun_writes_nothing_twice(store):
    store.order("known@example.com", placed_at=NOW - 30 * DAY)
    store.order("fresh@example.com", placed_at=NOW - 30 * DAY)
    lifecycle = engine(builtins=[])
    lifecycle.process(CustomerRef("known@example.com"), event="order_created")  # decided by the event path
    before = history("known@example.com")

    first = backfill(lifecycle)
    rows = StageTransition.objects.count()
    second = backfill(lifecycle)

    assert history("known@example.com") == before  # not rewritten, not duplicated
    assert [m[2] for m in history("fresh@example.com")] == ["event"]
    assert (first.path, first.created, first.unchanged) == ("sql", 1, 1)
    assert (second.created, second.unchanged) == (0, 2) and StageTransition.objects.count() == rows


def test_reconstructed_moves_fire_no_action(store):
    for days in (400, 300, 200, 100, 10):
        store.order("busy@example.com", placed_at=NOW - days * DAY, total="900.00",
                    user_id=None)
    backfill(engine())  # the built-in actions installed
    assert len(history("busy@example.com")) > 3
    assert not ActionLedgerEntry.objects.exists() and not OutboxMessage.objects.exists()


def test_a_deleted_customer_is_decided_without_what_predates_the_deletion(store):
    store.order("gone@example.com", placed_at=NOW - 50 * DAY)
    record(["gone@example.com"], None, at=NOW - 20 * DAY)
    store.order("gone@example.com", placed_at=NOW - 5 * DAY)

    backfill(engine(builtins=[]))

    profile = CustomerProfile.objects.get(email="gone@example.com")
    assert profile.orders_count == 1 and profile.stage == "new"
    assert [m[2] for m in history("gone@example.com")] == ["backfill"]  # the Python path's row


class Classifier:
    @hookimpl
    def lifecycle_classify(self, facts, decision):
        return None


def test_with_a_classify_hook_the_python_path_runs_and_says_why(store):
    store.order("old@example.com", placed_at=NOW - 400 * DAY)

    report = backfill(engine(builtins=[], extra=[Classifier()]))

    assert report.path == "python" and "lifecycle_classify" in report.path_reason
    assert history("old@example.com") == [(None, "lapsed", "backfill", NOW)]
    with pytest.raises(ValueError, match="lifecycle_classify"):
        backfill(engine(builtins=[], extra=[Classifier()]), evaluator="sql")


def test_a_profile_an_event_writes_meanwhile_is_left_to_the_event_path(store, monkeypatch):
    """Between the split and the write an order event decides one of the new customers: the
    backfill skips its profile (and the history drawn for the id it had reserved), redoes
    it one by one, and writes the others whole."""
    from lifecycle_plugin.engine import backfill_sql

    store.order("raced@example.com", placed_at=NOW - 300 * DAY)
    store.order("calm@example.com", placed_at=NOW - 300 * DAY)
    lifecycle = engine(builtins=[])
    split = backfill_sql._split

    def split_then_an_event(cursor, *args):
        split(cursor, *args)
        lifecycle.process(CustomerRef("raced@example.com"), event="order_created")

    monkeypatch.setattr(backfill_sql, "_split", split_then_an_event)
    report = backfill(lifecycle)

    assert (report.path, report.created, report.conflicts) == ("sql", 1, 1)
    raced = CustomerProfile.objects.get(email="raced@example.com")
    assert [m[2] for m in history("raced@example.com")] == ["event"]  # the event's, not a reconstruction
    assert StageTransition.objects.filter(profile=raced).count() == 1
    assert TierChange.objects.filter(profile=raced).count() <= 1
    assert [m[2] for m in history("calm@example.com")] == ["event", "time", "time"]
    assert CustomerProfile.objects.get(email="calm@example.com").stage == "lapsed"


class WithoutProjectionSql:
    """A host as the sandbox's but without `write_projection_sql` (as a third party's may be)."""

    def __init__(self, host):
        self._host = host

    def __getattr__(self, name):
        if name == "write_projection_sql":
            raise AttributeError(name)
        return getattr(self._host, name)


def test_the_projection_written_in_sql_is_what_the_python_projection_writes(store):
    """The hosts write the new accounts' projections from a SELECT (`write_projection_sql`);
    a host without that method gets them through `write_projection`: the same metadata
    (the summary's JSON text may order its keys differently; its content is the same)."""
    a_mixed_store(store)
    odd = store.account("odd-moment@example.com", joined=NOW - 90 * DAY)
    store.order("odd-moment@example.com", user_id=odd, placed_at=NOW - 30 * DAY + timedelta(microseconds=123456),
                total="1999.99")

    def projections():
        users = sorted(CustomerProfile.objects.exclude(user_id=None).values_list("user_id", flat=True))
        return {user: (store.public_metadata(user), json.loads(store.private_metadata(user)["lifecycle.profile"]))
                for user in users}

    backfill(engine(builtins=[]))
    in_sql = projections()
    CustomerProfile.objects.all().delete()
    CustomerMetadata.objects.all().delete()
    python_only = LifecycleEngine(WithoutProjectionSql(SandboxHost()), clock=lambda: NOW,
                                  plugin_manager=make_plugin_manager(builtins=[], load_entry_points=False))
    backfill(python_only)
    in_python = projections()

    assert len(in_sql) == 4
    assert in_sql == in_python
    assert in_sql[odd][1]["last_order_at"].endswith(".123456+00:00")
    assert any(summary["tier"] for _, summary in in_sql.values())
