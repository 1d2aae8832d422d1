"""The host contract on the in-memory host (`lifecycle_plugin.testing.MemoryHost`)."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from lifecycle_plugin.host_support import STATE_OF_STATUS
from lifecycle_plugin.rules import OrderState
from lifecycle_plugin.testing import MemoryHost

from .host_contract import HostContract

CHANNELS = {"USD": "channel-usd", "PLN": "channel-pln"}


def now() -> datetime:
    return datetime.now(timezone.utc)


class MemoryStoreAdapter:
    """Makes the in-memory host's rows; accounts also get the Django user their profile points to."""

    usd_channel, pln_channel = CHANNELS["USD"], CHANNELS["PLN"]

    def __init__(self, host: MemoryHost):
        self.host = host

    def account(self, email: str, joined: datetime | None = None) -> int:
        user = User.objects.create(username=email, email=email)
        return self.host.register(email, user.pk, joined or now()).user_id

    def staff_account(self, email: str) -> int:
        user = User.objects.create(username=email, email=email, is_staff=True)
        return self.host.register(email, user.pk, now(), staff=True).user_id

    def name(self, user_id: int, first_name: str, last_name: str) -> None:
        self.host.accounts[user_id].first_name, self.host.accounts[user_id].last_name = first_name, last_name

    def unconfirm(self, user_id: int) -> None:
        self.host.accounts[user_id].confirmed = False

    def order(self, email, *, placed_at, user_id=None, total="50.00", currency="USD", status="unfulfilled",
              paid=True, refunded="0", fulfilled_at=None, voucher="", ship_to="") -> str:
        fact = self.host.order(email, placed_at, total, currency, user_id=user_id, guest=user_id is None,
                               voucher=voucher, ship_to=ship_to,
                               changed_at=now(), state=STATE_OF_STATUS.get(status, OrderState.PLACED), paid=paid,
                               refunded=Decimal(refunded), channel=CHANNELS[currency], fulfilled_at=fulfilled_at)
        return fact.order_id

    def checkout(self, email, *, user_id=None, lines=1) -> None:
        self.host.cart(email, lines, now(), user_id=user_id, guest=user_id is None)

    def public_metadata(self, user_id: int) -> dict:
        return self.host.metadata[user_id]

    def private_metadata(self, user_id: int) -> dict:
        return self.host.private_metadata[user_id]

    def set_public_metadata(self, user_id: int, items: dict) -> None:
        self.host.metadata[user_id].update(items)

    def set_private_metadata(self, user_id: int, items: dict) -> None:
        self.host.private_metadata[user_id].update(items)

    def voucher(self, code: str) -> dict:
        row = self.host.voucher_rows[code]
        return {"channel": row.issued.channel, "value": row.request.value, "single_use": row.single_use,
                "valid_until": row.issued.valid_until}

    def delivered(self) -> list[dict]:
        return [{"email": m.customer.email, "action": m.action} for m in self.host.messages]


class TestMemoryHost(HostContract):
    @pytest.fixture
    def host(self):
        return MemoryHost()

    @pytest.fixture
    def store(self, host, db):
        return MemoryStoreAdapter(host)
