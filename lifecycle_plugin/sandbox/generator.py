"""A synthetic sandbox store: accounts, guests, orders, lines and carts with realistic rhythms.

    summary = generate_store(customers=20_000, years=3, seed=42, now=now)

Reproducible: the same seed, size, years and `now` give the same store, row for
row (ids, e-mails, times, amounts). Fast: rows are planned in Python and streamed
into PostgreSQL with ``COPY`` in chunks while the next chunk is planned, with the
secondary indexes and foreign keys of the loaded tables dropped during the load
and rebuilt at the end (all in one transaction), so memory stays constant and a
million customers with ~5 orders each take a few minutes.

The customer mix is chosen so that, with the default thresholds (at risk after 90
days, lapsed after 180, loyal with 4 orders in 365 days), every default stage is
well populated:

- visitors: guest e-mails on checkouts that never became a counted order (an
  emptied cart, an unpaid order that expired, a cancelled order);
- leads: accounts that never bought; prospects: open carts with lines, no order;
- one-off buyers; regulars with a personal cadence of weeks to months; loyal
  frequent buyers; churners who stop after a while (at risk, then lapsed);
- about a quarter of the e-mails are guests; some guests register later with the
  same e-mail in a different letter case, so their guest orders count for the account.

Orders follow Saleor's statuses: ~5% cancelled, some expired, unconfirmed and
draft, ~3% fully and ~3% partially refunded, most paid (charge status full), some
unpaid; most placed orders are fulfilled a few days after purchase.
"""

from __future__ import annotations

import hashlib
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from ..signals import accounts_removed_without_forgetting
from .models import Channel, Checkout, CustomerMetadata, Order, OrderLine, OutboxMessage, Voucher
from .store import DEFAULT_CHANNELS

DAY = 86400.0

# ---------------------------------------------------------------------------- the mix

#: Customer archetypes and their shares of all customers.
ARCHETYPES = (
    ("visitor", 0.06),
    ("lead", 0.09),
    ("prospect", 0.05),
    ("one_off", 0.30),
    ("regular", 0.20),
    ("frequent", 0.14),
    ("churner", 0.16),
)
#: Share of buyers who buy as guests (no account when they first buy).
GUEST_BUYER_SHARE = 0.22
#: Share of guest buyers who register later (with the e-mail in another letter case).
GUEST_REGISTERS_LATER = 0.2
#: Share of prospects who are guests.
GUEST_PROSPECT_SHARE = 0.4
#: Share of buyers with an open cart right now.
BUYER_OPEN_CART = 0.08

FIRST_NAMES = (
    "anna", "piotr", "maria", "jan", "olivia", "liam", "emma", "noah", "ava", "lucas", "mia", "ethan",
    "zofia", "jakub", "julia", "kacper", "lena", "oskar", "amelia", "filip", "sofia", "mateo", "chloe",
    "hugo", "ines", "leo", "nora", "adam", "alicja", "tomasz", "ewa", "marek", "grace", "henry", "isla",
    "jack", "kate", "louis", "maja", "nina", "oliver", "paula", "quinn", "ruby", "sam", "tess", "uma", "victor",
)
LAST_NAMES = (
    "kowalski", "nowak", "smith", "johnson", "wisniewska", "brown", "garcia", "miller", "wojcik", "davis",
    "lopez", "wilson", "kaminska", "taylor", "lewandowski", "martin", "zielinska", "lee", "walker", "hall",
    "szymanski", "young", "allen", "king", "wright", "dabrowska", "scott", "green", "baker", "adams",
    "kozlowski", "nelson", "hill", "jankowska", "campbell", "mazur", "mitchell", "roberts", "krawczyk", "carter",
)
#: Reserved example domains (RFC 2606): generated addresses never reach a real mailbox.
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "shop.example.org")

PRODUCTS = (
    # name, sku, typical USD price
    ("Apple Juice", "JUICE-APPLE", 4.99), ("Orange Juice", "JUICE-ORANGE", 5.49), ("Banana Juice", "JUICE-BANANA", 5.99),
    ("Bean Juice", "JUICE-BEAN", 6.49), ("Carrot Juice", "JUICE-CARROT", 4.49), ("Green Tea", "TEA-GREEN", 12.00),
    ("Earl Grey", "TEA-EARLGREY", 11.00), ("Espresso Beans 1kg", "COFFEE-ESP-1KG", 29.00),
    ("Filter Coffee 500g", "COFFEE-FLT-500", 16.00), ("Monospace Tee", "TEE-MONO", 24.00),
    ("Dash Force Tee", "TEE-DASH", 26.00), ("Saleor Hoodie", "HOODIE-SALEOR", 59.00),
    ("Cushion", "HOME-CUSHION", 35.00), ("Scented Candle", "HOME-CANDLE", 18.00), ("Ceramic Mug", "HOME-MUG", 14.00),
    ("Running Shoes", "SHOE-RUN", 119.00), ("Trail Shoes", "SHOE-TRAIL", 139.00), ("Wool Socks", "SOCK-WOOL", 15.00),
    ("Rain Jacket", "JACKET-RAIN", 149.00), ("Beanie", "HAT-BEANIE", 22.00), ("Backpack 20l", "BAG-20L", 79.00),
    ("Water Bottle", "BOTTLE-750", 19.00), ("Yoga Mat", "YOGA-MAT", 45.00), ("Headphones", "AUDIO-HP", 199.00),
    ("Phone Case", "CASE-PHONE", 25.00), ("USB-C Cable", "CABLE-USBC", 12.00), ("Notebook A5", "PAPER-A5", 9.00),
    ("Fountain Pen", "PEN-FOUNTAIN", 49.00), ("Gift Card", "GIFT-CARD", 50.00), ("Dog Treats", "PET-TREATS", 11.00),
    ("Cat Food 2kg", "PET-CAT-2KG", 27.00), ("Olive Oil 1l", "FOOD-OLIVE-1L", 21.00), ("Dark Chocolate", "FOOD-CHOC", 6.00),
    ("Granola", "FOOD-GRANOLA", 8.50), ("Honey 500g", "FOOD-HONEY", 13.00), ("Sunglasses", "ACC-SUN", 89.00),
)

#: Typical order totals: lognormal median in each currency (PLN ~ 4 x USD).
CURRENCY_MEDIAN = {"USD": 58.0, "PLN": 230.0}
ORDER_SIGMA = 0.65

# Status draw: cumulative shares for orders that were not cancelled etc.
CANCELLED, EXPIRED, UNCONFIRMED, DRAFT = 0.05, 0.012, 0.006, 0.006
FULL_REFUND, PARTIAL_REFUND = 0.03, 0.03
UNPAID, PARTIALLY_PAID, OVERCHARGED = 0.025, 0.015, 0.008

# Status codes as stored (Saleor's).
S_DRAFT, S_UNCONFIRMED, S_UNFULFILLED, S_PARTIALLY_FULFILLED = "draft", "unconfirmed", "unfulfilled", "partially fulfilled"
S_FULFILLED, S_PARTIALLY_RETURNED, S_RETURNED = "fulfilled", "partially_returned", "returned"
S_CANCELED, S_EXPIRED = "canceled", "expired"


# ---------------------------------------------------------------------------- plans

@dataclass(slots=True)
class PlannedOrder:
    days_ago: float
    as_guest: bool
    channel: int  # index into DEFAULT_CHANNELS
    total: float
    status: str
    charge: str
    refunded: float
    fulfilled_days_ago: float | None
    lines: list  # [(product index, quantity, unit price)]
    email: str  # as the customer typed it


@dataclass(slots=True)
class PlannedCustomer:
    index: int
    archetype: str
    local: str
    domain: str
    first_name: str
    last_name: str
    account_email: str | None = None
    joined_days_ago: float | None = None
    orders: list = field(default_factory=list)
    checkouts: list = field(default_factory=list)  # [(days_ago, as_guest, lines_count, channel, email)]


def _archetype_table():
    table, total = [], 0.0
    for name, share in ARCHETYPES:
        total += share
        table.append((total, name))
    return table, total


class Planner:
    """Draws customers from one seeded random stream."""

    def __init__(self, seed: int, years: float):
        self.rng = random.Random(seed)
        self.span = max(years, 0.1) * 365.0
        self.table, self.total_share = _archetype_table()

    # -- helpers
    def _start(self) -> float:
        """How many days ago a customer first showed up: the store grows, so recent is likelier."""
        return self.span * self.rng.random() ** 1.25

    def _archetype(self) -> str:
        r = self.rng.random() * self.total_share
        for bound, name in self.table:
            if r < bound:
                return name
        return self.table[-1][1]

    def _email_variant(self, email: str) -> str:
        """The same address in another letter case (as typed on another device)."""
        local, _, domain = email.partition("@")
        style = self.rng.random()
        if style < 0.5:
            local = ".".join(part.capitalize() for part in local.split("."))
        elif style < 0.8:
            local = local.upper()
        else:
            domain = domain.capitalize()
        return f"{local}@{domain}"

    def customer(self, index: int) -> PlannedCustomer:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}.{index}" if rng.random() < 0.7 else f"{first[0]}{last}{index}"
        customer = PlannedCustomer(index, self._archetype(), local, rng.choice(DOMAINS), first, last)
        getattr(self, "_plan_" + customer.archetype)(customer)
        return customer

    # -- archetypes
    def _plan_visitor(self, c: PlannedCustomer) -> None:
        rng = self.rng
        email = f"{c.local}@{c.domain}"
        start = min(self._start(), self.span)
        kind = rng.random()
        channel = 0 if rng.random() < 0.7 else 1
        if kind < 0.4:  # an emptied guest cart
            c.checkouts.append((start, True, 0, channel, email))
        elif kind < 0.75:  # an unpaid checkout order that expired
            c.orders.append(self._order(start, True, channel, 1.0, email, forced=S_EXPIRED))
            if rng.random() < 0.3:
                c.checkouts.append((max(start - rng.random() * 5, 0.0), True, 0, channel, email))
        else:  # an order cancelled before it shipped
            c.orders.append(self._order(start, True, channel, 1.0, email, forced=S_CANCELED))

    def _plan_lead(self, c: PlannedCustomer) -> None:
        c.account_email = self._account_email(c)
        c.joined_days_ago = self._start()
        if self.rng.random() < 0.15:  # added something once, then emptied the cart
            c.checkouts.append((c.joined_days_ago * self.rng.random(), False, 0, 0, c.account_email))

    def _plan_prospect(self, c: PlannedCustomer) -> None:
        rng = self.rng
        channel = 0 if rng.random() < 0.7 else 1
        guest = rng.random() < GUEST_PROSPECT_SHARE
        cart_age = rng.random() ** 2 * 60.0  # carts are mostly recent
        if guest:
            email = f"{c.local}@{c.domain}"
        else:
            c.account_email = email = self._account_email(c)
            c.joined_days_ago = cart_age + rng.random() * min(self.span, 400.0)
        c.checkouts.append((cart_age, guest, rng.choice((1, 1, 1, 2, 2, 3, 4, 6)), channel, email))
        if rng.random() < 0.15:  # an earlier attempt that was cancelled
            when = cart_age + rng.random() * 90
            c.orders.append(self._order(when, guest, channel, 1.0, email, forced=S_CANCELED))

    def _plan_one_off(self, c: PlannedCustomer) -> None:
        self._buyer(c, [self._start()])

    def _plan_regular(self, c: PlannedCustomer) -> None:
        cadence = self.rng.uniform(35.0, 170.0)
        self._buyer(c, self._rhythm(self._start(), cadence, stop=0.0, sigma=0.35))

    def _plan_frequent(self, c: PlannedCustomer) -> None:
        rng = self.rng
        cadence = rng.uniform(12.0, 60.0)
        start = min(self.span, 30.0 + (self.span - 30.0) * rng.random() ** 0.8)
        self._buyer(c, self._rhythm(start, cadence, stop=0.0, sigma=0.3))

    def _plan_churner(self, c: PlannedCustomer) -> None:
        rng = self.rng
        cadence = rng.uniform(10.0, 90.0)
        start = self._start()
        # They stop some time after they started: a few orders, then silence.
        active = cadence * rng.uniform(1.5, 12.0)
        stop = max(start - active, 0.0)
        if stop < 60.0:  # churners are dormant by definition: push the stop into the past
            stop = 60.0 + rng.random() * max(start - 60.0, 1.0) * 0.5
            start = max(start, stop + cadence)
            start = min(start, self.span)
        self._buyer(c, self._rhythm(start, cadence, stop=stop, sigma=0.35))

    def _rhythm(self, start: float, cadence: float, *, stop: float, sigma: float) -> list[float]:
        """Purchase times (days ago) every `cadence` days (lognormal jitter) from `start` down to `stop`."""
        rng = self.rng
        times, t = [], start
        while t > stop and len(times) < 400:
            times.append(t)
            t -= cadence * rng.lognormvariate(0.0, sigma)
        return times or [start]

    def _account_email(self, c: PlannedCustomer) -> str:
        email = f"{c.local}@{c.domain}"
        return self._email_variant(email) if self.rng.random() < 0.1 else email

    def _buyer(self, c: PlannedCustomer, times: list[float]) -> None:
        rng = self.rng
        guest_email = f"{c.local}@{c.domain}"
        preferred = 0 if rng.random() < 0.7 else 1
        basket = rng.lognormvariate(0.0, 0.45)  # this customer's typical basket vs the store's
        guest = rng.random() < GUEST_BUYER_SHARE
        registers_at = None
        if not guest:
            c.account_email = self._account_email(c)
            c.joined_days_ago = times[0] + rng.random() * rng.choice((0.01, 0.01, 1.0, 30.0))
            c.joined_days_ago = min(c.joined_days_ago, self.span)
        elif rng.random() < GUEST_REGISTERS_LATER:
            # Registers after some guest orders, with the e-mail in another letter case.
            c.account_email = self._email_variant(guest_email)
            first, last = times[0], times[-1]
            registers_at = last * rng.random() if len(times) == 1 else rng.uniform(last, first)
            c.joined_days_ago = registers_at
        for t in times:
            as_guest = c.account_email is None or (registers_at is not None and t > registers_at)
            channel = preferred if rng.random() < 0.92 else 1 - preferred
            email = guest_email if as_guest else c.account_email
            if as_guest and rng.random() < 0.05:
                email = self._email_variant(guest_email)
            c.orders.append(self._order(t, as_guest, channel, basket, email))
        if rng.random() < BUYER_OPEN_CART:
            cart_age = rng.random() * 20.0
            as_guest = c.account_email is None
            c.checkouts.append((cart_age, as_guest, rng.choice((1, 1, 2, 3)), preferred,
                                guest_email if as_guest else c.account_email))

    def _order(self, days_ago: float, as_guest: bool, channel: int, basket: float, email: str,
               forced: str | None = None) -> PlannedOrder:
        rng = self.rng
        currency = DEFAULT_CHANNELS[channel][2]
        total = round(max(CURRENCY_MEDIAN[currency] * basket * rng.lognormvariate(0.0, ORDER_SIGMA), 1.0), 2)
        refunded = 0.0
        fulfilled = None
        charge = "full"
        r = rng.random()
        if forced is not None:
            status = forced
            charge = "none"
        elif r < CANCELLED:
            status, charge = S_CANCELED, ("none" if rng.random() < 0.8 else "full")
            if charge == "full":
                refunded = total
        elif r < CANCELLED + EXPIRED:
            status, charge = S_EXPIRED, "none"
        elif r < CANCELLED + EXPIRED + UNCONFIRMED:
            status, charge = S_UNCONFIRMED, "none"
        elif r < CANCELLED + EXPIRED + UNCONFIRMED + DRAFT:
            status, charge = S_DRAFT, "none"
        else:
            p = rng.random()
            ship_after = 0.1 + rng.random() * 4.0
            if days_ago < ship_after:
                status = S_UNFULFILLED
            elif p < 0.015:
                status = S_PARTIALLY_FULFILLED
            elif p < 0.025:
                status = S_UNFULFILLED  # stuck in the warehouse
            else:
                status = S_FULFILLED
            if status != S_UNFULFILLED:
                fulfilled = days_ago - ship_after
            q = rng.random()
            if q < FULL_REFUND:
                refunded = total
                if status == S_FULFILLED:
                    status = S_RETURNED
            elif q < FULL_REFUND + PARTIAL_REFUND:
                refunded = round(total * rng.uniform(0.1, 0.6), 2)
                if status == S_FULFILLED:
                    status = S_PARTIALLY_RETURNED
            pay = rng.random()
            if pay < UNPAID:
                charge = "none"
            elif pay < UNPAID + PARTIALLY_PAID:
                charge = "partial"
            elif pay < UNPAID + PARTIALLY_PAID + OVERCHARGED:
                charge = "overcharged"
        return PlannedOrder(days_ago, as_guest, channel, total, status, charge, refunded, fulfilled,
                            self._lines(total, currency), email)

    def _lines(self, total: float, currency: str) -> list:
        rng = self.rng
        r = rng.random()
        count = 1 if r < 0.55 else 2 if r < 0.83 else 3 if r < 0.95 else 4
        lines, left = [], round(total * 100)
        for n in range(count):
            product = rng.randrange(len(PRODUCTS))
            quantity = 1 if rng.random() < 0.85 else 2
            share = left if n == count - 1 else max(round(total * 100 / count), 1)
            if n == count - 1 or share >= left:
                share, quantity = left, (quantity if left % quantity == 0 else 1)
                lines.append((product, quantity, share // quantity))
                break
            if share % quantity:
                quantity = 1
            lines.append((product, quantity, share // quantity))
            left -= share
        return lines


# ---------------------------------------------------------------------------- rows

class _Time:
    """Cheap timestamp text for COPY: one date string per day, cached."""

    def __init__(self, now: datetime):
        self.now_ts = now.timestamp()
        self.days: dict[int, str] = {}

    def __call__(self, days_ago: float) -> str:
        ts = self.now_ts - days_ago * DAY
        day, seconds = divmod(int(ts), 86400)
        text = self.days.get(day)
        if text is None:
            text = self.days[day] = datetime.fromtimestamp(day * 86400, timezone.utc).strftime("%Y-%m-%d")
        h, rest = divmod(seconds, 3600)
        m, s = divmod(rest, 60)
        return f"{text} {h:02d}:{m:02d}:{s:02d}+00"


def _uuid_prefix(seed: int, kind: str) -> str:
    digest = hashlib.sha256(f"lifecycle-sandbox:{seed}:{kind}".encode()).hexdigest()
    # UUIDv8 (RFC 9562, custom layout): 48 seed bits, version 8, 12 seed bits,
    # variant 10, then a 62-bit counter. Ordered by the counter, so loads append.
    return f"{digest[:8]}-{digest[8:12]}-8{digest[12:15]}-"


def _uuid(prefix: str, counter: int) -> str:
    return f"{prefix}{0x8000 | (counter >> 48) & 0x3FFF:04x}-{counter & 0xFFFFFFFFFFFF:012x}"


@dataclass
class GenerateSummary:
    customers: int = 0
    accounts: int = 0
    guests: int = 0
    guests_registered_later: int = 0
    orders: int = 0
    order_lines: int = 0
    checkouts: int = 0
    archetypes: Counter = field(default_factory=Counter)
    order_statuses: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return self.accounts + self.orders + self.order_lines + self.checkouts

    def as_dict(self) -> dict:
        return {
            "customers": self.customers, "accounts": self.accounts, "guests": self.guests,
            "guests_registered_later": self.guests_registered_later, "orders": self.orders,
            "order_lines": self.order_lines, "checkouts": self.checkouts,
            "archetypes": dict(self.archetypes), "order_statuses": dict(self.order_statuses),
        }


def _escape(text: str) -> str:
    # Generated text has no tabs, newlines or backslashes; keep COPY safe anyway.
    if "\\" in text or "\t" in text or "\n" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


class _Rows:
    """Turns planned customers into COPY text for the four tables."""

    def __init__(self, seed: int, now: datetime, channel_ids: list[int], first_user_id: int, first_number: int,
                 first_line_id: int):
        self.time = _Time(now)
        self.channel_ids = channel_ids
        self.next_user = first_user_id
        self.next_number = first_number
        self.next_line = first_line_id
        self.order_prefix = _uuid_prefix(seed, "order")
        self.checkout_prefix = _uuid_prefix(seed, "checkout")
        self.password_salt = hashlib.sha256(f"lifecycle-sandbox-password:{seed}".encode()).hexdigest()[:24]
        self.order_counter = 0
        self.checkout_counter = 0
        self.products = [(_escape(name), sku, price) for name, sku, price in PRODUCTS]

    def render(self, planned: list[PlannedCustomer], summary: GenerateSummary) -> dict[str, str]:
        users, orders, lines, checkouts = [], [], [], []
        time_of, channel_ids, products = self.time, self.channel_ids, self.products
        for c in planned:
            summary.customers += 1
            summary.archetypes[c.archetype] += 1
            user_id = "\\N"
            if c.account_email is not None:
                uid = self.next_user
                self.next_user += 1
                user_id = str(uid)
                summary.accounts += 1
                username = c.account_email.lower()[:150]
                users.append(
                    f"{uid}\t!{self.password_salt}{uid:016x}\t\\N\tf\t{username}\t{c.first_name.capitalize()}\t"
                    f"{c.last_name.capitalize()}\t{c.account_email}\tf\tt\t{time_of(c.joined_days_ago)}\n"
                )
                if any(o.as_guest for o in c.orders):
                    summary.guests_registered_later += 1
            else:
                summary.guests += 1
            for o in c.orders:
                self.order_counter += 1
                order_id = _uuid(self.order_prefix, self.order_counter)
                number = self.next_number
                self.next_number += 1
                currency = DEFAULT_CHANNELS[o.channel][2]
                created = time_of(o.days_ago)
                fulfilled = time_of(o.fulfilled_days_ago) if o.fulfilled_days_ago is not None else "\\N"
                owner = "\\N" if o.as_guest else user_id  # COPY's NULL; no backslash in f-strings before 3.12
                orders.append(
                    f"{order_id}\t{number}\t{owner}\t{o.email}\t{channel_ids[o.channel]}\t"
                    f"{currency}\t{o.total:.2f}\t{o.status}\t{o.charge}\t{o.refunded:.2f}\t{created}\t{fulfilled}\t"
                    f"{created if o.fulfilled_days_ago is None else fulfilled}\n"
                )
                summary.orders += 1
                summary.order_statuses[o.status] += 1
                for product, quantity, cents in o.lines:
                    name, sku, _ = products[product]
                    lines.append(f"{self.next_line}\t{order_id}\t{name}\t{sku}\t{quantity}\t{cents // 100}.{cents % 100:02d}\n")
                    self.next_line += 1
                    summary.order_lines += 1
            for days_ago, as_guest, lines_count, channel, email in c.checkouts:
                self.checkout_counter += 1
                stamp = time_of(days_ago)
                owner = "\\N" if as_guest else user_id
                checkouts.append(
                    f"{_uuid(self.checkout_prefix, self.checkout_counter)}\t{owner}\t{email}\t"
                    f"{channel_ids[channel]}\t{lines_count}\t{stamp}\t{stamp}\n"
                )
                summary.checkouts += 1
        return {"user": "".join(users), "order": "".join(orders), "line": "".join(lines), "checkout": "".join(checkouts)}


# ---------------------------------------------------------------------------- loading

def _columns() -> dict[str, tuple[str, str]]:
    User = get_user_model()
    return {
        "user": (User._meta.db_table, "id, password, last_login, is_superuser, username, first_name, last_name, "
                                      "email, is_staff, is_active, date_joined"),
        "order": (Order._meta.db_table, "id, number, user_id, user_email, channel_id, currency, total_amount, "
                                        "status, charge_status, refunded_amount, created_at, fulfilled_at, "
                                        "updated_at"),
        "line": (OrderLine._meta.db_table, "id, order_id, product_name, sku, quantity, unit_price"),
        "checkout": (Checkout._meta.db_table, "token, user_id, email, channel_id, lines_count, created_at, updated_at"),
    }


class _BulkLoad:
    """Drop the secondary indexes and foreign keys of the loaded tables, rebuild them after.

    Runs inside the caller's transaction, so a failed load leaves the schema untouched.
    Primary keys stay (other tables' foreign keys point at them).
    """

    def __init__(self, cursor, tables: list[str]):
        self.cursor = cursor
        self.tables = tables
        self.constraints: list[tuple[str, str, str, str]] = []  # (table, name, type, definition)
        self.indexes: list[str] = []

    def __enter__(self):
        cur = self.cursor
        cur.execute(
            """SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)
               FROM pg_constraint c WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('f', 'u')
               ORDER BY c.contype DESC""",  # 'u' before 'f'
            [self.tables],
        )
        self.constraints = cur.fetchall()
        for table, name, _, _ in sorted(self.constraints, key=lambda c: c[2]):  # FKs first
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cur.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
               WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
            [self.tables],
        )
        found = cur.fetchall()
        self.indexes = [definition for _, definition in found]
        for name, _ in found:
            cur.execute(f"DROP INDEX {name}")
        return self

    def rebuild(self, progress: Callable[[str], None] | None = None):
        cur = self.cursor
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for definition in self.indexes:
            if progress:
                progress(definition)
            cur.execute(definition)
        for table, name, kind, definition in sorted(self.constraints, key=lambda c: c[2], reverse=True):  # 'u' first
            if progress:
                progress(f"{table} {name}")
            cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')

    def __exit__(self, *exc):
        return False


def _copy_writer(cursor, columns, work: queue.Queue, errors: list) -> None:
    """Background thread: COPY each rendered chunk while the main thread plans the next."""
    try:
        while True:
            item = work.get()
            if item is None:
                return
            for key in ("user", "order", "line", "checkout"):
                text = item[key]
                if not text:
                    continue
                table, names = columns[key]
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    data = text.encode()
                    step = 1 << 20
                    for start in range(0, len(data), step):
                        copy.write(data[start:start + step])
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        errors.append(exc)
        while work.get() is not None:  # drain so the producer never blocks
            pass


def store_is_empty() -> bool:
    User = get_user_model()
    return not (Order.objects.exists() or Checkout.objects.exists() or User.objects.filter(is_staff=False).exists())


def reset_store(*, lifecycle: bool = True) -> None:
    """Empty the sandbox store: customers (non-staff accounts), orders, carts, vouchers, outbox,
    and (with `lifecycle`) the lifecycle engine's own tables."""
    User = get_user_model()
    from .. import models as lifecycle_models

    sandbox = [m._meta.db_table for m in (OrderLine, Order, Checkout, CustomerMetadata, Voucher, OutboxMessage)]
    engine_tables = [
        m._meta.db_table
        for m in (lifecycle_models.StageTransition, lifecycle_models.TierChange, lifecycle_models.ActionLedgerEntry,
                  lifecycle_models.ScheduledAction, lifecycle_models.HookFailure, lifecycle_models.CustomerProfile,
                  lifecycle_models.BackfillRun, lifecycle_models.DeletedCustomer)
    ] if lifecycle else []
    with transaction.atomic(), connection.cursor() as cursor:
        # TRUNCATE refuses tables with foreign-key checks still pending in this transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(f"TRUNCATE {', '.join(sandbox + engine_tables)} RESTART IDENTITY")
        if User.objects.filter(is_staff=True).exists():
            with accounts_removed_without_forgetting():
                User.objects.filter(is_staff=False).delete()
        else:
            user_table = User._meta.db_table
            cursor.execute(f"TRUNCATE {user_table} RESTART IDENTITY CASCADE")
        cursor.execute("ALTER SEQUENCE lifecycle_sandbox_order_number_seq RESTART")


def _reserve(cursor, table: str, column: str, count: int) -> int:
    """The first of `count` ids taken from the serial column's sequence (the block is then skipped)."""
    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
    sequence = cursor.fetchone()[0]
    return _reserve_sequence(cursor, sequence, count)


def _reserve_sequence(cursor, sequence: str, count: int) -> int:
    cursor.execute(f"SELECT nextval('{sequence}')")
    first = cursor.fetchone()[0]
    if count > 1:
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def generate_store(
    customers: int = 20_000,
    years: float = 3,
    seed: int = 42,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    chunk_size: int = 5_000,
    bulk: bool | None = None,
) -> GenerateSummary:
    """Fill the (empty) sandbox store with `customers` synthetic customers over `years` up to `now`.

    `progress(n)` is called with the number of customers written per chunk. `bulk`
    drops and rebuilds indexes around the load (default: for 5,000 customers or more).
    Raises RuntimeError when the store already has customers (reset it first).
    """
    started = time.perf_counter()
    if customers < 0:
        raise ValueError("customers must not be negative")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    if not store_is_empty():
        raise RuntimeError("the sandbox store already has customers; reset it first (lifecycle-sandbox reset)")
    bulk = customers >= 5_000 if bulk is None else bulk
    summary = GenerateSummary()
    columns = _columns()

    with transaction.atomic():
        channels = {}
        for slug, name, currency in DEFAULT_CHANNELS:
            channels[slug], _ = Channel.objects.get_or_create(
                slug=slug, defaults={"name": name, "currency_code": currency}
            )
        channel_ids = [channels[slug].pk for slug, _, _ in DEFAULT_CHANNELS]
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            # Ids come from the tables' own sequences, reserved in blocks as the load goes.
            user_table = columns["user"][0]
            first_user = _reserve(cursor, user_table, "id", 1)
            first_number = _reserve_sequence(cursor, "lifecycle_sandbox_order_number_seq", 1)
            first_line = _reserve(cursor, columns["line"][0], "id", 1)
            rows = _Rows(seed, now, channel_ids, first_user, first_number, first_line)

            loader = _BulkLoad(cursor, [columns[k][0] for k in ("user", "order", "line", "checkout")]) if bulk else None
            if loader:
                loader.__enter__()
            work: queue.Queue = queue.Queue(maxsize=2)
            errors: list[BaseException] = []
            # The writer uses its own cursor on the same connection; only it talks to
            # the server while the load runs.
            writer_cursor = connection.connection.cursor()
            writer = threading.Thread(target=_copy_writer, args=(writer_cursor, columns, work, errors), daemon=True)
            writer.start()
            planner = Planner(seed, years)
            try:
                for begin in range(0, customers, chunk_size):
                    planned = [planner.customer(i) for i in range(begin, min(begin + chunk_size, customers))]
                    rendered = rows.render(planned, summary)
                    if errors:
                        break
                    work.put(rendered)
                    if progress:
                        progress(len(planned))
            finally:
                work.put(None)
                writer.join()
            writer_cursor.close()
            if errors:
                raise errors[0]
            # Move the sequences past the ids used.
            for table, value in ((user_table, rows.next_user - 1), (columns["line"][0], rows.next_line - 1)):
                if value >= 1:
                    cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, value])
            if rows.next_number > first_number:
                cursor.execute("SELECT setval('lifecycle_sandbox_order_number_seq', %s)", [rows.next_number - 1])
            if loader:
                loader.rebuild()
            else:
                # Check the foreign keys now rather than at commit: a caller's enclosing
                # transaction (a test) may truncate these tables before it commits.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for table in (columns[k][0] for k in ("user", "order", "line", "checkout")):
                cursor.execute(f"ANALYZE {table}")
    summary.seconds = time.perf_counter() - started
    return summary
