"""Deleting an account deletes the customer's lifecycle data, with the plugin on or off.

Saleor calls the hooks of active plugins only (`PluginsManager.get_plugins(active_only=
True)`), so a `customer_deleted` hook would miss every deletion made while the plugin
is switched off, and the profile-less data (queued events, the voucher's note, the
backfill cursor) would stay. A `post_delete` receiver on the user model sees every
deletion that goes through Django, Saleor's `customerDelete`, `customerBulkDelete` and
`accountDelete` included (a bulk `QuerySet.delete()` sends it per row too).

Everything is forgotten inside the deleting transaction (`engine.deletion.forget`), so
it commits with the deletion or not at all and depends on no broker or worker: an
after-commit task that never ran would leave the profile, the ledger and the vouchers'
owner behind. `forget` waits for the customer's lock, which an event being decided may
hold for a batch; past `LOCK_WAIT` (or on any other error) the receiver writes the
tombstone alone, which already keeps the customer from coming back, and leaves the
rest to the `forget_customer` task after the commit. Nothing here may make the deletion
itself fail: errors are logged.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.db import connection, transaction

logger = logging.getLogger(__name__)

#: How long a deletion waits for a customer being decided before it leaves the rest to a task.
LOCK_WAIT = 5.0


def _other_emails(user) -> list[str]:
    """E-mails the store has on the account's orders besides its own (it changed e-mail),
    unless another account has them now; read before Saleor unlinks the orders."""
    from .runtime import get_host

    reader = getattr(get_host(), "account_order_emails", None)
    return reader(user.pk) if reader is not None and user.pk else []


def before_user_deleted(sender, instance, **kwargs) -> None:
    """What must be read before Django's cascade deletes the profile with the account."""
    from .engine.deletion import issued_vouchers

    try:
        with transaction.atomic():
            instance._lifecycle_order_emails = _other_emails(instance)
            instance._lifecycle_vouchers = issued_vouchers(
                [instance.email, *instance._lifecycle_order_emails], instance.pk)
    except Exception:
        logger.exception("lifecycle: could not read the order e-mails of deleted account %s", instance.pk)


def user_deleted(sender, instance, **kwargs) -> None:
    from .engine.deletion import forget, record
    from .host import CustomerRef
    from .runtime import get_host
    from .tasks import forget_customer

    email, user_id = instance.email, instance.pk
    also = list(getattr(instance, "_lifecycle_order_emails", ()))
    if not email and not also:
        return
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)",
                               [f"{int(LOCK_WAIT * 1000)}ms"])
                (before, _), = cursor.fetchall()
            forget(CustomerRef.of(email or also[0], user_id), host=get_host(), also_emails=also,
                   known_vouchers=getattr(instance, "_lifecycle_vouchers", ()))
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [before])
        return
    except Exception:
        logger.exception("lifecycle: could not forget deleted account %s at once; a task will", user_id)
    try:
        with transaction.atomic():
            record([email, *also], user_id)
    except Exception:
        logger.exception("lifecycle: could not record the deletion of account %s; the task will", user_id)
    # robust: a broker that cannot be reached must not turn the committed deletion
    # into an error; the tombstone is already written with it.
    vouchers = list(getattr(instance, "_lifecycle_vouchers", ()))
    transaction.on_commit(lambda: forget_customer.delay(email or also[0], user_id, also, vouchers), robust=True)


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
