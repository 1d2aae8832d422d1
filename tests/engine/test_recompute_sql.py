"""A recompute sorted in SQL (`engine.recompute_sql`) writes what the event path writes.

For generated stores (accounts and guests, two currencies, paid and unpaid, refunded
orders, moments around every threshold of both settings), a backfill under the settings in
force, then a change of some of the fields the sort covers (`SORTED_FIELDS`), recomputed
at the backfill's moment or later (checks fallen due), with some digests missing: the run
sorted in SQL and the run on the event path alone leave the same profiles, history, tier
changes and projections. What differs is what the sort leaves by design: a profile it does
not decide keeps its `decided_at` and the tier-window spend summed at that moment (the
event path sums it again at the recompute's moment), and `version` counts the writes.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.engine.recompute import request_recompute, run_recompute
from lifecycle_plugin.engine.recompute_sql import SORTED_FIELDS
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import CustomerProfile, LadderDigest, StageTransition, TierChange
from lifecycle_plugin.rules import LifecycleConfig
from lifecycle_plugin.rules.config import ConfigError, Tier
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import CustomerMetadata
from tests.contract.test_sandbox_host import SandboxStoreAdapter
from tests.rules.ladder_strategies import configs

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
DIFFERENTIAL = settings(max_examples=60, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                               HealthCheck.data_too_large, HealthCheck.filter_too_much])


def engine(config: LifecycleConfig, now: datetime = NOW) -> LifecycleEngine:
    pm = make_plugin_manager(builtins=[], load_entry_points=False)
    return LifecycleEngine(SandboxHost(), config, plugin_manager=pm, clock=lambda: now)


def thresholds(*configs: LifecycleConfig) -> list[int]:
    """Hours ago on, just before and just after every threshold of the settings."""
    days = {d for c in configs for d in (c.at_risk_days, c.lapsed_days, c.loyal_window_days, c.tier_window_days,
                                          c.personal_gap_floor_days)}
    return sorted({d * 24 + k for d in days for k in (-1, 0, 1) if d * 24 + k >= 0})


@st.composite
def changes(draw) -> tuple[LifecycleConfig, LifecycleConfig]:
    """Settings in force, and the same with some sorted fields taken from other settings."""
    in_force, other = draw(configs()), draw(configs())
    changed = draw(st.lists(st.sampled_from(sorted(SORTED_FIELDS)), min_size=1, max_size=4, unique=True))
    candidate = dataclasses.replace(in_force, **{name: getattr(other, name) for name in changed})
    try:
        candidate.validate()
    except ConfigError:
        assume(False)
    assume(candidate != in_force)
    return in_force, candidate


@st.composite
def cases(draw):
    in_force, candidate = draw(changes())
    hours = st.one_of(st.sampled_from(thresholds(in_force, candidate)), st.integers(0, 500 * 24))
    order = st.tuples(hours, st.sampled_from(["USD", "PLN"]), st.sampled_from(["20", "100", "450", "1200"]),
                      st.booleans(), st.sampled_from(["0", "0", "0", "all"]))
    customers = draw(st.lists(st.tuples(st.booleans(), st.lists(order, max_size=6)), min_size=1, max_size=8))
    later = draw(st.sampled_from([timedelta(0), timedelta(0), 20 * HOUR, timedelta(days=45)]))
    without_digest = draw(st.lists(st.integers(0, 7), max_size=2))
    return in_force, candidate, customers, later, without_digest


def _store(customers) -> None:
    store = SandboxStoreAdapter()
    for number, (account, orders) in enumerate(customers):
        email = f"c{number}@example.com"
        user_id = store.account(email) if account else None
        for hours_ago, currency, total, paid, refunded in orders:
            store.order(email, user_id=user_id, placed_at=NOW - hours_ago * HOUR, currency=currency, total=total,
                        paid=paid, refunded=total if refunded == "all" else "0")


def _written() -> dict:
    """Everything a recompute writes, except when and how often a profile was decided."""
    profiles = {p["email"]: p for p in CustomerProfile.objects.values(
        "email", "stage", "stage_since", "stage_rule", "tier", "tier_since", "next_check_at", "orders_count",
        "orders_by_currency", "lifetime_spend", "window_spend", "first_order_at", "last_order_at", "decided_at")}
    moves = sorted(StageTransition.objects.values_list(
        "profile__email", "from_stage", "to_stage", "occurred_at", "reason", "rule", "facts", "event"), key=repr)
    tiers = sorted(TierChange.objects.values_list(
        "profile__email", "from_tier", "to_tier", "occurred_at", "reason", "window_spend"), key=repr)
    projections = {row["user_id"]: row for row in CustomerMetadata.objects.values(
        "user_id", "metadata", "private_metadata")}
    return {"profiles": profiles, "moves": moves, "tiers": tiers, "projections": projections}


def _recompute(in_force, candidate, later, evaluator) -> tuple[dict, object]:
    with transaction.atomic():
        request_recompute(in_force, candidate, now=NOW + later)
        state = run_recompute(engine(candidate, NOW + later), chunk_size=3, evaluator=evaluator)
        written = _written()
        transaction.set_rollback(True)
    return written, state


@DIFFERENTIAL
@given(cases())
def test_sorted_in_sql_writes_what_the_event_path_writes(case):
    in_force, candidate, customers, later, without_digest = case
    with transaction.atomic():
        try:
            _store(customers)
            backfill(engine(in_force))
            LadderDigest.objects.filter(profile__email__in=[f"c{n}@example.com" for n in without_digest]).delete()
            backfilled = _written()["profiles"]
            on_event_path, python_state = _recompute(in_force, candidate, later, "python")
            sorted_in_sql, sql_state = _recompute(in_force, candidate, later, "auto")
        finally:
            transaction.set_rollback(True)
    assert sql_state.evaluator == "sql" and python_state.evaluator == "python"
    assert (sql_state.done, sql_state.moved) == (python_state.done, python_state.moved)
    assert sorted_in_sql["profiles"].keys() == on_event_path["profiles"].keys()
    for email, profile in sorted_in_sql["profiles"].items():
        expected = dict(on_event_path["profiles"][email])
        if profile["decided_at"] != NOW + later:  # not decided by the sorted run: as of its last decision
            expected.update((name, backfilled[email][name]) for name in ("decided_at", "window_spend"))
        assert profile == expected, email
    for part in ("moves", "tiers", "projections"):
        assert sorted_in_sql[part] == on_event_path[part], part


def test_a_lower_threshold_writes_only_the_profiles_it_changes(db):
    """at_risk_days 90 -> 60: the lapsed customer and the one on a short personal rhythm are
    left unwritten, the recent buyer gets the earlier check, the 70-day one moves (counted in
    plain SQL over the rows)."""
    store = SandboxStoreAdapter()
    store.order("lapsed@example.com", placed_at=NOW - timedelta(days=300))
    store.order("recent@example.com", placed_at=NOW - timedelta(days=10))
    store.order("quiet@example.com", placed_at=NOW - timedelta(days=70))
    for days in (40, 30, 20, 10):  # a 10-day rhythm: at risk after 20 days, whatever the global threshold
        store.order("rhythm@example.com", placed_at=NOW - timedelta(days=days))
    old = LifecycleConfig()
    new = dataclasses.replace(old, at_risk_days=60)
    backfill(engine(old))
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, version FROM lifecycle_plugin_customerprofile")
        versions = dict(cursor.fetchall())

    request_recompute(old, new, now=NOW)
    state = run_recompute(engine(new))

    with connection.cursor() as cursor:
        cursor.execute("SELECT email, version, stage, next_check_at FROM lifecycle_plugin_customerprofile")
        after = {email: (version, stage, check) for email, version, stage, check in cursor.fetchall()}
    written = {email for email, (version, _, _) in after.items() if version != versions[email]}
    assert written == {"recent@example.com", "quiet@example.com"}
    assert after["recent@example.com"][1:] == ("new", NOW - timedelta(days=10) + timedelta(days=60))
    assert after["quiet@example.com"][1:] == ("at_risk", NOW - timedelta(days=70) + timedelta(days=180))
    assert (state.evaluator, state.done, state.moved) == ("sql", 4, 1)


def test_a_change_of_the_tier_window_goes_through_the_event_path(db):
    SandboxStoreAdapter().order("a@example.com", placed_at=NOW - timedelta(days=10), total="500")
    old = LifecycleConfig(tiers=(Tier("gold", {"USD": Decimal("400")}),))
    new = dataclasses.replace(old, tier_window_days=5)
    backfill(engine(old))
    request_recompute(old, new, now=NOW)
    state = run_recompute(engine(new))
    assert state.evaluator == "python" and "tier_window_days" in state.evaluator_reason
    assert CustomerProfile.objects.get().tier is None and state.moved == 1
