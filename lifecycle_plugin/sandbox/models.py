"""The sandbox store: a small copy of the Saleor tables the lifecycle engine reads.

Accounts are `django.contrib.auth` users (unique e-mail, `date_joined` = account
creation, unusable password). Everything else mirrors the Saleor columns the
Saleor host reads, with Saleor's status codes, so the two hosts behave alike.

Indexes serve the host's set-based reads: orders and checkouts by account (the
foreign-key index) and by normalised e-mail (``lower(trim(email))``), which is
also the keyset order of `customer_chunks`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower, Now, Trim
from django.utils import timezone


class Channel(models.Model):
    slug = models.SlugField(max_length=255, unique=True)
    name = models.CharField(max_length=250)
    currency_code = models.CharField(max_length=3)

    def __str__(self) -> str:
        return self.slug


class OrderStatus(models.TextChoices):
    """Saleor's `OrderStatus` codes (saleor/order/__init__.py)."""

    DRAFT = "draft", "Draft"
    UNCONFIRMED = "unconfirmed", "Unconfirmed"
    UNFULFILLED = "unfulfilled", "Unfulfilled"
    PARTIALLY_FULFILLED = "partially fulfilled", "Partially fulfilled"
    FULFILLED = "fulfilled", "Fulfilled"
    PARTIALLY_RETURNED = "partially_returned", "Partially returned"
    RETURNED = "returned", "Returned"
    CANCELED = "canceled", "Canceled"
    EXPIRED = "expired", "Expired"


class ChargeStatus(models.TextChoices):
    """Saleor's `OrderChargeStatus` codes."""

    NONE = "none", "None"
    PARTIAL = "partial", "Partially charged"
    FULL = "full", "Fully charged"
    OVERCHARGED = "overcharged", "Overcharged"


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.PositiveIntegerField(unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="sandbox_orders"
    )
    user_email = models.EmailField(blank=True, default="")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="orders", db_index=False)
    currency = models.CharField(max_length=3)
    total_amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=32, choices=OrderStatus.choices, default=OrderStatus.UNFULFILLED)
    charge_status = models.CharField(max_length=32, choices=ChargeStatus.choices, default=ChargeStatus.NONE)
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    #: The voucher code the order redeemed, as Saleor's `Order.voucher_code` (a database
    #: default too: the generator writes orders with COPY).
    voucher_code = models.CharField(max_length=255, blank=True, default="", db_default="")
    #: The shipping address, one line (Saleor: the order's copy of an address); a database
    #: default too, for the generator's COPY.
    shipping_address = models.CharField(max_length=512, blank=True, default="", db_default="")
    #: The purchase time; settable so generated history can lie in the past.
    created_at = models.DateTimeField(default=timezone.now)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    #: The last change, as Saleor's `Order.updated_at` (the reconciliation's range read).
    #: A database default too: the generator's COPY leaves it out.
    updated_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        indexes = [
            # Orders by normalised e-mail (read_facts, customer_chunks). Not a partial
            # index on guest orders: PostgreSQL scales a partial expression index's
            # statistics to the whole table and then prefers scanning every guest order.
            models.Index(Lower(Trim("user_email")), name="sandbox_order_email_idx"),
            models.Index(fields=["created_at"], name="sandbox_order_created_idx"),
            models.Index(fields=["updated_at"], name="sandbox_order_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.number}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_name = models.CharField(max_length=386)
    sku = models.CharField(max_length=255, blank=True, default="")
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)


class Checkout(models.Model):
    token = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="sandbox_checkouts"
    )
    email = models.EmailField(blank=True, default="")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="checkouts", db_index=False)
    lines_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    #: Saleor's `Checkout.language_code` (the storefront's language when the cart was made).
    language_code = models.CharField(max_length=35, default="en")

    class Meta:
        indexes = [
            models.Index(Lower(Trim("email")), name="sandbox_checkout_email_idx"),
            models.Index(fields=["created_at"], name="sandbox_checkout_time_idx"),
            models.Index(fields=["updated_at"], name="sandbox_checkout_updated_idx"),
        ]


class CheckoutLine(models.Model):
    """One line of a cart (Saleor: `CheckoutLine` with its variant's product); `Checkout.lines_count`
    says how many a checkout has."""

    checkout = models.ForeignKey(Checkout, on_delete=models.CASCADE, related_name="lines")
    product_name = models.CharField(max_length=386)
    variant_name = models.CharField(max_length=255, blank=True, default="")
    sku = models.CharField(max_length=255, blank=True, default="")
    quantity = models.PositiveIntegerField(default=1)


class UnconfirmedAccount(models.Model):
    """An account whose e-mail is not confirmed yet (Saleor's `User.is_confirmed` false,
    with the store asking for confirmation); accounts without a row are confirmed."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="sandbox_unconfirmed"
    )


class CustomerMetadata(models.Model):
    """Saleor's `User.metadata` / `User.private_metadata`: the projection target."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="sandbox_metadata"
    )
    metadata = models.JSONField(default=dict, blank=True)
    private_metadata = models.JSONField(default=dict, blank=True)


class Voucher(models.Model):
    PERCENTAGE = "percentage"
    FIXED = "fixed"
    DISCOUNT_TYPES = [(PERCENTAGE, "Percentage"), (FIXED, "Fixed amount")]

    code = models.CharField(max_length=255, unique=True)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="vouchers")
    discount_type = models.CharField(max_length=16, choices=DISCOUNT_TYPES)
    value = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, null=True, blank=True)
    valid_until = models.DateTimeField()
    single_use = models.BooleanField(default=True)
    #: A referral code: anyone but the owner may redeem it, once each.
    shareable = models.BooleanField(default=False, db_default=False)
    used = models.BooleanField(default=False)
    #: The owner: only an order by this e-mail or this account may redeem the code.
    customer_email = models.EmailField(blank=True, default="", db_index=True)
    customer_user_id = models.BigIntegerField(null=True, blank=True)
    name = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.code


class OutboxMessage(models.Model):
    """A message the engine handed to the store: the sandbox's outbox instead of e-mail."""

    email = models.EmailField(db_index=True)
    action = models.CharField(max_length=64)
    subject = models.CharField(max_length=998)
    text = models.TextField()
    html = models.TextField(blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    channel = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class StoredSetting(models.Model):
    """A setting the owner saved (`lifecycle-sandbox settings`, or the settings page's
    `lifecycleSettingsUpdate`): over Django's LIFECYCLE_SETTINGS, as the Saleor plugin's
    configuration row is."""

    name = models.CharField(max_length=100, primary_key=True)
    value = models.TextField()
