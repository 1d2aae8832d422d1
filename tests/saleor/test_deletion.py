"""A customer deleted through Saleor's own mutations stays deleted, with the plugin on or off.

Saleor keeps a deleted customer's orders (`Order.user` set to NULL, the e-mail kept),
so a later event on one of them used to bring the profile back as a guest `new`, and
the repeat-purchase action sent the deleted person a second voucher and e-mail.
"""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.test import TestCase  # noqa: E402
from saleor.core.tokens import account_delete_token_generator  # noqa: E402
from saleor.discount.models import Voucher, VoucherCode  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.plugins.manager import get_plugins_manager  # noqa: E402

from lifecycle_plugin import tasks  # noqa: E402
from lifecycle_plugin.models import BackfillRun, CustomerProfile, DeletedCustomer, PendingEvent  # noqa: E402

from .test_flows import CUSTOMER_DELETE, DRAFT_ORDER_COMPLETE, gid, mutate  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

REPEAT_PURCHASE = {"repeat_purchase_enabled": True, "delivery_channel": "email"}
ACCOUNT_DELETE = """
mutation ($token: String!) { accountDelete(token: $token) { errors { field code message } } }
"""
CUSTOMER_BULK_DELETE = """
mutation ($ids: [ID!]!) { customerBulkDelete(ids: $ids) { count errors { field code message } } }
"""


def switch(plugin_row, active: bool) -> None:
    plugin_row.active = active
    plugin_row.save(update_fields=["active"])


def lifecycle_vouchers():
    return VoucherCode.objects.filter(code__startswith="LC-")


@pytest.mark.parametrize("lifecycle_settings", [REPEAT_PURCHASE])
@pytest.mark.parametrize("plugin_on", [True, False], ids=["plugin on", "plugin off"])
@pytest.mark.parametrize("mutation", ["customerDelete", "customerBulkDelete", "accountDelete"])
def test_a_deleted_customer_gets_no_second_voucher_from_their_kept_orders(
        mutation, plugin_on, lifecycle_plugin, inbox, staff_orders, staff_api_client, permission_manage_users,
        user_api_client, draft_order, customer_user, mailoutbox):
    email, user_id = customer_user.email, customer_user.pk
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    inbox.drain()
    assert CustomerProfile.objects.get(email=email).stage == "new"
    assert lifecycle_vouchers().count() == 1 and len(mailoutbox) == 1
    # Named so that staff find its customer in the Dashboard: by the e-mail, not a profile id.
    assert lifecycle_vouchers().get().voucher.name == f"Lifecycle repeat_purchase for {email}"
    tasks.queue_events([(email, user_id, "order_fully_paid")])  # still queued at the deletion
    BackfillRun.objects.create(chunk_size=100, last_email=email, customers_done=1, finished_at=None)

    switch(lifecycle_plugin, plugin_on)
    with TestCase.captureOnCommitCallbacks(execute=True):
        if mutation == "customerDelete":
            staff_api_client.user.user_permissions.add(permission_manage_users)
            mutate(staff_api_client, CUSTOMER_DELETE, {"id": gid("User", user_id)}, "customerDelete")
        elif mutation == "customerBulkDelete":
            staff_api_client.user.user_permissions.add(permission_manage_users)
            assert mutate(staff_api_client, CUSTOMER_BULK_DELETE, {"ids": [gid("User", user_id)]},
                          "customerBulkDelete")["count"] == 1
        else:
            token = account_delete_token_generator.make_token(customer_user)
            mutate(user_api_client, ACCOUNT_DELETE, {"token": token}, "accountDelete")
    switch(lifecycle_plugin, True)

    assert not PendingEvent.objects.exists()
    # A later event on the kept order, which is now a guest order with their e-mail.
    order = Order.objects.get(pk=draft_order.pk)
    assert order.user_id is None and order.user_email == email
    with TestCase.captureOnCommitCallbacks(execute=True):
        get_plugins_manager(allow_replica=False).order_fulfilled(order)
    assert inbox.rows() == [(email, None, "order_fulfilled")]
    inbox.drain()

    assert not CustomerProfile.objects.filter(email=email).exists()
    assert lifecycle_vouchers().count() == 1 and len(mailoutbox) == 1  # no second voucher or e-mail
    (voucher,) = Voucher.objects.filter(codes__code__startswith="LC-")
    assert "lifecycle.customer" not in voucher.metadata and "lifecycle.customer" not in voucher.private_metadata
    assert voucher.name == "Lifecycle voucher of a deleted customer"
    # A personal voucher of nobody would be anyone's: it expired with the deletion.
    assert voucher.end_date is not None and voucher.end_date <= timezone.now()
    assert BackfillRun.objects.get().last_email == ""
    assert DeletedCustomer.objects.count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT digest FROM lifecycle_plugin_deletedcustomer")
        assert email.split("@")[0] not in repr(cursor.fetchall())


def test_the_emails_on_a_deleted_accounts_orders_are_forgotten_too(
        inbox, staff_api_client, permission_manage_users, saleor_store, customer_user):
    # An order placed under an earlier e-mail of the account: Saleor keeps it, unlinked.
    old = "before.the.change@example.com"
    order_id = saleor_store.order(old, user_id=customer_user.pk, placed_at=timezone.now() - timedelta(days=3))
    tasks.queue_events([(customer_user.email, customer_user.pk, "order_created")])
    inbox.drain()
    assert CustomerProfile.objects.get(user_id=customer_user.pk).orders_count == 1

    staff_api_client.user.user_permissions.add(permission_manage_users)
    with TestCase.captureOnCommitCallbacks(execute=True):
        mutate(staff_api_client, CUSTOMER_DELETE, {"id": gid("User", customer_user.pk)}, "customerDelete")
    order = Order.objects.get(pk=order_id)
    assert order.user_id is None and order.user_email == old
    with TestCase.captureOnCommitCallbacks(execute=True):
        get_plugins_manager(allow_replica=False).order_fulfilled(order)
    inbox.drain()

    assert not CustomerProfile.objects.exists()
    assert DeletedCustomer.objects.count() == 3  # both e-mails and the account
