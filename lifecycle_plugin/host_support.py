"""What every host shares: whose rows are whose, facts assembled from rows, voucher
codes, consent values and the SQL both database hosts run alike.

The Saleor host, the sandbox host and the in-memory host (`lifecycle_plugin.testing`)
build on this module so that the rules the `Host` protocol states are written once.
It depends on `host` (the protocol's value types) and `rules` only.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .host import CustomerName, CustomerRef, OpenCheckout, Projection
from .rules import CustomerFacts, OrderFact, OrderState

# ---------------------------------------------------------------------- the projection

#: Public metadata on the account (storefronts and the Dashboard read them).
STAGE_KEY, TIER_KEY = "lifecycle.stage", "lifecycle.tier"
#: Private metadata on the account: the decision's JSON summary.
PROFILE_KEY = "lifecycle.profile"
#: Public metadata on the account: ``true`` for an advocate (a rewarded referral or a
#: review, `rules.referral.is_advocate`); absent otherwise. A flag, not a stage.
ADVOCATE_KEY = "lifecycle.advocate"

#: `Host.write_projection_sql`'s rows from the parameters `projection_rows` makes: how a
#: host's `write_projection` writes a batch with the same statement as a SELECT's rows.
PROJECTION_ROWS_SQL = """
    SELECT * FROM unnest(%(lc_user_ids)s::bigint[], %(lc_stages)s::text[], %(lc_tiers)s::text[],
                         %(lc_profiles)s::text[]::jsonb[], %(lc_decided_at)s::timestamptz[], %(lc_advocates)s::boolean[])
           AS v(user_id, stage, tier, profile, decided_at, advocate)"""


def projection_rows(projections: Sequence[Projection], now) -> dict[str, list] | None:
    """The parameters of `PROJECTION_ROWS_SQL`: one row per account, the last projection of
    an account winning (a guest's, without an account, writes nothing); None for no row.
    `now` stands in for a projection without `decided_at`."""
    last = {p.customer.user_id: p for p in projections if p.customer.user_id}
    if not last:
        return None
    encode = _JSON.encode
    rows = list(last.values())
    return {"lc_user_ids": list(last), "lc_stages": [str(p.stage) for p in rows], "lc_tiers": [p.tier for p in rows],
            "lc_profiles": [encode(dict(p.profile)) for p in rows],
            "lc_decided_at": [p.decided_at or now for p in rows], "lc_advocates": [bool(p.advocate) for p in rows]}


#: The summary's values as JSON (a Decimal or datetime a hook put there as its text). One
#: encoder: json.dumps(..., default=str) builds a new one on every call, and the projection
#: encodes one summary per customer.
_JSON = json.JSONEncoder(default=str)

# ---------------------------------------------------------------------- voucher codes

VOUCHER_CODE_PREFIX = "LC-"
#: Letters and digits without 0/O and 1/I/L, so that a code read aloud or typed from
#: paper is unambiguous: 31 symbols.
VOUCHER_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
VOUCHER_CODE_LENGTH = 13
#: log2(31) * 13: about 64 bits, drawn with `secrets`, on every host.
VOUCHER_CODE_BITS = VOUCHER_CODE_LENGTH * math.log2(len(VOUCHER_CODE_ALPHABET))


def new_voucher_code() -> str:
    """A personal voucher's code: ``LC-`` and 13 symbols drawn with `secrets`."""
    return VOUCHER_CODE_PREFIX + "".join(secrets.choice(VOUCHER_CODE_ALPHABET) for _ in range(VOUCHER_CODE_LENGTH))


# ---------------------------------------------------------------------- orders


def address_key(*parts: Any) -> str:
    """A shipping address as referral checks compare it: the street lines, postal code,
    city and country, each trimmed, lower-cased and with runs of spaces, commas and dots
    made one space, joined by ``|``; empty when every part is empty."""
    cleaned = [re.sub(r"[\s,.]+", " ", str(part or "")).strip().lower() for part in parts]
    return "|".join(cleaned) if any(cleaned) else ""


#: Saleor order statuses that are not (yet, or any more) a placed order; the sandbox
#: store uses Saleor's statuses.
STATE_OF_STATUS = {
    "draft": OrderState.DRAFT,
    "unconfirmed": OrderState.UNCONFIRMED,
    "canceled": OrderState.CANCELLED,
    "expired": OrderState.EXPIRED,
}
PAID_CHARGE_STATUSES = frozenset({"full", "overcharged"})


def order_fact(order_id, placed_at, currency, total, status, charge_status, refunded, channel,
               fulfilled_at) -> OrderFact:
    """An order row of a store with Saleor's statuses, as the rules see it."""
    if not isinstance(refunded, Decimal):  # the database gives Decimals; a backfill reads millions of rows
        refunded = Decimal(refunded or 0)
    return OrderFact(str(order_id), placed_at, currency, total, STATE_OF_STATUS.get(status, OrderState.PLACED),
                     charge_status in PAID_CHARGE_STATUSES, refunded, channel, fulfilled_at)


# ---------------------------------------------------------------------- owners


class Owners:
    """Whose rows are whose in one read of many customers' facts (used by every host).

    Each customer's account is found by id, else by e-mail. An account's orders and
    checkouts belong to the customers on that account only; guest rows belong to the
    customers of their e-mail, the account's own e-mail included. Two customers of one
    read can share an account (an e-mail that changed): both get its rows, as each
    would if read alone.

    An account whose e-mail is not confirmed has no claim on that e-mail yet: it is found
    by its id only, and owns only the rows that carry its id. Until it is confirmed, a
    customer asked about by e-mail alone is the guest of that e-mail, so whoever
    registers someone else's address cannot read that person's guest purchases.

    Staff accounts are not customers: a host leaves them out of `accounts`, so their
    own rows belong to nobody and their e-mail alone is a guest's.

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

    def all_facts(self, orders: Iterable[tuple[int | None, str, OrderFact]],
                  checkouts: Iterable[tuple[int | None, str, int]]) -> dict[CustomerRef, CustomerFacts]:
        """Every customer's facts from the rows read for them.

        :param orders: (account id, normalised e-mail, fact) of each order row read.
        :param checkouts: (account id, normalised e-mail, lines) of each checkout, empty ones included.
        """
        customers = list(self.account)
        orders_of: dict[CustomerRef, list[OrderFact]] = {customer: [] for customer in customers}
        for user_id, email, fact in orders:
            for customer in self.of(user_id, email):
                orders_of[customer].append(fact)
        lines_of = dict.fromkeys(customers, 0)
        checkouts_of = dict.fromkeys(customers, 0)
        for user_id, email, lines in checkouts:
            for customer in self.of(user_id, email):
                lines_of[customer] += lines
                checkouts_of[customer] += 1
        return {
            customer: self.facts(customer, orders=tuple(orders_of[customer]), open_cart_lines=lines_of[customer],
                                 checkouts=checkouts_of[customer])
            for customer in customers
        }


def checkouts_by_owner(owners: Owners, checkouts: Iterable[OpenCheckout]) -> dict[CustomerRef, list[OpenCheckout]]:
    """`Host.customer_checkouts` from the checkouts read for `owners`' customers: each
    customer's, the latest changed first; customers without one left out."""
    found: dict[CustomerRef, list[OpenCheckout]] = {}
    for checkout in checkouts:
        for customer in owners.of(checkout.user_id, checkout.email):
            found.setdefault(customer, []).append(checkout)
    for listed in found.values():
        listed.sort(key=lambda c: (c.changed_at, c.token), reverse=True)
    return found


def _confirmed(account: tuple) -> bool:
    return len(account) < 4 or bool(account[3])


# ---------------------------------------------------------------------- optional reads


def by_account(customers: Sequence[CustomerRef], rows: Iterable[tuple[int, str, Any]],
               *, by_email: bool) -> dict[CustomerRef, Any]:
    """Each customer's value from account rows (id, normalised e-mail, value).

    Found by the customer's account id; with `by_email`, a customer without an id (or
    whose id has no row) is also found by the account's e-mail. Customers without a
    row are left out.
    """
    rows = list(rows)
    of_id = {user_id: value for user_id, _, value in rows}
    of_email = {email: value for _, email, value in rows} if by_email else {}
    found = {}
    for customer in dict.fromkeys(customers):
        if customer.user_id in of_id:
            found[customer] = of_id[customer.user_id]
        elif customer.email in of_email:
            found[customer] = of_email[customer.email]
    return found


#: The values of a consent key that mean yes (any letter case, trimmed).
CONSENT_YES = frozenset({"true", "1", "yes", "on", "granted"})


def consent_given(value: Any) -> bool:
    """Whether a consent metadata value is an explicit yes."""
    return value is not None and str(value).strip().lower() in CONSENT_YES


def consent_of(customers: Sequence[CustomerRef], values: Mapping[int, Any]) -> dict[CustomerRef, bool]:
    """Consent by account id: `values` holds the consent value of each account read
    (private metadata's, else public's); a customer without an id has not agreed."""
    return {customer: customer.user_id is not None and consent_given(values.get(customer.user_id))
            for customer in customers}


def names_of(customers: Sequence[CustomerRef], rows: Iterable[tuple[int, str, str, str]]) -> dict[CustomerRef,
                                                                                                  CustomerName]:
    """Names from account rows (id, normalised e-mail, first, last): by id, else by e-mail."""
    return by_account(customers, ((row[0], row[1], CustomerName(row[2] or "", row[3] or "")) for row in rows),
                      by_email=True)


def order_ids_by_uuid(order_ids: Sequence[str]) -> dict[str, str]:
    """The ids that are UUIDs, canonical spelling → the caller's spelling (answers use the caller's)."""
    spelled = {}
    for order_id in dict.fromkeys(order_ids):
        try:
            spelled.setdefault(str(uuid.UUID(str(order_id))), order_id)
        except ValueError:
            continue
    return spelled


def numeric_ids(ids: Sequence[str]) -> list[int]:
    """The ids that are plain decimal numbers (voucher ids from the ledger); others are ignored."""
    return [int(pk) for pk in ids if str(pk).isascii() and str(pk).isdigit()]


# ---------------------------------------------------------------------- SQL both database hosts run

#: Customers whose account, orders or checkouts changed in a window: three index range
#: scans. An account's rows are keyed by the account's e-mail, as the hooks key their
#: events; staff accounts' own changes and draft orders are left out. Format with the
#: tables (`user`, `order`, `checkout`) and the change-time columns `account_changed`
#: and `checkout_changed`.
CHANGED_CUSTOMERS_SQL = """
    SELECT email, max(user_id), max(changed_at) FROM (
        SELECT lower(trim(u.email)) AS email, u.id AS user_id, u.{account_changed} AS changed_at
          FROM {user} u
         WHERE u.{account_changed} >= %(since)s AND u.{account_changed} < %(until)s AND NOT u.is_staff
        UNION ALL
        SELECT lower(trim(COALESCE(u.email, o.user_email))), o.user_id, o.updated_at
          FROM {order} o LEFT JOIN {user} u ON u.id = o.user_id
         WHERE o.updated_at >= %(since)s AND o.updated_at < %(until)s AND o.status <> 'draft'
        UNION ALL
        SELECT lower(trim(COALESCE(u.email, c.email))), c.user_id, c.{checkout_changed}
          FROM {checkout} c LEFT JOIN {user} u ON u.id = c.user_id
         WHERE c.{checkout_changed} >= %(since)s AND c.{checkout_changed} < %(until)s
    ) AS changed
    WHERE email <> ''
    GROUP BY email
"""

#: The e-mails on an account's orders other than its own that no other account has (the
#: account changed e-mail): deleting the account must forget them too. Format with the
#: tables `user` and `order`; parameter `id`.
ACCOUNT_ORDER_EMAILS_SQL = """
    SELECT DISTINCT lower(trim(o.user_email)) FROM {order} o JOIN {user} u ON u.id = o.user_id
     WHERE o.user_id = %(id)s AND o.user_email <> '' AND lower(trim(o.user_email)) <> lower(trim(u.email))
       AND NOT EXISTS (SELECT 1 FROM {user} a
                        WHERE a.id <> u.id AND lower(trim(a.email)) = lower(trim(o.user_email)))
"""


# ---------------------------------------------------------------------- the ladder's two SELECTs


def _state_case(status: str) -> str:
    whens = " ".join(f"WHEN '{saleor}' THEN '{state.value}'" for saleor, state in STATE_OF_STATUS.items())
    return f"CASE {status} {whens} ELSE '{OrderState.PLACED.value}' END"


def ladder_sources_sql(*, accounts: str, orders: str, checkouts: str, pick: str = "min",
                       subset: bool = False) -> tuple[str, str]:
    """The SQL evaluator's customers and orders SELECTs (`engine.sql_ladder`) over a store's rows,
    owned as `Owners` owns them for a read of every customer `customer_chunks` lists.

    :param accounts: SELECT id, email (normalised), confirmed — the non-staff accounts.
    :param orders: SELECT user_id, email (normalised), placed_at, currency, total, refunded,
        status, charge_status, channel (the channel's slug), voucher_code (the code it redeemed,
        '' or NULL when none) — every order, in Saleor's statuses.
    :param checkouts: SELECT user_id, email (normalised), lines — every checkout.
    :param pick: which account (``min`` or ``max`` id) an e-mail shared by two accounts is,
        as the host's `customer_chunks` picks it.
    :param subset: keep only the customers whose e-mail is in ``%(lc_customers)s`` (text[]).

    The customer key is the normalised e-mail; `user_id` rides along in the customers
    SELECT. A row with an account belongs to that account's customer (a staff account
    is none, so its rows are nobody's); a guest row to the customer of its e-mail unless
    that e-mail's account is unconfirmed (then the e-mail's guest history is nobody's,
    as a read of the account alone leaves it).
    """
    # Whose a row is: its account's e-mail, else its own unless an unconfirmed account claims it.
    # The unconfirmed e-mails are joined once (few, hashed), not looked up per guest row: a
    # subquery in the CASE ran an index scan per guest order, twice (the CASE is both the
    # filter and the join key of its readers): 2.7 million scans at 1,000,000 customers.
    owner = "CASE WHEN r.user_id IS NOT NULL THEN a.email WHEN claimed.email IS NULL THEN r.email END"
    owned = """FROM ({rows}) AS r LEFT JOIN ({accounts}) AS a ON a.id = r.user_id
               LEFT JOIN (SELECT DISTINCT email FROM ({accounts}) AS u WHERE NOT u.confirmed) AS claimed
                      ON r.user_id IS NULL AND claimed.email = r.email
               WHERE CASE WHEN r.user_id IS NULL THEN r.email <> '' ELSE a.id IS NOT NULL END"""
    customers_sql = f"""
        SELECT p.customer, p.user_id, p.user_id IS NOT NULL AS has_account,
               COALESCE(l.lines, 0)::integer AS open_cart_lines
        FROM (SELECT email AS customer, {pick}(id) AS user_id FROM (
                  SELECT email, id FROM ({accounts}) AS a
                  UNION ALL SELECT email, NULL FROM ({orders}) AS o WHERE user_id IS NULL AND email <> ''
                  UNION ALL SELECT email, NULL FROM ({checkouts}) AS c WHERE user_id IS NULL AND email <> ''
              ) AS people GROUP BY email) AS p
        LEFT JOIN (SELECT customer, sum(lines) AS lines
                   FROM (SELECT {owner} AS customer, r.lines {owned.format(rows=checkouts, accounts=accounts)}) AS x
                   GROUP BY customer) AS l USING (customer)
        {"WHERE p.customer = ANY(%(lc_customers)s)" if subset else ""}"""
    orders_sql = f"""
        SELECT customer, placed_at, currency, total, refunded, {_state_case('status')} AS state,
               charge_status IN ({', '.join(f"'{s}'" for s in sorted(PAID_CHARGE_STATUSES))}) AS paid, channel,
               voucher_code
        FROM (SELECT {owner} AS customer, r.placed_at, r.currency, r.total, COALESCE(r.refunded, 0) AS refunded,
                     r.status, r.charge_status, r.channel, COALESCE(r.voucher_code, '') AS voucher_code
              {owned.format(rows=orders, accounts=accounts)}) AS x
        WHERE customer IS NOT NULL"""
    return customers_sql, orders_sql
