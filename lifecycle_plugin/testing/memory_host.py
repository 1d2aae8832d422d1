"""An in-memory Host: plugin authors' and the engine's unit tests, no store needed."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from lifecycle_plugin.host import (
    CustomerName,
    CustomerRef,
    DeliveryReceipt,
    IssuedVoucher,
    Message,
    OrderProduct,
    Projection,
    VoucherRequest,
)
from lifecycle_plugin.rules import CustomerFacts, OrderFact, OrderState


class MemoryHost:
    name = "memory"

    def __init__(self):
        self.customers: dict[str, CustomerFacts] = {}
        self.projections: list[Projection] = []
        self.messages: list[Message] = []
        self.vouchers: list[VoucherRequest] = []
        self.fact_reads = 0
        self._ids = itertools.count(1)
        # Optional host data: consent metadata, names and order lines, by e-mail / order id.
        self.metadata: dict[str, dict] = {}
        self.private_metadata: dict[str, dict] = {}
        self.names: dict[str, CustomerName] = {}
        self.products: dict[str, list[OrderProduct]] = {}
        #: When each customer's account, orders or checkouts last changed (changed_customers).
        self.changed_at: dict[str, datetime] = {}

    # store changes, as a shop would make them
    def register(self, email: str, user_id: int, at: datetime) -> CustomerRef:
        facts = self.customers.get(email, CustomerFacts(email=email))
        self.customers[email] = replace(facts, has_account=True, user_id=user_id, account_created_at=at)
        self.changed_at[email] = at
        return CustomerRef(email, user_id)

    def order(self, email: str, at: datetime, total="50", currency="USD", **fields) -> OrderFact:
        facts = self.customers.get(email, CustomerFacts(email=email))
        order = OrderFact(str(next(self._ids)), at, currency, Decimal(total), **fields)
        self.customers[email] = replace(facts, orders=facts.orders + (order,))
        self.changed_at[email] = at
        return order

    def update_order(self, email: str, order_id: str, at: datetime | None = None, **fields) -> None:
        facts = self.customers[email]
        if at is not None:
            self.changed_at[email] = at
        orders = tuple(replace(o, **fields) if o.order_id == order_id else o for o in facts.orders)
        self.customers[email] = replace(facts, orders=orders)

    def cart(self, email: str, lines: int, at: datetime | None = None) -> None:
        facts = self.customers.get(email, CustomerFacts(email=email))
        if at is not None:
            self.changed_at[email] = at
        self.customers[email] = replace(facts, open_cart_lines=lines, checkouts=facts.checkouts + 1)

    # the Host interface
    def customer_chunks(self, chunk_size, start_after=None):
        emails = sorted(e for e in self.customers if start_after is None or e > start_after)
        for i in range(0, len(emails), chunk_size):
            yield [CustomerRef(e, self.customers[e].user_id) for e in emails[i : i + chunk_size]]

    def read_facts(self, customers):
        """Facts by e-mail; like the real hosts, an account named by id is found whatever its e-mail."""
        self.fact_reads += 1
        accounts = {f.user_id: f for f in self.customers.values() if f.has_account}
        found = {}
        for c in customers:
            facts = self.customers.get(c.email, CustomerFacts(email=c.email))
            account = accounts.get(c.user_id) if c.user_id else None
            if account is not None and not facts.has_account:
                facts = replace(facts, has_account=True, user_id=account.user_id,
                                account_created_at=account.account_created_at)
            found[c] = facts
        return found

    def changed_customers(self, since, until):
        return [(CustomerRef(email, self.customers[email].user_id), at)
                for email, at in self.changed_at.items() if since <= at < until]

    def write_projection(self, projections):
        self.projections.extend(projections)

    def issue_voucher(self, request):
        self.vouchers.append(request)
        return IssuedVoucher(f"CODE{len(self.vouchers)}", str(len(self.vouchers)), request.channel, request.valid_until)

    def deliver_message(self, message):
        self.messages.append(message)
        return DeliveryReceipt("memory", str(len(self.messages)))

    # optional Host methods
    def marketing_consent(self, customers, key):
        """Same rule as the other hosts: private metadata wins over public; only a clear yes counts."""
        consent = {}
        for customer in customers:
            private = self.private_metadata.get(customer.email, {})
            value = private[key] if key in private else self.metadata.get(customer.email, {}).get(key)
            consent[customer] = str(value).strip().lower() in {"true", "1", "yes", "on", "granted"}
        return consent

    def customer_names(self, customers):
        return {c: self.names[c.email] for c in customers if c.email in self.names}

    def order_products(self, order_ids):
        return {order_id: list(self.products[order_id]) for order_id in order_ids if order_id in self.products}


__all__ = ["MemoryHost", "OrderState"]
