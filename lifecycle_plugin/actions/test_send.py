"""Test send: a template's message, as the preview renders it, sent to an address a staff member gives.

It leaves through the plugin's real delivery channel, the one the actions use (the
``lifecycle_deliver_message`` hook: the owner's ``delivery_channel``, e-mail or Saleor's
notify event, or the sandbox's outbox), so the owner sees what a customer would get from
where a customer would get it. It is a test, not a customer's message:

- the subject starts with ``[Test]``; the message's data carries ``test: true`` (a
  notify app and a third-party channel can tell) and ``dedupe_key`` ``test-send:<id>``
  (the e-mail's ``X-Lifecycle-Key``, with ``X-Lifecycle-Test: true``);
- no ledger entry: it is in no action's results and counts toward no customer's
  frequency cap; no consent check (the recipient asked for it); no voucher is issued:
  the message shows the preview's sample code;
- every request is kept as a `MessageTestSend` row (who, which action, whose data, to
  which address, when, and what the channel answered), refused ones over the limit aside;
- at most `TEST_SENDS_PER_HOUR` per sender in any hour, failed tries included, so the
  shop's mail cannot be turned into a mass mailer from the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone

from ..engine import DeliveryUncertain
from ..host import CustomerRef, Message
from ..models import MessageTestSend
from .delivery import DeliveryFailed, deliver_test
from . import MESSAGE_ACTIONS
from .preview import PreviewError, preview_message

#: How many test sends one staff member (or app) may make in any hour.
TEST_SENDS_PER_HOUR = 20
RATE_WINDOW = timedelta(hours=1)
SUBJECT_PREFIX = "[Test] "
SENT, FAILED, UNCERTAIN = "sent", "failed", "uncertain"  # MessageTestSend.status, "sending" until it is known


class TestSendRefused(ValueError):
    """The request is refused before anything is sent; `field` names the argument at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class TestSendLimited(RuntimeError):
    """The sender made `TEST_SENDS_PER_HOUR` test sends in the last hour; `retry_at` is when one more is allowed."""

    def __init__(self, message: str, retry_at: datetime):
        super().__init__(message)
        self.retry_at = retry_at


class TestSendFailed(RuntimeError):
    """The delivery channel did not take the message (recorded as failed or uncertain)."""


@dataclass(frozen=True)
class Sender:
    """Who asks: a staff member's e-mail and account, or an app (no account)."""

    email: str
    user_id: int | None = None

    @property
    def name(self) -> str:
        return self.email or "app"


def checked_address(raw: str) -> str:
    """One e-mail address, trimmed; `TestSendRefused` naming ``sendTo`` otherwise."""
    address = (raw or "").strip()
    if not address:
        raise TestSendRefused("sendTo", "sendTo: give the address to send the test message to.")
    try:
        validate_email(address)
    except ValidationError:
        raise TestSendRefused("sendTo", f"sendTo: {address!r} is not one e-mail address.") from None
    return address


def send_test_message(engine: Any, action: str, customer: CustomerRef | None, send_to: str,
                      sender: Sender) -> MessageTestSend:
    """Render `action` for `customer` (None: sample data) and deliver it to `send_to`; the kept row."""
    address = checked_address(send_to)
    try:
        rendered = preview_message(engine, action, customer, engine.clock())
    except PreviewError as error:  # an unknown action, or a customer the plugin does not know
        raise TestSendRefused("action" if action not in MESSAGE_ACTIONS else "customer", str(error)) from None
    record = _record_within_limit(sender, MessageTestSend(
        sent_by=sender.name, sent_by_user_id=sender.user_id, action=action,
        customer_email=customer.email if customer else "", recipient=address,
        subject=SUBJECT_PREFIX + rendered.subject))
    message = Message(customer=CustomerRef.of(address), action=action, subject=record.subject,
                      text=rendered.text, html=rendered.html,
                      payload={"action": action, "test": True, "dedupe_key": f"test-send:{record.pk}",
                               "sent_by": sender.name})
    try:
        receipt = deliver_test(engine, message)
    except (DeliveryFailed, DeliveryUncertain) as error:
        record.status = UNCERTAIN if isinstance(error, DeliveryUncertain) else FAILED
        record.error = str(error)
        record.save(update_fields=["status", "error"])
        raise TestSendFailed(str(error)) from error
    record.status, record.channel, record.reference = SENT, receipt.channel[:64], receipt.reference[:255]
    record.save(update_fields=["status", "channel", "reference"])
    return record


def _record_within_limit(sender: Sender, record: MessageTestSend) -> MessageTestSend:
    """Keep the row unless the sender is over the limit; committed before anything leaves."""
    with transaction.atomic():
        with connection.cursor() as cursor:  # two requests at once from one sender count one after the other
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"lifecycle-test-send:{sender.name}"])
        since = timezone.now() - RATE_WINDOW
        recent = list(MessageTestSend.objects.filter(sent_by=sender.name, created_at__gt=since)
                      .order_by("created_at").values_list("created_at", flat=True)[:TEST_SENDS_PER_HOUR])
        if len(recent) >= TEST_SENDS_PER_HOUR:
            retry_at = recent[0] + RATE_WINDOW
            raise TestSendLimited(f"{sender.name} made {TEST_SENDS_PER_HOUR} test sends in the last hour, the most "
                                  f"allowed; the next one is possible at {retry_at:%H:%M} UTC.", retry_at)
        record.save()
    return record
