"""The management commands (tests/contract/command_contract.py) on Saleor's tables."""

from . import require_saleor

require_saleor()

import pytest  # noqa: E402

from tests.contract.command_contract import CommandContract  # noqa: E402


@pytest.mark.django_db
@pytest.mark.usefixtures("lifecycle_plugin")
class TestCommandsOnSaleor(CommandContract):
    @pytest.fixture
    def store(self, saleor_store):
        return saleor_store


@pytest.mark.django_db
@pytest.mark.usefixtures("lifecycle_plugin")
def test_a_backfill_of_two_year_old_orders_dates_the_history_on_the_orders(saleor_store):
    from datetime import timedelta

    from django.utils import timezone

    from lifecycle_plugin.models import CustomerProfile, StageTransition
    from tests.contract.command_contract import run

    first = timezone.now() - timedelta(days=730)
    second = first + timedelta(days=30)
    user_id = saleor_store.account("old@example.com", joined=first - timedelta(days=1))
    for placed_at in (first, second):
        saleor_store.order("old@example.com", user_id=user_id, placed_at=placed_at)

    output = run("lifecycle_backfill")

    assert "Decided in SQL" in output
    moves = [(t.from_stage, t.to_stage, t.reason, t.occurred_at)
             for t in StageTransition.objects.filter(profile__email="old@example.com").order_by("occurred_at")]
    assert moves == [(None, "new", "event", first), ("new", "repeat", "event", second),
                     ("repeat", "at_risk", "time", second + timedelta(days=90)),
                     ("at_risk", "lapsed", "time", second + timedelta(days=180))]
    profile = CustomerProfile.objects.get(email="old@example.com")
    assert profile.stage == "lapsed" and profile.stage_since == second + timedelta(days=180)
    assert saleor_store.public_metadata(user_id)["lifecycle.stage"] == "lapsed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("lifecycle_plugin")
def test_a_backfill_on_two_connections_writes_what_one_connection_writes(saleor_store):
    """Committed rows (transaction=True): the shards' own connections read Saleor's tables
    through the host's SELECTs as the backfill's connection does."""
    from django.db import connection
    from django.utils import timezone
    from freezegun import freeze_time

    from lifecycle_plugin.models import CustomerProfile
    from tests.contract.command_contract import run
    from tests.contract.ladder_sources_contract import a_mixed_store
    from tests.table_rows import table_rows

    a_mixed_store(saleor_store)
    written = {
        "profiles": """SELECT email, user_id, stage, stage_since, stage_rule, tier, tier_since, orders_count,
                              orders_by_currency, lifetime_spend, window_spend, next_check_at
                       FROM lifecycle_plugin_customerprofile""",
        "history": """SELECT p.email, t.from_stage, t.to_stage, t.occurred_at, t.reason, t.rule, t.facts
                      FROM lifecycle_plugin_stagetransition t
                      JOIN lifecycle_plugin_customerprofile p ON p.id = t.profile_id""",
        "tiers": """SELECT p.email, t.to_tier, t.occurred_at, t.window_spend FROM lifecycle_plugin_tierchange t
                    JOIN lifecycle_plugin_customerprofile p ON p.id = t.profile_id""",
        "digests": """SELECT p.email, d.moments, d.spend_currencies, d.spend_from::text FROM lifecycle_plugin_ladderdigest d
                      JOIN lifecycle_plugin_customerprofile p ON p.id = d.profile_id""",
        "metadata": """SELECT id, metadata, private_metadata FROM account_user
                       WHERE metadata ? 'lifecycle.stage' OR private_metadata ? 'lifecycle.profile'""",
    }

    def rows():
        return table_rows(written)

    frozen = freeze_time(timezone.now())  # (a customer without orders is dated at the backfill)
    frozen.start()
    run("lifecycle_backfill", "--connections", "1")
    one = rows()
    CustomerProfile.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("""UPDATE account_user SET metadata = metadata - 'lifecycle.stage' - 'lifecycle.tier',
                                                  private_metadata = private_metadata - 'lifecycle.profile'""")
    assert rows()["profiles"] == [] and rows()["metadata"] == []

    try:
        output = run("lifecycle_backfill", "--connections", "2")
    finally:
        frozen.stop()

    assert "Decided in SQL" in output
    assert one["profiles"] and one["metadata"] and one["history"]
    assert rows() == one
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'lc_ladder_scratch_%%'")
        assert cursor.fetchone()[0] == 0
