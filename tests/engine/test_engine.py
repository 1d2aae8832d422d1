from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from lifecycle_plugin import hookimpl
from lifecycle_plugin.engine import SKIP, LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import (
    ActionLedgerEntry,
    ActionStatus,
    CustomerProfile,
    HookFailure,
    ScheduledAction,
    StageTransition,
    TierChange,
)
from lifecycle_plugin.rules import LifecycleConfig, OrderState

from lifecycle_plugin.testing import MemoryHost

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


class Recorder:
    """A hook plugin that records every call it receives."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def lifecycle_stage_changed(self, context, change):
        self.calls.append(("stage", change.from_stage, change.to_stage, change.reason, change.occurred_at))

    @hookimpl
    def lifecycle_tier_changed(self, change):
        self.calls.append(("tier", change.from_tier, change.to_tier, change.upgrade))

    @hookimpl
    def lifecycle_order_counted(self, order, win_back):
        self.calls.append(("counted", order.order_id, win_back))

    @hookimpl
    def lifecycle_order_fulfilled(self, order):
        self.calls.append(("fulfilled", order.order_id))


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def host():
    return MemoryHost()


@pytest.fixture
def recorder():
    return Recorder()


def make_engine(host, clock, *plugins, config=None):
    pm = make_plugin_manager(builtins=[], load_entry_points=False, extra=plugins)
    return LifecycleEngine(host, config or LifecycleConfig(), plugin_manager=pm, clock=clock)


def account(email="ann@example.com"):
    return User.objects.create(username=email, email=email)


def stages(profile):
    return list(profile.transitions.order_by("occurred_at", "id").values_list("from_stage", "to_stage", "reason"))


def test_first_order_of_a_registered_customer(host, clock, recorder):
    user = account()
    ref = host.register("ann@example.com", user.pk, T0)
    engine = make_engine(host, clock, recorder)
    engine.process(ref, event="account_created")
    host.order("ann@example.com", T0)
    outcome = engine.process(ref, event="order_created")

    profile = CustomerProfile.objects.get(user=user)
    assert (profile.stage, profile.orders_count) == ("new", 1)
    assert stages(profile) == [(None, "lead", "event"), ("lead", "new", "event")]
    assert profile.transitions.last().rule == "new:one_order"
    assert outcome.stage_changes[0].to_stage == "new"
    assert ("counted", "1", False) in recorder.calls
    assert host.projections[-1].stage == "new"
    assert profile.next_check_at == T0 + timedelta(days=90)


def test_replayed_events_change_nothing_twice(host, clock, recorder):
    host.order("guest@example.com", T0)
    engine = make_engine(host, clock, recorder)
    ref = CustomerRef("guest@example.com")
    for _ in range(3):
        engine.process(ref, event="order_fully_paid")
    profile = CustomerProfile.objects.get(email="guest@example.com")
    assert stages(profile) == [(None, "new", "event")]
    assert [c for c in recorder.calls if c[0] == "counted"] == [("counted", "1", False)]
    assert profile.version == 3


def test_time_moves_are_recorded_at_the_exact_moment(host, clock, recorder):
    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, recorder)
    engine.process(CustomerRef("ann@example.com"))
    clock.advance(days=400)  # the sweep ran late: both moves happened meanwhile
    report = engine.sweep()
    profile = CustomerProfile.objects.get()
    assert report.stage_changes == 2
    moves = list(profile.transitions.values_list("to_stage", "occurred_at", "reason", "rule"))
    assert moves[1:] == [
        ("at_risk", T0 + timedelta(days=90), "time", "at_risk:no_order_for_at_risk_days"),
        ("lapsed", T0 + timedelta(days=180), "time", "lapsed:no_order_for_lapsed_days"),
    ]
    assert profile.stage == "lapsed" and profile.next_check_at is None
    assert engine.sweep().profiles == 0  # nothing due any more


def test_win_back_order(host, clock, recorder):
    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, recorder)
    ref = CustomerRef("ann@example.com")
    engine.process(ref)
    clock.advance(days=200)
    engine.sweep()
    host.order("ann@example.com", clock.now)
    engine.process(ref, event="order_created")
    profile = CustomerProfile.objects.get()
    last = profile.transitions.last()
    assert (last.from_stage, last.to_stage, last.reason) == ("lapsed", "repeat", "win_back")
    assert ("counted", "2", True) in recorder.calls


def test_an_event_after_a_missed_sweep_replays_time_first(host, clock):
    host.order("ann@example.com", T0)
    engine = make_engine(host, clock)
    ref = CustomerRef("ann@example.com")
    engine.process(ref)
    clock.advance(days=100)  # at risk since day 90, the sweep has not run
    host.order("ann@example.com", clock.now)
    engine.process(ref, event="order_created")
    profile = CustomerProfile.objects.get()
    assert stages(profile) == [(None, "new", "event"), ("new", "at_risk", "time"), ("at_risk", "repeat", "win_back")]


def test_cancelled_and_refunded_orders_do_not_count(host, clock):
    order = host.order("ann@example.com", T0)
    engine = make_engine(host, clock)
    ref = CustomerRef("ann@example.com")
    engine.process(ref)
    host.update_order("ann@example.com", order.order_id, state=OrderState.CANCELLED)
    engine.process(ref, event="order_cancelled")
    profile = CustomerProfile.objects.get()
    assert (profile.stage, profile.orders_count) == ("visitor", 0)
    second = host.order("ann@example.com", T0)
    host.update_order("ann@example.com", second.order_id, refunded=Decimal("50"))
    engine.process(ref, event="order_fully_refunded")
    assert CustomerProfile.objects.get().stage == "visitor"


def test_tier_upgrade_and_downgrade(host, clock, recorder):
    host.order("ann@example.com", T0, total="600")
    engine = make_engine(host, clock, recorder)
    ref = CustomerRef("ann@example.com")
    engine.process(ref)
    assert CustomerProfile.objects.get().tier == "silver"
    host.order("ann@example.com", T0 + timedelta(days=10), total="1000")
    clock.advance(days=10)
    engine.process(ref)
    profile = CustomerProfile.objects.get()
    assert profile.tier == "gold"
    assert ("tier", "silver", "gold", True) in recorder.calls
    clock.advance(days=400)
    engine.sweep()
    tiers = list(TierChange.objects.values_list("from_tier", "to_tier", "occurred_at"))
    assert tiers[-2:] == [
        ("gold", "silver", T0 + timedelta(days=365)),  # the first order left the window
        ("silver", None, T0 + timedelta(days=375)),
    ]


def test_a_raising_hook_is_isolated(host, clock, recorder):
    class Broken:
        @hookimpl
        def lifecycle_stage_changed(self, context, change):
            context.enqueue("should_be_rolled_back", key="x")
            raise RuntimeError("boom")

    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, recorder, Broken())
    outcome = engine.process(CustomerRef("ann@example.com"))
    assert outcome.stage == "new"
    assert any(c[0] == "stage" for c in recorder.calls)  # the other plugin still ran
    failure = HookFailure.objects.get()
    assert failure.hook == "lifecycle_stage_changed" and "boom" in failure.error
    assert failure.profile_id == CustomerProfile.objects.get(email="ann@example.com").pk  # whose event failed
    assert not ActionLedgerEntry.objects.filter(action="should_be_rolled_back").exists()


def test_enqueued_actions_run_once(host, clock, django_capture_on_commit_callbacks):
    runs = []

    class Voucher:
        @hookimpl
        def lifecycle_stage_changed(self, context, change):
            if change.to_stage == "new":
                context.enqueue("welcome", key="first")

        @hookimpl
        def lifecycle_run_action(self, context, entry):
            if entry.action == "welcome":
                runs.append(entry.dedupe_key)
                return {"sent": True}

    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, Voucher())
    ref = CustomerRef("ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        engine.process(ref)
    with django_capture_on_commit_callbacks(execute=True):
        engine.process(ref)  # replay: no second entry
    entry = ActionLedgerEntry.objects.get(action="welcome")
    assert entry.status == ActionStatus.DONE and entry.result == {"sent": True}
    assert len(runs) == 1
    assert engine.run_entries([entry.pk]) == 0  # a second worker finds it done


def test_failing_action_is_retried_then_succeeds(host, clock, django_capture_on_commit_callbacks):
    attempts = []

    class Flaky:
        @hookimpl
        def lifecycle_stage_changed(self, context, change):
            context.enqueue("flaky", key=change.to_stage)

        @hookimpl
        def lifecycle_run_action(self, entry):
            attempts.append(entry.attempts)
            if len(attempts) == 1:
                raise ConnectionError("smtp down")
            return {"ok": 1}

    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, Flaky())
    with django_capture_on_commit_callbacks(execute=True):
        engine.process(CustomerRef("ann@example.com"))
    entry = ActionLedgerEntry.objects.get(action="flaky")
    assert entry.status == ActionStatus.FAILED and "smtp down" in entry.last_error
    clock.advance(minutes=10)
    ActionLedgerEntry.objects.filter(pk=entry.pk).update(updated_at=clock.now - timedelta(minutes=6))
    assert engine.retry_failed_entries() == 1
    entry.refresh_from_db()
    assert entry.status == ActionStatus.DONE and attempts == [0, 1]


def test_scheduled_actions_run_when_due(host, clock):
    ran = []

    class Review:
        @hookimpl
        def lifecycle_order_fulfilled(self, context, order):
            context.schedule("review", key=order.order_id, due_at=order.fulfilled_at + timedelta(days=7))

        @hookimpl
        def lifecycle_run_action(self, entry):
            if entry.action == "review":
                ran.append(entry.dedupe_key)
                return SKIP if entry.payload.get("skip") else {"asked": True}

    host.order("ann@example.com", T0, fulfilled_at=T0 + timedelta(days=1))
    engine = make_engine(host, clock, Review())
    engine.process(CustomerRef("ann@example.com"))
    engine.process(CustomerRef("ann@example.com"))
    assert ScheduledAction.objects.count() == 1
    clock.advance(days=7)
    assert engine.run_due_actions() == 0
    clock.advance(days=1, seconds=1)
    assert engine.run_due_actions() == 1
    assert ScheduledAction.objects.get().status == ActionStatus.DONE
    assert len(ran) == 1


def test_orders_before_the_customer_was_first_seen_fire_no_order_hooks(host, clock, recorder):
    host.order("ann@example.com", T0 - timedelta(days=30), fulfilled_at=T0 - timedelta(days=29))
    engine = make_engine(host, clock, recorder)
    engine.process(CustomerRef("ann@example.com"))
    assert not [c for c in recorder.calls if c[0] in ("counted", "fulfilled")]


def test_guest_profile_is_linked_when_the_customer_registers(host, clock):
    host.order("ann@example.com", T0)
    engine = make_engine(host, clock)
    engine.process(CustomerRef("ann@example.com"))
    user = account()
    ref = host.register("ann@example.com", user.pk, T0)
    engine.process(ref, event="account_created")
    profile = CustomerProfile.objects.get()
    assert profile.user_id == user.pk and profile.stage == "new"


def test_forget_deletes_everything(host, clock):
    host.order("ann@example.com", T0)
    engine = make_engine(host, clock)
    engine.process(CustomerRef("ann@example.com"))
    assert engine.forget(CustomerRef("ann@example.com")) > 1
    assert not CustomerProfile.objects.exists() and not StageTransition.objects.exists()


def test_backfill_then_events_and_a_second_backfill(host, clock, recorder):
    for day in (0, 40, 80, 120):
        host.order("loyal@example.com", T0 + timedelta(days=day))
    host.order("once@example.com", T0 + timedelta(days=100))
    host.cart("cart@example.com", 2)
    host.order("old@example.com", T0 - timedelta(days=400))
    clock.advance(days=125)
    engine = make_engine(host, clock, recorder)
    report = backfill(engine, chunk_size=2)
    assert report.customers == 4 and report.created == 4
    got = dict(CustomerProfile.objects.values_list("email", "stage"))
    assert got == {
        "loyal@example.com": "loyal",
        "once@example.com": "new",
        "cart@example.com": "prospect",
        "old@example.com": "lapsed",
    }
    assert set(StageTransition.objects.values_list("reason", flat=True)) == {"backfill"}
    assert recorder.calls == []  # history fires no hooks
    again = backfill(engine, chunk_size=3)
    assert again.updated == 4 and again.unchanged == 4 and again.stage_changes == 0
    assert StageTransition.objects.count() == 4


def test_backfill_dry_run_writes_nothing(host, clock):
    host.order("a@example.com", T0)
    report = backfill(make_engine(host, clock), dry_run=True)
    assert report.stage_counts == {"new": 1}
    assert not CustomerProfile.objects.exists()


def test_backfill_redoes_a_profile_changed_meanwhile(host, clock, monkeypatch):
    host.order("a@example.com", T0)
    engine = make_engine(host, clock)
    engine.process(CustomerRef("a@example.com"))
    host.order("a@example.com", T0 + timedelta(hours=1))
    clock.advance(hours=2)
    original = engine.read_facts

    def read_facts_with_a_concurrent_event(customers):
        facts = original(customers)
        CustomerProfile.objects.update(version=99)  # another worker wrote meanwhile
        return facts

    monkeypatch.setattr(engine, "read_facts", read_facts_with_a_concurrent_event)
    report = backfill(engine)
    assert report.conflicts == 1
    profile = CustomerProfile.objects.get()
    assert profile.stage == "repeat" and profile.orders_count == 2


def test_hook_contributed_facts_and_classification(host, clock):
    import dataclasses

    class Advocate:
        @hookimpl
        def lifecycle_collect_facts(self, customers):
            return {c: {"reviews_written": 5} for c in customers}

        @hookimpl
        def lifecycle_classify(self, facts, decision):
            if facts.extra.get("reviews_written", 0) >= 5 and decision.stage == "new":
                return dataclasses.replace(decision, stage="advocate", rule="advocate:reviews")

    host.order("a@example.com", T0)
    engine = make_engine(host, clock, Advocate())
    engine.process(CustomerRef("a@example.com"))
    profile = CustomerProfile.objects.get()
    assert profile.stage == "advocate" and profile.extra_facts == {"reviews_written": 5}
    assert profile.transitions.get().rule == "advocate:reviews"


def test_a_guest_known_only_from_an_empty_checkout_is_a_visitor(host, clock):
    host.cart("window@example.com", 0)
    engine = make_engine(host, clock)
    engine.process(CustomerRef("window@example.com"), event="checkout_created")
    assert CustomerProfile.objects.get().stage == "visitor"
    CustomerProfile.objects.all().delete()
    assert backfill(engine).stage_counts == {"visitor": 1}


def test_an_order_reported_after_a_due_check_is_an_event(host, clock, recorder):
    host.order("ann@example.com", T0)
    engine = make_engine(host, clock, recorder)
    ref = CustomerRef("ann@example.com")
    engine.process(ref)
    clock.advance(days=120)  # at risk since day 90; an order on day 80 is reported only now
    host.order("ann@example.com", T0 + timedelta(days=80))
    engine.process(ref, event="order_created")
    profile = CustomerProfile.objects.get()
    assert stages(profile) == [(None, "new", "event"), ("new", "repeat", "event")]
    assert ("counted", "2", False) in recorder.calls
