"""What-if in SQL on the sandbox: the same counts as the Python evaluator, the tier moves, and
the messages and vouchers the moves would cause with the actions in force."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from lifecycle_plugin.conf import load_settings
from lifecycle_plugin.engine.what_if import what_if
from lifecycle_plugin.models import CustomerProfile
from lifecycle_plugin.rules import LifecycleConfig, Tier
from lifecycle_plugin.sandbox.host import SandboxHost
from tests.contract.ladder_sources_contract import a_mixed_store
from tests.contract.test_sandbox_host import SandboxStoreAdapter

pytestmark = pytest.mark.django_db
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CANDIDATE = LifecycleConfig(at_risk_days=30, lapsed_days=60,
                            tiers=(Tier("vip", {"USD": Decimal("300"), "PLN": Decimal("800")}),)).validate()


@pytest.fixture
def store(db):
    a_mixed_store(SandboxStoreAdapter())


def test_sql_and_python_count_the_same(store):
    in_force = LifecycleConfig().validate()
    host = SandboxHost()

    in_sql = what_if(host, in_force, CANDIDATE, NOW, evaluator="sql")
    in_python = what_if(host, in_force, CANDIDATE, NOW)

    assert (in_sql.evaluator, in_sql.evaluator_reason) == ("sql", "")
    assert in_python.evaluator == "python" and "slower" in in_python.evaluator_reason
    assert what_if(host, in_force, CANDIDATE, NOW, evaluator="auto").evaluator == "sql"
    sampled = what_if(host, in_force, CANDIDATE, NOW, sample_limit=10_000, evaluator="auto")
    assert sampled.evaluator == "python" and "sampleLimit" in sampled.evaluator_reason
    with pytest.raises(ValueError, match="sampleLimit"):
        what_if(host, in_force, CANDIDATE, NOW, sample_limit=10, evaluator="sql")
    for name in ("customers_read", "customers_evaluated", "complete", "stages", "tiers", "current_stages",
                 "current_tiers", "stage_moves", "tier_moves"):
        assert getattr(in_sql, name) == getattr(in_python, name), name
    assert in_sql.stage_moves[("at_risk", "lapsed")] == 1  # risk@: 100 days quiet, lapsed at 60
    assert in_sql.tier_moves and not CustomerProfile.objects.exists()


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
