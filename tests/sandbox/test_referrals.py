"""Referrals on the sandbox host, committing for real: the code is a sandbox voucher anyone but
its owner may redeem once; a friend's order with it is a referral, rewarded once after the
window even with two workers replaying everything; the demo's shoppers make referrals."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection

from lifecycle_plugin.host import OWN_REFERRAL_CODE, CustomerRef
from lifecycle_plugin.models import Referral, ReferralCode
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import CustomerMetadata, Order, OutboxMessage, Voucher
from lifecycle_plugin.sandbox.referrals import make_referrals
from lifecycle_plugin.sandbox.replay import SimulatedClock
from lifecycle_plugin.sandbox.store import SandboxStore, VoucherRefused

from ..actions.conftest import T0, at_once, build_engine

pytestmark = pytest.mark.django_db(transaction=True)

ANN, BOB = "ann@example.com", "bob@example.com"
SETTINGS = {"referral_enabled": "true", "repeat_purchase_enabled": "false", "tier_upgrade_enabled": "false",
            "review_request_enabled": "false", "winback_reminder_enabled": "false",
            "referral_return_window_days": "3"}


@pytest.fixture
def ann_with_code(clock):
    engine = build_engine(SandboxHost(), clock, SETTINGS)
    store = SandboxStore(engine)
    user = store.register(ANN, first_name="Ann", at=T0 - timedelta(days=10))
    CustomerMetadata.objects.get_or_create(user=user)
    store.place_order(user, "40", at=T0 - timedelta(days=5), ship_to="1 Main St")
    store.place_order(user, "40", ship_to="1 Main St")
    [code] = ReferralCode.objects.values_list("code", flat=True)
    return engine, store, user, code


def test_the_code_works_for_a_friend_once_and_never_for_its_owner(ann_with_code, clock):
    engine, store, user, code = ann_with_code
    voucher = Voucher.objects.get(code=code)
    assert (voucher.shareable, voucher.single_use, voucher.customer_email) == (True, False, ANN)
    with pytest.raises(VoucherRefused, match=OWN_REFERRAL_CODE):
        store.place_order(user, "30", voucher=code)
    with pytest.raises(VoucherRefused, match=OWN_REFERRAL_CODE):
        store.place_order(ANN.upper(), "30", voucher=code)  # as a guest with the owner's e-mail
    store.place_order(BOB, "30", voucher=code, ship_to="9 Elm Rd")
    with pytest.raises(VoucherRefused, match="has been used by this customer"):
        store.place_order(BOB, "30", voucher=code)
    assert Order.objects.filter(voucher_code=code).count() == 1
    assert SandboxHost().order_voucher_codes([str(o.pk) for o in Order.objects.all()]) == {
        str(Order.objects.get(voucher_code=code).pk): code}


def test_two_workers_replaying_everything_reward_once(ann_with_code, clock):
    _, store, user, code = ann_with_code
    store.place_order(BOB, "30", voucher=code, ship_to="9 Elm Rd")
    engines = [build_engine(SandboxHost(), clock, SETTINGS) for _ in "ab"]
    clock.advance(days=4)
    for _ in range(2):
        at_once(*(lambda e=e: e.process(CustomerRef.of(BOB), event="order_fully_paid") for e in engines))
        at_once(*(e.run_due_actions for e in engines))
    assert OutboxMessage.objects.filter(action="referral_reward", email=ANN).count() == 1
    assert Voucher.objects.filter(customer_email=ANN, shareable=False).count() == 1
    assert Referral.objects.get().status == Referral.REWARDED
    at_once(*(lambda e=e: e.process(CustomerRef.of(ANN, user.pk), event="referral") for e in engines))
    with connection.cursor() as cursor:  # the advocate flag, as storefronts read it
        cursor.execute("SELECT metadata->>'lifecycle.advocate' FROM lifecycle_sandbox_customermetadata "
                       "WHERE user_id = %s", [user.pk])
        assert cursor.fetchone() == ("true",)


def test_the_demo_shoppers_use_issued_codes_with_refused_cases(ann_with_code, clock):
    engine, store, user, code = ann_with_code
    sim = SimulatedClock(clock.now)
    engine.clock = sim
    done = Counter()
    for day in range(30):
        start = clock.now + timedelta(days=day)
        done.update(make_referrals(engine, sim, start, start + timedelta(days=1), seed=day))
    assert sum(done.values()) >= 1
    assert Order.objects.filter(voucher_code=code).count() == Referral.objects.count() == sum(
        n for case, n in done.items() if "refused at checkout" not in case)


def test_referrers_orders_get_the_shared_address_by_account_and_by_email(ann_with_code):
    from lifecycle_plugin.sandbox.referrals import _referrer_address_of, give_referrers_addresses

    engine, store, user, code = ann_with_code
    Order.objects.filter(user=user).update(shipping_address="")
    store.place_order(ANN.upper(), "25", ship_to="")  # a guest order with the referrer's e-mail
    store.place_order(BOB, "30", ship_to="")  # somebody else's
    kept = store.place_order(ANN, "35", ship_to="9 Kept Road")

    changed = give_referrers_addresses()

    address = _referrer_address_of(Voucher.objects.get(code=code).customer_email)
    with connection.cursor() as cursor:
        cursor.execute("""SELECT id, shipping_address FROM lifecycle_sandbox_order
                          WHERE user_id = %s OR lower(user_email) = %s ORDER BY id""", [user.pk, ANN])
        theirs = dict(cursor.fetchall())
    assert changed == len(theirs) - 1 == 3
    assert {a for order_id, a in theirs.items() if order_id != kept.pk} == {address}
    assert theirs[kept.pk] == "9 Kept Road"
    assert Order.objects.get(user_email=BOB).shipping_address == ""
    assert give_referrers_addresses() == 0  # nothing left to give
