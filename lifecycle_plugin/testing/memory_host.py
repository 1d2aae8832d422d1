"""An in-memory `Host`: a small store held in Python objects, for fast unit tests.

Plugin authors test their actions with it, and the package tests the engine's
bookkeeping with it, without a database of shop rows (the engine's own tables still
need Django's). It keeps every rule the `Host` protocol states, with the same
support code as the Saleor and sandbox hosts (`lifecycle_plugin.host_support`), and
passes the same host-contract tests.

Build a store, then hand the host to an engine::

    host = MemoryHost()
    ann = host.register("ann@example.com", user_id=1, at=now)
    host.order("ann@example.com", now, total="80")
    host.metadata[ann.user_id]["newsletter"] = "yes"

Importing this module needs no Django settings.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from ..host import (
    CustomerName,
    CustomerRef,
    DeliveryReceipt,
    IssuedVoucher,
    Message,
    OpenCheckout,
    OrderProduct,
    Projection,
    VoucherRequest,
    normalise_email,
)
from ..host_support import (
    ADVOCATE_KEY,
    PROFILE_KEY,
    STAGE_KEY,
    TIER_KEY,
    Owners,
    checkouts_by_owner,
    address_key,
    consent_of,
    names_of,
    new_voucher_code,
)
from ..rules import CustomerFacts, OrderFact, OrderState


@dataclass
class MemoryAccount:
    """A customer account (or, with `staff`, an employee's account, which is no customer)."""

    user_id: int
    email: str
    joined: datetime
    confirmed: bool = True
    staff: bool = False
    first_name: str = ""
    last_name: str = ""


@dataclass
class MemoryOrder:
    """An order row: the account that placed it (None for a guest) and its e-mail."""

    user_id: int | None
    email: str
    fact: OrderFact
    changed_at: datetime


@dataclass
class MemoryCheckout:
    user_id: int | None
    email: str
    lines: int
    changed_at: datetime | None  # None: not reported by `changed_customers` nor `customer_checkouts`
    token: str = ""
    created_at: datetime | None = None
    #: Its lines' products; without them `customer_checkouts` names the lines "product 1", ...
    products: list[OrderProduct] = field(default_factory=list)
    language: str = ""
    channel: str = "default-channel"

    def as_open(self) -> OpenCheckout:
        lines = self.products or [OrderProduct(f"product {n}") for n in range(1, self.lines + 1)]
        return OpenCheckout(self.token, self.created_at or self.changed_at, self.changed_at, tuple(lines),
                            self.email, self.user_id, self.language, self.channel)


@dataclass
class MemoryVoucher:
    """A voucher the host issued: the request it answered and what it gave back."""

    request: VoucherRequest
    issued: IssuedVoucher
    single_use: bool = True
    expired: bool = False
    owner_email: str = field(init=False)

    def __post_init__(self):
        self.owner_email = self.request.customer.email


class MemoryHost:
    """The in-memory store and its `Host` methods (required and optional ones).

    What tests read back:

    - `projections`: every projection handed to `write_projection`, in order (guests'
      included); what storefronts would see is the account's `metadata` and
      `private_metadata`, written for accounts only.
    - `metadata`, `private_metadata`: each account's metadata by account id (consent
      keys go here).
    - `vouchers` (the requests) and `issued` (the vouchers given back), `messages`.
    - `fact_reads`: how many times `read_facts` ran.
    - `products`: order id → the products `order_products` answers with.
    - `order_vouchers`, `shipping`: order id → the voucher code it redeemed, its shipping
      address (`order(..., voucher=..., ship_to=...)`).
    """

    name = "memory"

    def __init__(self):
        self.accounts: dict[int, MemoryAccount] = {}
        self.orders: list[MemoryOrder] = []
        self.checkouts: list[MemoryCheckout] = []
        self.account_changes: dict[int, datetime] = {}
        self.projections: list[Projection] = []
        self.metadata: dict[int, dict] = {}
        self.private_metadata: dict[int, dict] = {}
        #: Each customer's language by e-mail (Saleor: the account's, or a guest's order's).
        self.languages: dict[str, str] = {}
        self.vouchers: list[VoucherRequest] = []
        self.issued: list[IssuedVoucher] = []
        self.voucher_rows: dict[str, MemoryVoucher] = {}
        self.messages: list[Message] = []
        self.products: dict[str, list[OrderProduct]] = {}
        self.order_vouchers: dict[str, str] = {}
        self.shipping: dict[str, str] = {}
        self.fact_reads = 0
        self._order_ids = itertools.count(1)
        self._checkout_ids = itertools.count(1)

    # ------------------------------------------------------------------ the store, as a shop changes it

    def register(self, email: str, user_id: int, at: datetime, *, confirmed: bool = True, staff: bool = False,
                 first_name: str = "", last_name: str = "") -> CustomerRef:
        """An account signs up (or a staff account is made, with `staff`)."""
        email = normalise_email(email)
        self.accounts[user_id] = MemoryAccount(user_id, email, at, confirmed, staff, first_name, last_name)
        self.metadata.setdefault(user_id, {})
        self.private_metadata.setdefault(user_id, {})
        self.account_changes[user_id] = at
        return CustomerRef(email, user_id)

    def change_email(self, user_id: int, email: str, at: datetime) -> None:
        """The account's owner changes its e-mail; its own orders and checkouts follow it."""
        self.accounts[user_id].email = normalise_email(email)
        self.account_changes[user_id] = at

    def order(self, email: str, at: datetime, total="50", currency="USD", *, user_id: int | None = None,
              guest: bool = False, changed_at: datetime | None = None, voucher: str = "",
              ship_to: str = "", **fields) -> OrderFact:
        """An order placed at `at`. It is the account's given by `user_id`, else the signed-in
        account's of that e-mail, unless `guest`. `voucher`: the code it redeemed (not
        checked: the test decides what the store accepted); `ship_to`: its shipping
        address, one line. `fields`: the other `OrderFact` fields."""
        email = normalise_email(email)
        if user_id is None and not guest:
            user_id = self._account_of(email)
        fact = OrderFact(str(next(self._order_ids)), at, currency, Decimal(total), **fields)
        self.orders.append(MemoryOrder(user_id, email, fact, changed_at or at))
        if voucher:
            self.order_vouchers[fact.order_id] = voucher
        if ship_to:
            self.shipping[fact.order_id] = address_key(ship_to)
        return fact

    def update_order(self, email: str, order_id: str, at: datetime | None = None, **fields) -> None:
        """Change an order's `OrderFact` fields (a refund, a fulfilment, a cancellation)."""
        for row in self.orders:
            if row.fact.order_id == order_id:
                row.fact = replace(row.fact, **fields)
                if at is not None:
                    row.changed_at = at

    def delete_order(self, order_id: str) -> None:
        self.orders = [row for row in self.orders if row.fact.order_id != order_id]

    def cart(self, email: str, lines: int = 0, at: datetime | None = None, *, user_id: int | None = None,
             guest: bool = False, products: Sequence[OrderProduct] = (), language: str = "",
             channel: str = "default-channel") -> MemoryCheckout:
        """A checkout with `lines` lines (0: emptied; `products` names them), owned like `order`'s rows."""
        email = normalise_email(email)
        if user_id is None and not guest:
            user_id = self._account_of(email)
        row = MemoryCheckout(user_id, email, len(products) or lines, at, f"checkout-{next(self._checkout_ids)}", at,
                             list(products), language, channel)
        self.checkouts.append(row)
        return row

    def change_cart(self, row: MemoryCheckout, at: datetime, *, lines: int | None = None,
                    products: Sequence[OrderProduct] | None = None) -> None:
        """The shopper changes the cart at `at` (lines added or removed, 0: emptied)."""
        if products is not None:
            row.products, row.lines = list(products), len(products)
        elif lines is not None:
            row.products, row.lines = row.products[:lines], lines
        row.changed_at = at

    def drop_cart(self, row: MemoryCheckout) -> None:
        """The checkout is gone: completed into an order, or deleted."""
        self.checkouts = [other for other in self.checkouts if other is not row]

    def _account_of(self, email: str) -> int | None:
        return next((a.user_id for a in self.accounts.values() if a.email == email), None)

    @property
    def customers(self) -> dict[str, CustomerFacts]:
        """Every customer's facts by e-mail, as `customer_chunks` lists them (read-only)."""
        refs = [ref for chunk in self.customer_chunks(1_000_000) for ref in chunk]
        facts = self._facts(refs)
        return {ref.email: facts[ref] for ref in refs}

    # ------------------------------------------------------------------ required Host methods

    def customer_chunks(self, chunk_size: int, start_after: str | None = None) -> Iterator[list[CustomerRef]]:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        people: dict[str, int | None] = {}
        for account in sorted(self._customer_accounts(), key=lambda a: a.user_id):
            people.setdefault(account.email, account.user_id)
        for row in [*self.orders, *self.checkouts]:
            if row.user_id is None and row.email:
                people.setdefault(row.email, None)
        emails = sorted(e for e in people if start_after is None or e > start_after)
        for i in range(0, len(emails), chunk_size):
            yield [CustomerRef(e, people[e]) for e in emails[i:i + chunk_size]]

    def count_customers(self) -> int:
        return sum(len(chunk) for chunk in self.customer_chunks(1_000_000))

    def read_facts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerFacts]:
        self.fact_reads += 1
        return self._facts(list(dict.fromkeys(customers)))

    def _facts(self, refs: list[CustomerRef]) -> dict[CustomerRef, CustomerFacts]:
        accounts = [(a.user_id, a.email, a.joined, a.confirmed) for a in self._customer_accounts()]
        owners = Owners(refs, accounts)
        return owners.all_facts(((row.user_id, row.email, row.fact) for row in self.orders),
                                ((row.user_id, row.email, row.lines) for row in self.checkouts))

    def changed_customers(self, since: datetime, until: datetime) -> list[tuple[CustomerRef, datetime]]:
        """Keyed like the hooks key their events: an account's rows by its e-mail."""
        latest: dict[str, tuple[int | None, datetime]] = {}

        def seen(email: str, user_id: int | None, at: datetime | None) -> None:
            if email and at is not None and since <= at < until:
                known_id, known_at = latest.get(email, (None, at))
                latest[email] = (max(filter(None, (known_id, user_id)), default=None), max(known_at, at))

        for user_id, at in self.account_changes.items():
            account = self.accounts[user_id]
            if not account.staff:
                seen(account.email, user_id, at)
        for row in [*self.orders, *self.checkouts]:
            if isinstance(row, MemoryOrder) and row.fact.state is OrderState.DRAFT:
                continue
            account = self.accounts.get(row.user_id) if row.user_id is not None else None
            seen(account.email if account else row.email, row.user_id, row.changed_at)
        return [(CustomerRef(email, user_id), at) for email, (user_id, at) in latest.items()]

    def write_projection(self, projections: Sequence[Projection]) -> None:
        """Records every projection; writes onto accounts found by id only (a guest's: nothing)."""
        for projection in projections:
            self.projections.append(projection)
            user_id = projection.customer.user_id
            if user_id in self.accounts:
                self.metadata[user_id].update({STAGE_KEY: projection.stage, TIER_KEY: projection.tier or ""})
                if projection.advocate:
                    self.metadata[user_id][ADVOCATE_KEY] = "true"
                else:
                    self.metadata[user_id].pop(ADVOCATE_KEY, None)
                self.private_metadata[user_id][PROFILE_KEY] = json.dumps(dict(projection.profile), default=str)

    def issue_voucher(self, request: VoucherRequest) -> IssuedVoucher:
        if request.discount_type not in ("percentage", "fixed"):
            raise ValueError(f"discount_type must be 'percentage' or 'fixed', got {request.discount_type!r}")
        issued = IssuedVoucher(new_voucher_code(), str(len(self.issued) + 1), request.channel, request.valid_until)
        self.vouchers.append(request)
        self.issued.append(issued)
        self.voucher_rows[issued.code] = MemoryVoucher(request, issued, single_use=not request.shareable)
        return issued

    def deliver_message(self, message: Message) -> DeliveryReceipt:
        self.messages.append(message)
        return DeliveryReceipt("memory", str(len(self.messages)))

    # ------------------------------------------------------------------ optional Host methods

    def marketing_consent(self, customers: Sequence[CustomerRef], key: str) -> dict[CustomerRef, bool]:
        values = {}
        for account in self._customer_accounts():
            private, public = self.private_metadata[account.user_id], self.metadata[account.user_id]
            values[account.user_id] = private[key] if key in private else public.get(key)
        return consent_of(customers, values)

    def record_opt_out(self, customer: CustomerRef, key: str, value: str) -> None:
        if customer.user_id in self.private_metadata:
            self.private_metadata[customer.user_id][key] = value

    def customer_languages(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, str]:
        return {c: self.languages[c.email] for c in customers if c.email in self.languages}

    def plugin_url(self, path: str) -> str:
        return "http://testserver/" + path

    def customer_names(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerName]:
        return names_of(customers, [(a.user_id, a.email, a.first_name, a.last_name)
                                    for a in self._customer_accounts()])

    def order_products(self, order_ids: Sequence[str]) -> dict[str, list[OrderProduct]]:
        return {order_id: list(self.products[order_id]) for order_id in order_ids if order_id in self.products}

    def customer_checkouts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, list[OpenCheckout]]:
        refs = list(dict.fromkeys(customers))
        accounts = [(a.user_id, a.email, a.joined, a.confirmed) for a in self._customer_accounts()]
        rows = [row.as_open() for row in self.checkouts if row.changed_at is not None]
        return checkouts_by_owner(Owners(refs, accounts), rows)

    def order_voucher_codes(self, order_ids: Sequence[str]) -> dict[str, str]:
        return {order_id: self.order_vouchers[order_id] for order_id in order_ids if order_id in self.order_vouchers}

    def order_shipping_addresses(self, order_ids: Sequence[str]) -> dict[str, str]:
        return {order_id: self.shipping[order_id] for order_id in order_ids if self.shipping.get(order_id)}

    def forget_customer(self, emails: Sequence[str], voucher_ids: Sequence[str]) -> None:
        """The deleted customer's vouchers expire and lose their owner's e-mail; the messages
        sent to them are dropped."""
        ids = set(voucher_ids)
        for voucher in self.voucher_rows.values():
            if voucher.issued.voucher_id in ids:
                voucher.owner_email, voucher.expired = "", True
        forgotten = set(emails)
        self.messages = [m for m in self.messages if m.customer.email not in forgotten]

    def _customer_accounts(self) -> list[MemoryAccount]:
        return [account for account in self.accounts.values() if not account.staff]


__all__ = ["MemoryAccount", "MemoryCheckout", "MemoryHost", "MemoryOrder", "MemoryVoucher"]
