"""Plain records the hosts hand to the engine and actions (vouchers issued, delivery
receipts, names, order products, open checkouts). Imported from `lifecycle_plugin.host`,
which is where the rest of the package and plugin authors name them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class IssuedVoucher:
    code: str
    voucher_id: str
    channel: str
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    channel: str  # "email", "notify", "outbox", ...
    reference: str = ""


@dataclass(frozen=True, slots=True)
class CustomerName:
    """How to address a customer in a message; empty strings when the store does not know."""

    first_name: str = ""
    last_name: str = ""

    @property
    def full(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True, slots=True)
class OrderProduct:
    """One product of an order, as a review request lists it."""

    name: str
    quantity: int = 1
    variant: str = ""
    product_id: str = ""  # the host's id (Saleor: the product's global id), for review links
    sku: str = ""


@dataclass(frozen=True, slots=True)
class OpenCheckout:
    """A checkout (cart) the store still has, as an abandoned-checkout reminder reads it."""

    token: str  # the host's id (Saleor: the checkout's token)
    created_at: datetime
    #: When it last changed (Saleor: ``last_change``, moved by every line, address or e-mail change).
    changed_at: datetime
    #: Its lines, in the order the shopper added them (an empty tuple: the cart was emptied).
    lines: tuple[OrderProduct, ...] = ()
    email: str = ""  # the checkout's own e-mail, normalised (a guest's address)
    user_id: int | None = None
    language: str = ""  # the checkout's language code, empty when the store does not know it
    channel: str = ""  # the channel's slug
