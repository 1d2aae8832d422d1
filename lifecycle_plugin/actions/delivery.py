"""The two built-in delivery channels, and how an action hands a message to them.

Messages go out through the ``lifecycle_deliver_message`` hook, whose first
implementation to return a receipt wins. This module is the built-in one and is
registered before any third-party plugin, so pluggy calls it last: a plugin that
delivers by SMS or push returns its own receipt first, and one that returns None
leaves the message to the owner's ``delivery_channel``:

- ``email``: sent by this plugin with Django's mail (``EmailMultiAlternatives``, the
  plain text plus an HTML alternative) from ``DEFAULT_FROM_EMAIL``. In Saleor the
  ``EMAIL_URL`` environment setting configures Django's ``EMAIL_BACKEND``.
- ``notify``: the host's own channel, ``host.deliver_message(message)``. In Saleor it
  is a notify event ``lifecycle_<action>`` for apps subscribed to ``NOTIFY_USER``; in
  the sandbox it is the outbox table.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import make_msgid, parseaddr
from typing import Any

from django.conf import settings as django_settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction

from .. import hookimpl
from ..engine import ActionContext
from ..hooks import HookError, call_isolated
from ..host import DeliveryReceipt, Host, Message
from .base import option_from
from .options import DELIVERY_EMAIL, DELIVERY_NOTIFY


class DeliveryFailed(RuntimeError):
    """No delivery channel took the message; the ledger entry fails and is retried."""


def deliver(context: ActionContext, message: Message) -> DeliveryReceipt:
    """Send `message` through the ``lifecycle_deliver_message`` hook; raise if nobody delivered it.

    Called from ``lifecycle_run_action``. Each channel is called on its own: one that
    raises (a third-party SMS plugin with a bug, the mail server down) is recorded as a
    ``HookFailure`` and the message passes to the next channel, so a broken plugin
    cannot stop the owner's channel. When no channel delivered it, `DeliveryFailed`
    fails the ledger entry, which is retried later. Consent is the caller's business
    (see ``offers.send_message``).
    """
    errors: list[HookError] = []

    def failed(error: HookError) -> None:
        errors.append(error)
        context.record_hook_error(error)

    receipts = call_isolated(
        context.plugin_manager,
        "lifecycle_deliver_message",
        message=message,
        host=context.host,
        settings=context.settings,
        on_error=failed,
        guard=transaction.atomic,  # a channel that writes (the sandbox outbox) and then raises leaves nothing
    )
    if not receipts:
        # The failing entry's savepoint also rolls back the HookFailure rows, so the
        # channels' errors go into the entry's last_error instead.
        why = "; ".join(f"{e.plugin}: {type(e.error).__name__}: {e.error}" for e in errors)
        raise DeliveryFailed(f"no delivery channel took the {message.action!r} message" + (f" ({why})" if why else ""))
    return receipts[0]


def send_email(message: Message) -> DeliveryReceipt:
    """Send a message as e-mail with Django's configured backend; the receipt holds its Message-ID."""
    from_email = django_settings.DEFAULT_FROM_EMAIL
    domain = parseaddr(from_email)[1].rpartition("@")[2] or "localhost"
    # An explicit Message-ID names the sender's domain without a DNS lookup, and is
    # the receipt's reference for tracing a complaint back to the ledger entry.
    message_id = make_msgid(idstring=message.action, domain=domain)
    headers = {"Message-ID": message_id, "X-Lifecycle-Action": message.action}
    dedupe_key = message.payload.get("dedupe_key")
    if dedupe_key:
        headers["X-Lifecycle-Key"] = str(dedupe_key)
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=from_email,
        to=[message.customer.email],
        headers=headers,
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    email.send(fail_silently=False)
    return DeliveryReceipt(DELIVERY_EMAIL, message_id)


@hookimpl
def lifecycle_deliver_message(message: Message, host: Host, settings: Mapping[str, Any]) -> DeliveryReceipt:
    channel = option_from(settings, "delivery_channel")
    if channel == DELIVERY_NOTIFY:
        return host.deliver_message(message)
    return send_email(message)
