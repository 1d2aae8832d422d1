"""Shop operations on the sandbox store, each followed by the engine call Saleor's hook would make.

    store = SandboxStore(engine)
    user = store.register("Ann@Example.com")
    order = store.place_order("ann@example.com", Decimal("42.00"))
    store.fulfil_order(order)

Each method changes the store and then calls ``engine.process(customer, event=...)``
with the name of the Saleor plugin hook that would have fired (``customer_created``,
``checkout_updated``, ``order_created``, ...). In Saleor the hook defers that call to
Celery after the commit; here it runs inline, which is what tests and demos want.
Pass ``engine=None`` to change the store without telling the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q

from ..host import OWN_REFERRAL_CODE, VOUCHER_NOT_YOURS, CustomerRef, may_redeem
from .host import DEFAULT_CHANNEL
from .models import (
    ChargeStatus,
    Channel,
    Checkout,
    CheckoutLine,
    Order,
    OrderLine,
    OrderStatus,
    UnconfirmedAccount,
    Voucher,
)

DEFAULT_CHANNELS = (
    # slug, name, currency
    (DEFAULT_CHANNEL, "Default channel", "USD"),
    ("channel-pln", "Channel PLN", "PLN"),
)


def ensure_channels() -> dict[str, Channel]:
    """The sandbox's two channels (USD default channel, PLN channel), created when missing."""
    channels = {}
    for slug, name, currency in DEFAULT_CHANNELS:
        channels[slug], _ = Channel.objects.get_or_create(slug=slug, defaults={"name": name, "currency_code": currency})
    return channels


def next_order_number() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('lifecycle_sandbox_order_number_seq')")
        return cursor.fetchone()[0]


class VoucherRefused(ValueError):
    """The order cannot redeem this voucher code (Saleor: a checkoutComplete error); nothing was placed."""


class SandboxStore:
    """Store operations that notify the engine, like Saleor's plugin hooks do."""

    def __init__(self, engine=None):
        self.engine = engine

    # ------------------------------------------------------------------ helpers

    def now(self) -> datetime:
        if self.engine is not None:
            return self.engine.clock()
        from django.utils import timezone

        return timezone.now()

    def notify(self, customer: CustomerRef, event: str):
        if self.engine is None:
            return None
        return self.engine.process(customer, event=event)

    @staticmethod
    def customer_of_order(order: Order) -> CustomerRef:
        email = order.user.email if order.user_id and order.user else order.user_email
        return CustomerRef.of(email, order.user_id)

    @staticmethod
    def _user(customer):
        """A user given as a User, a user id, or None."""
        User = get_user_model()
        if customer is None or isinstance(customer, User):
            return customer
        if isinstance(customer, int):
            return User.objects.get(pk=customer)
        raise TypeError(f"expected a User or a user id, got {customer!r}")

    # ------------------------------------------------------------------ accounts

    def register(self, email: str, *, at: datetime | None = None, first_name: str = "", last_name: str = "",
                 confirmed: bool = True, notify: bool = True):
        """Create an account (unusable password); guest history with that e-mail becomes theirs
        once the account is confirmed (`confirmed=False`: as Saleor's accountRegister leaves
        it when the store asks for e-mail confirmation; see `confirm_account`)."""
        User = get_user_model()
        user = User(
            username=email.strip().lower()[:150], email=email.strip(), first_name=first_name, last_name=last_name,
            date_joined=at or self.now(),
        )
        user.set_unusable_password()
        with transaction.atomic():
            user.save()
            if not confirmed:
                UnconfirmedAccount.objects.create(user=user)
        if notify:
            self.notify(CustomerRef.of(user.email, user.pk), "customer_created")
        return user

    def confirm_account(self, user, *, notify: bool = True):
        """The customer confirms their e-mail (Saleor's confirmAccount, hook account_confirmed)."""
        UnconfirmedAccount.objects.filter(user=user).delete()
        if notify:
            self.notify(CustomerRef.of(user.email, user.pk), "account_confirmed")
        return user

    # ------------------------------------------------------------------ checkouts

    def open_checkout(self, email: str | None = None, *, user=None, lines: int = 1,
                      channel: str = DEFAULT_CHANNEL, at: datetime | None = None,
                      products: Sequence[tuple[str, int]] | None = None, language: str = "en") -> Checkout:
        """A checkout (cart) for an account or a guest e-mail, with `products` ((name, quantity)
        lines) or else `lines` lines of "Sandbox product"."""
        user = self._user(user)
        at = at or self.now()
        ensure_channels()
        products = list(products) if products is not None else [("Sandbox product", 1)] * lines
        with transaction.atomic():
            checkout = Checkout.objects.create(
                user=user, email=(email or (user.email if user else "")), channel=Channel.objects.get(slug=channel),
                lines_count=len(products), created_at=at, updated_at=at, language_code=language,
            )
            self._write_lines(checkout, products)
        if checkout.email:  # an anonymous cart is nobody's yet
            self.notify(CustomerRef.of(checkout.email, checkout.user_id), "checkout_created")
        return checkout

    def update_checkout(self, checkout: Checkout, *, lines: int | None = None,
                        products: Sequence[tuple[str, int]] | None = None) -> Checkout:
        """The shopper changes the cart: its lines become `products`, or its first `lines`
        lines (0: emptied; more than it has: "Sandbox product" lines added)."""
        current = [(line.product_name, line.quantity) for line in checkout.lines.order_by("id")]
        if products is None:
            count = len(current) if lines is None else lines
            products = (current + [("Sandbox product", 1)] * count)[:count]
        products = list(products)
        checkout.lines_count = len(products)
        checkout.updated_at = self.now()
        with transaction.atomic():
            checkout.save(update_fields=["lines_count", "updated_at"])
            checkout.lines.all().delete()
            self._write_lines(checkout, products)
        if checkout.email:
            self.notify(CustomerRef.of(checkout.email, checkout.user_id), "checkout_updated")
        return checkout

    @staticmethod
    def _write_lines(checkout: Checkout, products: Sequence[tuple[str, int]]) -> None:
        CheckoutLine.objects.bulk_create(
            CheckoutLine(checkout=checkout, product_name=name, sku=name.upper().replace(" ", "-")[:255],
                         quantity=quantity) for name, quantity in products)

    # ------------------------------------------------------------------ orders

    def place_order(
        self,
        customer: str | object,
        total: Decimal | str | int = Decimal("50.00"),
        *,
        channel: str = DEFAULT_CHANNEL,
        at: datetime | None = None,
        status: str = OrderStatus.UNFULFILLED,
        paid: bool = True,
        lines: Sequence[tuple[str, int, Decimal]] | None = None,
        checkout: Checkout | None = None,
        voucher: str | None = None,
        ship_to: str = "",
        notify: bool = True,
    ) -> Order:
        """Place an order for an account (User or id) or a guest (an e-mail string).

        Completing `checkout` deletes it, as Saleor does. The currency is the channel's.
        `voucher` is a code the order redeems (the total is taken as already discounted);
        VoucherRefused when it is unknown, of another channel, used, expired or issued
        to another customer, or is the customer's own referral code, or a referral code
        they used before. `ship_to`: the shipping address, one line.
        """
        if isinstance(customer, str):
            user, email = None, customer.strip()
        else:
            user = self._user(customer)
            email = user.email
        ensure_channels()
        channel_row = Channel.objects.get(slug=channel)
        total = Decimal(total).quantize(Decimal("0.01"))
        placed_at = at or self.now()
        with transaction.atomic():
            if voucher is not None:
                customer_ref = CustomerRef.of(email, user.pk if user else None)
                self._redeem(voucher, customer_ref, channel_row, placed_at)
            order = Order.objects.create(
                number=next_order_number(), user=user, user_email=email, channel=channel_row,
                currency=channel_row.currency_code, total_amount=total, status=status,
                charge_status=ChargeStatus.FULL if paid else ChargeStatus.NONE, created_at=placed_at,
                updated_at=placed_at, voucher_code=voucher or "", shipping_address=ship_to,
            )
            for name, quantity, unit_price in lines or [("Sandbox product", 1, total)]:
                OrderLine.objects.create(order=order, product_name=name, sku=name.upper().replace(" ", "-")[:255],
                                         quantity=quantity, unit_price=unit_price)
            if checkout is not None:
                checkout.delete()
        if notify:
            self.notify(self.customer_of_order(order), "order_created")
        return order

    @staticmethod
    def _redeem(code: str, customer: CustomerRef, channel: Channel, at: datetime) -> None:
        """Use up a voucher code for `customer`'s order, as Saleor's checkout does, or refuse it."""
        row = Voucher.objects.select_for_update().filter(code=code.strip()).first()
        if row is None or row.channel_id != channel.pk:
            raise VoucherRefused(f"no voucher {code!r} in channel {channel.slug}")
        if row.single_use and row.used:
            raise VoucherRefused(f"voucher {code!r} has been used")
        if row.valid_until <= at:
            raise VoucherRefused(f"voucher {code!r} expired on {row.valid_until:%Y-%m-%d}")
        owner = CustomerRef.of(row.customer_email, row.customer_user_id)
        if (owner.email or owner.user_id is not None) and not may_redeem(owner, customer, row.shareable):
            raise VoucherRefused(OWN_REFERRAL_CODE if row.shareable else VOUCHER_NOT_YOURS)
        if row.shareable:  # once per customer, as Saleor's apply_once_per_customer
            mine = Q(user_email__iexact=customer.email) | (Q(user_id=customer.user_id) if customer.user_id else Q())
            if Order.objects.filter(mine, voucher_code=row.code).exists():
                raise VoucherRefused(f"voucher {code!r} has been used by this customer")
        if row.single_use:
            row.used = True
            row.save(update_fields=["used"])

    def _change(self, order: Order, event: str, **fields) -> Order:
        fields["updated_at"] = self.now()
        for name, value in fields.items():
            setattr(order, name, value)
        order.save(update_fields=list(fields))
        self.notify(self.customer_of_order(order), event)
        return order

    def mark_paid(self, order: Order) -> Order:
        return self._change(order, "order_fully_paid", charge_status=ChargeStatus.FULL)

    def confirm_order(self, order: Order) -> Order:
        return self._change(order, "order_confirmed", status=OrderStatus.UNFULFILLED)

    def cancel_order(self, order: Order) -> Order:
        return self._change(order, "order_cancelled", status=OrderStatus.CANCELED)

    def expire_order(self, order: Order) -> Order:
        return self._change(order, "order_expired", status=OrderStatus.EXPIRED)

    def fulfil_order(self, order: Order, *, at: datetime | None = None) -> Order:
        return self._change(order, "order_fulfilled", status=OrderStatus.FULFILLED, fulfilled_at=at or self.now())

    def refund_order(self, order: Order, amount: Decimal | str | None = None) -> Order:
        """Refund `amount` more (default: everything not yet refunded)."""
        remaining = order.total_amount - order.refunded_amount
        amount = remaining if amount is None else min(Decimal(amount), remaining)
        refunded = order.refunded_amount + amount
        full = refunded >= order.total_amount
        status = order.status
        if status in (OrderStatus.FULFILLED, OrderStatus.PARTIALLY_FULFILLED, OrderStatus.PARTIALLY_RETURNED):
            status = OrderStatus.RETURNED if full else OrderStatus.PARTIALLY_RETURNED
        return self._change(order, "order_fully_refunded" if full else "order_refunded",
                            refunded_amount=refunded, status=status)
