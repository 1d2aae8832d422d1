"""Deleting an account deletes the customer's lifecycle data, with the plugin on or off.

Saleor calls the hooks of active plugins only (`PluginsManager.get_plugins(active_only=
True)`), so a `customer_deleted` hook would miss every deletion made while the plugin
is switched off, and the profile-less data (queued events, the voucher's note, the
backfill cursor) would stay. A `post_delete` receiver on the user model sees every
deletion that goes through Django, Saleor's `customerDelete`, `customerBulkDelete` and
`accountDelete` included (a bulk `QuerySet.delete()` sends it per row too).

Inside the deleting transaction the receiver only writes the tombstone and drops the
customer's queued events: cheap, without locks, and committed with the deletion or not
at all. The rest (`forget_customer`) runs in a task after the commit, because it waits
for the customer's lock, which an event being decided may hold. Nothing here may make
the deletion itself fail: errors are logged and the task still does the whole job.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.db import transaction

logger = logging.getLogger(__name__)


def _other_emails(user) -> list[str]:
    """E-mails the store has on the account's orders besides its own (it changed e-mail),
    unless another account has them now; read before Saleor unlinks the orders."""
    from .runtime import get_host

    reader = getattr(get_host(), "account_order_emails", None)
    return reader(user.pk) if reader is not None and user.pk else []


def before_user_deleted(sender, instance, **kwargs) -> None:
    try:
        with transaction.atomic():
            instance._lifecycle_order_emails = _other_emails(instance)
    except Exception:
        logger.exception("lifecycle: could not read the order e-mails of deleted account %s", instance.pk)


def user_deleted(sender, instance, **kwargs) -> None:
    from .engine.deletion import record
    from .tasks import forget_customer

    email, user_id = instance.email, instance.pk
    also = list(getattr(instance, "_lifecycle_order_emails", ()))
    if not email and not also:
        return
    try:
        with transaction.atomic():
            for address in [email, *also]:
                record(address, user_id)
    except Exception:
        logger.exception("lifecycle: could not record the deletion of account %s; the task will", user_id)
    # robust: a broker that cannot be reached must not turn the committed deletion
    # into an error; the tombstone is already written with it.
    transaction.on_commit(lambda: forget_customer.delay(email or also[0], user_id, also), robust=True)


def connect() -> None:
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, pre_delete

    user_model = get_user_model()
    pre_delete.connect(before_user_deleted, sender=user_model, dispatch_uid="lifecycle_before_user_deleted")
    post_delete.connect(user_deleted, sender=user_model, dispatch_uid="lifecycle_user_deleted")


@contextmanager
def accounts_removed_without_forgetting():
    """Delete accounts that are not customers leaving (the sandbox emptying its store to
    generate another): no tombstones, which would hide the new store's customers who
    happen to have the same e-mails. Process-wide while it lasts."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, pre_delete

    user_model = get_user_model()
    pre_delete.disconnect(sender=user_model, dispatch_uid="lifecycle_before_user_deleted")
    post_delete.disconnect(sender=user_model, dispatch_uid="lifecycle_user_deleted")
    try:
        yield
    finally:
        connect()
