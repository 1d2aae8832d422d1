"""A customer's lifecycle voucher in Saleor's real checkout: only its owner can redeem it.

Saleor has no field that ties a voucher to a customer, so the plugin refuses the
order in `preprocess_order_creation`. Everything here goes through Saleor's own
mutations: the shopper applies the code with checkoutAddPromoCode (Saleor accepts it:
it knows nothing of owners) and is refused at checkoutComplete, with a transaction
or with a payment (the older payments API, which counts the use before it asks the
plugins), while the owner's own checkout goes through.
"""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402
import inspect  # noqa: E402
import math  # noqa: E402

import graphene  # noqa: E402

import pytest  # noqa: E402
from django.utils import timezone  # noqa: E402
from saleor.checkout import calculations  # noqa: E402
from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines  # noqa: E402
from saleor.checkout.models import Checkout  # noqa: E402
from saleor.discount.models import VoucherCode  # noqa: E402
from saleor.graphql.tests.utils import get_graphql_content  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.plugins.manager import get_plugins_manager  # noqa: E402

from lifecycle_plugin.host import VOUCHER_NOT_YOURS, CustomerRef, VoucherRequest  # noqa: E402
from lifecycle_plugin.host_support import VOUCHER_CODE_ALPHABET, VOUCHER_CODE_LENGTH  # noqa: E402
from lifecycle_plugin.saleor import host as saleor_host  # noqa: E402
from lifecycle_plugin.saleor import vouchers as saleor_vouchers  # noqa: E402

from .test_flows import CHECKOUT_ADD_PROMO_CODE, CHECKOUT_COMPLETE, CHECKOUT_CREATE, gid, mutate  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]


@pytest.fixture
def owners_code(customer_user, channel_USD) -> str:
    """A 10% lifecycle voucher issued to `customer_user`, as the repeat-purchase action issues it."""
    issued = saleor_host.SaleorHost().issue_voucher(VoucherRequest(
        customer=CustomerRef.of(customer_user.email, customer_user.pk),
        channel=channel_USD.slug,
        discount_type="percentage",
        value=Decimal(10),
        valid_until=timezone.now() + timedelta(days=30),
        name="Lifecycle repeat_purchase for a test",
    ))
    return issued.code


@pytest.fixture
def shop(channel_USD, product, address, checkout_shipping, transaction_item_generator,
         transaction_events_generator, request):
    """Checkouts made and completed through Saleor's mutations."""

    class Shop:
        def checkout_with_code(self, client, code: str, email: str | None = None) -> Checkout:
            """A checkout (checkoutCreate) with `code` applied (checkoutAddPromoCode)."""
            data = {"channel": channel_USD.slug,
                    "lines": [{"quantity": 1, "variantId": gid("ProductVariant", product.variants.first().pk)}]}
            if email:
                data["email"] = email
            created = mutate(client, CHECKOUT_CREATE, {"input": data}, "checkoutCreate")["checkout"]
            applied = mutate(client, CHECKOUT_ADD_PROMO_CODE, {"id": created["id"], "code": code},
                             "checkoutAddPromoCode")["checkout"]
            assert applied["voucherCode"] == code and applied["discount"]["amount"] > 0
            return Checkout.objects.get(token=created["token"])

        def pay(self, checkout: Checkout, user, flow: str) -> None:
            """Address, delivery and the discounted total covered, by a transaction or a payment."""
            from saleor.graphql.checkout.tests.mutations.test_checkout_complete_with_transactions import (
                prepare_checkout_for_test,
            )

            if flow == "transaction":
                prepare_checkout_for_test(checkout, address, address, checkout_shipping(checkout),
                                          transaction_item_generator, transaction_events_generator, user=user)
                return
            from saleor.shipping.models import ShippingMethod

            delivery = checkout_shipping(checkout)
            # 3.21 and 3.22 take the shipping method itself (3.22 already has an unused
            # `assigned_delivery`); 3.23 a CheckoutDelivery.
            if isinstance(delivery, ShippingMethod):
                checkout.shipping_method = delivery
            else:
                checkout.assigned_delivery = delivery
            checkout.shipping_address = checkout.billing_address = address
            checkout.save()
            manager = get_plugins_manager(allow_replica=False)
            lines, _ = fetch_checkout_lines(checkout)
            # What checkoutComplete compares the payment with; 3.21 and 3.22 take the address too.
            total_of = calculations.calculate_checkout_total_with_gift_cards
            arguments = {"manager": manager, "checkout_info": fetch_checkout_info(checkout, lines, manager),
                         "lines": lines}
            if "address" in inspect.signature(total_of).parameters:
                arguments["address"] = address
            total = total_of(**arguments)
            payment = request.getfixturevalue("payment_dummy")
            payment.is_active, payment.order, payment.checkout = True, None, checkout
            payment.total, payment.currency = total.gross.amount, total.gross.currency
            payment.save()

        def complete(self, client, checkout: Checkout) -> dict:
            response = client.post_graphql(CHECKOUT_COMPLETE, {"id": gid("Checkout", checkout.pk)})
            return get_graphql_content(response)["data"]["checkoutComplete"]

    return Shop()


def code_row(code: str) -> VoucherCode:
    return VoucherCode.objects.select_related("voucher").get(code=code)


def order_of(data: dict) -> Order:
    return Order.objects.get(pk=graphene.Node.from_global_id(data["order"]["id"])[1])


@pytest.mark.parametrize("flow", ["transaction", "payment"])
@pytest.mark.parametrize("shopper", ["another account", "a guest", "another account typing the owner's e-mail"])
def test_only_the_owner_can_redeem_their_voucher(flow, shopper, shop, owners_code, customer_user, customer_user2,
                                                 user_api_client, user2_api_client, api_client):
    client, user, email = {
        "another account": (user2_api_client, customer_user2, None),
        "a guest": (api_client, None, "someone.else@example.com"),
        "another account typing the owner's e-mail": (user2_api_client, customer_user2, customer_user.email),
    }[shopper]
    checkout = shop.checkout_with_code(client, owners_code, email)
    shop.pay(checkout, user, flow)

    data = shop.complete(client, checkout)

    assert data["order"] is None
    assert [(e["field"], e["code"], e["message"]) for e in data["errors"]] == [
        ("voucherCode", "VOUCHER_NOT_APPLICABLE", VOUCHER_NOT_YOURS)
    ]
    assert not Order.objects.filter(voucher_code=owners_code).exists()
    # The refusal did not use up the owner's single-use code, in either flow.
    row = code_row(owners_code)
    assert (row.is_active, row.used) == (True, 0)
    assert not Checkout.objects.get(pk=checkout.pk).is_voucher_usage_increased

    # The owner's own checkout with the same code goes through, once.
    own = shop.checkout_with_code(user_api_client, owners_code)
    shop.pay(own, customer_user, flow)
    data = shop.complete(user_api_client, own)
    assert not data["errors"]
    order = order_of(data)
    assert (order.user_id, order.voucher_code) == (customer_user.pk, owners_code)
    assert code_row(owners_code).is_active is False


ORDER_CREATE_FROM_CHECKOUT = """
mutation ($id: ID!) {
  orderCreateFromCheckout(id: $id) { errors { field code message } order { id } }
}"""


def test_an_app_cannot_turn_another_shoppers_checkout_into_an_order(shop, owners_code, customer_user2,
                                                                    user2_api_client, app_api_client,
                                                                    permission_handle_checkouts):
    checkout = shop.checkout_with_code(user2_api_client, owners_code)
    shop.pay(checkout, customer_user2, "transaction")

    response = app_api_client.post_graphql(ORDER_CREATE_FROM_CHECKOUT, {"id": gid("Checkout", checkout.pk)},
                                           permissions=[permission_handle_checkouts])
    data = get_graphql_content(response)["data"]["orderCreateFromCheckout"]

    assert data["order"] is None
    assert [(e["field"], e["code"], e["message"]) for e in data["errors"]] == [
        ("voucherCode", "VOUCHER_NOT_APPLICABLE", VOUCHER_NOT_YOURS)
    ]
    assert (code_row(owners_code).is_active, code_row(owners_code).used) == (True, 0)


@pytest.mark.parametrize("flow", ["transaction", "payment"])
def test_the_owner_may_check_out_as_a_guest_with_their_e_mail(flow, shop, owners_code, customer_user, api_client):
    checkout = shop.checkout_with_code(api_client, owners_code, customer_user.email.upper())
    shop.pay(checkout, None, flow)

    data = shop.complete(api_client, checkout)

    assert not data["errors"]
    assert order_of(data).voucher_code == owners_code


def test_the_owner_keeps_their_voucher_after_changing_their_e_mail(shop, owners_code, customer_user,
                                                                   user_api_client):
    customer_user.email = "renamed@example.com"
    customer_user.save(update_fields=["email"])
    checkout = shop.checkout_with_code(user_api_client, owners_code)
    shop.pay(checkout, customer_user, "transaction")

    data = shop.complete(user_api_client, checkout)

    assert not data["errors"]
    assert order_of(data).voucher_code == owners_code


def test_the_voucher_records_its_owner_where_only_staff_can_read_it(owners_code, customer_user):
    voucher = code_row(owners_code).voucher
    assert voucher.private_metadata == {
        "lifecycle.customer": customer_user.email.lower(), "lifecycle.customer_id": str(customer_user.pk),
    }
    assert voucher.metadata == {}


MY_ORDER_VOUCHERS = """{ me { orders(first: 5) { edges { node {
  voucherCode voucher { metadata { key value } }
} } } } }"""


def test_whoever_ordered_with_the_voucher_cannot_read_its_owner(shop, owners_code, customer_user, user_api_client):
    """Saleor's Order.voucher needs no permission: its public metadata is anyone's who placed
    the order (with the plugin switched off, that can be someone else), so no owner there."""
    checkout = shop.checkout_with_code(user_api_client, owners_code)
    shop.pay(checkout, customer_user, "transaction")
    assert not shop.complete(user_api_client, checkout)["errors"]

    data = get_graphql_content(user_api_client.post_graphql(MY_ORDER_VOUCHERS))["data"]
    (order,) = [edge["node"] for edge in data["me"]["orders"]["edges"]]
    assert order["voucherCode"] == owners_code and order["voucher"]["metadata"] == []


def test_a_voucher_issued_before_keeps_its_owner_in_public_metadata(shop, owners_code, customer_user2,
                                                                   user2_api_client):
    voucher = code_row(owners_code).voucher
    # Staff may have put their own notes into its private metadata since.
    voucher.metadata, voucher.private_metadata = voucher.private_metadata, {"campaign": "spring"}
    voucher.save(update_fields=["metadata", "private_metadata"])
    checkout = shop.checkout_with_code(user2_api_client, owners_code)
    shop.pay(checkout, customer_user2, "transaction")

    assert shop.complete(user2_api_client, checkout)["errors"][0]["message"] == VOUCHER_NOT_YOURS


def test_a_deleted_customers_voucher_is_nobodys(shop, owners_code, customer_user2, user2_api_client):
    """Deleting a customer takes their e-mail off the voucher; the account id still binds it."""
    voucher = code_row(owners_code).voucher
    del voucher.private_metadata["lifecycle.customer"]
    voucher.save(update_fields=["private_metadata"])
    checkout = shop.checkout_with_code(user2_api_client, owners_code)
    shop.pay(checkout, customer_user2, "transaction")

    assert shop.complete(user2_api_client, checkout)["errors"][0]["message"] == VOUCHER_NOT_YOURS


def test_other_vouchers_are_left_alone(shop, voucher, customer_user2, user2_api_client):
    """A voucher the plugin did not issue (no owner in its metadata) works for anyone, as before."""
    checkout = shop.checkout_with_code(user2_api_client, voucher.code)
    shop.pay(checkout, customer_user2, "transaction")

    assert not shop.complete(user2_api_client, checkout)["errors"]


@pytest.mark.parametrize("off", ["switched off", "check fails"])
def test_the_plugin_never_breaks_checkout_except_by_refusing(off, shop, owners_code, customer_user2, user2_api_client,
                                                             lifecycle_plugin, monkeypatch, caplog):
    """Switched off, the plugin enforces nothing (Saleor's own rules apply); a bug in its
    check is logged and the order is placed, like every other hook failure."""
    if off == "switched off":
        lifecycle_plugin.active = False
        lifecycle_plugin.save(update_fields=["active"])
    else:
        def broken(voucher):
            raise RuntimeError("owner lookup bug")

        monkeypatch.setattr(saleor_vouchers, "voucher_owner", broken)
    checkout = shop.checkout_with_code(user2_api_client, owners_code)
    shop.pay(checkout, customer_user2, "transaction")

    data = shop.complete(user2_api_client, checkout)

    assert not data["errors"]
    assert order_of(data).voucher_code == owners_code
    if off == "check fails":
        assert "owner lookup bug" in caplog.text


def test_the_code_has_more_than_60_bits():
    alphabet = VOUCHER_CODE_ALPHABET
    assert len(set(alphabet)) == len(alphabet) == 31 and not set(alphabet) & set("01IOL")
    assert VOUCHER_CODE_LENGTH * math.log2(31) > 64  # log2(31) bits a character; codes: the host contract
