"""Abandoned-checkout reminders driven through Saleor's own mutations: a cart filled with
checkoutCreate + checkoutLinesAdd and left is reminded of by e-mail, with its lines and a link
back; one completed with checkoutComplete is not; a guest's cart is reminded of at its e-mail."""

from . import require_saleor

require_saleor()

from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.test import TestCase  # noqa: E402
from freezegun import freeze_time  # noqa: E402
from saleor.checkout.models import Checkout  # noqa: E402

from lifecycle_plugin import tasks  # noqa: E402
from lifecycle_plugin.host import CustomerRef  # noqa: E402
from lifecycle_plugin.models import ScheduledAction  # noqa: E402
from lifecycle_plugin.saleor.host import SaleorHost  # noqa: E402

from .test_flows import CHECKOUT_COMPLETE, CHECKOUT_CREATE, gid, mutate, paid_checkout  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

URL = "https://shop.example.com/checkout?token={token}"
CHECKOUT_LINES_ADD = """
mutation ($id: ID, $lines: [CheckoutLineInput!]!) {
  checkoutLinesAdd(id: $id, lines: $lines) { errors { field code message } checkout { id token } }
}"""


@pytest.fixture
def lifecycle_settings():
    return {"abandoned_checkout_enabled": True, "checkout_url_template": URL, "delivery_channel": "email"}


def committed(client, query, variables, name):
    """A mutation as Saleor runs it in production: its hooks run after its commit, and the
    plugin's inbox drain (eager here) with them."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return mutate(client, query, variables, name)


def run_due_actions():
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.run_due_actions.delay().get()


def fill_cart(client, channel, product, email=None):
    """checkoutCreate with one line, then checkoutLinesAdd with another."""
    variants = list(product.variants.all())
    data = {"channel": channel.slug, "lines": [{"quantity": 2, "variantId": gid("ProductVariant", variants[0].pk)}]}
    if email:
        data["email"] = email
    created = committed(client, CHECKOUT_CREATE, {"input": data}, "checkoutCreate")["checkout"]
    other = variants[1] if len(variants) > 1 else variants[0]
    committed(client, CHECKOUT_LINES_ADD, {"id": created["id"], "lines": [
        {"quantity": 1, "variantId": gid("ProductVariant", other.pk)}]}, "checkoutLinesAdd")
    return Checkout.objects.get(token=created["token"])


def test_a_cart_left_alone_is_reminded_after_4_hours_with_its_lines_and_link(user_api_client, customer_user,
                                                                              channel_USD, product, mailoutbox):
    checkout = fill_cart(user_api_client, channel_USD, product)
    # checkoutCreate scheduled a reminder; checkoutLinesAdd changed the cart and moved it later.
    created, added = ScheduledAction.objects.filter(action="abandoned_checkout").order_by("id")
    assert created.status == "cancelled" and created.due_at < added.due_at
    assert added.status == "pending" and added.due_at == checkout.last_change + timedelta(hours=4)

    with freeze_time(checkout.last_change + timedelta(hours=3)):
        run_due_actions()
    assert mailoutbox == []
    with freeze_time(checkout.last_change + timedelta(hours=4, minutes=1)):
        run_due_actions()
        run_due_actions()  # beat again: nothing more
    [mail] = mailoutbox
    assert mail.to == [customer_user.email]
    assert mail.subject.endswith("you left something in your cart")
    for line in checkout.lines.all():  # the cart as Saleor keeps it (a variant added again is one line)
        variant = f" ({line.variant.name})" if line.variant.name else ""
        count = f" x {line.quantity}" if line.quantity > 1 else ""
        assert f"  - {line.variant.product.name}{variant}{count}\n" in mail.body
    assert sum(line.quantity for line in checkout.lines.all()) == 3
    assert URL.format(token=checkout.token) in mail.body

    with freeze_time(checkout.last_change + timedelta(hours=24, minutes=1)):
        run_due_actions()
    assert [m.subject for m in mailoutbox][1].startswith("Still thinking it over")


def test_a_completed_checkout_gets_no_reminder(user_api_client, customer_user, channel_USD, product, address,
                                               checkout_shipping, transaction_item_generator,
                                               transaction_events_generator, mailoutbox):
    checkout = fill_cart(user_api_client, channel_USD, product)
    changed = checkout.last_change
    paid = paid_checkout(checkout, customer_user, address, checkout_shipping, transaction_item_generator,
                         transaction_events_generator)
    committed(user_api_client, CHECKOUT_COMPLETE, {"id": gid("Checkout", paid.pk)}, "checkoutComplete")
    assert not Checkout.objects.filter(token=checkout.token).exists()
    assert not ScheduledAction.objects.filter(action="abandoned_checkout", status="pending").exists()
    for hours in (4, 24, 48):
        with freeze_time(changed + timedelta(hours=hours, minutes=1)):
            run_due_actions()
    assert mailoutbox == []


def test_a_guest_cart_is_reminded_at_the_checkouts_email(api_client, channel_USD, product, mailoutbox):
    checkout = fill_cart(api_client, channel_USD, product, email="Guest.Shopper@example.com")
    with freeze_time(checkout.last_change + timedelta(hours=4, minutes=1)):
        run_due_actions()
    [mail] = mailoutbox
    assert mail.to == ["guest.shopper@example.com"]
    assert URL.format(token=checkout.token) in mail.body


def test_the_host_lists_a_customers_checkouts_with_their_lines(user_api_client, customer_user, channel_USD,
                                                               product):
    checkout = fill_cart(user_api_client, channel_USD, product)
    customer = CustomerRef.of(customer_user.email, customer_user.pk)
    [found] = SaleorHost().customer_checkouts([customer])[customer]
    assert found.token == str(checkout.token) and found.changed_at == checkout.last_change
    assert found.channel == channel_USD.slug and found.user_id == customer_user.pk
    lines = {(line.variant.product.name, line.quantity) for line in checkout.lines.all()}
    assert {(line.name, line.quantity) for line in found.lines} == lines
    assert SaleorHost().customer_checkouts([CustomerRef.of("nobody@example.com")]) == {}
