"""lifecycleMessageTestSend: a template's message sent to an address through the owner's delivery
channel, marked as a test, kept as a record, rate-limited; nothing a customer's message leaves behind."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import connection

from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.models import ActionLedgerEntry, HookFailure

from .conftest import codes, deliver_through

pytestmark = pytest.mark.django_db

SEND = """
mutation($action: String!, $email: String, $to: String) {
  lifecycleMessageTestSend(action: $action, email: $email, sendTo: $to) {
    sent errors { field message }
    testSend { id sentBy action customerEmail recipient subject status channel reference error createdAt }
  }
}"""
KEPT = "{ lifecycleTestSends { id sentBy action recipient status } }"


def owner(user) -> Viewer:
    return Viewer.staff(user.pk, user.email, can_manage_users=True, can_manage_plugins=True)


def kept_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sent_by, action, customer_email, recipient, status, channel FROM "
                       "lifecycle_plugin_messagetestsend ORDER BY id")
        return cursor.fetchall()


def test_by_email_it_goes_to_the_senders_own_address_marked_as_a_test(store, ann, admin):
    deliver_through(store, "email")
    entries = ActionLedgerEntry.objects.count()
    result = store.run(SEND, owner(admin), action="repeat_purchase", email="ann@example.com")
    payload = result["data"]["lifecycleMessageTestSend"]
    assert payload["sent"] is True and payload["errors"] == []
    [email] = mail.outbox
    assert email.to == [admin.email]  # no sendTo: the signed-in staff member's own address
    assert email.subject == "[Test] Here is 10% off your next order"
    assert "LC-PREVIEW00000" in email.body  # the preview's sample voucher: none was issued
    record = payload["testSend"]
    assert email.extra_headers["X-Lifecycle-Test"] == "true"
    assert email.extra_headers["X-Lifecycle-Key"] == f"test-send:{record['id']}"
    assert record["reference"] == email.extra_headers["Message-ID"]
    # Kept: who sent which action's message, with whose data, to where; nothing in the ledger
    # (so not in the action results, nor under anyone's frequency cap), no voucher.
    assert kept_rows() == [(admin.email, "repeat_purchase", "ann@example.com", admin.email, "sent", "email")]
    assert ActionLedgerEntry.objects.count() == entries and store.host.issued == []


def test_by_notify_it_goes_through_the_hosts_channel_with_the_test_flag(store, admin):
    deliver_through(store, "notify")
    result = store.run(SEND, owner(admin), action="review_request", to=" QA@agency.example ")
    assert result["data"]["lifecycleMessageTestSend"]["sent"] is True
    [message] = store.host.messages  # the in-memory host's deliver_message: Saleor's notify, the sandbox's outbox
    assert message.customer.email == "qa@agency.example" and message.subject.startswith("[Test] ")
    assert message.payload["test"] is True and message.payload["sent_by"] == admin.email
    assert mail.outbox == []
    assert kept_rows() == [(admin.email, "review_request", "", "QA@agency.example", "sent", "memory")]


@pytest.mark.parametrize("variables, field", [
    ({"action": "review_request", "to": "not an address"}, "sendTo"),
    ({"action": "review_request", "to": "a@example.com, b@example.com"}, "sendTo"),
    ({"action": "review_request", "to": ""}, "sendTo"),
    ({"action": "birthday"}, "action"),
    ({"action": "review_request", "email": "ghost@example.com"}, "email"),
])
def test_a_bad_argument_is_a_field_error_and_nothing_is_sent_or_kept(store, admin, variables, field):
    deliver_through(store, "email")
    payload = store.run(SEND, owner(admin), **variables)["data"]["lifecycleMessageTestSend"]
    assert payload["sent"] is False and payload["testSend"] is None
    assert [error["field"] for error in payload["errors"]] == [field]
    assert payload["errors"][0]["message"]
    assert mail.outbox == [] and kept_rows() == []


def test_it_needs_manage_plugins(store, admin):
    deliver_through(store, "email")
    reader = Viewer.staff(admin.pk, admin.email, can_manage_users=True)
    assert codes(store.run(SEND, reader, action="review_request")) == ["PERMISSION_DENIED"]
    assert mail.outbox == [] and kept_rows() == []


def test_an_app_token_has_no_address_of_its_own(store):
    deliver_through(store, "email")
    app = Viewer("app", can_manage_users=True, can_manage_plugins=True)
    payload = store.run(SEND, app, action="review_request")["data"]["lifecycleMessageTestSend"]
    assert [e["field"] for e in payload["errors"]] == ["sendTo"]
    assert store.run(SEND, app, action="review_request", to="qa@agency.example")["data"][
        "lifecycleMessageTestSend"]["testSend"]["sentBy"] == "app"


def test_a_sender_is_limited_per_hour_and_the_refusal_says_when(store, admin, clerk):
    deliver_through(store, "email")
    with mock.patch("lifecycle_plugin.actions.test_send.TEST_SENDS_PER_HOUR", 3):
        for _ in range(3):
            assert store.run(SEND, owner(admin), action="review_request")["data"]["lifecycleMessageTestSend"]["sent"]
        refused = store.run(SEND, owner(admin), action="review_request")
        assert codes(refused) == ["RATE_LIMITED"] and "3 test sends in the last hour" in refused["errors"][0]["message"]
        assert refused["errors"][0]["extensions"]["retryAt"]
        assert len(mail.outbox) == 3 and len(kept_rows()) == 3
        # Another staff member has their own allowance.
        assert store.run(SEND, owner(clerk), action="review_request")["data"]["lifecycleMessageTestSend"]["sent"]
        # Sends older than an hour no longer count.
        with connection.cursor() as cursor:
            cursor.execute("UPDATE lifecycle_plugin_messagetestsend SET created_at = created_at - %s "
                           "WHERE sent_by = %s", [timedelta(minutes=61), admin.email])
        assert store.run(SEND, owner(admin), action="review_request")["data"]["lifecycleMessageTestSend"]["sent"]


def test_a_channel_that_fails_is_an_error_and_the_try_is_kept(store, admin, monkeypatch):
    deliver_through(store, "notify")

    def broken(message):
        raise ConnectionError("broker down")

    monkeypatch.setattr(store.host, "deliver_message", broken)
    result = store.run(SEND, owner(admin), action="review_request")
    assert codes(result) == ["UNAVAILABLE"] and "broker down" in result["errors"][0]["message"]
    assert kept_rows() == [(admin.email, "review_request", "", admin.email, "failed", "")]
    failure = HookFailure.objects.get()
    assert failure.profile_id is None and "broker down" in failure.error
    listed = store.run(KEPT, Viewer.staff(admin.pk, admin.email, can_manage_users=True))["data"]["lifecycleTestSends"]
    assert [(row["sentBy"], row["status"]) for row in listed] == [(admin.email, "failed")]
