"""End to end through Saleor: real GraphQL mutations, Saleor's PluginsManager calling the
plugin's hooks, the hooks adding the events to the plugin's inbox after the commit, the
drain task (eager here, under Saleor's writer guard) handing them to the engine, and the
engine writing profiles, history and the metadata projection.

Tests that look at what the hooks reported hold the drain back (the `inbox` fixture) and
run it themselves; the others let Saleor's eager Celery run it at once."""

from . import require_saleor

require_saleor()

import json  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

import graphene  # noqa: E402
import pytest  # noqa: E402
from django.test import TestCase  # noqa: E402
from django.utils import timezone  # noqa: E402
from freezegun import freeze_time  # noqa: E402
from graphene.utils.str_converters import to_camel_case  # noqa: E402
from saleor.account.models import User  # noqa: E402
from saleor.core.tokens import account_confirm_token_generator  # noqa: E402
from saleor.discount.models import VoucherCode  # noqa: E402
from saleor.graphql.checkout.tests.mutations.test_checkout_complete_with_transactions import (  # noqa: E402
    prepare_checkout_for_test,
)
from saleor.graphql.tests.utils import get_graphql_content  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.payment.models import TransactionItem  # noqa: E402
from saleor.plugins.manager import get_plugins_manager  # noqa: E402
from saleor.plugins.models import PluginConfiguration  # noqa: E402

from lifecycle_plugin import hookimpl, tasks  # noqa: E402
from lifecycle_plugin.saleor import plugin as plugin_module  # noqa: E402
from lifecycle_plugin.hooks import make_plugin_manager  # noqa: E402
from lifecycle_plugin.models import (  # noqa: E402
    ActionLedgerEntry,
    CustomerProfile,
    HookFailure,
    PendingEvent,
    StageTransition,
)
from lifecycle_plugin.saleor.plugin import PLUGIN_ID  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

STAGE = "lifecycle.stage"

# ---------------------------------------------------------------------- mutations

ACCOUNT_REGISTER = """
mutation ($input: AccountRegisterInput!) {
  accountRegister(input: $input) { errors { field code message } user { id email } }
}"""
CONFIRM_ACCOUNT = """
mutation ($email: String!, $token: String!) {
  confirmAccount(email: $email, token: $token) { errors { field code message } user { id isConfirmed } }
}"""
CHECKOUT_CREATE = """
mutation ($input: CheckoutCreateInput!) {
  checkoutCreate(input: $input) { errors { field code message } checkout { id token } }
}"""
CHECKOUT_COMPLETE = """
mutation ($id: ID) {
  checkoutComplete(id: $id, redirectUrl: "https://www.example.com") {
    errors { field code message } order { id status chargeStatus }
  }
}"""
DRAFT_ORDER_COMPLETE = """
mutation ($id: ID!) {
  draftOrderComplete(id: $id) { errors { field code message } order { id status } }
}"""
ORDER_MARK_AS_PAID = """
mutation ($id: ID!) {
  orderMarkAsPaid(id: $id) { errors { field code message } order { id chargeStatus } }
}"""
ORDER_CANCEL = """
mutation ($id: ID!) { orderCancel(id: $id) { errors { field code message } order { status } } }
"""
ORDER_FULFILL = """
mutation ($order: ID, $input: OrderFulfillInput!) {
  orderFulfill(order: $order, input: $input) { errors { field code message } order { status } }
}"""
TRANSACTION_EVENT_REPORT = """
mutation ($id: ID, $type: TransactionEventTypeEnum!, $amount: PositiveDecimal, $psp: String!) {
  transactionEventReport(id: $id, type: $type, amount: $amount, pspReference: $psp) {
    errors { field code message } transaction { refundedAmount { amount } }
  }
}"""
ORDER_BULK_CREATE = """
mutation ($orders: [OrderBulkCreateInput!]!) {
  orderBulkCreate(orders: $orders, stockUpdatePolicy: SKIP, errorPolicy: REJECT_EVERYTHING) {
    count
    errors { path code message }
    results { errors { path code message } order { id created } }
  }
}"""
CUSTOMER_DELETE = """
mutation ($id: ID!) { customerDelete(id: $id) { errors { field code message } } }
"""
UPDATE_METADATA = """
mutation ($id: ID!, $input: [MetadataInput!]!) {
  updateMetadata(id: $id, input: $input) {
    errors { field code message } item { metadata { key value } }
  }
}"""
CHECKOUT_ADD_PROMO_CODE = """
mutation ($id: ID, $code: String!) {
  checkoutAddPromoCode(id: $id, promoCode: $code) {
    errors { field code message } checkout { voucherCode discount { amount } }
  }
}"""
ME_STAGE = """{ me { metafield(key: "lifecycle.stage") } }"""
PLUGIN_UPDATE = """
mutation ($id: ID!, $input: PluginUpdateInput!) {
  pluginUpdate(id: $id, input: $input) {
    errors { field code message }
    plugin { globalConfiguration { active configuration { name value } } }
  }
}"""


def gid(type_name: str, pk) -> str:
    return graphene.Node.to_global_id(type_name, pk)


def mutate(client, query: str, variables: dict, name: str) -> dict:
    data = get_graphql_content(client.post_graphql(query, variables))["data"][name]
    assert not data.get("errors"), data["errors"]
    return data


# ---------------------------------------------------------------------- helpers and fixtures


def profile(email: str) -> CustomerProfile:
    return CustomerProfile.objects.get(email=email.lower())


def history(email: str) -> list[tuple]:
    return [
        (t.from_stage, t.to_stage, t.reason, t.event)
        for t in StageTransition.objects.filter(profile__email=email.lower())
    ]


def projected(user: User) -> str | None:
    user.refresh_from_db(fields=["metadata"])
    return user.metadata.get(STAGE)


def report(email: str, user_id, event: str) -> None:
    """An event reaching the plugin as a hook reports it: into the inbox, whose drain
    (eager here) runs at once, with what it defers after its commit."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.queue_events([(email, user_id, event)])


class Recorder:
    """A third-party lifecycle plugin (pluggy) that records what the engine tells it."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def lifecycle_stage_changed(self, change):
        self.calls.append(("stage", change.from_stage, change.to_stage))

    @hookimpl
    def lifecycle_order_counted(self, order):
        self.calls.append(("counted", order.order_id))

    @hookimpl
    def lifecycle_order_fulfilled(self, order):
        self.calls.append(("fulfilled", order.order_id))


@pytest.fixture
def third_party(monkeypatch):
    """Installs lifecycle hook implementations as an entry-point package would."""
    installed = []

    def manager():
        return make_plugin_manager(builtins=[], load_entry_points=False, extra=installed)

    monkeypatch.setattr("lifecycle_plugin.engine.service.process_plugin_manager", manager)
    return installed


def paid_checkout(checkout, user, address, checkout_shipping, transaction_item_generator,
                  transaction_events_generator):
    """A checkout ready to complete, fully charged through the transactions API."""
    return prepare_checkout_for_test(
        checkout, address, address, checkout_shipping(checkout), transaction_item_generator,
        transaction_events_generator, user=user,
    )


@pytest.fixture
def complete_paid_checkout(user_api_client, checkout_with_item, customer_user, address, checkout_shipping,
                           transaction_item_generator, transaction_events_generator):
    def complete():
        checkout = paid_checkout(checkout_with_item, customer_user, address, checkout_shipping,
                                 transaction_item_generator, transaction_events_generator)
        data = mutate(user_api_client, CHECKOUT_COMPLETE, {"id": gid("Checkout", checkout.pk)}, "checkoutComplete")
        return Order.objects.get(pk=graphene.Node.from_global_id(data["order"]["id"])[1])

    return complete


# ---------------------------------------------------------------------- accounts and checkouts


def test_register_then_confirm_makes_a_lead(api_client, channel_USD, site_settings, inbox):
    site_settings.enable_account_confirmation_by_email = True
    site_settings.save(update_fields=["enable_account_confirmation_by_email"])
    email = "New.Shopper@example.com"

    mutate(api_client, ACCOUNT_REGISTER, {"input": {
        "email": email, "password": "Password-1234", "redirectUrl": "https://www.example.com/confirm",
        "channel": channel_USD.slug,
        # Customers may write public metadata when they register; nothing trusts it.
        "metadata": [{"key": STAGE, "value": "loyal"}],
    }}, "accountRegister")

    user = User.objects.get(email=email.lower())
    assert not user.is_confirmed
    # customer_created fires in Saleor's finish_creating_user task; the event waits in the inbox.
    assert inbox.rows() == [(email.lower(), user.pk, "customer_created")] and len(inbox.drains) == 1
    assert not CustomerProfile.objects.exists()
    inbox.drain()
    assert profile(email).stage == "lead" and profile(email).user_id == user.pk
    assert profile(email).stage_rule == "lead:account_without_order"
    assert projected(user) == "lead"

    token = account_confirm_token_generator.make_token(user)
    mutate(api_client, CONFIRM_ACCOUNT, {"email": user.email, "token": token}, "confirmAccount")

    assert inbox.rows() == [(email.lower(), user.pk, "account_confirmed")]
    assert len(inbox.drains) == 2  # the first drain lowered the flag: this event raised it again
    inbox.drain()
    assert history(email) == [(None, "lead", "event", "customer_created")]
    assert projected(user) == "lead"


def test_a_checkout_with_lines_makes_a_prospect(user_api_client, customer_user, channel_USD, product, inbox):
    variant = product.variants.first()
    mutate(user_api_client, CHECKOUT_CREATE, {"input": {
        "channel": channel_USD.slug, "lines": [{"quantity": 2, "variantId": gid("ProductVariant", variant.pk)}],
    }}, "checkoutCreate")

    assert (customer_user.email, customer_user.pk, "checkout_created") in inbox.rows()
    assert len(inbox.drains) == 1
    inbox.drain()
    assert profile(customer_user.email).stage == "prospect"
    assert profile(customer_user.email).stage_rule == "prospect:open_cart"
    assert projected(customer_user) == "prospect"


def test_a_paid_checkout_makes_a_new_customer(complete_paid_checkout, customer_user, inbox):
    order = complete_paid_checkout()

    assert order.charge_status == "full" and order.user_id == customer_user.pk
    # The checkout's contact e-mail is not the account's: the events and the profile are the account's.
    assert order.user_email != customer_user.email
    assert {(email, user_id) for email, user_id, _ in inbox.rows()} == {(customer_user.email, customer_user.pk)}
    assert {"order_created", "order_fully_paid"} <= set(inbox.events())
    inbox.drain()
    assert list(CustomerProfile.objects.values_list("email", flat=True)) == [customer_user.email]
    found = profile(customer_user.email)
    assert (found.stage, found.stage_rule, found.orders_count) == ("new", "new:one_order", 1)
    last = StageTransition.objects.filter(profile=found).last()
    assert (last.to_stage, last.rule, last.reason) == ("new", "new:one_order", "event")
    assert last.facts  # the facts the rule used are stored with the transition
    assert projected(customer_user) == "new"
    customer_user.refresh_from_db()
    assert '"orders": 1' in customer_user.private_metadata["lifecycle.profile"]
    # The hooks never save the user: Saleor's pending F() on number_of_orders (3.22+) applied once.
    if hasattr(customer_user, "number_of_orders"):
        assert customer_user.number_of_orders == 1


@pytest.mark.parametrize("drained", ["as_one_burst", "one_at_a_time"])
def test_repeated_and_out_of_order_events_change_nothing(drained, complete_paid_checkout, customer_user,
                                                        lifecycle_plugin, django_capture_on_commit_callbacks,
                                                        request):
    # The voucher action is on, so a second delivery or voucher would show in the ledger too.
    lifecycle_plugin.configuration = [
        {**item, "value": True} if item["name"] == "repeat_purchase_enabled" else item
        for item in lifecycle_plugin.configuration
    ]
    lifecycle_plugin.save(update_fields=["configuration"])
    order = complete_paid_checkout()
    found = profile(customer_user.email)
    before = (history(customer_user.email), found.stage, found.orders_count, found.lifetime_spend,
              sorted(ActionLedgerEntry.objects.values_list("dedupe_key", flat=True)))
    assert before[1] == "new" and before[4], "the first order issues the voucher"

    # Saleor fires order_fully_paid again for each later charge, late events arrive after
    # newer ones, and a bulk import reports the same order through order_bulk_created.
    # A worker takes them together (one drain, one batch), or one by one if each
    # event's drain runs before the next event arrives (as Saleor's eager Celery does).
    held = request.getfixturevalue("inbox") if drained == "as_one_burst" else None
    manager = get_plugins_manager(allow_replica=False)
    with django_capture_on_commit_callbacks(execute=True):
        manager.order_fully_paid(order)
        manager.order_fully_paid(order)
        manager.order_confirmed(order)
        manager.order_created(order)
        manager.order_bulk_created([order])
    if held is not None:
        assert held.events() == ["order_fully_paid", "order_fully_paid", "order_confirmed", "order_created",
                                 "order_bulk_created"]
        assert len(held.drains) == 1
        assert held.drain() == {"events": 5, "batches": 1, "failed": 0, "more": False}
    assert not PendingEvent.objects.exists()

    found.refresh_from_db()
    after = (history(customer_user.email), found.stage, found.orders_count, found.lifetime_spend,
             sorted(ActionLedgerEntry.objects.values_list("dedupe_key", flat=True)))
    assert after == before
    assert VoucherCode.objects.count() == 1


def test_draft_order_complete_then_mark_as_paid_counts_only_when_paid(
    staff_orders, draft_order, customer_user, lifecycle_plugin, inbox
):
    # Count only paid orders: the unpaid draft completes as lead, orderMarkAsPaid
    # (which fires order_fully_paid but no order_paid) makes the customer new.
    lifecycle_plugin.configuration = [
        {**item, "value": True} if item["name"] == "count_only_paid" else item
        for item in lifecycle_plugin.configuration
    ]
    lifecycle_plugin.save(update_fields=["configuration"])

    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    assert "order_created" in inbox.events()
    inbox.drain()
    assert profile(customer_user.email).stage == "lead"

    mutate(staff_orders, ORDER_MARK_AS_PAID, {"id": gid("Order", draft_order.pk)}, "orderMarkAsPaid")

    assert "order_paid" not in inbox.events()
    assert (customer_user.email, customer_user.pk, "order_fully_paid") in inbox.rows()
    inbox.drain()
    assert profile(customer_user.email).stage == "new"
    assert history(customer_user.email)[-1] == ("lead", "new", "event", "order_fully_paid")
    assert projected(customer_user) == "new"


def test_a_cancelled_order_stops_counting(staff_orders, draft_order, customer_user):
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    assert profile(customer_user.email).stage == "new"

    mutate(staff_orders, ORDER_CANCEL, {"id": gid("Order", draft_order.pk)}, "orderCancel")

    assert profile(customer_user.email).stage == "lead"
    assert profile(customer_user.email).orders_count == 0
    assert history(customer_user.email)[-1] == ("new", "lead", "event", "order_cancelled")
    assert projected(customer_user) == "lead"


def test_a_fully_refunded_order_stops_counting(complete_paid_checkout, app_api_client, permission_manage_payments,
                                               customer_user, request):
    order = complete_paid_checkout()
    assert profile(customer_user.email).stage == "new"
    transaction = TransactionItem.objects.get(order_id=order.pk)
    app_api_client.app.permissions.add(permission_manage_payments)

    inbox = request.getfixturevalue("inbox")  # hold the drain from here on
    mutate(app_api_client, TRANSACTION_EVENT_REPORT, {
        "id": gid("TransactionItem", transaction.token), "type": "REFUND_SUCCESS",
        "amount": str(order.total_gross_amount), "psp": "refund-1",
    }, "transactionEventReport")

    assert {"order_refunded", "order_fully_refunded"} <= set(inbox.events())
    assert profile(customer_user.email).stage == "new"  # until the drain runs
    inbox.drain()
    assert profile(customer_user.email).stage == "lead"
    assert history(customer_user.email)[-1][:3] == ("new", "lead", "event")


def test_order_fulfill_reports_the_fulfilment_once(staff_orders, order_with_lines, customer_user, warehouse,
                                                   third_party):
    recorder = Recorder()
    third_party.append(recorder)
    lines = [
        {"orderLineId": gid("OrderLine", line.pk),
         "stocks": [{"quantity": line.quantity, "warehouse": gid("Warehouse", warehouse.pk)}]}
        for line in order_with_lines.lines.all()
    ]

    data = mutate(staff_orders, ORDER_FULFILL, {"order": gid("Order", order_with_lines.pk), "input": {
        "lines": lines, "notifyCustomer": False,
    }}, "orderFulfill")
    assert data["order"]["status"] == "FULFILLED"
    report(customer_user.email, customer_user.pk, "replay")

    order_id = str(order_with_lines.pk)
    assert recorder.calls.count(("fulfilled", order_id)) == 1
    assert recorder.calls.count(("counted", order_id)) == 1
    assert profile(customer_user.email).stage == "new"


def _bulk_order(email: str, created_at, variant, warehouse, address: dict, channel, tax_class) -> dict:
    line = {
        "variantId": gid("ProductVariant", variant.pk), "createdAt": created_at, "productName": "Product",
        "variantName": "Variant", "isShippingRequired": False, "isGiftCard": False, "quantity": 1,
        "totalPrice": {"gross": 30, "net": 30}, "undiscountedTotalPrice": {"gross": 30, "net": 30},
        "warehouse": gid("Warehouse", warehouse.pk), "taxRate": 0, "taxClassId": gid("TaxClass", tax_class.pk),
    }
    return {
        "channel": channel.slug, "createdAt": created_at, "status": "UNFULFILLED", "user": {"email": email},
        "billingAddress": address, "currency": channel.currency_code, "languageCode": "EN", "lines": [line],
    }


def test_order_bulk_create_decides_from_the_historic_dates(
    staff_api_client, permission_manage_orders_import, permission_group_manage_orders, channel_USD, variant,
    warehouse, graphql_address_data, default_tax_class, inbox,
):
    staff_api_client.user.user_permissions.add(permission_manage_orders_import)
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    now = timezone.now()
    history_of = {
        "repeat@example.com": [60, 20],
        "loyal@example.com": [300, 200, 100, 10],
        "lapsed@example.com": [200],
    }
    users = {email: User.objects.create(email=email) for email in history_of}
    orders = [
        _bulk_order(email, now - timedelta(days=days), variant, warehouse, graphql_address_data, channel_USD,
                    default_tax_class)
        for email, days_ago in history_of.items() for days in days_ago
    ]

    data = mutate(staff_api_client, ORDER_BULK_CREATE, {"orders": orders}, "orderBulkCreate")

    assert [r["errors"] for r in data["results"]] == [[]] * 7 and data["count"] == 7
    # Saleor fires only order_bulk_created for an import: no order_created, paid or confirmed;
    # the plugin adds one event per customer, not per order.
    assert sorted(inbox.rows()) == sorted((email, user.pk, "order_bulk_created") for email, user in users.items())
    assert len(inbox.drains) == 1
    assert inbox.drain()["events"] == 3
    stages = {email: profile(email).stage for email in history_of}
    assert stages == {"repeat@example.com": "repeat", "loyal@example.com": "loyal", "lapsed@example.com": "lapsed"}
    assert profile("loyal@example.com").orders_count == 4
    assert projected(users["lapsed@example.com"]) == "lapsed"
    for email in history_of:
        assert {event for *_, event in history(email)} == {"order_bulk_created"}


def test_customer_delete_forgets_the_customer(staff_api_client, permission_manage_users, draft_order,
                                              customer_user, staff_orders):
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    found = profile(customer_user.email)
    assert found.transitions.exists() and found.ledger.exists()
    staff_api_client.user.user_permissions.add(permission_manage_users)

    with TestCase.captureOnCommitCallbacks(execute=True):  # the forget task, after Saleor's commit
        mutate(staff_api_client, CUSTOMER_DELETE, {"id": gid("User", customer_user.pk)}, "customerDelete")

    assert not PendingEvent.objects.exists()  # a deletion is not an inbox event
    assert not CustomerProfile.objects.filter(email=customer_user.email).exists()
    assert not StageTransition.objects.exists()
    assert not ActionLedgerEntry.objects.exists()


def test_a_customer_cannot_set_their_own_stage(user_api_client, customer_user, staff_orders, draft_order):
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    assert projected(customer_user) == "new"
    before = history(customer_user.email)

    data = mutate(user_api_client, UPDATE_METADATA, {
        "id": gid("User", customer_user.pk), "input": [{"key": STAGE, "value": "lapsed"}],
    }, "updateMetadata")

    # Saleor answers with the instance it wrote (its hooks get a fresh copy), but the
    # value is put back at once: the database and the next read say "new" again.
    assert {"key": STAGE, "value": "lapsed"} in data["item"]["metadata"]
    assert projected(customer_user) == "new"
    me = get_graphql_content(user_api_client.post_graphql(ME_STAGE))["data"]["me"]
    assert me["metafield"] == "new"
    # And nothing reads it back: processing the customer again changes nothing.
    report(customer_user.email, customer_user.pk, "check")
    assert profile(customer_user.email).stage == "new"
    assert history(customer_user.email) == before


def test_a_spoofed_stage_without_a_profile_is_removed(user_api_client, customer_user, site_settings):
    # From 3.22, without the legacy flag, updateMetadata fires only customer_metadata_updated.
    # 3.21 has no flag and always fires customer_updated as well.
    only_metadata_hook = hasattr(site_settings, "use_legacy_update_webhook_emission")
    if only_metadata_hook:
        site_settings.use_legacy_update_webhook_emission = False
        site_settings.save(update_fields=["use_legacy_update_webhook_emission"])

    mutate(user_api_client, UPDATE_METADATA, {
        "id": gid("User", customer_user.pk), "input": [{"key": STAGE, "value": "loyal"}],
    }, "updateMetadata")

    if only_metadata_hook:
        assert not CustomerProfile.objects.exists()
        assert projected(customer_user) is None
    else:
        # customer_updated has the engine decide the customer afresh: the spoof is replaced.
        assert profile(customer_user.email).stage == "lead"
        assert projected(customer_user) == "lead"


# ---------------------------------------------------------------------- built-in actions on Saleor


@pytest.mark.parametrize("lifecycle_settings", [{"repeat_purchase_enabled": True, "delivery_channel": "notify"}])
def test_the_repeat_purchase_voucher_is_a_working_saleor_voucher(complete_paid_checkout, customer_user,
                                                                  user_api_client, channel_USD, product, notify_log):
    complete_paid_checkout()

    (code,) = VoucherCode.objects.filter(code__startswith="LC-")
    listing = code.voucher.channel_listings.get()
    assert (listing.channel_id, listing.discount_value, code.voucher.single_use) == (channel_USD.pk, 10, True)
    (sent,) = [entry for entry in notify_log if entry["event"].startswith("lifecycle_")]
    assert sent["event"] == "lifecycle_repeat_purchase" and sent["channel"] == channel_USD.slug
    assert sent["payload"]["recipient_email"] == customer_user.email
    assert code.code in json.dumps(sent["payload"], default=str)

    # The customer can redeem it on their next checkout.
    checkout = mutate(user_api_client, CHECKOUT_CREATE, {"input": {
        "channel": channel_USD.slug,
        "lines": [{"quantity": 1, "variantId": gid("ProductVariant", product.variants.first().pk)}],
    }}, "checkoutCreate")["checkout"]
    data = mutate(user_api_client, CHECKOUT_ADD_PROMO_CODE, {"id": checkout["id"], "code": code.code},
                  "checkoutAddPromoCode")
    assert data["checkout"]["voucherCode"] == code.code and data["checkout"]["discount"]["amount"] > 0


@pytest.mark.parametrize("lifecycle_settings", [{"review_request_enabled": True, "delivery_channel": "notify"}])
def test_a_review_request_goes_out_when_due(staff_orders, order_with_lines, warehouse, customer_user, notify_log,
                                            django_capture_on_commit_callbacks):
    lines = list(order_with_lines.lines.all())
    mutate(staff_orders, ORDER_FULFILL, {"order": gid("Order", order_with_lines.pk), "input": {"lines": [
        {"orderLineId": gid("OrderLine", line.pk),
         "stocks": [{"quantity": line.quantity, "warehouse": gid("Warehouse", warehouse.pk)}]}
        for line in lines
    ], "notifyCustomer": False}}, "orderFulfill")

    with freeze_time(timezone.now() + timedelta(days=13)):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.run_due_actions.delay().get()["scheduled"] == 0
    with freeze_time(timezone.now() + timedelta(days=15)):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.run_due_actions.delay().get()["scheduled"] == 1

    (sent,) = [entry for entry in notify_log if entry["event"].startswith("lifecycle_")]
    assert sent["event"] == "lifecycle_review_request"
    assert sent["payload"]["recipient_email"] == customer_user.email
    products = json.dumps(sent["payload"], default=str)
    assert all(line.product_name in products for line in lines)


# ---------------------------------------------------------------------- HTTP routes


def test_the_plugin_routes(client, lifecycle_plugin):
    query = {"query": "{ __typename }"}
    response = client.post("/plugins/global/saleor.lifecycle/graphql/", query, content_type="application/json")
    assert response.status_code == 200 and response.json()["data"] == {"__typename": "Query"}
    assert client.get("/plugins/global/saleor.lifecycle/nothing-here/").status_code == 404

    lifecycle_plugin.active = False
    lifecycle_plugin.save(update_fields=["active"])
    assert client.post("/plugins/global/saleor.lifecycle/graphql/", query,
                       content_type="application/json").status_code == 404
    # Saleor's legacy route reaches webhook() even when the plugin is off; the plugin refuses.
    assert client.post("/plugins/saleor.lifecycle/graphql/", query,
                       content_type="application/json").status_code == 404


# ---------------------------------------------------------------------- settings


PLUGIN_QUERY = """
query ($id: ID!) {
  plugin(id: $id) {
    name description
    globalConfiguration { active configuration { name type label helpText value } }
    channelConfigurations { active }
  }
}"""


def test_the_dashboard_lists_the_plugin_off_by_default_with_every_setting(
    staff_api_client, permission_manage_plugins, lifecycle_plugin
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    lifecycle_plugin.delete()  # a fresh install: no configuration row yet

    plugin = get_graphql_content(staff_api_client.post_graphql(PLUGIN_QUERY, {"id": PLUGIN_ID}))["data"]["plugin"]

    assert plugin["name"] == "Customer lifecycle" and plugin["description"]
    assert plugin["channelConfigurations"] == []  # one global configuration, not one per channel
    config = plugin["globalConfiguration"]
    assert config["active"] is False
    from lifecycle_plugin import conf

    fields = {item["name"]: item for item in config["configuration"]}
    assert set(fields) == {setting.name for setting in conf.all_settings()}
    for setting in conf.all_settings():
        field = fields[setting.name]
        assert field["label"] == setting.label and field["helpText"] == setting.help_text
    assert fields["at_risk_days"]["type"] == "STRING" and fields["at_risk_days"]["value"] == "90"
    assert fields["count_only_paid"]["type"] == "BOOLEAN" and fields["count_only_paid"]["value"] == "false"
    assert fields["tiers"]["type"] == "MULTILINE"


def test_plugin_update_saves_good_settings(staff_api_client, permission_manage_plugins, lifecycle_plugin):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)

    data = mutate(staff_api_client, PLUGIN_UPDATE, {"id": PLUGIN_ID, "input": {"active": True, "configuration": [
        {"name": "at_risk_days", "value": "60"}, {"name": "count_only_paid", "value": "true"},
    ]}}, "pluginUpdate")

    values = {c["name"]: c["value"] for c in data["plugin"]["globalConfiguration"]["configuration"]}
    assert values["at_risk_days"] == "60"
    lifecycle_plugin.refresh_from_db()
    saved = {c["name"]: c["value"] for c in lifecycle_plugin.configuration}
    assert saved["at_risk_days"] == "60" and saved["count_only_paid"] is True
    from lifecycle_plugin.runtime import get_engine

    assert get_engine().config.at_risk_days == 60


@pytest.mark.parametrize(
    "name, value, words",
    [("at_risk_days", "soon", "At risk after (days)"), ("tiers", "gold: XYZ 12", "Loyalty tiers"),
     # validated once, then every decision raised OverflowError
     ("tier_window_days", "999999999", "Tier spend window (days): must be a whole number of at most 3650")],
)
def test_plugin_update_refuses_bad_settings(staff_api_client, permission_manage_plugins, lifecycle_plugin,
                                            name, value, words):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    before = PluginConfiguration.objects.values().get(pk=lifecycle_plugin.pk)

    response = staff_api_client.post_graphql(PLUGIN_UPDATE, {"id": PLUGIN_ID, "input": {
        "active": False, "configuration": [{"name": name, "value": value}],
    }})
    data = get_graphql_content(response)["data"]["pluginUpdate"]

    (error,) = data["errors"]
    # Saleor camel-cases the field of a mutation error: at_risk_days -> atRiskDays.
    assert error["field"] == to_camel_case(name) and error["code"] == "INVALID"
    assert words in error["message"]
    assert PluginConfiguration.objects.values().get(pk=lifecycle_plugin.pk) == before


def test_plugin_update_refuses_an_at_risk_lapsed_pair_on_both_fields_by_their_labels(
    staff_api_client, permission_manage_plugins, lifecycle_plugin
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    before = PluginConfiguration.objects.values().get(pk=lifecycle_plugin.pk)

    response = staff_api_client.post_graphql(PLUGIN_UPDATE, {"id": PLUGIN_ID, "input": {
        "active": False, "configuration": [{"name": "at_risk_days", "value": "365"}],
    }})
    errors = {error["field"]: error for error in get_graphql_content(response)["data"]["pluginUpdate"]["errors"]}

    assert set(errors) == {"atRiskDays", "lapsedDays"}
    assert errors["atRiskDays"]["message"].startswith("At risk after (days): must be fewer than 'Lapsed after (days)'")
    assert errors["lapsedDays"]["message"].startswith("Lapsed after (days): must be more than 'At risk after (days)'")
    for error in errors.values():
        assert error["code"] == "INVALID" and "_days" not in error["message"]
    assert PluginConfiguration.objects.values().get(pk=lifecycle_plugin.pk) == before


# ---------------------------------------------------------------------- time and the sweep


def test_the_sweep_moves_a_quiet_customer_to_at_risk_then_lapsed(staff_orders, draft_order, customer_user):
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    placed = Order.objects.get(pk=draft_order.pk).created_at
    assert profile(customer_user.email).stage == "new"

    with freeze_time(placed + timedelta(days=91)):
        assert tasks.sweep.delay().get()["stage_changes"] == 1
    assert profile(customer_user.email).stage == "at_risk"
    assert projected(customer_user) == "at_risk"

    with freeze_time(placed + timedelta(days=181)):
        tasks.sweep.delay()
        assert profile(customer_user.email).stage == "lapsed"
        assert projected(customer_user) == "lapsed"
        # Nothing more is due.
        assert tasks.sweep.delay().get() == {"profiles": 0, "stage_changes": 0, "tier_changes": 0}

    moves = [(t.from_stage, t.to_stage, t.reason, t.occurred_at - placed) for t in
             StageTransition.objects.filter(profile__email=customer_user.email, reason="time")]
    assert moves == [("new", "at_risk", "time", timedelta(days=90)), ("at_risk", "lapsed", "time", timedelta(days=180))]


def test_an_order_from_a_lapsed_customer_is_a_win_back(staff_orders, draft_order, customer_user):
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    placed = Order.objects.get(pk=draft_order.pk).created_at
    later = Order.objects.create(channel=draft_order.channel, currency="USD", user=customer_user,
                                 user_email=customer_user.email, status="draft", origin="draft",
                                 total_gross_amount=Decimal(10), total_net_amount=Decimal(10),
                                 undiscounted_base_shipping_price_amount=Decimal(0), lines_count=0)
    with freeze_time(placed + timedelta(days=200)):
        tasks.sweep.delay()
        assert profile(customer_user.email).stage == "lapsed"
        Order.objects.filter(pk=later.pk).update(status="unfulfilled", created_at=timezone.now())
        report(customer_user.email, customer_user.pk, "order_created")
    assert history(customer_user.email)[-1] == ("lapsed", "repeat", "win_back", "order_created")


# ---------------------------------------------------------------------- failures stay inside the plugin


@pytest.mark.parametrize("task, args", [
    ("drain_events", ()),
    ("process_customer", ("test@example.com", None, "check")),
    ("process_customers", ([["test@example.com", None], ["guest@example.com", None]], "check")),
    ("forget_customer", ("test@example.com", None)),
    ("run_action_entries", ([],)),
    ("sweep", ()),
    ("run_due_actions", ()),
    ("daily_tick", ()),
    ("predict", ()),
    ("backfill_chunk", ([["test@example.com", None]],)),
])
def test_every_task_passes_saleors_writer_guard(task, args, customer_user, lifecycle_task_failures):
    # Eager tasks still run through Saleor's RestrictWriterDBTask, which raises on any
    # query to the writer database outside allow_writer(); lifecycle_task_failures
    # (autouse) fails the test if one does.
    getattr(tasks, task).delay(*args)
    assert not lifecycle_task_failures


def test_tasks_run_under_saleors_writer_guard(staff_orders, draft_order, monkeypatch, lifecycle_task_failures):
    from saleor.core.db.connection import UnsafeWriterAccessError
    from saleor.core.tasks import RestrictWriterDBTask

    assert isinstance(tasks.drain_events, RestrictWriterDBTask)
    assert isinstance(tasks.process_customer, RestrictWriterDBTask)
    # The hooks' events are drained by drain_events, eager here, under the guard.
    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    assert CustomerProfile.objects.exists() and not PendingEvent.objects.exists()
    assert not lifecycle_task_failures

    # Without the tasks' allow_writer() the guard refuses them: it is what lets them work.
    monkeypatch.setattr(tasks, "allow_writer", nullcontext)
    tasks.sweep.delay()
    assert [type(error) for _, error in lifecycle_task_failures] == [UnsafeWriterAccessError]
    lifecycle_task_failures.clear()



@pytest.mark.parametrize("broken", ["hook", "delay", "hookimpl"])
def test_a_failing_plugin_never_breaks_checkout_complete(broken, complete_paid_checkout, customer_user,
                                                         monkeypatch, third_party, caplog):
    class Broken:
        @hookimpl
        def lifecycle_stage_changed(self, change):
            raise RuntimeError("third-party bug")

    def fail(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    if broken == "hook":  # a bug in the plugin's own hook body
        monkeypatch.setattr(plugin_module.LifecyclePlugin, "_order_changed", fail)
    elif broken == "delay":  # the Celery broker is down when the first event queues the drain
        monkeypatch.setattr(tasks.drain_events, "delay", fail)
    else:  # a third-party lifecycle plugin raises
        third_party.append(Broken())

    order = complete_paid_checkout()

    # The order exists, checkoutComplete answered without errors (checked by complete()).
    assert order.status == "unfulfilled" and order.user_id == customer_user.pk
    assert Order.objects.filter(pk=order.pk, charge_status="full").exists()
    if broken in ("hook", "delay"):
        assert not CustomerProfile.objects.exists()
        assert "broker unreachable" in caplog.text
    if broken == "hook":
        assert "order_created" not in PendingEvent.objects.values_list("event", flat=True)
    elif broken == "delay":
        # The events were added before the drain could not be queued: they wait for
        # the drain beat runs every minute, which decides the customer all the same.
        assert "order_created" in PendingEvent.objects.values_list("event", flat=True)
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert tasks.drain_events.apply().get()["events"] >= 1
        assert profile(customer_user.email).stage == "new"
        assert not PendingEvent.objects.exists()
    else:
        assert profile(customer_user.email).stage == "new"
        assert HookFailure.objects.filter(hook="lifecycle_stage_changed").exists()


def test_a_failing_plugin_never_breaks_draft_order_complete(staff_orders, draft_order, monkeypatch, caplog):
    def delay(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.drain_events, "delay", delay)

    data = mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")

    assert data["order"]["status"] == "UNFULFILLED"
    assert Order.objects.get(pk=draft_order.pk).status == "unfulfilled"
    assert "broker unreachable" in caplog.text


def test_nothing_happens_while_the_plugin_is_off(staff_orders, draft_order, lifecycle_plugin, customer_user):
    lifecycle_plugin.active = False
    lifecycle_plugin.save(update_fields=["active"])

    mutate(staff_orders, DRAFT_ORDER_COMPLETE, {"id": gid("Order", draft_order.pk)}, "draftOrderComplete")
    assert not PendingEvent.objects.exists()
    # Tasks queued before the owner switched the plugin off (or by older versions) do nothing.
    assert tasks.drain_events.delay().get() is None
    tasks.process_customer.delay(customer_user.email, customer_user.pk, "late")

    assert not CustomerProfile.objects.exists()
    assert projected(customer_user) is None
