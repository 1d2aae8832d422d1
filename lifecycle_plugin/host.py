"""The host interface: what the engine needs from the store it runs in.

Two hosts implement it: the Saleor host (`lifecycle_plugin.saleor.host`) in
production and the sandbox host (`lifecycle_plugin.sandbox.host`) for demos,
development and tests. The host-contract tests in `tests/contract/` run against
both, so the engine cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from .rules import CustomerFacts


def normalise_email(email: str) -> str:
    """The customer key: hosts match history by user or by case-insensitive e-mail."""
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """Who a customer is: their normalised e-mail, and their account id if they have one."""

    email: str
    user_id: int | None = None

    @classmethod
    def of(cls, email: str, user_id: int | None = None) -> CustomerRef:
        return cls(normalise_email(email), user_id)


class Owners:
    """Whose rows are whose in one read of many customers' facts (used by both hosts).

    Each customer's account is found by id, else by e-mail. An account's orders and
    checkouts belong to the customers on that account only; guest rows belong to the
    customers of their e-mail, the account's own e-mail included. Two customers of one
    read can share an account (an e-mail that changed): both get its rows, as each
    would if read alone.

    An account whose e-mail is not confirmed has no claim on that e-mail yet: it is found
    by its id only, and owns only the rows that carry its id. Until it is confirmed, a
    customer asked about by e-mail alone is the guest of that e-mail, so whoever
    registers someone else's address cannot read that person's guest purchases.

    :param customers: the customers asked about, without repeats.
    :param accounts: the rows (id, normalised e-mail, joined at[, confirmed]) found for
        them; an account without the fourth column is confirmed.
    """

    def __init__(self, customers: Sequence[CustomerRef], accounts: Iterable[tuple]):
        by_id: dict[int, tuple] = {}
        by_email: dict[str, tuple] = {}
        for row in accounts:
            by_id[row[0]] = row
            if _confirmed(row):
                by_email.setdefault(row[1], row)
        self.account: dict[CustomerRef, tuple | None] = {}
        self._by_user: dict[int, list[CustomerRef]] = {}
        self._by_email: dict[str, list[CustomerRef]] = {}
        for customer in customers:
            account = (by_id.get(customer.user_id) if customer.user_id else None) or by_email.get(customer.email)
            self.account[customer] = account
            if account is None or _confirmed(account):
                self._by_email.setdefault(customer.email, []).append(customer)
            if account is not None:
                self._by_user.setdefault(account[0], []).append(customer)
                if account[1] != customer.email and _confirmed(account):
                    self._by_email.setdefault(account[1], []).append(customer)

    @property
    def user_ids(self) -> list[int]:
        """The accounts whose orders and checkouts to read."""
        return list(self._by_user)

    @property
    def emails(self) -> list[str]:
        """The e-mails whose guest orders and checkouts to read."""
        return list(self._by_email)

    def of(self, user_id: int | None, email: str) -> list[CustomerRef]:
        """The customers an order or checkout row (its account id, its normalised e-mail) belongs to."""
        if user_id is not None:
            return self._by_user.get(user_id, [])
        return self._by_email.get(email, [])

    def facts(self, customer: CustomerRef, **rows: Any) -> CustomerFacts:
        """The customer's facts: their account, and the `rows` (orders, carts) read for them."""
        account = self.account[customer]
        return CustomerFacts(
            email=customer.email,
            has_account=account is not None,
            user_id=account[0] if account is not None else None,
            account_created_at=account[2] if account is not None else None,
            account_confirmed=account is None or _confirmed(account),
            **rows,
        )


def _confirmed(account: tuple) -> bool:
    return len(account) < 4 or bool(account[3])


@dataclass(frozen=True, slots=True)
class Projection:
    """The read-only copy of a decision that the host shows storefronts and staff."""

    customer: CustomerRef
    stage: str
    tier: str | None
    profile: Mapping[str, Any]  # JSON summary kept in private metadata
    #: When the decision was made. A host that stamps the account's change time when it
    #: writes the projection stamps it no later than this, so that `changed_customers`
    #: does not report the decision's own write as a change the decision has not seen.
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VoucherRequest:
    customer: CustomerRef
    channel: str
    discount_type: str  # "percentage" or "fixed"
    value: Decimal
    valid_until: datetime
    name: str
    currency: str | None = None  # required for fixed amounts


#: Why a checkout that redeems another customer's personal voucher is refused.
VOUCHER_NOT_YOURS = "This voucher code was issued to another customer and can only be used by them."


def is_voucher_owner(owner: CustomerRef, redeemer: CustomerRef) -> bool:
    """Whether `redeemer` may use a personal voucher issued to `owner`.

    The owner's account may redeem it (by id: its e-mail may have changed since the
    voucher was issued), and so may whoever orders with the owner's e-mail (the owner
    checking out as a guest, or a guest owner). When an account orders, its own
    e-mail counts, not the contact e-mail typed into the checkout, so signing in as
    someone else and typing the owner's address does not pass.
    """
    if owner.user_id is not None and redeemer.user_id == owner.user_id:
        return True
    return bool(owner.email) and normalise_email(redeemer.email) == normalise_email(owner.email)


#: What a deleted customer's vouchers are renamed to (they were named by the e-mail).
FORGOTTEN_VOUCHER_NAME = "Lifecycle voucher of a deleted customer"


@dataclass(frozen=True, slots=True)
class IssuedVoucher:
    code: str
    voucher_id: str
    channel: str
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class Message:
    customer: CustomerRef
    action: str
    subject: str
    text: str
    html: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)
    channel: str | None = None


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


@runtime_checkable
class Host(Protocol):
    """The small surface a store offers the engine. Every read is set-based."""

    name: str

    def customer_chunks(self, chunk_size: int, start_after: str | None = None) -> Iterator[list[CustomerRef]]:
        """Every customer (accounts and guest e-mails), ordered by e-mail, in chunks.

        `start_after` resumes after that e-mail, so a backfill can continue where it stopped.
        """
        ...

    def read_facts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerFacts]:
        """Facts for many customers with a constant number of queries.

        Orders are matched by account or by case-insensitive e-mail, so guest orders
        placed before sign-up count. The result has an entry for every customer asked.
        """
        ...

    def changed_customers(self, since: datetime, until: datetime) -> list[tuple[CustomerRef, datetime]]:
        """The customers whose account, orders or checkouts changed at `since` <= t < `until`,
        each once, with the time of their latest change in that window.

        Keyed like the hooks key their events (an account's rows by its e-mail, a
        guest's by theirs); staff accounts' own changes and draft orders are left out.
        An indexed range read of the store's change times: the reconciliation
        (`engine.reconcile`) runs it every few minutes.
        """
        ...

    def write_projection(self, projections: Sequence[Projection]) -> None:
        """Show the decisions to storefronts and staff (Saleor: user metadata)."""
        ...

    def issue_voucher(self, request: VoucherRequest) -> IssuedVoucher:
        """Create a personal, single-use voucher with a code that cannot be guessed.

        The host records `request.customer` as the voucher's owner; where the host
        takes orders (Saleor checkouts, the sandbox store) an order by anyone else
        that redeems the code is refused (see `is_voucher_owner`).
        """
        ...

    def deliver_message(self, message: Message) -> DeliveryReceipt:
        """Hand a message to the customer (or to an outbox the store owner reads)."""
        ...

    # Optional methods. The built-in actions look them up with getattr and work
    # without them (see lifecycle_plugin.actions): a host that cannot check consent
    # gets no marketing messages sent when a consent key is set, and messages
    # without names or products just leave those parts out.

    def marketing_consent(self, customers: Sequence[CustomerRef], key: str) -> dict[CustomerRef, bool]:
        """Optional. Whether each customer agreed to marketing messages.

        Consent is the value stored under metadata `key` on the customer's account:
        private metadata wins over public metadata when both hold the key, and only
        an explicit yes ("true", "1", "yes", "on", "granted", any letter case)
        counts. Customers without an account, or without the key, have not agreed.
        The result has an entry for every customer asked; one query for the batch.
        """
        ...

    def customer_names(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerName]:
        """Optional. First and last names to greet customers by; unknown customers may be left out."""
        ...

    def order_products(self, order_ids: Sequence[str]) -> dict[str, list[OrderProduct]]:
        """Optional. The products of each order (for review requests); unknown orders may be left out."""
        ...

    def forget_customer(self, emails: Sequence[str], voucher_ids: Sequence[str]) -> None:
        """Optional. Remove what the host keeps for the plugin about a deleted customer.

        `emails`: their normalised addresses; `voucher_ids`: the vouchers issued to them
        (`IssuedVoucher.voucher_id`, from their action ledger). Saleor: those vouchers lose
        the owner's e-mail and expire now, since a personal voucher of nobody would be
        anyone's; the sandbox also forgets its outbox copies of their messages.
        """
        ...

    def account_order_emails(self, user_id: int) -> list[str]:
        """Optional. The e-mails on an account's orders other than its own that no other
        account has, read before the account is deleted so that they are forgotten too."""
        ...
