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

Every channel runs under the owner's ``hook_timeout_seconds`` (`hooks.time_limit`),
the built-in ones included: a mail server or broker that hangs fails the channel
instead of holding the worker. Delivery runs after the ledger entry was committed as
*sending* (see `engine.Delivery`), so a worker that dies mid-way never sends twice.
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Mapping
from email.utils import make_msgid, parseaddr
from typing import Any

from django.conf import settings as django_settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction

from .. import hookimpl
from ..engine import ActionContext, DeliveryUncertain
from ..hooks import HookError, HookTimeout, call_isolated
from ..host import DeliveryReceipt, Host, Message
from .base import option_from
from ..conf import BOOLEAN, STRING, Setting
from .options import DELIVERY_EMAIL, DELIVERY_NOTIFY, parse_delivery_channel, parse_metadata_key, parse_switch


class DeliveryFailed(RuntimeError):
    """No delivery channel took the message; the ledger entry fails and is retried."""


#: Failures that prove nothing was accepted: the mail server's own refusals, and no
#: connection at all (the server down, its name unknown).
_NOTHING_SENT = (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused, ConnectionRefusedError, socket.gaierror)


def deliver(context: ActionContext, message: Message) -> DeliveryReceipt:
    """Send `message` through the ``lifecycle_deliver_message`` hook; raise if nobody delivered it.

    Called after the ledger entry was committed as *sending* (``offers.send_message``
    returns a `Delivery` that calls this). Each channel is called on its own, under the
    hook time limit: one that raises (a third-party SMS plugin with a bug, the mail
    server down) is recorded as a ``HookFailure`` and the message passes to the next
    channel, so a broken plugin cannot stop the owner's channel. When no channel
    delivered it, `DeliveryFailed` fails the ledger entry, which is retried later.

    A channel that ran out of time (`HookTimeout`) or broke off after handing the
    message over (`DeliveryUncertain`) may have delivered it: the message is not
    passed on, and `DeliveryUncertain` leaves the entry for the owner to check.
    Consent is the caller's business (see ``offers.send_message``).
    """
    return _deliver(context.plugin_manager, context.host, context.settings, context.hook_timeout,
                    context.record_hook_error, message)


def deliver_test(engine: Any, message: Message) -> DeliveryReceipt:
    """A staff member's test message through the same channels as `deliver`, for no customer.

    A failing channel is recorded as a ``HookFailure`` without a customer; the caller
    records the test send itself (`actions.test_send`).
    """
    return _deliver(engine.pm, engine.host, engine.settings, engine.hook_timeout,
                    lambda error: engine.record_hook_error(error, None), message)


def _deliver(plugin_manager: Any, host: Host, settings: Mapping[str, Any], timeout: float,
             record_hook_error: Any, message: Message) -> DeliveryReceipt:
    errors: list[HookError] = []

    def failed(error: HookError) -> None:
        errors.append(error)
        record_hook_error(error)
        if isinstance(error.error, (HookTimeout, DeliveryUncertain)):
            raise DeliveryUncertain(f"{error.plugin} may have delivered the {message.action!r} message: "
                                    f"{type(error.error).__name__}: {error.error}") from error.error

    receipts = call_isolated(
        plugin_manager,
        "lifecycle_deliver_message",
        message=message,
        host=host,
        settings=settings,
        on_error=failed,
        guard=transaction.atomic,  # a channel that writes (the sandbox outbox) and then raises leaves nothing
        timeout=timeout,
    )
    if not receipts:
        # The channels' errors are HookFailure rows too; the entry's last_error says it at once.
        why = "; ".join(f"{e.plugin}: {type(e.error).__name__}: {e.error}" for e in errors)
        raise DeliveryFailed(f"no delivery channel took the {message.action!r} message" + (f" ({why})" if why else ""))
    return receipts[0]


def send_email(message: Message, timeout: float | None = None) -> DeliveryReceipt:
    """Send a message as e-mail with Django's configured backend; the receipt holds its Message-ID.

    The connection's socket timeout is the shorter of Django's ``EMAIL_TIMEOUT`` and
    `timeout` (the hook time limit): Django sets none by default, and a mail server
    that stops answering would hold the worker for ever. A failure before the
    message is handed over (connecting, logging in) or the server's refusal raises as
    it is, and so does a refused connection: nothing went out, the entry is retried.
    Anything else while the message is being handed over (the connection dropped, no
    answer in time) may come after the server took it: `DeliveryUncertain`.
    """
    from_email = django_settings.DEFAULT_FROM_EMAIL
    domain = parseaddr(from_email)[1].rpartition("@")[2] or "localhost"
    # An explicit Message-ID names the sender's domain without a DNS lookup, and is
    # the receipt's reference for tracing a complaint back to the ledger entry.
    message_id = make_msgid(idstring=message.action, domain=domain)
    headers = {"Message-ID": message_id, "X-Lifecycle-Action": message.action}
    dedupe_key = message.payload.get("dedupe_key")
    if dedupe_key:
        headers["X-Lifecycle-Key"] = str(dedupe_key)
    if message.payload.get("test"):  # a staff member's test send (`actions.test_send`), not a customer's message
        headers["X-Lifecycle-Test"] = "true"
    unsubscribe = message.payload.get("unsubscribe_url")
    if unsubscribe:  # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" to the URL
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    limits = [t for t in (getattr(django_settings, "EMAIL_TIMEOUT", None), timeout) if t]
    connection = get_connection(fail_silently=False, timeout=min(limits) if limits else None)
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=from_email,
        to=[message.customer.email],
        headers=headers,
        connection=connection,
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    try:
        connection.open()
    except HookTimeout as error:  # nothing was handed over yet
        raise DeliveryFailed(f"the mail server did not answer: {error}") from error
    try:
        sent = email.send(fail_silently=False)
    except _NOTHING_SENT:
        raise
    except Exception as error:
        raise DeliveryUncertain(f"the mail server may have accepted it: {type(error).__name__}: {error}") from error
    finally:
        try:
            connection.close()
        except Exception:  # the message went out (or not) already; a failing QUIT changes nothing
            pass
    if not sent:
        raise DeliveryFailed("the mail backend sent nothing")
    return DeliveryReceipt(DELIVERY_EMAIL, message_id)


#: How messages leave, and who may receive them (``base.has_consent`` reads these).
SETTINGS = [
    Setting("delivery_channel", DELIVERY_EMAIL, STRING, "Messages: delivery channel",
            "'email': the plugin sends e-mail itself with Django's mail settings (in Saleor, EMAIL_URL and "
            "DEFAULT_FROM_EMAIL). 'notify': a notify event lifecycle_<action> that apps subscribed to "
            "NOTIFY_USER receive with the message and its data.",
            parse_delivery_channel),
    Setting("marketing_consent_required", "true", BOOLEAN, "Messages: marketing needs consent",
            "On (the default): a customer gets marketing messages and vouchers (repeat purchase, tier upgrade, "
            "win-back) only with consent: from a consent plugin, or from the metadata key below. With no key and "
            "no plugin, no marketing goes out. Off: without a key, marketing goes to everyone who has not "
            "unsubscribed.", parse_switch),
    Setting("marketing_consent_key", "", STRING, "Messages: marketing consent metadata key",
            "The customer metadata key that records consent to marketing (private metadata wins over "
            "public). Customers whose value is not true/yes/1/on/granted get no marketing messages or "
            "vouchers. Empty: see 'marketing needs consent'.",
            parse_metadata_key),
    Setting("transactional_consent_required", "false", BOOLEAN, "Messages: order messages need consent",
            "Off (the default): the review request, a message about the customer's own order, goes out without "
            "marketing consent. On: it needs the same consent as marketing.", parse_switch),
]


@hookimpl
def lifecycle_declare_settings():
    return SETTINGS


@hookimpl
def lifecycle_deliver_message(message: Message, host: Host, settings: Mapping[str, Any]) -> DeliveryReceipt:
    channel = option_from(settings, "delivery_channel")
    if channel == DELIVERY_NOTIFY:
        return host.deliver_message(message)
    return send_email(message, timeout=option_from(settings, "hook_timeout_seconds"))
