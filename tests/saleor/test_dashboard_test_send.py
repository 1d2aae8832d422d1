"""The messages page's test send on Saleor: through Saleor's notification path (a notify event
through the PluginsManager) or Django's mail as Saleor configures it, with a token Saleor minted
for the lifecycle app; and the outbox field on Saleor's database."""

from . import require_saleor

require_saleor()

import pytest  # noqa: E402
from django.test import Client  # noqa: E402
from saleor.core.jwt import create_access_token_for_app  # noqa: E402

from lifecycle_plugin.models import ActionLedgerEntry, MessageTestSend  # noqa: E402
from lifecycle_plugin.saleor.dashboard import registration  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

APP_ROOT = "/plugins/global/saleor.lifecycle/app/"
TEST_SEND = """mutation ($to: String) { lifecycleMessageTestSend(action: "review_request", sendTo: $to) {
  sent errors { field message } testSend { sentBy recipient channel reference status } } }"""


@pytest.fixture
def lifecycle_app():
    return registration.install("https://shop.example")


def call(token: str, query: str, **variables) -> dict:
    response = Client().post(APP_ROOT + "graphql/", {"query": query, "variables": variables},
                             content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("lifecycle_settings", [{"delivery_channel": "notify"}])
def test_a_test_send_is_a_notify_event_through_saleors_plugins_manager(
        lifecycle_app, staff_user, permission_manage_users, permission_manage_plugins, notify_log):
    staff_user.user_permissions.add(permission_manage_users, permission_manage_plugins)
    token = create_access_token_for_app(lifecycle_app, staff_user)
    result = call(token, TEST_SEND, to="qa@agency.example")["data"]["lifecycleMessageTestSend"]
    assert result["sent"] is True, result
    assert result["testSend"] == {"sentBy": staff_user.email, "recipient": "qa@agency.example", "channel": "notify",
                                  "reference": "lifecycle_review_request", "status": "sent"}
    [event] = [entry for entry in notify_log if entry["event"].startswith("lifecycle_")]
    assert event["event"] == "lifecycle_review_request"
    assert event["payload"]["recipient_email"] == "qa@agency.example"
    assert event["payload"]["subject"].startswith("[Test] ") and event["payload"]["data"]["test"] is True
    assert ActionLedgerEntry.objects.count() == 0  # not a customer's message: no ledger entry, no results
    assert MessageTestSend.objects.get().sent_by_user_id == staff_user.pk


def test_by_email_it_goes_to_the_staff_members_own_address(
        lifecycle_app, staff_user, permission_manage_users, permission_manage_plugins, mailoutbox):
    staff_user.user_permissions.add(permission_manage_users, permission_manage_plugins)
    result = call(create_access_token_for_app(lifecycle_app, staff_user), TEST_SEND)["data"]["lifecycleMessageTestSend"]
    assert result["sent"] is True and result["testSend"]["channel"] == "email"
    [email] = mailoutbox
    assert email.to == [staff_user.email] and email.extra_headers["X-Lifecycle-Test"] == "true"


def test_a_bad_address_is_a_field_error_and_reading_staff_cannot_send(
        lifecycle_app, staff_user, permission_manage_users, permission_manage_plugins, mailoutbox, notify_log):
    staff_user.user_permissions.add(permission_manage_users)
    reader = call(create_access_token_for_app(lifecycle_app, staff_user), TEST_SEND, to="qa@agency.example")
    assert reader["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    staff_user.user_permissions.add(permission_manage_plugins)
    bad = call(create_access_token_for_app(lifecycle_app, staff_user), TEST_SEND, to="qa@")
    assert bad["data"]["lifecycleMessageTestSend"]["errors"][0]["field"] == "sendTo"
    assert mailoutbox == [] and not [e for e in notify_log if e["event"].startswith("lifecycle_")]
    assert MessageTestSend.objects.count() == 0


def test_the_outbox_answers_on_saleors_database(lifecycle_app, staff_user, permission_manage_users):
    staff_user.user_permissions.add(permission_manage_users)
    result = call(create_access_token_for_app(lifecycle_app, staff_user),
                  "{ lifecycleOutbox(filter: {state: \"held\"}) { totalCount entries { action } } }")
    assert result["data"]["lifecycleOutbox"] == {"totalCount": 0, "entries": []}
