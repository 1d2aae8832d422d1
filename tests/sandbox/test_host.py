import json
"""The sandbox host against its own store: customers, facts, projection, vouchers, outbox."""

import random
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from lifecycle_plugin.host import OPTIONAL_HOST_METHODS, CustomerRef, Message, Projection, VoucherRequest, is_host
from lifecycle_plugin.host_support import VOUCHER_CODE_ALPHABET, VOUCHER_CODE_LENGTH
from lifecycle_plugin.rules import OrderState
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import ChargeStatus, CustomerMetadata, OrderStatus, OutboxMessage, Voucher
from lifecycle_plugin.sandbox.store import SandboxStore

from .conftest import NOW

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def shop(store):
    """The store without engine calls: these tests look at the host alone."""
    return SandboxStore(None)


def ref(email, user_id=None):
    return CustomerRef.of(email, user_id)


def test_implements_the_host_protocol(host):
    assert is_host(host)
    assert host.name == "sandbox"
    assert {m for m in OPTIONAL_HOST_METHODS if hasattr(host, m)} == set(OPTIONAL_HOST_METHODS) - {
        "plugin_active",  # the sandbox is always on; its settings are LIFECYCLE_SETTINGS and what the owner saved
        "customer_languages"}  # the sandbox store records no languages: every message in the default


def test_saved_settings_go_over_django_settings_and_replace_the_saved_ones(host, settings):
    settings.LIFECYCLE_SETTINGS = {"at_risk_days": "70", "lapsed_days": "200"}
    assert host.plugin_settings() == {"at_risk_days": "70", "lapsed_days": "200"}
    host.save_plugin_settings({"at_risk_days": "50"})
    assert host.plugin_settings() == {"at_risk_days": "50", "lapsed_days": "200"}
    host.save_plugin_settings({"lapsed_days": "300"})
    assert host.plugin_settings() == {"at_risk_days": "70", "lapsed_days": "300"}


# ---------------------------------------------------------------------------- customers

def test_customer_chunks_lists_accounts_and_guest_emails_once_in_email_order(shop, host):
    ann = shop.register("Ann@Example.com", at=NOW - 30 * DAY, notify=False)
    staff = shop.register("staff@example.com", at=NOW - 30 * DAY, notify=False)
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    shop.place_order(" ANN@example.com", "10", at=NOW - 40 * DAY, notify=False)  # guest order before sign-up
    shop.place_order("bob@example.com", "10", at=NOW - 5 * DAY, notify=False)
    shop.place_order("Bob@Example.com", "12", at=NOW - 4 * DAY, notify=False)
    shop.open_checkout("carl@example.com", lines=0)  # a visitor: emptied guest cart
    shop.open_checkout("dora@example.com", lines=2)
    shop.open_checkout(user=ann, lines=1)

    chunks = list(host.customer_chunks(2))
    assert [len(chunk) for chunk in chunks] == [2, 2]
    everyone = [c for chunk in chunks for c in chunk]
    assert everyone == [
        CustomerRef("ann@example.com", ann.pk),
        CustomerRef("bob@example.com", None),
        CustomerRef("carl@example.com", None),
        CustomerRef("dora@example.com", None),
    ]
    assert host.count_customers() == 4
    resumed = [c for chunk in host.customer_chunks(10, start_after="bob@example.com") for c in chunk]
    assert [c.email for c in resumed] == ["carl@example.com", "dora@example.com"]
    assert list(host.customer_chunks(10, start_after="dora@example.com")) == []


def test_customer_chunks_rejects_a_chunk_size_below_one(host):
    with pytest.raises(ValueError):
        next(host.customer_chunks(0))


# ---------------------------------------------------------------------------- facts

def test_guest_orders_before_sign_up_count_for_the_account_case_insensitively(shop, host):
    shop.place_order("Mia.Stone@Example.COM ", "30", at=NOW - 90 * DAY, notify=False)
    shop.place_order("mia.stone@example.com", "40", at=NOW - 60 * DAY, notify=False)
    mia = shop.register("MIA.STONE@example.com", at=NOW - 10 * DAY, notify=False)
    shop.place_order(mia, "50", at=NOW - 5 * DAY, notify=False)
    shop.place_order("someone.else@example.com", "70", at=NOW - 5 * DAY, notify=False)

    by_email = host.read_facts([ref("mia.stone@example.com")])[ref("mia.stone@example.com")]
    by_account = host.read_facts([ref("x@unrelated.example", mia.pk)])[ref("x@unrelated.example", mia.pk)]
    for facts in (by_email, by_account):
        assert facts.has_account and facts.user_id == mia.pk
        assert facts.account_created_at == NOW - 10 * DAY
        assert sorted(o.total for o in facts.orders) == [Decimal("30"), Decimal("40"), Decimal("50")]
    # the customer key is the normalised e-mail asked for
    assert by_email.email == "mia.stone@example.com"


def test_facts_map_saleor_statuses_and_money(shop, host):
    guest = "gus@example.com"
    placed = {
        status: shop.place_order(guest, "100", status=status, at=NOW - DAY, notify=False)
        for status in OrderStatus.values
    }
    paid_by_charge = {}
    for charge in ChargeStatus.values:
        order = shop.place_order(guest, "20", channel="channel-pln", at=NOW - 2 * DAY, notify=False)
        order.charge_status = charge
        order.save()
        paid_by_charge[str(order.pk)] = charge in ("full", "overcharged")
    refunded = placed[OrderStatus.FULFILLED]
    refunded.refunded_amount = Decimal("25.50")
    refunded.fulfilled_at = NOW - DAY / 2
    refunded.save()

    facts = host.read_facts([ref(guest)])[ref(guest)]
    orders = {o.order_id: o for o in facts.orders}
    expected = {
        "draft": OrderState.DRAFT,
        "unconfirmed": OrderState.UNCONFIRMED,
        "canceled": OrderState.CANCELLED,
        "expired": OrderState.EXPIRED,
    }
    for status, order in placed.items():
        assert orders[str(order.pk)].state is expected.get(status, OrderState.PLACED), status
        assert orders[str(order.pk)].channel == "default-channel"
        assert orders[str(order.pk)].currency == "USD"
    for order_id, paid in paid_by_charge.items():
        assert orders[order_id].paid is paid
        assert orders[order_id].currency == "PLN" and orders[order_id].channel == "channel-pln"
    fact = orders[str(refunded.pk)]
    assert fact.refunded == Decimal("25.50") and fact.total == Decimal("100.00")
    assert fact.fulfilled_at == NOW - DAY / 2
    assert fact.placed_at == NOW - DAY
    assert not facts.has_account and facts.user_id is None


def test_open_carts_count_lines_of_checkouts_with_lines(shop, host):
    ann = shop.register("ann@example.com", notify=False)
    shop.open_checkout(user=ann, lines=2)
    shop.open_checkout("ANN@example.com", lines=3)  # a guest checkout with the account's e-mail
    shop.open_checkout(user=ann, lines=0)
    shop.open_checkout("bea@example.com", lines=0)
    facts = host.read_facts([ref("ann@example.com", ann.pk), ref("bea@example.com")])
    assert facts[ref("ann@example.com", ann.pk)].open_cart_lines == 5
    assert facts[ref("bea@example.com")].open_cart_lines == 0


def test_an_accounts_order_never_counts_for_another_customer_by_email(shop, host):
    ann = shop.register("ann@example.com", notify=False)
    order = shop.place_order(ann, "10", notify=False)
    order.user_email = "old.address@example.com"  # the account changed its e-mail since
    order.save()
    shop.place_order("old.address@example.com", "20", notify=False)
    facts = host.read_facts([ref("old.address@example.com"), ref("ann@example.com", ann.pk)])
    assert [o.total for o in facts[ref("old.address@example.com")].orders] == [Decimal("20.00")]
    assert [o.total for o in facts[ref("ann@example.com", ann.pk)].orders] == [Decimal("10.00")]


def test_every_customer_asked_gets_an_entry(host, db):
    asked = [ref("nobody@example.com"), ref("ghost@example.com", 999_999)]
    facts = host.read_facts(asked)
    assert set(facts) == set(asked)
    assert all(not f.has_account and not f.orders and f.open_cart_lines == 0 for f in facts.values())
    assert host.read_facts([]) == {}


def test_read_facts_uses_three_queries_whatever_the_batch_size(shop, host, django_assert_max_num_queries):
    from lifecycle_plugin.sandbox.generator import generate_store

    generate_store(customers=400, years=2, seed=3, now=NOW)
    customers = [c for chunk in host.customer_chunks(500) for c in chunk]
    assert len(customers) > 350
    for size in (1, 10, 100, len(customers)):
        with django_assert_max_num_queries(3):
            facts = host.read_facts(customers[:size])
        assert len(facts) == size
    assert sum(len(f.orders) for f in facts.values()) > 1000


def test_as_of_hides_what_happened_later(shop, clock):
    host = SandboxHost(as_of=clock)
    shop.place_order("ann@example.com", "10", at=NOW - 20 * DAY, notify=False)
    later = shop.place_order("ann@example.com", "20", at=NOW + DAY, notify=False)
    early = shop.place_order("ann@example.com", "30", at=NOW - 3 * DAY, notify=False)
    early.fulfilled_at = NOW + 2 * DAY
    early.save()
    shop.register("ann@example.com", at=NOW + 5 * DAY, notify=False)
    shop.open_checkout("ann@example.com", lines=4, at=NOW + DAY)
    shop.register("bob@example.com", at=NOW + DAY, notify=False)

    facts = host.read_facts([ref("ann@example.com")])[ref("ann@example.com")]
    assert sorted(o.total for o in facts.orders) == [Decimal("10.00"), Decimal("30.00")]
    assert all(o.fulfilled_at is None for o in facts.orders)
    assert not facts.has_account and facts.open_cart_lines == 0
    assert [c.email for chunk in host.customer_chunks(10) for c in chunk] == ["ann@example.com"]
    assert host.count_customers() == 1

    clock.now = NOW + 10 * DAY
    facts = host.read_facts([ref("ann@example.com")])[ref("ann@example.com")]
    assert str(later.pk) in {o.order_id for o in facts.orders}
    assert facts.has_account and facts.open_cart_lines == 4
    assert [c.email for chunk in host.customer_chunks(10) for c in chunk] == ["ann@example.com", "bob@example.com"]


def test_customer_names_and_order_products(shop, host):
    ann = shop.register("ann@example.com", first_name="Ann", last_name="Lee", notify=False)
    order = shop.place_order(ann, "30", notify=False,
                             lines=[("Green Tea", 2, Decimal("10")), ("Ceramic Mug", 1, Decimal("10"))])
    names = host.customer_names([ref("ann@example.com"), ref("guest@example.com")])
    assert names[ref("ann@example.com")].full == "Ann Lee"
    assert ref("guest@example.com") not in names
    products = host.order_products([str(order.pk), "not-a-uuid"])
    assert [(p.name, p.quantity) for p in products[str(order.pk)]] == [("Green Tea", 2), ("Ceramic Mug", 1)]


# ---------------------------------------------------------------------------- projection

def projection(customer, stage="new", tier=None, **profile):
    return Projection(customer=customer, stage=stage, tier=tier, profile={"stage": stage, **profile})


def test_projection_merges_into_metadata_and_keeps_other_keys(shop, host, django_assert_num_queries):
    ann = shop.register("ann@example.com", notify=False)
    bob = shop.register("bob@example.com", notify=False)
    CustomerMetadata.objects.create(
        user=ann, metadata={"newsletter": "yes", "lifecycle.stage": "spoofed"}, private_metadata={"crm_id": 7}
    )
    with django_assert_num_queries(1):
        host.write_projection([
            projection(ref("ann@example.com", ann.pk), "lead", None),
            projection(ref("bob@example.com", bob.pk), "new", "bronze", orders=1),
            projection(ref("guest@example.com"), "visitor"),  # no account: nothing, as in Saleor
            projection(ref("ann@example.com", ann.pk), "prospect", None),  # the last one wins
        ])
    ann_meta = CustomerMetadata.objects.get(user=ann)
    assert ann_meta.metadata == {"newsletter": "yes", "lifecycle.stage": "prospect", "lifecycle.tier": ""}
    assert ann_meta.private_metadata == {"crm_id": 7, "lifecycle.profile": '{"stage": "prospect"}'}
    bob_meta = CustomerMetadata.objects.get(user=bob)
    assert bob_meta.metadata == {"lifecycle.stage": "new", "lifecycle.tier": "bronze"}
    assert json.loads(bob_meta.private_metadata["lifecycle.profile"]) == {"stage": "new", "orders": 1}
    assert CustomerMetadata.objects.count() == 2

    host.write_projection([projection(ref("bob@example.com", bob.pk), "repeat", "silver")])
    assert CustomerMetadata.objects.get(user=bob).metadata == {"lifecycle.stage": "repeat", "lifecycle.tier": "silver"}
    host.write_projection([])
    host.write_projection([projection(ref("gone@example.com", 999_999), "lead")])  # a deleted account
    assert CustomerMetadata.objects.count() == 2


# ---------------------------------------------------------------------------- services

def voucher_request(**overrides):
    values = dict(customer=ref("ann@example.com"), channel="default-channel", discount_type="percentage",
                  value=Decimal("10"), valid_until=NOW + 30 * DAY, name="Welcome back")
    values.update(overrides)
    return VoucherRequest(**values)


def test_vouchers_are_single_use_with_unique_unguessable_codes(store, host):
    random.seed(1234)
    first = host.issue_voucher(voucher_request())
    random.seed(1234)  # codes come from `secrets`, not from the seedable `random`
    second = host.issue_voucher(voucher_request())
    assert first.code != second.code
    codes = {first.code, second.code} | {host.issue_voucher(voucher_request()).code for _ in range(200)}
    assert len(codes) == 202
    pattern = re.compile(f"^LC-[{VOUCHER_CODE_ALPHABET}]{{{VOUCHER_CODE_LENGTH}}}$")
    assert all(pattern.match(code) for code in codes)
    assert not set("01IOL") & set("".join(code[3:] for code in codes))
    row = Voucher.objects.get(code=first.code)
    assert row.single_use and not row.used
    assert row.customer_email == "ann@example.com" and row.channel.slug == "default-channel"
    assert first.voucher_id == str(row.pk) and first.valid_until == NOW + 30 * DAY and first.channel == "default-channel"

    fixed = host.issue_voucher(voucher_request(discount_type="fixed", value=Decimal("40"), currency="PLN",
                                               channel="channel-pln"))
    assert Voucher.objects.get(code=fixed.code).currency == "PLN"
    with pytest.raises(ValueError):
        host.issue_voucher(voucher_request(discount_type="fixed"))  # a fixed amount needs a currency
    with pytest.raises(LookupError):
        host.issue_voucher(voucher_request(channel="no-such-channel"))


def test_messages_go_to_the_outbox(store, host):
    receipt = host.deliver_message(Message(customer=ref("ann@example.com"), action="review_request",
                                           subject="How was it?", text="Tell us", html="<p>Tell us</p>",
                                           payload={"total": Decimal("9.50")}, channel="default-channel"))
    row = OutboxMessage.objects.get()
    assert receipt.channel == "outbox" and receipt.reference == str(row.pk)
    assert (row.email, row.action, row.subject, row.payload) == (
        "ann@example.com", "review_request", "How was it?", {"total": "9.50"})


# ---------------------------------------------------------------------------- store + engine

def test_store_operations_move_the_customer_through_the_stages(store, clock):
    from lifecycle_plugin.models import CustomerProfile

    def stage():
        return CustomerProfile.objects.get(email="zoe@example.com").stage

    def public():
        return CustomerMetadata.objects.get(user=zoe).metadata

    zoe = store.register("Zoe@Example.com")
    assert stage() == "lead" and public()["lifecycle.stage"] == "lead"
    checkout = store.open_checkout(user=zoe, lines=2)
    assert stage() == "prospect"
    first = store.place_order(zoe, "120", checkout=checkout)
    assert stage() == "new" and public() == {"lifecycle.stage": "new", "lifecycle.tier": "bronze"}
    clock.now += 10 * DAY
    second = store.place_order(zoe, "30", paid=False)
    assert stage() == "repeat"
    store.mark_paid(second)
    store.fulfil_order(first)
    store.cancel_order(second)
    assert stage() == "new"
    store.refund_order(first)  # fully refunded: no counted order left
    assert stage() == "lead"
    assert first.status == OrderStatus.RETURNED
    clock.now += 100 * DAY
    store.place_order("ZOE@example.com ", "80")  # as a guest, with her e-mail in capitals
    assert stage() == "new"
    assert CustomerProfile.objects.count() == 1


def test_an_order_reported_after_a_due_check_is_an_event_not_time(store, clock):
    from lifecycle_plugin.models import StageTransition

    store.place_order("kim@example.com", "40")  # new; at risk in 90 days
    clock.now += 89 * DAY
    store.place_order("kim@example.com", "40", at=clock.now, notify=False)  # placed before the check ...
    clock.now += 2 * DAY
    store.notify(CustomerRef.of("kim@example.com"), "order_created")  # ... reported after it
    moves = list(StageTransition.objects.values_list("from_stage", "to_stage", "reason"))
    assert moves == [(None, "new", "event"), ("new", "repeat", "event")]
