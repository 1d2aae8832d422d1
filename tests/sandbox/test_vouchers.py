"""A lifecycle voucher in the sandbox store: only its owner's order can redeem it."""

from datetime import timedelta
from decimal import Decimal

import pytest

from lifecycle_plugin.host import VOUCHER_NOT_YOURS, CustomerRef, VoucherRequest, is_voucher_owner
from lifecycle_plugin.sandbox.models import Order, Voucher
from lifecycle_plugin.sandbox.store import SandboxStore, VoucherRefused

from .conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(store):
    return SandboxStore(None)


@pytest.fixture
def ann(shop):
    return shop.register("Ann@Example.com", at=NOW - timedelta(days=100))


def issue(host, customer: CustomerRef, **overrides) -> str:
    values = dict(customer=customer, channel="default-channel", discount_type="percentage", value=Decimal("10"),
                  valid_until=NOW + timedelta(days=30), name="Lifecycle repeat_purchase")
    return host.issue_voucher(VoucherRequest(**{**values, **overrides})).code


@pytest.mark.parametrize("who", ["another account", "a guest", "a guest with a look-alike e-mail"])
def test_another_customers_order_cannot_redeem_the_voucher(who, shop, host, ann):
    code = issue(host, CustomerRef.of(ann.email, ann.pk))
    shopper = {
        "another account": shop.register("bob@example.com", at=NOW - timedelta(days=5)),
        "a guest": "carol@example.com",
        "a guest with a look-alike e-mail": "ann@example.com.evil.test",
    }[who]

    with pytest.raises(VoucherRefused, match=VOUCHER_NOT_YOURS):
        shop.place_order(shopper, "40.00", at=NOW, voucher=code)

    assert not Order.objects.exists()
    assert not Voucher.objects.get(code=code).used  # still the owner's to use
    order = shop.place_order(ann, "40.00", at=NOW, voucher=code)
    assert order.voucher_code == code and Voucher.objects.get(code=code).used


@pytest.mark.parametrize("how", ["the account", "a guest order with the account's e-mail",
                                 "the account after changing its e-mail"])
def test_the_owner_redeems_it_once(how, shop, host, ann):
    code = issue(host, CustomerRef.of(ann.email, ann.pk))
    customer = ann
    if how == "a guest order with the account's e-mail":
        customer = " ANN@example.com "
    elif how == "the account after changing its e-mail":
        ann.email = "ann.new@example.com"
        ann.save(update_fields=["email"])

    order = shop.place_order(customer, "40.00", at=NOW, voucher=code)

    assert order.voucher_code == code
    with pytest.raises(VoucherRefused, match="has been used"):
        shop.place_order(ann, "40.00", at=NOW, voucher=code)


def test_a_guest_owners_voucher_is_redeemed_by_their_e_mail(shop, host):
    code = issue(host, CustomerRef.of("guest@example.com"))

    with pytest.raises(VoucherRefused, match=VOUCHER_NOT_YOURS):
        shop.place_order("other@example.com", at=NOW, voucher=code)
    assert shop.place_order("Guest@Example.com", at=NOW, voucher=code).voucher_code == code


def test_unknown_expired_and_foreign_channel_codes_are_refused(shop, host, ann):
    code = issue(host, CustomerRef.of(ann.email, ann.pk), valid_until=NOW - timedelta(seconds=1))
    with pytest.raises(VoucherRefused, match="expired"):
        shop.place_order(ann, at=NOW, voucher=code)
    with pytest.raises(VoucherRefused, match="no voucher"):
        shop.place_order(ann, at=NOW, voucher="LC-NOSUCHCODE22")
    pln = issue(host, CustomerRef.of(ann.email, ann.pk), channel="channel-pln", discount_type="fixed",
                value=Decimal("20"), currency="PLN")
    with pytest.raises(VoucherRefused, match="no voucher"):
        shop.place_order(ann, at=NOW, voucher=pln)
    assert not Order.objects.exists()


def test_the_voucher_records_its_owner(host, ann):
    row = Voucher.objects.get(code=issue(host, CustomerRef.of(ann.email, ann.pk)))
    assert (row.customer_email, row.customer_user_id) == ("ann@example.com", ann.pk)


@pytest.mark.parametrize("owner, redeemer, allowed", [
    (CustomerRef.of("ann@example.com", 1), CustomerRef.of("ann@example.com", 1), True),
    (CustomerRef.of("ann@example.com", 1), CustomerRef.of("renamed@example.com", 1), True),  # e-mail changed
    (CustomerRef.of("ann@example.com", 1), CustomerRef.of(" Ann@Example.COM"), True),  # guest checkout
    (CustomerRef.of("ann@example.com"), CustomerRef.of("ann@example.com"), True),  # guest owner
    (CustomerRef.of("ann@example.com", 1), CustomerRef.of("bob@example.com", 2), False),
    (CustomerRef.of("ann@example.com", 1), CustomerRef.of("bob@example.com"), False),
    (CustomerRef.of("ann@example.com"), CustomerRef.of("bob@example.com", 2), False),
    (CustomerRef.of("", 1), CustomerRef.of("", None), False),  # e-mail removed: the account only
    (CustomerRef.of("", 1), CustomerRef.of("x@example.com", 1), True),
])
def test_who_owns_a_voucher(owner, redeemer, allowed):
    assert is_voucher_owner(owner, redeemer) is allowed
