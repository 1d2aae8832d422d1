"""Planned customers as COPY text for the tables the generator loads, and the run's summary.

Ids are made, not drawn from the database at each row: user ids, order numbers and
line ids from blocks the generator reserved, order and checkout tokens as UUIDs
derived from the seed, so the same seed gives the same rows.

Besides the carts the personas plan (open or emptied), every `COMPLETED_CART_EVERY`-th
order that still counts (placed, not refunded) was checked out from a cart the shopper
filled an hour or three before: that cart is written too, with the order's lines and
made before it, so a replay sees a checkout that is completed before its reminder is
due. (Saleor deletes a completed checkout; the sandbox keeps it, as the store shows
history by creation time. It is older than the customer's order, so it is never
reminded of, and a customer with a counted order is no prospect.)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .personas import PRODUCTS, PlannedCustomer
from .store import DEFAULT_CHANNELS

DAY = 86400.0
#: One counted, unrefunded order in this many comes from a cart written too (see above).
COMPLETED_CART_EVERY = 6
_COMPLETED = ("unfulfilled", "partially fulfilled", "fulfilled")

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
    checkout_lines: int = 0
    #: Of the checkouts, those written for an order that completed them.
    completed_checkouts: int = 0
    archetypes: Counter = field(default_factory=Counter)
    order_statuses: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return self.accounts + self.orders + self.order_lines + self.checkouts + self.checkout_lines

    def as_dict(self) -> dict:
        return {
            "customers": self.customers, "accounts": self.accounts, "guests": self.guests,
            "guests_registered_later": self.guests_registered_later, "orders": self.orders,
            "order_lines": self.order_lines, "checkouts": self.checkouts, "checkout_lines": self.checkout_lines,
            "completed_checkouts": self.completed_checkouts,
            "archetypes": dict(self.archetypes), "order_statuses": dict(self.order_statuses),
        }


def _escape(text: str) -> str:
    # Generated text has no tabs, newlines or backslashes; keep COPY safe anyway.
    if "\\" in text or "\t" in text or "\n" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


class Rows:
    """Turns planned customers into COPY text for the generator's tables."""

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
        users, orders, lines, checkouts, checkout_lines = [], [], [], [], []

        def checkout(owner: str, email: str, channel: int, days_ago: float, items) -> None:
            """A checkout row and its lines ((product index, quantity) each)."""
            self.checkout_counter += 1
            token = _uuid(self.checkout_prefix, self.checkout_counter)
            stamp = time_of(days_ago)
            checkouts.append(f"{token}\t{owner}\t{email}\t{channel_ids[channel]}\t{len(items)}\t{stamp}\t{stamp}\ten\n")
            for product, quantity in items:
                name, sku, _ = products[product]
                checkout_lines.append(f"{token}\t{name}\t\t{sku}\t{quantity}\n")
            summary.checkouts += 1
            summary.checkout_lines += len(items)

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
                if o.status in _COMPLETED and not o.refunded and self.order_counter % COMPLETED_CART_EVERY == 0:
                    hours_before = 1 + self.order_counter % 3  # filled 1 to 3 hours before checking out
                    checkout(owner, o.email, o.channel, o.days_ago + hours_before / 24,
                             [(product, quantity) for product, quantity, _ in o.lines])
                    summary.completed_checkouts += 1
            for days_ago, as_guest, lines_count, channel, email in c.checkouts:
                # What the shopper put in the cart: products picked by the cart's number.
                number = self.checkout_counter + 1
                items = [((number * 7 + k * 11) % len(products), 1 + (number + k) % 3 // 2) for k in range(lines_count)]
                checkout("\\N" if as_guest else user_id, email, channel, days_ago, items)
        return {"user": "".join(users), "order": "".join(orders), "line": "".join(lines), "checkout": "".join(checkouts),
                "checkout_line": "".join(checkout_lines)}
