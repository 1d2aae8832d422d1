"""What-if in SQL on the sandbox: over the ladder digests (after a backfill wrote them) the same
counts as the Python evaluator and the full SQL evaluator, the tier moves, the messages and
vouchers the moves would cause with the actions in force; the fallbacks, said in the output;
and the digests every writer of the profile leaves are the same."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from lifecycle_plugin.conf import load_settings
from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.engine.digest_writes import fill_missing, missing_count
from lifecycle_plugin.engine.what_if import what_if
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import CustomerProfile, LadderDigest
from lifecycle_plugin.rules import LifecycleConfig, Tier
from lifecycle_plugin.sandbox.host import SandboxHost
from tests.contract.ladder_sources_contract import a_mixed_store
from tests.contract.test_sandbox_host import SandboxStoreAdapter

pytestmark = pytest.mark.django_db
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CANDIDATE = LifecycleConfig(at_risk_days=30, lapsed_days=60,
                            tiers=(Tier("vip", {"USD": Decimal("300"), "PLN": Decimal("800")}),)).validate()


def engine():
    pm = make_plugin_manager(builtins=[], load_entry_points=False)
    return LifecycleEngine(SandboxHost(), plugin_manager=pm, clock=lambda: NOW)


@pytest.fixture
def store(db):
    """The mixed store, backfilled in SQL (which writes the profiles and their digests)."""
    a_mixed_store(SandboxStoreAdapter())
    assert backfill(engine(), evaluator="sql").created == CustomerProfile.objects.count() > 0


def digests() -> dict[str, dict]:
    return {row.pop("profile__email"): row for row in LadderDigest.objects.values(
        "profile__email", "version", "has_account", "open_cart_lines", "moments", "paid_moments", "median_gap_us",
        "paid_median_gap_us", "spend_currencies", "spend_starts", "spend_moments", "spend_from", "paid_spend_from")}


def test_sql_python_and_the_full_evaluator_count_the_same(store):
    in_force = LifecycleConfig().validate()
    host = SandboxHost()
    rows = LadderDigest.objects.count()

    in_sql = what_if(host, in_force, CANDIDATE, NOW)
    in_python = what_if(host, in_force, CANDIDATE, NOW, evaluator="python")
    in_full_sql = what_if(host, in_force, CANDIDATE, NOW, evaluator="sql_ladder")

    assert (in_sql.evaluator, in_sql.evaluator_reason) == ("sql", "")
    assert in_python.evaluator == "python" and in_full_sql.evaluator == "sql_ladder"
    sampled = what_if(host, in_force, CANDIDATE, NOW, sample_limit=10_000)
    assert sampled.evaluator == "python" and "sampleLimit" in sampled.evaluator_reason
    with pytest.raises(ValueError, match="sampleLimit"):
        what_if(host, in_force, CANDIDATE, NOW, sample_limit=10, evaluator="sql")
    for other in (in_python, in_full_sql):
        for name in ("customers_read", "customers_evaluated", "complete", "stages", "tiers", "current_stages",
                     "current_tiers", "stage_moves", "tier_moves"):
            assert getattr(in_sql, name) == getattr(other, name), (other.evaluator, name)
    assert in_sql.customers_evaluated == rows
    assert in_sql.stage_moves[("at_risk", "lapsed")] == 1  # risk@: 100 days quiet, lapsed at 60
    assert in_sql.tier_moves
    unchanged = what_if(host, in_force, in_force, NOW)
    assert not unchanged.stage_moves and not unchanged.tier_moves


TIERS = LifecycleConfig().tiers
#: Candidates the digest statement treats differently: a stage alike under both settings is
#: computed once, so is a tier; a whole personal multiplier is a bigint product, another one
#: numeric rounding; a tier table may grow, shrink or go.
CANDIDATES = {
    "tiers only": LifecycleConfig(tiers=(Tier("vip", {"USD": Decimal("300"), "PLN": Decimal("800")}),)),
    "stage only": LifecycleConfig(at_risk_days=30, lapsed_days=60),
    "renamed tiers": LifecycleConfig(tiers=tuple(Tier(f"{t.code}_new", t.thresholds) for t in TIERS)),
    "more tiers": LifecycleConfig(tiers=(*TIERS, Tier("platinum", {"USD": Decimal("5000")}))),
    "no tiers": LifecycleConfig(tiers=()),
    "tier window": LifecycleConfig(tier_window_days=30),
    "fractional multiplier": LifecycleConfig(personal_gap_multiplier=Decimal("1.5"), personal_gap_floor_days=1),
    "whole multiplier": LifecycleConfig(personal_gap_multiplier=Decimal("3"), personal_gap_floor_days=1),
    "unchanged": LifecycleConfig(),
}


@pytest.mark.parametrize("in_force", [LifecycleConfig(), LifecycleConfig(tiers=()),
                                      LifecycleConfig(personal_gap_multiplier=Decimal("1.25"))],
                         ids=["defaults", "no tiers", "fractional"])
@pytest.mark.parametrize("name", CANDIDATES)
def test_the_digest_statement_counts_as_python_for_any_pair_of_settings(store, in_force, name):
    in_force, candidate = in_force.validate(), CANDIDATES[name].validate()
    in_sql = what_if(SandboxHost(), in_force, candidate, NOW, evaluator="sql")
    in_python = what_if(SandboxHost(), in_force, candidate, NOW, evaluator="python")
    for field_name in ("customers_evaluated", "stages", "tiers", "current_stages", "current_tiers", "stage_moves",
                       "tier_moves"):
        assert getattr(in_sql, field_name) == getattr(in_python, field_name), field_name
    assert in_sql.customers_evaluated == CustomerProfile.objects.count()


def test_a_decision_hook_or_a_missing_digest_keeps_the_python_path_and_says_why(store):
    in_force = LifecycleConfig().validate()
    hooked = what_if(SandboxHost(), in_force, CANDIDATE, NOW, hooks=("lifecycle_classify",))
    assert hooked.evaluator == "python" and "lifecycle_classify" in hooked.evaluator_reason

    LadderDigest.objects.filter(pk__in=LadderDigest.objects.values("pk")[:2]).delete()
    assert missing_count() == 2
    gap = what_if(SandboxHost(), in_force, CANDIDATE, NOW)
    assert gap.evaluator == "python" and "2 profiles have no ladder digest" in gap.evaluator_reason
    with pytest.raises(ValueError, match="no ladder digest"):
        what_if(SandboxHost(), in_force, CANDIDATE, NOW, evaluator="sql")
    assert fill_missing(SandboxHost(), NOW) == 2 and missing_count() == 0
    assert what_if(SandboxHost(), in_force, CANDIDATE, NOW).evaluator == "sql"


def test_the_event_path_the_python_backfill_and_the_fill_write_the_sql_backfills_digests(store):
    from_sql_backfill = digests()
    LadderDigest.objects.all().delete()
    assert fill_missing(SandboxHost(), NOW) == len(from_sql_backfill)
    assert digests() == from_sql_backfill

    LadderDigest.objects.all().delete()
    backfill(engine(), evaluator="python")
    assert digests() == from_sql_backfill

    LadderDigest.objects.all().delete()
    events = engine()
    for profile in CustomerProfile.objects.all():
        events.process(CustomerRef(profile.email, profile.user_id), event="test")
    assert digests() == from_sql_backfill


def test_the_sql_backfill_writes_the_digests_the_fill_does_whatever_its_settings(db):
    """The backfill reads the digests from the evaluator's orders: they must not depend on the
    settings it decided with ("paid only" on leaves unpaid orders out of the ladder, not out
    of the digest) nor stop at its `now` (an order dated later is in them)."""
    store = SandboxStoreAdapter()
    a_mixed_store(store)
    store.order("later@example.com", placed_at=NOW + timedelta(hours=1))
    store.order("later@example.com", placed_at=NOW - timedelta(days=40), paid=False)
    paid_only = LifecycleEngine(SandboxHost(), LifecycleConfig(count_only_paid=True),
                                plugin_manager=make_plugin_manager(builtins=[], load_entry_points=False),
                                clock=lambda: NOW)
    assert backfill(paid_only, evaluator="sql").path == "sql"
    # ... while the ladder counted neither the unpaid order nor the later one.
    assert CustomerProfile.objects.get(email="later@example.com").orders_count == 0
    assert CustomerProfile.objects.get(email="states@example.com").orders_count == 0
    from_sql_backfill = digests()
    assert len(from_sql_backfill["later@example.com"]["moments"]) == 2
    assert len(from_sql_backfill["later@example.com"]["paid_moments"]) == 1
    assert len(from_sql_backfill["states@example.com"]["moments"]) == 1
    assert from_sql_backfill["states@example.com"]["paid_moments"] == []
    LadderDigest.objects.all().delete()
    assert fill_missing(SandboxHost(), NOW) == len(from_sql_backfill)
    assert digests() == from_sql_backfill


def test_messages_and_vouchers_are_counted_from_the_moves_and_the_settings(store):
    in_force = LifecycleConfig().validate()
    quiet = what_if(SandboxHost(), in_force, CANDIDATE, NOW, settings={}, evaluator="sql")
    assert (quiet.messages, quiet.vouchers) == (0, 0)

    settings = load_settings({"winback_reminder_enabled": "true", "winback_reminder_voucher": "true",
                              "tier_upgrade_enabled": "true", "repeat_purchase_enabled": "true",
                              "repeat_purchase_stages": "loyal"}).values
    result = what_if(SandboxHost(), in_force, CANDIDATE, NOW, settings=settings, evaluator="sql")

    into_winback = sum(n for (_, to), n in result.stage_moves.items() if to in ("at_risk", "lapsed"))
    into_loyal = sum(n for (_, to), n in result.stage_moves.items() if to == "loyal")
    upgrades = sum(n for (_, to), n in result.tier_moves.items() if to == "vip")
    assert into_winback and upgrades
    assert result.messages == into_winback + into_loyal + upgrades
    assert result.vouchers == into_winback + into_loyal  # tier-upgrade vouchers are off


def test_the_digest_command_fills_what_is_missing(store):
    from io import StringIO

    from django.core.management import call_command

    complete = digests()
    LadderDigest.objects.filter(pk__in=LadderDigest.objects.values("pk")[:3]).delete()
    out = StringIO()
    call_command("lifecycle_digest", chunk_size=2, stdout=out)
    assert out.getvalue().strip() == "Wrote 3 ladder digests; 0 profiles still have none."
    assert digests() == complete


def test_only_third_party_decision_hooks_count():
    from lifecycle_plugin import hookimpl
    from lifecycle_plugin.hooks import has_third_party_implementations

    class Classifier:
        @hookimpl
        def lifecycle_classify(self, facts, decision, config, now):
            return None

    builtins_only = make_plugin_manager(load_entry_points=False)  # the referral action collects facts
    assert not has_third_party_implementations(builtins_only, "lifecycle_collect_facts")
    with_classifier = make_plugin_manager(load_entry_points=False, extra=[Classifier()])
    assert has_third_party_implementations(with_classifier, "lifecycle_classify")
    assert not has_third_party_implementations(with_classifier, "lifecycle_collect_facts")
