"""lifecycleMessagePreview: an action's message for a customer or sample data, returned or
e-mailed to staff, and nothing recorded."""

from __future__ import annotations

import pytest
from django.core import mail

from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.models import ActionLedgerEntry

from .conftest import codes, deliver_through, global_id, staff_viewer

pytestmark = pytest.mark.django_db

PREVIEW = """
mutation($action: String!, $id: ID, $email: String, $to: String) {
  lifecycleMessagePreview(action: $action, userId: $id, email: $email, sendTo: $to) {
    subject text html language sentTo
  }
}"""
APP = Viewer.app(can_manage_users=True)


def preview(store, viewer=APP, **variables):
    return store.run(PREVIEW, viewer, **variables)


def test_sample_data_shows_every_part_of_the_template(store):
    response = preview(store, action="review_request")
    result = response["data"]["lifecycleMessagePreview"]
    assert "Blue mug (Large) x 2" in result["text"] and "Hello Ann" in result["text"]
    assert "<li>Blue mug (Large) &times; 2</li>" in result["html"]
    assert result["language"] == "" and result["sentTo"] == ""
    voucher = preview(store, action="repeat_purchase")["data"]["lifecycleMessagePreview"]
    assert "LC-PREVIEW00000" in voucher["text"] and voucher["subject"] == "Ann, here is 10% off your next order"
    assert "unsubscribe/?token=preview" in voucher["text"]  # a sample link that unsubscribes nobody


def test_a_chosen_customer_and_nothing_is_recorded(store, ann, admin):
    entries = ActionLedgerEntry.objects.count()
    result = preview(store, staff_viewer(admin), action="winback_reminder", id=global_id(ann.pk))
    message = result["data"]["lifecycleMessagePreview"]
    assert message["subject"] == "We miss you: 10% off your next order"
    by_email = preview(store, action="tier_upgrade", email="ann@example.com")["data"]["lifecycleMessagePreview"]
    assert by_email["subject"] == "Welcome to Gold!"
    assert ActionLedgerEntry.objects.count() == entries and store.host.issued == [] and store.host.messages == []


def test_the_deprecated_send_to_is_a_test_send_and_needs_manage_plugins(store, ann, admin):
    """sendTo sends through the same path as lifecycleMessageTestSend (tests/graphql/test_test_send.py)."""
    deliver_through(store, "email")
    entries = ActionLedgerEntry.objects.count()
    refused = preview(store, action="repeat_purchase", email="ann@example.com", to=admin.email)
    assert codes(refused) == ["PERMISSION_DENIED"] and mail.outbox == []
    owner = Viewer.staff(admin.pk, admin.email, can_manage_users=True, can_manage_plugins=True)
    sent = preview(store, owner, action="repeat_purchase", email="ann@example.com", to="qa@agency.example")
    assert sent["data"]["lifecycleMessagePreview"]["sentTo"] == "qa@agency.example"
    [email] = mail.outbox
    assert email.to == ["qa@agency.example"] and email.subject == "[Test] Here is 10% off your next order"
    bad = preview(store, owner, action="repeat_purchase", to="not an address")
    assert codes(bad) == ["BAD_USER_INPUT"] and bad["errors"][0]["extensions"]["argument"] == "sendTo"
    assert len(mail.outbox) == 1 and ActionLedgerEntry.objects.count() == entries


def test_bad_input_is_refused_in_words(store):
    unknown_action = preview(store, action="birthday")
    assert codes(unknown_action) == ["BAD_USER_INPUT"] and "birthday" in unknown_action["errors"][0]["message"]
    nobody = preview(store, action="review_request", email="ghost@example.com")
    assert codes(nobody) == ["BAD_USER_INPUT"] and "ghost@example.com" in nobody["errors"][0]["message"]
