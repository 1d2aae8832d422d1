"""Fixtures for the Saleor tests: the plugin switched on, notify capture, task failures,
the event inbox with its drain held back, and the Saleor `StoreAdapter` of the host contract.

Loaded through `pytest_plugins` in conftest.py, only under Saleor's test settings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from celery import signals
from django.test import TestCase
from django.utils import timezone
from saleor.account.models import User
from saleor.checkout.models import Checkout, CheckoutLine
from saleor.discount.models import VoucherCode
from saleor.order.models import Fulfillment, Order
from saleor.payment.models import TransactionItem
from saleor.plugins.manager import PluginsManager
from saleor.plugins.models import PluginConfiguration

from lifecycle_plugin import tasks
from lifecycle_plugin.models import InboxState, PendingEvent
from lifecycle_plugin.saleor.plugin import PLUGIN_ID, LifecyclePlugin

#: The path Saleor loads the plugin by: the entry point's (lifecycle_plugin/plugin.py re-exports the class).
PLUGIN_PATH = "lifecycle_plugin.plugin.LifecyclePlugin"


# ---------------------------------------------------------------------- the plugin


def plugin_configuration(**overrides) -> list[dict]:
    """The Dashboard configuration list: the plugin's defaults with `overrides` applied."""
    return [
        {"name": item["name"], "value": overrides.pop(item["name"], item["value"])}
        for item in LifecyclePlugin.DEFAULT_CONFIGURATION
    ] + [{"name": name, "value": value} for name, value in overrides.items()]


@pytest.fixture
def lifecycle_settings() -> dict:
    """Override in a module or test to switch the plugin on with other settings."""
    return {}


def _put_back_the_inbox_flag() -> None:
    """Migration 0003 inserts the inbox flag's row; without it no event queues a drain. A
    test database kept by --reuse-db (pytest.ini) has lost it when the previous run ended
    with a transaction=True test, whose flush empties every table. In production the
    periodic drain puts it back (`inbox._lower_flag`): do here what that drain would have
    done, inside the test's own transaction."""
    InboxState.objects.get_or_create(pk=1, defaults={"drain_requested": False})


@pytest.fixture
def lifecycle_plugin(settings, setup_dummy_gateways, lifecycle_settings):
    """The plugin switched on, as a store owner does it: listed in PLUGINS, and a
    global (channel NULL) active configuration row."""
    settings.PLUGINS = [*settings.PLUGINS, PLUGIN_PATH]
    _put_back_the_inbox_flag()
    return PluginConfiguration.objects.create(
        identifier=PLUGIN_ID,
        name=LifecyclePlugin.PLUGIN_NAME,
        channel=None,
        active=True,
        # Marketing to everyone unless a test sets a consent key (the default requires consent).
        configuration=plugin_configuration(**{"marketing_consent_required": False, **lifecycle_settings}),
    )


@pytest.fixture(autouse=True)
def lifecycle_task_failures():
    """Eager Celery does not re-raise task errors; collect ours and fail the test on any.

    A test that expects failures empties the list before it ends.
    """
    failures: list[tuple[str, BaseException]] = []

    def record(sender=None, exception=None, **kwargs):
        if sender is not None and sender.name.startswith("lifecycle_plugin."):
            failures.append((sender.name, exception))

    signals.task_failure.connect(record, weak=False)
    yield failures
    signals.task_failure.disconnect(record)
    assert not failures, f"lifecycle tasks failed: {failures!r}"


@pytest.fixture
def notify_log(monkeypatch):
    """Every `PluginsManager.notify` call (event, payload, channel); Saleor's own notify still runs."""
    log: list[dict] = []
    original = PluginsManager.notify

    def notify(self, event, payload_func, channel_slug=None, plugin_id=None):
        log.append({"event": event, "payload": payload_func(), "channel": channel_slug})
        return original(self, event, payload_func, channel_slug=channel_slug, plugin_id=plugin_id)

    monkeypatch.setattr(PluginsManager, "notify", notify)
    return log


@pytest.fixture
def staff_orders(staff_api_client, permission_group_manage_orders):
    """A staff API client allowed to manage orders in every channel (Saleor checks channel access)."""
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    return staff_api_client


@pytest.fixture
def checkout_shipping(request):
    """checkout -> what Saleor's `prepare_checkout_for_test` takes as the delivery.

    3.23 takes a `CheckoutDelivery` (its `checkout_delivery` fixture is a factory);
    3.21 and 3.22 take the shipping method itself.
    """
    try:
        return request.getfixturevalue("checkout_delivery")
    except pytest.FixtureLookupError:
        shipping_method = request.getfixturevalue("shipping_method")
        return lambda checkout: shipping_method


# ---------------------------------------------------------------------- the event inbox


class HeldInbox:
    """The plugin's event inbox as Saleor's hooks leave it, with the drain held back.

    Saleor's tests run Celery eagerly, so without this the drain that the first event
    of a burst queues would run at once and empty the inbox before a test can look.
    Here `drains` records each `drain_events` task queued (its arguments) instead;
    `drain()` then runs the real task, as a worker takes it.
    """

    def __init__(self):
        self.drains: list[tuple] = []

    def rows(self) -> list[tuple[str, int | None, str]]:
        """(e-mail, account id, event) of every waiting event, oldest first."""
        return list(PendingEvent.objects.order_by("id").values_list("email", "user_id", "event"))

    def events(self) -> list[str]:
        return [event for _, _, event in self.rows()]

    def flag_raised(self) -> bool:
        return InboxState.objects.get(pk=1).drain_requested

    def drain(self):
        """Run `drain_events` as a worker does: through Saleor's task class and its writer
        guard, and with what it defers to after its commit (the actions) run too; the
        test's own transaction never commits."""
        with TestCase.captureOnCommitCallbacks(execute=True):
            return tasks.drain_events.apply().get()


@pytest.fixture
def inbox(monkeypatch):
    """The event inbox with `drain_events.delay` recorded, not run (see HeldInbox)."""
    _put_back_the_inbox_flag()
    held = HeldInbox()
    monkeypatch.setattr(tasks.drain_events, "delay", lambda *args, **kwargs: held.drains.append(args))
    return held


# ---------------------------------------------------------------------- the StoreAdapter


class SaleorStore:
    """Creates customers, orders and checkouts as Saleor's own rows (the host contract's StoreAdapter)."""

    def __init__(self, channel_usd, channel_pln, variant, notify_log):
        self.channels = {channel_usd.currency_code: channel_usd, channel_pln.currency_code: channel_pln}
        self.usd_channel = channel_usd.slug
        self.pln_channel = channel_pln.slug
        self._channel_usd = channel_usd
        self._variant = variant
        self._notify_log = notify_log

    def account(self, email: str, joined: datetime | None = None) -> int:
        user = User.objects.create(email=email, date_joined=joined or timezone.now())
        return user.pk

    def staff_account(self, email: str) -> int:
        return User.objects.create(email=email, is_staff=True).pk

    def name(self, user_id: int, first_name: str, last_name: str) -> None:
        User.objects.filter(pk=user_id).update(first_name=first_name, last_name=last_name)

    def unconfirm(self, user_id: int) -> None:
        User.objects.filter(pk=user_id).update(is_confirmed=False)

    def order(self, email: str, *, placed_at: datetime, user_id: int | None = None, total: str = "50.00",
              currency: str = "USD", status: str = "unfulfilled", paid: bool = True, refunded: str = "0",
              fulfilled_at: datetime | None = None, voucher: str = "", ship_to: str = "") -> str:
        amount = Decimal(total)
        shipping = None
        if ship_to:
            from saleor.account.models import Address

            shipping = Address.objects.create(street_address_1=ship_to, city="Springfield", postal_code="62701",
                                              country="US")
        order = Order.objects.create(
            voucher_code=voucher or None,
            shipping_address=shipping,
            channel=self.channels[currency],
            currency=currency,
            user_id=user_id,
            user_email=email,
            status=status,
            created_at=placed_at,
            total_gross_amount=amount,
            total_net_amount=amount,
            undiscounted_total_gross_amount=amount,
            undiscounted_total_net_amount=amount,
            total_charged_amount=amount if paid else Decimal(0),
            charge_status="full" if paid else "none",
            undiscounted_base_shipping_price_amount=Decimal(0),
            lines_count=0,
        )
        if Decimal(refunded):
            # A refund as Saleor's transactions API records it.
            TransactionItem.objects.create(
                order_id=order.pk, currency=currency, name="Card", psp_reference="psp-1",
                charged_value=amount - Decimal(refunded), refunded_value=Decimal(refunded), available_actions=[],
            )
        if fulfilled_at is not None:
            fulfillment = Fulfillment.objects.create(order=order, fulfillment_order=1, status="fulfilled")
            # created_at is auto_now_add: set the historic time afterwards.
            Fulfillment.objects.filter(pk=fulfillment.pk).update(created_at=fulfilled_at)
        return str(order.pk)

    def checkout(self, email: str, *, user_id: int | None = None, lines: int = 1) -> None:
        checkout = Checkout.objects.create(
            channel=self._channel_usd, currency=self._channel_usd.currency_code, email=email, user_id=user_id
        )
        for _ in range(lines):
            CheckoutLine.objects.create(checkout=checkout, variant=self._variant, quantity=1, currency="USD")

    def public_metadata(self, user_id: int) -> dict:
        return User.objects.get(pk=user_id).metadata

    def private_metadata(self, user_id: int) -> dict:
        return User.objects.get(pk=user_id).private_metadata

    def set_public_metadata(self, user_id: int, items: dict) -> None:
        user = User.objects.get(pk=user_id)
        user.store_value_in_metadata(items)
        user.save(update_fields=["metadata", "updated_at"])

    def set_private_metadata(self, user_id: int, items: dict) -> None:
        user = User.objects.get(pk=user_id)
        user.store_value_in_private_metadata(items)
        user.save(update_fields=["private_metadata", "updated_at"])

    def voucher(self, code: str) -> dict:
        voucher_code = VoucherCode.objects.select_related("voucher").get(code=code)
        voucher = voucher_code.voucher
        (listing,) = voucher.channel_listings.select_related("channel")
        return {
            "channel": listing.channel.slug,
            "value": listing.discount_value,
            "single_use": voucher.single_use and voucher_code.is_active,
            "valid_until": voucher.end_date,
        }

    def delivered(self) -> list[dict]:
        return [
            {"email": entry["payload"]["recipient_email"], "action": entry["payload"]["action"], **entry}
            for entry in self._notify_log
            if entry["event"].startswith("lifecycle_")
        ]


@pytest.fixture
def saleor_store(channel_USD, channel_PLN, product, notify_log):
    return SaleorStore(channel_USD, channel_PLN, product.variants.first(), notify_log)
