"""The host interface: what the engine needs from the store it runs in.

Three hosts implement it: the Saleor host (`lifecycle_plugin.saleor.host`) in
production, the sandbox host (`lifecycle_plugin.sandbox.host`) for demos and
development, and the in-memory host (`lifecycle_plugin.testing.MemoryHost`) for unit
tests. What they share lives in `lifecycle_plugin.host_support`. The host-contract
tests (`tests/contract/host_contract.py`) run against all three, so the engine cannot
tell them apart.

Rules every host keeps (settled once, tested by the contract):

- Customers are accounts and guest e-mails. **Staff accounts are not customers**, even
  when they have ordered (Saleor's Dashboard lists staff who ordered under Customers;
  the plugin does not give employees stages, vouchers or reminders): a host leaves
  them out of every read, so the rows that carry a staff account's id belong to
  nobody, and the staff member's e-mail alone is a guest's like anyone's.
- **A guest has no projection**: stage and tier are written onto accounts only, found
  by `Projection.customer.user_id`. A projection without an account id writes nothing,
  anywhere, even when an account has that e-mail (it may be somebody's unconfirmed
  registration of the address); the guest's stage lives in the plugin's own tables
  and is served over GraphQL.
- **Consent is looked up by account id**, never by e-mail: a customer without an id
  has not agreed.
- **Voucher codes** are ``LC-`` and 13 symbols of a 31-symbol alphabet (no 0/O, 1/I/L)
  drawn with `secrets` (about 64 bits): `host_support.new_voucher_code`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from .host_records import CustomerName, DeliveryReceipt, IssuedVoucher, OpenCheckout, OrderProduct
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
    #: An advocate (`rules.referral.is_advocate`): public metadata ``lifecycle.advocate``
    #: is ``true``; otherwise the key is removed.
    advocate: bool = False


@dataclass(frozen=True, slots=True)
class LadderSources:
    """A store's customers and orders as the SQL evaluator reads them (`Host.ladder_sources`).

    `customers_sql` and `orders_sql` follow the column contract in `engine.sql_ladder`'s
    docstring (the customer key is the normalised e-mail; `customers_sql` also has
    `user_id`, the account's id or NULL); `params` binds their placeholders, all named
    ``lc_*``.
    """

    customers_sql: str
    orders_sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VoucherRequest:
    customer: CustomerRef
    channel: str
    discount_type: str  # "percentage" or "fixed"
    value: Decimal
    valid_until: datetime
    name: str
    currency: str | None = None  # required for fixed amounts
    #: A referral code (`actions/referral.py`) rather than a personal voucher: any
    #: customer may redeem it, once each, except `customer`, its owner (the referrer).
    shareable: bool = False


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


#: Why a checkout that redeems the customer's own referral code is refused.
OWN_REFERRAL_CODE = "This is your own referral code: it is for friends who have not ordered here yet."


def may_redeem(owner: CustomerRef, redeemer: CustomerRef, shareable: bool) -> bool:
    """Whether `redeemer` may use a voucher the plugin issued to `owner`: a personal one
    only its owner (`is_voucher_owner`), a referral code (`shareable`) anyone else."""
    return is_voucher_owner(owner, redeemer) != shareable


#: What a deleted customer's vouchers are renamed to (they were named by the e-mail).
FORGOTTEN_VOUCHER_NAME = "Lifecycle voucher of a deleted customer"


@dataclass(frozen=True, slots=True)
class Message:
    customer: CustomerRef
    action: str
    subject: str
    text: str
    html: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)
    channel: str | None = None


class Host(Protocol):
    """The small surface a store offers the engine. Every read is set-based.

    Six methods are required (`REQUIRED_HOST_METHODS`). The rest are optional
    (`OPTIONAL_HOST_METHODS`): callers look them up with ``getattr(host, name, None)``
    and each one's docstring says what its absence means. `is_host` tells whether an
    object has the required ones.
    """

    name: str

    def customer_chunks(self, chunk_size: int, start_after: str | None = None) -> Iterator[list[CustomerRef]]:
        """Every customer (accounts and guest e-mails), ordered by e-mail, in chunks.

        One entry per normalised e-mail, with the account id when an account has that
        e-mail; staff accounts are left out. `start_after` resumes after that e-mail,
        so a backfill can continue where it stopped.
        """
        ...

    def read_facts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerFacts]:
        """Facts for many customers with a constant number of queries.

        Orders are matched by account or by case-insensitive e-mail, so guest orders
        placed before sign-up count; who owns which row is `host_support.Owners`. Staff
        accounts are not found (their e-mail alone is a guest's). The result has an
        entry for every customer asked.
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
        """Show the decisions to storefronts and staff: merge `lifecycle.stage` and
        `lifecycle.tier` (and `lifecycle.advocate` = ``true`` for an advocate, removed
        otherwise) into the account's public metadata and `lifecycle.profile` (JSON
        text) into its private metadata, keeping every other key.

        Accounts are found by `Projection.customer.user_id` only; a projection without
        one (a guest's) writes nothing, and an unknown id is skipped.
        """
        ...

    def issue_voucher(self, request: VoucherRequest) -> IssuedVoucher:
        """Create a personal, single-use voucher whose code is `host_support.new_voucher_code()`.

        The host records `request.customer` as the voucher's owner; where the host
        takes orders (Saleor checkouts, the sandbox store) an order by anyone else
        that redeems the code is refused (see `is_voucher_owner`).
        """
        ...

    def deliver_message(self, message: Message) -> DeliveryReceipt:
        """Hand a message to the customer (or to an outbox the store owner reads)."""
        ...

    # ------------------------------------------------------------------ optional methods

    def count_customers(self) -> int:
        """Optional. How many customers `customer_chunks` yields, for progress bars.

        Absent: the backfill commands show no total.
        """
        ...

    def plugin_settings(self) -> Mapping[str, Any]:
        """Optional. The store owner's raw settings (strings, as the Dashboard saves them).

        Absent: the settings come from Django's ``LIFECYCLE_SETTINGS`` (`runtime.owner_settings`).
        The sandbox host has it: LIFECYCLE_SETTINGS with what `lifecycle-sandbox settings` saved over them.
        """
        ...

    def save_plugin_settings(self, values: Mapping[str, str]) -> None:
        """Optional. Store the owner's raw settings (every setting, as text), replacing the saved ones.

        Called by the Dashboard settings page's `lifecycleSettingsUpdate` after the values
        passed the same validation as the plugin's settings form; nothing is saved otherwise.
        Absent: the settings cannot be changed from the pages (the mutation says so).
        """
        ...

    def plugin_active(self) -> bool:
        """Optional. Whether the store owner has switched the plugin on.

        Absent: the plugin is always on (`runtime.is_enabled`).
        """
        ...

    def marketing_consent(self, customers: Sequence[CustomerRef], key: str) -> dict[CustomerRef, bool]:
        """Optional. Whether each customer agreed to marketing messages.

        Looked up by the customer's account id, never by e-mail: consent is the value
        stored under metadata `key` on that account, private metadata winning over
        public metadata when both hold the key, and only an explicit yes
        (`host_support.CONSENT_YES`, any letter case) counts. A customer without an
        account id, a staff account, or an account without the key has not agreed. The
        result has an entry for every customer asked; one query for the batch.

        Absent: when the owner sets a consent key, no marketing message is sent
        (`actions.base.has_marketing_consent`).
        """
        ...

    def record_opt_out(self, customer: CustomerRef, key: str, value: str) -> None:
        """Optional. Write `value` under metadata `key` in the private metadata of the
        customer's account (by id; staff and unknown accounts are left alone): the
        customer unsubscribed, and private metadata wins over public when consent is read.

        Absent: the opt-out is kept in the plugin's own table only, which every
        marketing message checks (`actions.unsubscribe`).
        """
        ...

    def customer_languages(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, str]:
        """Optional. The language to write to each customer in (a code such as ``de`` or
        ``pt-br``): an account's own, a guest's from their latest order; customers whose
        language is not known are left out.

        Absent: every message is in the default language.
        """
        ...

    def plugin_url(self, path: str) -> str:
        """Optional. The absolute URL of one of the plugin's own routes (`path` relative to
        the plugin's prefix, e.g. ``unsubscribe/``), for links in messages.

        Absent: messages carry no unsubscribe link.
        """
        ...

    def customer_names(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerName]:
        """Optional. First and last names to greet customers by, from their account (found
        by id, else by e-mail); guests, staff and unknown customers are left out.

        Absent: messages address nobody by name.
        """
        ...

    def order_products(self, order_ids: Sequence[str]) -> dict[str, list[OrderProduct]]:
        """Optional. The products of each order, keyed in the caller's spelling of the id;
        unknown orders are left out.

        Absent: review requests list no products.
        """
        ...

    def forget_customer(self, emails: Sequence[str], voucher_ids: Sequence[str]) -> None:
        """Optional. Remove what the host keeps for the plugin about a deleted customer.

        `emails`: their normalised addresses; `voucher_ids`: the vouchers issued to them
        (`IssuedVoucher.voucher_id`, from their action ledger). Those vouchers expire now
        and lose the owner's e-mail (in the owner record and the name,
        `FORGOTTEN_VOUCHER_NAME`), since a personal voucher of nobody would be anyone's;
        the sandbox also forgets its outbox copies of their messages.

        Absent: the plugin forgets only its own tables (`engine.deletion`).
        """
        ...

    def account_order_emails(self, user_id: int) -> list[str]:
        """Optional. The e-mails on an account's orders other than its own that no other
        account has, read before the account is deleted so that they are forgotten too.

        Absent: only the account's own e-mail is forgotten (`signals`).
        """
        ...

    def customer_checkouts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, list[OpenCheckout]]:
        """Optional. The checkouts the store still has for each customer, owned as `read_facts`
        owns them (an account's by id, a guest's by case-insensitive e-mail), each with its
        lines, the latest changed first; customers without one are left out. A completed
        checkout is not there (Saleor deletes it when it becomes an order), nor a deleted one.
        One read for the batch.

        Absent: no abandoned-checkout reminders are scheduled, and a pending one is skipped
        when it falls due (the checkout cannot be checked).
        """
        ...

    def order_voucher_codes(self, order_ids: Sequence[str]) -> dict[str, str]:
        """Optional. The voucher code each order redeemed (Saleor: `Order.voucher_code`),
        keyed in the caller's spelling of the id; orders without a code, and unknown
        ones, are left out.

        Absent: no order is known to have used a referral code, so the referral action
        hands out codes but never rewards (`actions/referral.py` logs it once).
        """
        ...

    def order_shipping_addresses(self, order_ids: Sequence[str]) -> dict[str, str]:
        """Optional. Each order's shipping address as `host_support.address_key` spells it
        (so two spellings of one address compare equal), keyed in the caller's spelling
        of the id; orders without a shipping address, and unknown ones, are left out.

        Absent: a referral is never refused for a shared shipping address.
        """
        ...

    def ladder_sources(self, customers: Sequence[CustomerRef] | None = None) -> LadderSources:
        """Optional. Two SELECTs over the store's own tables for the SQL evaluator
        (`engine.sql_ladder`): every customer `customer_chunks` lists (or those of
        `customers`, by e-mail), with their orders, owned as `read_facts` owns them:
        deciding in SQL over them equals `decide` over `read_facts` (the contract tests
        check it). Deletion tombstones are the engine's to apply, as for `read_facts`.

        Absent: the backfill and what-if decide in Python, customer by customer (the
        in-memory host has no SQL, so it has no such method).
        """
        ...


    def write_projection_sql(self, cursor, rows_sql: str, params: Mapping[str, Any]) -> None:
        """Optional. `write_projection` for many accounts at once, inside the database: on
        `cursor`, write the projections that `rows_sql` (bound with `params`) selects, one
        row per account, with the columns

            user_id     the account's id (rows of unknown accounts are skipped)
            stage       text
            tier        text, NULL for none
            profile     jsonb: the ``lifecycle.profile`` summary (stored as its JSON text)
            decided_at  timestamptz
            advocate    boolean

        exactly as `write_projection` would write the same projections (the summary's text
        is PostgreSQL's rendering of the JSON, its keys in jsonb's order). Used by the
        backfill's SQL path for the accounts it created.

        Absent: those projections are read into Python and written with `write_projection`.
        """
        ...


REQUIRED_HOST_METHODS = ("customer_chunks", "read_facts", "changed_customers", "write_projection",
                         "issue_voucher", "deliver_message")
OPTIONAL_HOST_METHODS = ("count_customers", "plugin_settings", "save_plugin_settings", "plugin_active", "marketing_consent",
                         "record_opt_out", "customer_languages", "plugin_url", "customer_names", "order_products",
                         "forget_customer", "account_order_emails", "ladder_sources",
                         "customer_checkouts", "order_voucher_codes", "order_shipping_addresses",
                         "write_projection_sql")


def is_host(candidate: object) -> bool:
    """Whether `candidate` has a name and every required `Host` method (optional ones may be absent)."""
    return isinstance(getattr(candidate, "name", None), str) and all(
        callable(getattr(candidate, method, None)) for method in REQUIRED_HOST_METHODS)
