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
