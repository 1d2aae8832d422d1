"""The host contract on the sandbox host."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import (
    Checkout,
    CheckoutLine,
    CustomerMetadata,
    Order,
    OutboxMessage,
    UnconfirmedAccount,
    Voucher,
)
from lifecycle_plugin.sandbox.store import ensure_channels, next_order_number

from .host_contract import HostContract

PAID = {True: "full", False: "none"}


class SandboxStoreAdapter:
    """Writes rows straight into the sandbox store, as a shop's own code would."""

    def __init__(self):
        self.channels = ensure_channels()
        self.by_currency = {channel.currency_code: channel for channel in self.channels.values()}
        self.usd_channel = self.by_currency["USD"].slug
        self.pln_channel = self.by_currency["PLN"].slug

    def account(self, email: str, joined: datetime | None = None) -> int:
        extra = {"date_joined": joined} if joined else {}
        return User.objects.create(username=email, email=email, **extra).pk

    def staff_account(self, email: str) -> int:
        return User.objects.create(username=email, email=email, is_staff=True).pk

    def name(self, user_id: int, first_name: str, last_name: str) -> None:
        User.objects.filter(pk=user_id).update(first_name=first_name, last_name=last_name)

    def unconfirm(self, user_id: int) -> None:
        UnconfirmedAccount.objects.create(user_id=user_id)

    def order(self, email, *, placed_at, user_id=None, total="50.00", currency="USD", status="unfulfilled",
              paid=True, refunded="0", fulfilled_at=None, voucher="", ship_to="") -> str:
        order = Order.objects.create(
            voucher_code=voucher, shipping_address=ship_to,
            number=next_order_number(), user_id=user_id, user_email=email, channel=self.by_currency[currency],
            currency=currency, total_amount=Decimal(total), status=status, charge_status=PAID[paid],
            refunded_amount=Decimal(refunded), created_at=placed_at, fulfilled_at=fulfilled_at,
        )
        return str(order.pk)

    def checkout(self, email, *, user_id=None, lines=1) -> None:
        checkout = Checkout.objects.create(user_id=user_id, email=email, channel=self.channels[self.usd_channel],
                                           lines_count=lines)
        for number in range(1, lines + 1):
            CheckoutLine.objects.create(checkout=checkout, product_name=f"Product {number}", quantity=1)

    def public_metadata(self, user_id: int) -> dict:
        return CustomerMetadata.objects.get(user_id=user_id).metadata

    def private_metadata(self, user_id: int) -> dict:
        return CustomerMetadata.objects.get(user_id=user_id).private_metadata

    def set_public_metadata(self, user_id: int, items: dict) -> None:
        row, _ = CustomerMetadata.objects.get_or_create(user_id=user_id)
        row.metadata.update(items)
        row.save()

    def set_private_metadata(self, user_id: int, items: dict) -> None:
        row, _ = CustomerMetadata.objects.get_or_create(user_id=user_id)
        row.private_metadata.update(items)
        row.save()

    def voucher(self, code: str) -> dict:
        voucher = Voucher.objects.select_related("channel").get(code=code)
        return {"channel": voucher.channel.slug, "value": voucher.value, "single_use": voucher.single_use,
                "valid_until": voucher.valid_until}

    def delivered(self) -> list[dict]:
        return [{"email": m.email, "action": m.action} for m in OutboxMessage.objects.order_by("id")]


class TestSandboxHost(HostContract):
    @pytest.fixture
    def host(self):
        return SandboxHost()

    @pytest.fixture
    def store(self, db):
        return SandboxStoreAdapter()
