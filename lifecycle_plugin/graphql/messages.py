"""The messages page's fields beyond the ledger: the outbox and the test send.

- `lifecycleOutbox` (MANAGE_USERS): what is waiting to go out, soonest first
  (`engine.outbox`), filtered by action, state and customer e-mail;
- `lifecycleMessageTestSend` (MANAGE_PLUGINS: it sends): a template's message, rendered
  as `lifecycleMessagePreview` renders it, delivered to an address through the real
  delivery channel (`actions.test_send`); a bad argument comes back as a field error;
- `lifecycleTestSends` (MANAGE_USERS): the test sends kept, newest first.
"""

from __future__ import annotations

from typing import Any

import graphene
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from ..actions.test_send import (Sender, TestSendFailed, TestSendLimited, TestSendRefused,
                                 send_test_message)
from ..engine.outbox import OUTBOX_STATES, OutboxFilter, outbox_page
from ..host import normalise_email
from ..models import MessageTestSend
from .dashboard import LifecycleFieldError
from .errors import RATE_LIMITED, UNAVAILABLE, LifecycleError, bad_input
from .resolvers import preview_customer

#: The most outbox rows (or kept test sends) one page may hold.
MAX_OUTBOX_PAGE = 200
MAX_ACTION_NAME = 64  # the ledger's column


class LifecycleOutboxEntry(graphene.ObjectType):
    kind = graphene.String(required=True, description="ledger: a delivery waiting to run; scheduled: an action due later.")
    action = graphene.String(required=True)
    state = graphene.String(required=True, description="due (pending, runs at the next retry), held (quiet hours), "
                                                       "retry (failed, tries left) or scheduled.")
    email = graphene.String(required=True, description="The customer's e-mail.")
    goes_out_at = graphene.DateTime(required=True, description="The earliest time it may go out.")
    created_at = graphene.DateTime(required=True)
    attempts = graphene.Int(required=True)
    last_error = graphene.String(required=True)
    reason = graphene.String(required=True, description="Held: why and until when (the quiet hours); else empty.")


class LifecycleOutboxFilterInput(graphene.InputObjectType):
    action = graphene.String()
    state = graphene.String(description=", ".join(OUTBOX_STATES) + "; all when left out.")
    email = graphene.String(description="The customer's e-mail (case does not matter).")


class LifecycleOutboxPage(graphene.ObjectType):
    total_count = graphene.Int(required=True, description="Entries matching the filter, on every page.")
    entries = graphene.List(graphene.NonNull(LifecycleOutboxEntry), required=True)
    actions = graphene.List(graphene.NonNull(graphene.String), required=True,
                            description="Every action with something waiting (for a filter).")


class LifecycleTestSend(graphene.ObjectType):
    """One test send as kept: who sent which action's message, with whose data, to where, when."""

    id = graphene.Int(required=True)
    sent_by = graphene.String(required=True, description="The staff member's e-mail, or app.")
    action = graphene.String(required=True)
    customer_email = graphene.String(required=True, description="Whose data filled the template; empty: sample data.")
    recipient = graphene.String(required=True)
    subject = graphene.String(required=True)
    status = graphene.String(required=True, description="sent, failed, uncertain (may have gone) or sending.")
    channel = graphene.String(required=True, description="The channel that took it (email, notify, outbox, ...).")
    reference = graphene.String(required=True, description="The channel's reference: a Message-ID, a notify event, ...")
    error = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)


class LifecycleTestSendPayload(graphene.ObjectType):
    sent = graphene.Boolean(required=True, description="False: nothing was sent (see `errors`).")
    errors = graphene.List(graphene.NonNull(LifecycleFieldError), required=True,
                           description="Each bad argument (action, userId, email, sendTo) with its message.")
    test_send = graphene.Field(LifecycleTestSend, description="The kept record of the send.")


# ---------------------------------------------------------------------- resolvers


def checked_outbox_filter(raw: dict | None) -> OutboxFilter:
    raw = raw or {}
    state = raw.get("state") or ""
    if state and state not in OUTBOX_STATES:
        raise bad_input(f"filter.state must be one of {', '.join(OUTBOX_STATES)}, got {state!r}.",
                        argument="filter.state")
    action = (raw.get("action") or "").strip()
    if len(action) > MAX_ACTION_NAME:
        raise bad_input(f"filter.action: an action name has at most {MAX_ACTION_NAME} characters.",
                        argument="filter.action")
    email = (raw.get("email") or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise bad_input(f"filter.email must be an e-mail address, got {email!r}.", argument="filter.email") from None
    return OutboxFilter(action=action, state=state, email=normalise_email(email) if email else "")


def checked_page(first: int, offset: int) -> None:
    if not 1 <= first <= MAX_OUTBOX_PAGE:
        raise bad_input(f"first must be between 1 and {MAX_OUTBOX_PAGE}.", argument="first")
    if offset < 0:
        raise bad_input("offset must be 0 or more.", argument="offset")


def test_send_record(row: MessageTestSend) -> LifecycleTestSend:
    return LifecycleTestSend(id=row.pk, sent_by=row.sent_by, action=row.action, customer_email=row.customer_email,
                             recipient=row.recipient, subject=row.subject, status=row.status, channel=row.channel,
                             reference=row.reference, error=row.error, created_at=row.created_at)


def send_test(context: Any, action: str, user_id: str | None, email: str | None,
              send_to: str | None) -> MessageTestSend:
    """The test send for the signed-in viewer (MANAGE_PLUGINS); `sendTo` defaults to their own e-mail.

    Raises `TestSendRefused` (a bad argument), a LifecycleError (over the limit, the
    channel failed, a malformed userId)."""
    viewer = context.require_manage_plugins(to="send a test message")
    if send_to is None:
        if not viewer.email:
            raise TestSendRefused("sendTo", "sendTo: this token has no e-mail of its own; give the address.")
        send_to = viewer.email
    try:
        customer = preview_customer(user_id, email)
        return send_test_message(context.engine, action, customer, send_to, Sender(viewer.email or "", viewer.user_id))
    except TestSendRefused as refused:
        if refused.field == "customer":
            refused.field = "userId" if user_id is not None else "email"
        raise
    except TestSendLimited as limited:
        raise LifecycleError(RATE_LIMITED, str(limited), {"retryAt": limited.retry_at.isoformat()}) from None
    except TestSendFailed as failed:
        raise LifecycleError(UNAVAILABLE, f"The test message was not sent: {failed}") from None


class MessagesQuery(graphene.ObjectType):
    lifecycle_outbox = graphene.Field(
        LifecycleOutboxPage, filter=LifecycleOutboxFilterInput(),
        first=graphene.Int(default_value=50, description=f"At most {MAX_OUTBOX_PAGE}."),
        offset=graphene.Int(default_value=0),
        description="MANAGE_USERS. What is waiting to go out (due, held for the quiet hours, to be retried, "
                    "scheduled), soonest first.")
    lifecycle_test_sends = graphene.Field(
        graphene.List(graphene.NonNull(LifecycleTestSend)),
        first=graphene.Int(default_value=20, description=f"At most {MAX_OUTBOX_PAGE}."),
        description="MANAGE_USERS. The test sends kept (who sent what to where, when), newest first.")

    @staticmethod
    def resolve_lifecycle_outbox(root: Any, info: Any, filter: dict | None = None, first: int = 50,
                                 offset: int = 0) -> Any:
        context = info.context
        context.require_manage_users()
        checked_page(first, offset)
        return outbox_page(context.now(), checked_outbox_filter(filter), first, offset)

    @staticmethod
    def resolve_lifecycle_test_sends(root: Any, info: Any, first: int = 20) -> Any:
        info.context.require_manage_users()
        checked_page(first, 0)
        return [test_send_record(row) for row in MessageTestSend.objects.order_by("-created_at", "-id")[:first]]


class LifecycleMessageTestSend(graphene.Mutation):
    """MANAGE_PLUGINS. Send an action's message, rendered as `lifecycleMessagePreview` renders it, to an
    address through the plugin's delivery channel, marked as a test.

    No ledger entry (not in the action results, not counted against anyone's frequency cap),
    no voucher (the sample code), no consent check. Kept as a record; at most 20 an hour per
    sender (RATE_LIMITED). A bad argument: `sent: false` and the field's message, nothing sent.
    """

    class Arguments:
        action = graphene.String(required=True, description="A message action, as for lifecycleMessagePreview.")
        user_id = graphene.ID(description="The customer whose data fills the template (Saleor's global ID).")
        email = graphene.String(description="The customer's e-mail, guests too. Neither: sample data.")
        send_to = graphene.String(description="Where to send it. Default: the signed-in staff member's e-mail.")

    Output = LifecycleTestSendPayload

    @staticmethod
    def mutate(root: Any, info: Any, action: str, user_id: str | None = None, email: str | None = None,
               send_to: str | None = None) -> Any:
        try:
            row = send_test(info.context, action, user_id, email, send_to)
        except TestSendRefused as refused:
            return LifecycleTestSendPayload(sent=False, errors=[LifecycleFieldError(field=refused.field,
                                                                                    message=str(refused))])
        return LifecycleTestSendPayload(sent=True, errors=[], test_send=test_send_record(row))
