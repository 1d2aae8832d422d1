"""Saving a new `at_risk_days` in the Dashboard (Saleor's `pluginUpdate`) recomputes the
customers it affects: the right ones move, with the reason `settings_change`, and no
message goes out unless the owner switched on `recompute_actions`."""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.utils import timezone  # noqa: E402
from saleor.graphql.tests.utils import get_graphql_content  # noqa: E402

from lifecycle_plugin.engine.backfill import backfill  # noqa: E402
from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile, RecomputeRun, ScheduledAction, StageTransition  # noqa: E402
from lifecycle_plugin.runtime import get_engine  # noqa: E402
from lifecycle_plugin.saleor.plugin import PLUGIN_ID  # noqa: E402
from lifecycle_plugin.tasks import run_due_actions  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

PLUGIN_UPDATE = """
mutation ($id: ID!, $input: PluginUpdateInput!) {
  pluginUpdate(id: $id, input: $input) { errors { field code message } }
}"""
STATUS = "{ lifecycleRecomputeStatus { state done total moved } }"


@pytest.fixture
def lifecycle_settings():
    # The win-back reminder would message a customer who moves to at_risk.
    return {"winback_reminder_enabled": True, "delivery_channel": "email"}


@pytest.fixture
def buyers(saleor_store):
    """Accounts whose one order is 10, 70, 75 and 100 days old, backfilled (new, new, new, at_risk)."""
    now = timezone.now()
    emails = {}
    for days in (10, 70, 75, 100):
        email = f"d{days}@example.com"
        user_id = saleor_store.account(email, joined=now - timedelta(days=days + 1))
        saleor_store.order(email, user_id=user_id, placed_at=now - timedelta(days=days))
        emails[days] = (email, user_id)
    backfill(get_engine())
    assert CustomerProfile.objects.get(email="d70@example.com").stage == "new"
    return emails


def save(client, django_capture_on_commit_callbacks, **values):
    with django_capture_on_commit_callbacks(execute=True):  # the recompute task is queued after the commit
        response = client.post_graphql(PLUGIN_UPDATE, {"id": PLUGIN_ID, "input": {
            "configuration": [{"name": name, "value": value} for name, value in values.items()]}})
    return get_graphql_content(response)["data"]["pluginUpdate"]["errors"]


def send_due_reminders(django_capture_on_commit_callbacks):
    """What beat runs every few minutes: due scheduled reminders, delivered after the commit."""
    with django_capture_on_commit_callbacks(execute=True):
        run_due_actions()


def test_a_lower_at_risk_days_moves_the_right_customers_without_a_message(
    staff_api_client, permission_manage_plugins, buyers, saleor_store, django_capture_on_commit_callbacks, mailoutbox
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)

    assert save(staff_api_client, django_capture_on_commit_callbacks, at_risk_days="60") == []

    stages = dict(CustomerProfile.objects.values_list("email", "stage"))
    assert stages == {"d10@example.com": "new", "d70@example.com": "at_risk", "d75@example.com": "at_risk",
                      "d100@example.com": "at_risk"}
    moves = StageTransition.objects.filter(reason="settings_change")
    assert sorted(moves.values_list("profile__email", "from_stage", "to_stage")) == [
        ("d70@example.com", "new", "at_risk"), ("d75@example.com", "new", "at_risk")]
    send_due_reminders(django_capture_on_commit_callbacks)
    assert mailoutbox == [] and saleor_store.delivered() == []  # quiet: no win-back reminder
    assert not ActionLedgerEntry.objects.exists()
    assert not ScheduledAction.objects.filter(profile__email__in=["d70@example.com", "d75@example.com"]).exists()
    assert saleor_store.public_metadata(buyers[70][1])["lifecycle.stage"] == "at_risk"  # the projection too
    run = RecomputeRun.objects.get()
    assert (run.state, run.scope, run.done, run.total, run.moved) == ("done", "buyers", 4, 4, 2)


def test_with_recompute_actions_on_the_moved_customers_get_their_reminder(
    staff_api_client, permission_manage_plugins, buyers, saleor_store, django_capture_on_commit_callbacks, mailoutbox
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    assert save(staff_api_client, django_capture_on_commit_callbacks, recompute_actions=True) == []
    assert not RecomputeRun.objects.exists()  # not a threshold: nothing to recompute

    assert save(staff_api_client, django_capture_on_commit_callbacks, at_risk_days="60") == []
    send_due_reminders(django_capture_on_commit_callbacks)

    reminded = {to for message in mailoutbox for to in message.to}
    assert reminded == {"d70@example.com", "d75@example.com"}
    assert set(ActionLedgerEntry.objects.filter(action="winback_reminder", status="done")
               .values_list("profile__email", flat=True)) == reminded


def test_a_multiplier_the_sql_evaluator_cannot_decide_is_refused_naming_the_field(
    staff_api_client, permission_manage_plugins, django_capture_on_commit_callbacks
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    errors = save(staff_api_client, django_capture_on_commit_callbacks, personal_gap_multiplier="1.23456789012")
    assert [(e["field"], e["code"]) for e in errors] == [("personalGapMultiplier", "INVALID")]
    assert "10 significant digits" in errors[0]["message"] and not RecomputeRun.objects.exists()
