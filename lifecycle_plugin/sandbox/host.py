"""The sandbox host: the `Host` interface over the sandbox store's own tables.

Every read is set-based raw SQL with ``= ANY(array)`` parameters: a fact read
costs three queries whatever the batch size, and `customer_chunks` walks the
customers in e-mail order with a keyset (``> last e-mail``) over functional
indexes, so both stay fast at a million customers.

Customers are matched like Saleor matches them: an order or checkout that has an
account belongs to that account; one without (a guest's) belongs to whoever has
that e-mail, compared case-insensitively and trimmed, so guest orders placed
before sign-up count for the account made later.

`as_of` (a callable returning a datetime, or None) hides everything created after
that moment: accounts, orders, checkouts and fulfilments. The replay uses it to show the engine
the store as it stood on a simulated day.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from ..host import (
    FORGOTTEN_VOUCHER_NAME,
    CustomerRef,
    DeliveryReceipt,
    IssuedVoucher,
    LadderSources,
    Message,
    Projection,
    VoucherRequest,
)
from ..host_support import (
    ACCOUNT_ORDER_EMAILS_SQL,
    ADVOCATE_KEY,
    CHANGED_CUSTOMERS_SQL,
    PROFILE_KEY,
    PROJECTION_ROWS_SQL,
    STAGE_KEY,
    TIER_KEY,
    Owners,
    address_key,
    ladder_sources_sql,
    new_voucher_code,
    numeric_ids,
    order_fact,
    order_ids_by_uuid,
    projection_rows,
)
from ..rules import CustomerFacts
from .bulk_reads import bulk_cursor
from .customer_details import SandboxCustomerDetails
from .saved_settings import SandboxSavedSettings
from .models import Channel, Checkout, CustomerMetadata, Order, OrderLine, OutboxMessage, UnconfirmedAccount, Voucher

DEFAULT_CHANNEL = "default-channel"

def _tables() -> dict[str, str]:
    return {
        "user": get_user_model()._meta.db_table,
        "order": Order._meta.db_table,
        "checkout": Checkout._meta.db_table,
        "channel": Channel._meta.db_table,
        "metadata": CustomerMetadata._meta.db_table,
        "line": OrderLine._meta.db_table,
        "unconfirmed": UnconfirmedAccount._meta.db_table,
    }


class SandboxHost(SandboxSavedSettings, SandboxCustomerDetails):
    """The sandbox store as the engine sees it."""

    name = "sandbox"

    def __init__(self, as_of: Callable[[], datetime | None] | None = None):
        self.as_of = as_of
        self._t = _tables()

    # ------------------------------------------------------------------ helpers

    def _cutoff(self) -> datetime | None:
        return self.as_of() if self.as_of is not None else None

    # ------------------------------------------------------------------ customers

    def customer_chunks(self, chunk_size: int, start_after: str | None = None) -> Iterator[list[CustomerRef]]:
        """Accounts (non-staff users) and guest e-mails (orders or checkouts without an
        account), one entry per normalised e-mail, in e-mail order.

        Each chunk is one query: the first `chunk_size` e-mails after the last one from
        each of the three sources (each an ordered scan of a functional index), merged.
        A guest e-mail that an account also has is that account.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        t = self._t
        cutoff = self._cutoff()
        user_time = "AND date_joined <= %(cutoff)s" if cutoff else ""
        order_time = "AND created_at <= %(cutoff)s" if cutoff else ""
        sql = f"""
            WITH accounts AS (
                SELECT lower(trim(email)) AS e, id FROM {t['user']}
                WHERE NOT is_staff AND lower(trim(email)) > %(after)s {user_time}
                ORDER BY lower(trim(email)) LIMIT %(n)s
            ), guest_orders AS (
                SELECT DISTINCT lower(trim(user_email)) AS e FROM {t['order']}
                WHERE user_id IS NULL AND lower(trim(user_email)) > %(after)s {order_time}
                ORDER BY 1 LIMIT %(n)s
            ), guest_checkouts AS (
                SELECT DISTINCT lower(trim(email)) AS e FROM {t['checkout']}
                WHERE user_id IS NULL AND lower(trim(email)) > %(after)s {order_time}
                ORDER BY 1 LIMIT %(n)s
            )
            SELECT e, min(id) FROM (
                SELECT e, id FROM accounts
                UNION ALL SELECT e, NULL FROM guest_orders
                UNION ALL SELECT e, NULL FROM guest_checkouts
            ) AS everyone
            GROUP BY e ORDER BY e LIMIT %(n)s
        """
        after = start_after or ""
        while True:
            with bulk_cursor() as cursor:
                cursor.execute(sql, {"after": after, "n": chunk_size, "cutoff": cutoff})
                rows = cursor.fetchall()
            if not rows:
                return
            yield [CustomerRef(email, user_id) for email, user_id in rows]
            if len(rows) < chunk_size:
                return
            after = rows[-1][0]

    def count_customers(self) -> int:
        """How many customers `customer_chunks` yields (for progress bars)."""
        t = self._t
        cutoff = self._cutoff()
        user_time = "AND date_joined <= %(cutoff)s" if cutoff else ""
        order_time = "AND created_at <= %(cutoff)s" if cutoff else ""
        with bulk_cursor() as cursor:
            cursor.execute(
                f"""SELECT count(*) FROM (
                        SELECT lower(trim(email)) FROM {t['user']}
                        WHERE NOT is_staff AND lower(trim(email)) > '' {user_time}
                        UNION SELECT lower(trim(user_email)) FROM {t['order']}
                        WHERE user_id IS NULL AND lower(trim(user_email)) > '' {order_time}
                        UNION SELECT lower(trim(email)) FROM {t['checkout']}
                        WHERE user_id IS NULL AND lower(trim(email)) > '' {order_time}
                    ) AS everyone""",
                {"cutoff": cutoff},
            )
            return cursor.fetchone()[0]

    def changed_customers(self, since: datetime, until: datetime) -> list[tuple[CustomerRef, datetime]]:
        """Accounts by `date_joined` (the sandbox store changes an account only when it
        makes it), orders and checkouts by `updated_at`: three index range scans."""
        sql = CHANGED_CUSTOMERS_SQL.format(**self._t, account_changed="date_joined", checkout_changed="updated_at")
        with bulk_cursor() as cursor:
            cursor.execute(sql, {"since": since, "until": until})
            return [(CustomerRef(email, user_id), changed_at) for email, user_id, changed_at in cursor.fetchall()]

    # ------------------------------------------------------------------ facts

    def _owners(self, refs: list[CustomerRef]) -> Owners:
        """Who owns which rows among `refs` (their accounts as of the cutoff): one query."""
        t = self._t
        cutoff = self._cutoff()
        emails = list({ref.email for ref in refs})
        asked_ids = list({ref.user_id for ref in refs if ref.user_id})
        with bulk_cursor() as cursor:
            cursor.execute(
                f"""SELECT id, lower(trim(email)), date_joined,
                           NOT EXISTS (SELECT 1 FROM {t['unconfirmed']} c WHERE c.user_id = u.id)
                    FROM {t['user']} u
                    WHERE NOT is_staff AND (id = ANY(%(ids)b::bigint[]) OR lower(trim(email)) = ANY(%(emails)b::text[]))
                    {"AND date_joined <= %(cutoff)s" if cutoff else ""}""",
                {"ids": asked_ids, "emails": emails, "cutoff": cutoff},
            )
            return Owners(refs, cursor.fetchall())

    def read_facts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerFacts]:
        """Three queries for any number of customers: accounts, orders, open checkouts."""
        refs = list(dict.fromkeys(customers))
        if not refs:
            return {}
        t = self._t
        cutoff = self._cutoff()
        owners = self._owners(refs)

        # Rows with an account belong to that account only: an account's order whose
        # e-mail matches another customer is fetched (no "user_id IS NULL" in SQL: it
        # makes PostgreSQL AND in a bitmap of every guest order) and dropped below.
        # As of a cutoff: orders and carts created later are hidden, and so is a
        # fulfilment that happened later.
        params = {"ids": owners.user_ids, "emails": owners.emails, "cutoff": cutoff}
        time_filter = "AND {alias}.created_at <= %(cutoff)s" if cutoff else ""
        fulfilled = "CASE WHEN o.fulfilled_at <= %(cutoff)s THEN o.fulfilled_at END" if cutoff else "o.fulfilled_at"
        with bulk_cursor() as cursor:
            cursor.execute(
                f"""SELECT o.id::text, o.user_id, lower(trim(o.user_email)), o.created_at, o.currency,
                           o.total_amount, o.status, o.charge_status, o.refunded_amount, {fulfilled}, ch.slug
                    FROM {t['order']} o JOIN {t['channel']} ch ON ch.id = o.channel_id
                    WHERE (o.user_id = ANY(%(ids)b::bigint[]) OR lower(trim(o.user_email)) = ANY(%(emails)b::text[]))
                    {time_filter.format(alias="o")}""",
                params,
            )
            order_rows = cursor.fetchall()
            cursor.execute(
                f"""SELECT c.user_id, lower(trim(c.email)), c.lines_count FROM {t['checkout']} c
                    WHERE (c.user_id = ANY(%(ids)b::bigint[]) OR lower(trim(c.email)) = ANY(%(emails)b::text[]))
                      {time_filter.format(alias="c")}""",
                params,
            )
            checkout_rows = cursor.fetchall()

        return owners.all_facts(
            ((user_id, email, order_fact(order_id, created_at, currency, total, status, charge, refunded, channel,
                                         fulfilled_at))
             for (order_id, user_id, email, created_at, currency, total, status, charge, refunded, fulfilled_at,
                  channel) in order_rows),
            checkout_rows,
        )

    def ladder_sources(self, customers: Sequence[CustomerRef] | None = None) -> LadderSources:
        """The store's rows for the SQL evaluator, as of the cutoff like every read here."""
        t = self._t
        cutoff = self._cutoff()
        created = "AND {alias}.created_at <= %(lc_cutoff)s" if cutoff else ""
        customers_sql, orders_sql = ladder_sources_sql(
            accounts=f"""SELECT u.id, lower(trim(u.email)) AS email,
                                NOT EXISTS (SELECT 1 FROM {t['unconfirmed']} x WHERE x.user_id = u.id) AS confirmed
                         FROM {t['user']} u WHERE NOT u.is_staff
                         {"AND u.date_joined <= %(lc_cutoff)s" if cutoff else ""}""",
            orders=f"""SELECT o.user_id, lower(trim(o.user_email)) AS email, o.created_at AS placed_at, o.currency,
                              o.total_amount AS total, o.refunded_amount AS refunded, o.status, o.charge_status,
                              ch.slug AS channel, o.voucher_code
                       FROM {t['order']} o JOIN {t['channel']} ch ON ch.id = o.channel_id
                       WHERE true {created.format(alias="o")}""",
            checkouts=f"""SELECT c.user_id, lower(trim(c.email)) AS email, c.lines_count AS lines
                          FROM {t['checkout']} c WHERE true {created.format(alias="c")}""",
            pick="min", subset=customers is not None,
        )
        params = {"lc_cutoff": cutoff}
        if customers is not None:
            params["lc_customers"] = sorted({c.email for c in customers})
        return LadderSources(customers_sql, orders_sql, params)

    # ------------------------------------------------------------------ projection

    def write_projection(self, projections: Sequence[Projection]) -> None:
        """Merge `lifecycle.stage`/`lifecycle.tier` into the account's public metadata and
        `lifecycle.profile` into its private metadata, keeping every other key.

        One statement for the whole batch, `write_projection_sql`'s. Accounts are found by id
        only: a guest's projection writes nothing (see `Host.write_projection`).
        """
        params = projection_rows(projections, None)
        if params is not None:
            with bulk_cursor() as cursor:
                self.write_projection_sql(cursor, PROJECTION_ROWS_SQL, params)

    def write_projection_sql(self, cursor, rows_sql: str, params) -> None:
        t = self._t
        # Saleor metadata values are strings, so the summary is JSON text there and here.
        cursor.execute(f"""
            INSERT INTO {t['metadata']} (user_id, metadata, private_metadata)
            SELECT u.id,
                   jsonb_build_object(%(lc_stage_key)s::text, v.stage, %(lc_tier_key)s::text, COALESCE(v.tier, ''))
                   || CASE WHEN v.advocate THEN jsonb_build_object(%(lc_advocate_key)s::text, 'true')
                           ELSE '{{}}'::jsonb END,
                   jsonb_build_object(%(lc_profile_key)s::text, v.profile::text)
            FROM ({rows_sql}) AS v JOIN {t['user']} u ON u.id = v.user_id
            ON CONFLICT (user_id) DO UPDATE SET
                metadata = ({t['metadata']}.metadata - %(lc_advocate_key)s::text) || EXCLUDED.metadata,
                private_metadata = {t['metadata']}.private_metadata || EXCLUDED.private_metadata""",
                       {**params, "lc_stage_key": STAGE_KEY, "lc_tier_key": TIER_KEY,
                        "lc_advocate_key": ADVOCATE_KEY, "lc_profile_key": PROFILE_KEY})

    # ------------------------------------------------------------------ services

    def issue_voucher(self, request: VoucherRequest) -> IssuedVoucher:
        """A personal, single-use voucher whose code comes from `secrets`; the store's
        `place_order` refuses it to anyone but `request.customer`."""
        if request.discount_type not in (Voucher.PERCENTAGE, Voucher.FIXED):
            raise ValueError(f"discount_type must be 'percentage' or 'fixed', got {request.discount_type!r}")
        if request.discount_type == Voucher.FIXED and not request.currency:
            raise ValueError("a fixed-amount voucher needs a currency")
        channel = self._channel(request.channel)
        for _ in range(5):
            try:
                with transaction.atomic():
                    voucher = Voucher.objects.create(
                        code=new_voucher_code(),
                        channel=channel,
                        discount_type=request.discount_type,
                        value=Decimal(request.value),
                        currency=request.currency,
                        valid_until=request.valid_until,
                        single_use=not request.shareable,
                        shareable=request.shareable,
                        customer_email=request.customer.email,
                        customer_user_id=request.customer.user_id,
                        name=request.name[:255],
                    )
            except IntegrityError:  # a code collision: astronomically rare; draw again
                continue
            return IssuedVoucher(voucher.code, str(voucher.pk), channel.slug, voucher.valid_until)
        raise RuntimeError("could not draw a unique voucher code")

    def _channel(self, slug: str | None) -> Channel:
        if not slug:
            channel = Channel.objects.filter(slug=DEFAULT_CHANNEL).first() or Channel.objects.order_by("pk").first()
            if channel is None:
                raise LookupError("the sandbox store has no channel; run `lifecycle-sandbox generate` first")
            return channel
        try:
            return Channel.objects.get(slug=slug)
        except Channel.DoesNotExist:
            raise LookupError(f"the sandbox store has no channel {slug!r}") from None

    def deliver_message(self, message: Message) -> DeliveryReceipt:
        """Put the message in the sandbox outbox (the store owner reads it there)."""
        row = OutboxMessage.objects.create(
            email=message.customer.email,
            action=message.action[:64],
            subject=message.subject[:998],
            text=message.text,
            html=message.html,
            payload=json.loads(json.dumps(dict(message.payload), default=str)),
            channel=message.channel or "",
        )
        return DeliveryReceipt("outbox", str(row.pk))

    def order_voucher_codes(self, order_ids: Sequence[str]) -> dict[str, str]:
        spelled = order_ids_by_uuid(order_ids)
        rows = Order.objects.filter(pk__in=list(spelled)).exclude(voucher_code="").values_list("pk", "voucher_code")
        return {spelled[str(pk)]: code for pk, code in rows}

    def order_shipping_addresses(self, order_ids: Sequence[str]) -> dict[str, str]:
        spelled = order_ids_by_uuid(order_ids)
        rows = Order.objects.filter(pk__in=list(spelled)).exclude(shipping_address="").values_list(
            "pk", "shipping_address")
        found = {spelled[str(pk)]: address_key(address) for pk, address in rows}
        return {order_id: key for order_id, key in found.items() if key}

    def forget_customer(self, emails: Sequence[str], voucher_ids: Sequence[str]) -> None:
        """The vouchers issued to a deleted customer expire now and lose their e-mail (owner
        and name; a personal voucher of nobody would be anyone's), and the outbox (the
        sandbox's record of the messages sent to them) forgets them."""
        from django.db.models import Value
        from django.db.models.functions import Least
        from django.utils import timezone

        ids = numeric_ids(voucher_ids)
        now = self._cutoff() or timezone.now()  # the simulated clock of a replay, else the wall clock
        Voucher.objects.filter(pk__in=ids).update(customer_email="", name=FORGOTTEN_VOUCHER_NAME,
                                                  valid_until=Least("valid_until", Value(now)))
        OutboxMessage.objects.filter(email__in=list(emails)).delete()

    def account_order_emails(self, user_id: int) -> list[str]:
        with bulk_cursor() as cursor:
            cursor.execute(ACCOUNT_ORDER_EMAILS_SQL.format(**self._t), {"id": user_id})
            return [email for (email,) in cursor.fetchall()]

    def plugin_url(self, path: str) -> str:
        """Where ``lifecycle-sandbox serve`` answers (``LIFECYCLE_PUBLIC_URL``)."""
        return getattr(django_settings, "LIFECYCLE_PUBLIC_URL", "http://127.0.0.1:8000/").rstrip("/") + "/" + path
