"""Who the synthetic store's customers are: archetypes, their rhythms, their orders and carts.

`Planner(seed, years).customer(index)` draws one customer from a seeded random stream,
with every order and cart as "days ago"; nothing here touches the database (rows.py
turns plans into COPY text, generator.py loads them).

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

import random
from dataclasses import dataclass, field

from .store import DEFAULT_CHANNELS

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
