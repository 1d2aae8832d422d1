"""An account whose e-mail is not confirmed gets no guest history of that e-mail.

Whoever registers someone else's address (Saleor lets them sign in before confirming
when `allow_login_without_confirmation` is on) must not read that person's guest
purchases through `myLifecycle` (which finds the profile by account) or the stage in
the account's metadata. Guest history joins the account when it is confirmed.
On the sandbox host, whose `UnconfirmedAccount` rows stand for Saleor's `is_confirmed`.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import CustomerProfile
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import CustomerMetadata
from lifecycle_plugin.sandbox.store import SandboxStore, ensure_channels

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"
DAY = timedelta(days=1)


@pytest.fixture
def shop():
    ensure_channels()
    engine = LifecycleEngine(SandboxHost(), plugin_manager=make_plugin_manager(load_entry_points=False))
    return SandboxStore(engine)


def of_account(user):
    return CustomerProfile.objects.filter(user_id=user.pk).first()


def guest_with_two_orders(shop):
    shop.place_order(ANN, "40", at=timezone.now() - 20 * DAY)
    shop.place_order(ANN, "60", at=timezone.now() - 10 * DAY)
    assert CustomerProfile.objects.get(email=ANN).stage == "repeat"


def test_registering_a_guests_email_shows_the_account_nothing_until_it_is_confirmed(shop):
    guest_with_two_orders(shop)

    user = shop.register(ANN, confirmed=False)

    assert of_account(user) is None
    guest = CustomerProfile.objects.get(email=ANN)
    assert (guest.user_id, guest.stage, guest.orders_count) == (None, "repeat", 2)
    assert not CustomerMetadata.objects.filter(user=user).exists()  # no stage in its metadata

    shop.confirm_account(user)

    mine = of_account(user)
    assert (mine.pk, mine.stage, mine.orders_count) == (guest.pk, "repeat", 2)
    assert CustomerMetadata.objects.get(user=user).metadata["lifecycle.stage"] == "repeat"


def test_while_unconfirmed_the_guest_keeps_being_decided_and_the_accounts_orders_wait(shop):
    guest_with_two_orders(shop)
    user = shop.register(ANN, confirmed=False)

    shop.place_order(user, "30", at=timezone.now() - DAY)  # the account's own order
    shop.place_order(ANN, "20")  # and the guest's third

    guest = CustomerProfile.objects.get()
    assert (guest.user_id, guest.orders_count) == (None, 3)  # the guest's three, not the account's
    shop.confirm_account(user)
    assert (of_account(user).pk, of_account(user).orders_count) == (guest.pk, 4)


def test_an_unconfirmed_account_without_guest_history_is_decided_on_its_own_rows(shop):
    user = shop.register(ANN, confirmed=False)
    assert of_account(user).stage == "lead"

    shop.place_order(ANN, "40", at=timezone.now() - DAY)  # a guest order with that e-mail

    mine = of_account(user)
    assert (mine.stage, mine.orders_count) == ("lead", 0)  # not the account's until confirmed
    assert CustomerProfile.objects.count() == 1
    shop.confirm_account(user)
    assert (of_account(user).stage, of_account(user).orders_count) == ("new", 1)


def test_a_backfill_does_not_give_an_unconfirmed_account_the_guests_profile(shop):
    guest_with_two_orders(shop)
    user = shop.register(ANN, confirmed=False, notify=False)

    backfill(shop.engine, chunk_size=10)

    assert of_account(user) is None
    assert CustomerProfile.objects.get().orders_count == 2


def test_a_confirmed_account_gets_the_guest_history_at_once(shop):
    guest_with_two_orders(shop)
    user = shop.register(ANN)  # staff-created, or a store that does not ask for confirmation
    assert (of_account(user).stage, of_account(user).orders_count) == ("repeat", 2)
    assert CustomerMetadata.objects.get(user=user).metadata["lifecycle.stage"] == "repeat"
