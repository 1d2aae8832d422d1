"""Referrals through Saleor's own mutations: the referrer's code is a real Saleor voucher;
a new customer applies it (checkoutAddPromoCode), completes the checkout unpaid
(checkoutComplete, the channel allowing unpaid orders), and staff confirm the order
(orderConfirm) and mark it paid (orderMarkAsPaid). The new customer's discount is on the order, and after the return window
the referrer gets a reward voucher: each once, however often the events are replayed. The
owner's own use of the code is refused at checkout."""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402

import graphene  # noqa: E402
import pytest  # noqa: E402
from django.utils import timezone  # noqa: E402
from freezegun import freeze_time  # noqa: E402
from saleor.account.models import Address  # noqa: E402
from saleor.checkout.models import Checkout  # noqa: E402
from saleor.discount.models import VoucherCode  # noqa: E402
from saleor.graphql.tests.utils import get_graphql_content  # noqa: E402
from saleor.order.models import Order  # noqa: E402

from lifecycle_plugin import tasks  # noqa: E402
from lifecycle_plugin.host import OWN_REFERRAL_CODE  # noqa: E402
from lifecycle_plugin.host_support import ADVOCATE_KEY  # noqa: E402
from lifecycle_plugin.models import CustomerProfile, Referral, ReferralCode  # noqa: E402
from lifecycle_plugin.rules import referral as rules  # noqa: E402

from .test_flows import (  # noqa: E402
    CHECKOUT_ADD_PROMO_CODE,
    CHECKOUT_COMPLETE,
    CHECKOUT_CREATE,
    ORDER_MARK_AS_PAID,
    UPDATE_METADATA,
    complete_paid_checkout,
    gid,
    mutate,
    report,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

SETTINGS = {"referral_enabled": True, "referral_stages": "new", "delivery_channel": "notify",
            "referral_discount": "20%", "referral_reward_discount": "15%"}


@pytest.fixture
def lifecycle_settings():
    return SETTINGS


@pytest.fixture
def referrers_code(complete_paid_checkout, customer_user, notify_log) -> str:
    """`customer_user` buys once (stage new, a referral stage here) and gets their code."""
    complete_paid_checkout()
    (row,) = ReferralCode.objects.all()
    return row.code


ORDER_CONFIRM = """
mutation ($id: ID!) { orderConfirm(id: $id) { errors { field code message } order { status } } }
"""


@pytest.fixture
def unpaid_checkout(channel_USD, product, checkout_shipping, staff_orders):
    """A checkout with `code` applied, its addresses and delivery set, completed unpaid; staff
    then confirm the order (Saleor leaves an unpaid checkout's order unconfirmed, and an
    unconfirmed order does not count)."""
    channel_USD.allow_unpaid_orders = True
    channel_USD.save(update_fields=["allow_unpaid_orders"])

    def make(client, code: str, street: str, like=None) -> dict:
        """`like`: an Address whose other fields the shipping address copies."""
        created = mutate(client, CHECKOUT_CREATE, {"input": {
            "channel": channel_USD.slug,
            "lines": [{"quantity": 1, "variantId": gid("ProductVariant", product.variants.first().pk)}],
        }}, "checkoutCreate")["checkout"]
        applied = mutate(client, CHECKOUT_ADD_PROMO_CODE, {"id": created["id"], "code": code},
                         "checkoutAddPromoCode")["checkout"]
        assert applied["voucherCode"] == code and applied["discount"]["amount"] > 0
        checkout = Checkout.objects.get(token=created["token"])
        if like is not None:
            address = like.get_copy()
            address.street_address_1 = street
            address.save()
        else:
            address = Address.objects.create(first_name="Bo", last_name="Friend", street_address_1=street,
                                             city="Springfield", postal_code="62701", country="US",
                                             country_area="IL", phone="+12025550123")
        from saleor.shipping.models import ShippingMethod

        delivery = checkout_shipping(checkout)
        if isinstance(delivery, ShippingMethod):
            checkout.shipping_method = delivery
        else:
            checkout.assigned_delivery = delivery
        checkout.shipping_address = checkout.billing_address = address
        checkout.save()
        response = client.post_graphql(CHECKOUT_COMPLETE, {"id": gid("Checkout", checkout.pk)})
        data = get_graphql_content(response)["data"]["checkoutComplete"]
        if data["order"]:
            assert data["order"]["status"] == "UNCONFIRMED"
            confirmed = mutate(staff_orders, ORDER_CONFIRM, {"id": data["order"]["id"]}, "orderConfirm")
            assert confirmed["order"]["status"] == "UNFULFILLED"
        return data

    return make


def run_due(at):
    from django.test import TestCase

    with freeze_time(at), TestCase.captureOnCommitCallbacks(execute=True):
        return tasks.run_due_actions.delay().get()


def reward_events(notify_log):
    return [entry for entry in notify_log if entry["event"] == "lifecycle_referral_reward"]


def test_a_referees_order_earns_both_rewards_once(referrers_code, unpaid_checkout, customer_user, customer_user2,
                                                 user2_api_client, staff_orders, notify_log):
    (code_message,) = [entry for entry in notify_log if entry["event"] == "lifecycle_referral_code"]
    assert referrers_code in code_message["payload"]["text"]
    voucher = VoucherCode.objects.select_related("voucher").get(code=referrers_code).voucher
    assert (voucher.single_use, voucher.usage_limit, voucher.apply_once_per_customer) == (False, None, True)
    assert voucher.private_metadata["lifecycle.referrer"] == customer_user.email.lower()

    data = unpaid_checkout(user2_api_client, referrers_code, "9 Elm Road")
    assert not data["errors"], data["errors"]
    order = Order.objects.get(pk=graphene.Node.from_global_id(data["order"]["id"])[1])
    mutate(staff_orders, ORDER_MARK_AS_PAID, {"id": gid("Order", order.pk)}, "orderMarkAsPaid")
    order.refresh_from_db()
    # The referee's discount: Saleor's own voucher discount on the order, 20% of its lines.
    assert order.voucher_code == referrers_code and order.charge_status == "full"
    (discount,) = order.discounts.all()
    lines = sum(line.undiscounted_total_price_gross_amount for line in order.lines.all())
    assert discount.voucher_code == referrers_code and discount.amount_value == (lines * 20 / 100).quantize(
        discount.amount_value)
    assert order.undiscounted_total_gross_amount - order.total_gross_amount == discount.amount_value

    (referral,) = Referral.objects.all()
    assert (referral.status, referral.referee.email, referral.referrer.user_id) == (
        Referral.PENDING, customer_user2.email.lower(), customer_user.pk)
    assert run_due(timezone.now() + timedelta(days=13))["scheduled"] == 0
    later = timezone.now() + timedelta(days=15)
    run_due(later)
    for _ in range(2):  # Saleor's events again, and the due run again
        report(customer_user2.email, customer_user2.pk, "order_fully_paid")
        report(customer_user2.email, customer_user2.pk, "order_created")
        run_due(later)

    (reward,) = reward_events(notify_log)
    assert reward["payload"]["recipient_email"] == customer_user.email
    reward_code = reward["payload"]["data"]["voucher"]["code"]
    assert reward_code != referrers_code and reward_code in reward["payload"]["text"]
    reward_voucher = VoucherCode.objects.select_related("voucher").get(code=reward_code).voucher
    assert reward_voucher.single_use and reward_voucher.channel_listings.get().discount_value == 15
    # One reward (a personal voucher); the new customer, new now, got their own referral code.
    assert VoucherCode.objects.filter(code__startswith="LC-", voucher__single_use=True).count() == 1
    assert VoucherCode.objects.filter(code__startswith="LC-", voucher__single_use=False).count() == 2
    referral.refresh_from_db()
    assert referral.status == Referral.REWARDED

    report(customer_user.email, customer_user.pk, "referral")
    profile = CustomerProfile.objects.get(user_id=customer_user.pk)
    assert (profile.extra_facts["referrals_made"], profile.extra_facts["referrals_rewarded"]) == (1, 1)
    customer_user.refresh_from_db(fields=["metadata"])
    assert customer_user.metadata[ADVOCATE_KEY] == "true"


def test_the_owner_cannot_use_their_own_code(referrers_code, unpaid_checkout, user_api_client):
    data = unpaid_checkout(user_api_client, referrers_code, "1 Other St")
    assert data["order"] is None
    assert [(e["field"], e["code"], e["message"]) for e in data["errors"]] == [
        ("voucherCode", "VOUCHER_NOT_APPLICABLE", OWN_REFERRAL_CODE)]
    assert not Referral.objects.exists()


def test_a_shared_shipping_address_is_refused_with_its_reason(referrers_code, unpaid_checkout, user2_api_client,
                                                             address, notify_log):
    """The referrer's order shipped to the `address` fixture; the new customer's ships there
    too, spelled in capitals."""
    data = unpaid_checkout(user2_api_client, referrers_code, address.street_address_1.upper(), like=address)
    assert not data["errors"]
    (referral,) = Referral.objects.all()
    assert (referral.status, referral.reason) == (Referral.REFUSED, rules.SAME_ADDRESS)
    run_due(timezone.now() + timedelta(days=20))
    assert reward_events(notify_log) == []


def test_a_customer_cannot_make_themselves_an_advocate(referrers_code, customer_user, user_api_client):
    """lifecycle.advocate is public metadata the customer can write: the plugin puts it back."""
    mutate(user_api_client, UPDATE_METADATA, {
        "id": gid("User", customer_user.pk), "input": [{"key": ADVOCATE_KEY, "value": "true"}],
    }, "updateMetadata")
    # Saleor answers with the instance it wrote; the database is put right at once.
    customer_user.refresh_from_db(fields=["metadata"])
    assert ADVOCATE_KEY not in customer_user.metadata and customer_user.metadata["lifecycle.stage"] == "new"
