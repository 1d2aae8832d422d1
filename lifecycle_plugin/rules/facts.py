"""What the rules know about one customer: plain, immutable values read by a host."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any


class OrderState(str, enum.Enum):
    """An order's state, normalised from the host's own statuses."""

    PLACED = "placed"  # unfulfilled, partially fulfilled, fulfilled, (partially) returned
    DRAFT = "draft"
    UNCONFIRMED = "unconfirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class OrderFact:
    """One order. Amounts are as a store keeps them: finite, with at most 17 digits before
    the point and 3 after (Saleor's numeric(20, 3)), so sums over a history stay exact in
    Decimal's 28 digits. Any aware datetime will do: a window or change that would leave
    the calendar starts before all time or comes never."""

    order_id: str
    placed_at: datetime
    currency: str
    total: Decimal
    state: OrderState = OrderState.PLACED
    paid: bool = True
    refunded: Decimal = Decimal(0)
    channel: str = ""
    fulfilled_at: datetime | None = None

    @property
    def fully_refunded(self) -> bool:
        return self.total > 0 and self.refunded >= self.total

    @property
    def net_amount(self) -> Decimal:
        """What the customer kept: total less refunds, never negative."""
        return max(self.total - self.refunded, Decimal(0))


EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """One customer's history as of the moment a host read it.

    `extra` holds facts that third-party hooks contributed (reviews written,
    referrals, ...); the built-in ladder never needs them.
    """

    email: str
    has_account: bool = False
    #: The account's id when there is one (the host resolves it from the e-mail too).
    user_id: int | None = None
    account_created_at: datetime | None = None
    #: Whether the account's e-mail is confirmed (Saleor: `User.is_confirmed`, or the store
    #: does not ask for confirmation). An unconfirmed account's facts hold only its own
    #: orders and carts: guest ones with its e-mail join it when it is confirmed.
    account_confirmed: bool = True
    orders: tuple[OrderFact, ...] = ()
    open_cart_lines: int = 0
    #: Checkouts the store has for this customer, with or without lines: a guest
    #: known only from a checkout's e-mail is a visitor.
    checkouts: int = 0
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    #: The daily prediction run's figures for a customer with a profile, None before its
    #: first run (and for a customer seen for the first time): ``expected_orders_365``,
    #: ``probability_active`` (null, with ``reason``, when there is no prediction),
    #: ``spend`` (currency -> decimal string), ``predicted_at`` (ISO text), ``reason``.
    #: The built-in ladder never reads it; classify hooks may.
    prediction: Mapping[str, Any] | None = None

    @property
    def known(self) -> bool:
        """The store knows this customer at all: an account, an order or a checkout."""
        return self.has_account or bool(self.orders) or self.open_cart_lines > 0 or self.checkouts > 0

    def with_extra(self, extra: Mapping[str, Any]) -> CustomerFacts:
        return replace(self, extra=MappingProxyType({**self.extra, **extra}))

    def as_of(self, moment: datetime) -> CustomerFacts:
        """The history as it stood at `moment`: orders placed later are left out.

        Used to replay decisions at the exact times they took effect.
        """
        return replace(self, orders=tuple(o for o in self.orders if o.placed_at <= moment))
