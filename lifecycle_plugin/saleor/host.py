"""The Saleor host: facts from Saleor's tables, the projection into user metadata,
vouchers and notify events.

Reads are set-based: a constant number of queries per batch of customers. Orders
are matched by account or by case-insensitive e-mail (``ILIKE``, which Saleor's
trigram index on ``user_email`` serves), because Saleor does not link guest orders
to an account made later. Metadata is written with an atomic JSONB merge, never
with ``user.save()`` (an order hook's user carries a pending ``F()`` on
``number_of_orders``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from django.conf import settings
from django.db import connection, connections, transaction

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
    CHANGED_CUSTOMERS_SQL,
    Owners,
    address_key,
    ladder_sources_sql,
    new_voucher_code,
    numeric_ids,
    order_fact,
    order_ids_by_uuid,
)
from ..rules import CustomerFacts
from .vouchers import REFERRER_KEY, VOUCHER_OWNER_KEY, voucher_owner_metadata
from .customer_details import SaleorCustomerDetails, like_exact
from .plugin_identity import DEFAULT_ACTIVE, PLUGIN_ID
from .projection import write_projection, write_projection_sql

#: Order statuses whose fulfilments count as the order's delivery (for review requests).
_FULFILLED = ("fulfilled", "partially_returned", "returned")
#: Saleor's tables, for the SQL the hosts share (`host_support`).
_TABLES = {"user": "account_user", "order": "order_order", "checkout": "checkout_checkout"}


class SaleorHost(SaleorCustomerDetails):
    name = "saleor"

    # ------------------------------------------------------------------ settings

    def _configuration_row(self):
        from saleor.plugins.models import PluginConfiguration

        return PluginConfiguration.objects.filter(identifier=PLUGIN_ID, channel__isnull=True).first()

    def plugin_settings(self) -> dict:
        """The owner's settings from the plugin's configuration row (Dashboard)."""
        from ..conf import normalise_dashboard_values

        row = self._configuration_row()
        if row is None:
            return {}
        return normalise_dashboard_values({item["name"]: item["value"] for item in row.configuration})

    def save_plugin_settings(self, values) -> None:
        """Write the owner's settings into the plugin's configuration row, as the Dashboard's form does."""
        from saleor.plugins.models import PluginConfiguration

        from .. import conf

        booleans = {s.name for s in conf.all_settings() if s.dashboard_type == conf.BOOLEAN}
        configuration = [{"name": name, "value": (value == "true") if name in booleans else value}
                         for name, value in values.items()]
        row = self._configuration_row()
        if row is None:
            PluginConfiguration.objects.create(identifier=PLUGIN_ID, name="Customer lifecycle", active=DEFAULT_ACTIVE,
                                               configuration=configuration)
        else:
            row.configuration = configuration
            row.save(update_fields=["configuration"])

    def plugin_active(self) -> bool:
        row = self._configuration_row()
        if row is None:
            return DEFAULT_ACTIVE
        return row.active

    # ------------------------------------------------------------------ customers

    _CUSTOMERS_SQL = """
        SELECT email, max(user_id) FROM (
            SELECT lower(trim(u.email)) AS email, u.id AS user_id FROM account_user u
             WHERE NOT u.is_staff
            UNION ALL
            SELECT lower(trim(o.user_email)), NULL FROM order_order o
             WHERE o.user_id IS NULL AND o.user_email <> ''
            UNION ALL
            SELECT lower(trim(c.email)), NULL FROM checkout_checkout c
             WHERE c.user_id IS NULL AND c.email IS NOT NULL AND c.email <> ''
        ) AS people
        WHERE %s::text IS NULL OR email > %s::text
        GROUP BY email ORDER BY email
    """

    def customer_chunks(self, chunk_size: int, start_after: str | None = None) -> Iterator[list[CustomerRef]]:
        # One sorted scan streamed through a server-side cursor on a second
        # connection, so the caller's writes between chunks are not held in its
        # transaction and memory does not grow with the store.
        # Inside a transaction (a caller's atomic block, a test case) a second
        # connection cannot see the rows written in it, so read on this one.
        in_transaction = connection.in_atomic_block
        reader = connection if in_transaction else connections["default"].copy()
        try:
            with reader.chunked_cursor() as cursor:
                cursor.execute(self._CUSTOMERS_SQL, [start_after, start_after])
                while rows := cursor.fetchmany(chunk_size):
                    yield [CustomerRef(email, user_id) for email, user_id in rows]
        finally:
            if not in_transaction:
                reader.close()

    def count_customers(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({self._CUSTOMERS_SQL}) AS c", [None, None])
            return cursor.fetchone()[0]

    # Saleor stamps each of these columns on save, and indexes each (order.updated_at,
    # checkout.last_change, user.updated_at): three index range scans.
    _CHANGED_SQL = CHANGED_CUSTOMERS_SQL.format(**_TABLES, account_changed="updated_at",
                                                checkout_changed="last_change")

    def changed_customers(self, since: datetime, until: datetime) -> list[tuple[CustomerRef, datetime]]:
        with connection.cursor() as cursor:
            cursor.execute(self._CHANGED_SQL, {"since": since, "until": until})
            return [(CustomerRef(email, user_id), changed_at) for email, user_id, changed_at in cursor.fetchall()]

    # ------------------------------------------------------------------ facts

    def _owners(self, refs: list[CustomerRef]) -> Owners:
        """Who owns which rows among `refs` (their non-staff accounts, by id or e-mail): one query."""
        emails = sorted({c.email for c in refs})
        user_ids = sorted({c.user_id for c in refs if c.user_id})
        with connection.cursor() as cursor:
            # Confirmed: Saleor's flag, or a store that does not ask for confirmation (then
            # accountRegister still leaves is_confirmed false for good, and Saleor lets
            # the account log in as if confirmed: `User.can_login`).
            cursor.execute(
                """SELECT id, lower(trim(email)), date_joined,
                          is_confirmed OR NOT COALESCE((SELECT enable_account_confirmation_by_email
                                                          FROM site_sitesettings WHERE site_id = %s), true)
                     FROM account_user WHERE NOT is_staff AND (id = ANY(%s) OR email ILIKE ANY(%s))""",
                [settings.SITE_ID, user_ids, [like_exact(e) for e in emails]],
            )
            return Owners(refs, cursor.fetchall())

    def read_facts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerFacts]:
        refs = list(dict.fromkeys(customers))
        owners = self._owners(refs)
        account_ids = owners.user_ids
        patterns = [like_exact(e) for e in owners.emails]

        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT o.id, o.user_id, lower(trim(o.user_email)), o.created_at, o.currency,
                       o.total_gross_amount, o.status, o.charge_status, ch.slug,
                       COALESCE(ti.refunded, 0) + COALESCE(pt.refunded, 0),
                       CASE WHEN o.status = ANY(%s) THEN f.fulfilled_at END
                  FROM order_order o
                  JOIN channel_channel ch ON ch.id = o.channel_id
                  LEFT JOIN LATERAL (SELECT sum(refunded_value) AS refunded FROM payment_transactionitem
                                      WHERE order_id = o.id) ti ON true
                  LEFT JOIN LATERAL (SELECT sum(t.amount) AS refunded FROM payment_payment p
                                       JOIN payment_transaction t ON t.payment_id = p.id
                                      WHERE p.order_id = o.id AND t.kind = 'refund' AND t.is_success) pt ON true
                  LEFT JOIN LATERAL (SELECT max(created_at) AS fulfilled_at FROM order_fulfillment
                                      WHERE order_id = o.id
                                        AND status NOT IN ('canceled', 'waiting_for_approval')) f ON true
                 WHERE o.user_id = ANY(%s) OR o.user_email ILIKE ANY(%s)
                """,
                [list(_FULFILLED), account_ids, patterns],
            )
            orders = cursor.fetchall()
            cursor.execute(
                """
                SELECT c.user_id, lower(trim(c.email)), count(l.id)
                  FROM checkout_checkout c LEFT JOIN checkout_checkoutline l ON l.checkout_id = c.token
                 WHERE c.user_id = ANY(%s) OR c.email ILIKE ANY(%s)
                 GROUP BY c.token
                """,
                [account_ids, patterns],
            )
            checkouts = cursor.fetchall()

        return owners.all_facts(
            ((user_id, email, order_fact(order_id, created_at, currency, total, status, charge, refunded, channel,
                                         fulfilled_at))
             for (order_id, user_id, email, created_at, currency, total, status, charge, channel, refunded,
                  fulfilled_at) in orders),
            checkouts,
        )

    def ladder_sources(self, customers: Sequence[CustomerRef] | None = None) -> LadderSources:
        """Saleor's accounts, orders (refunds from transactions and payments) and checkouts
        for the SQL evaluator, confirmed and refunded exactly as `read_facts` reads them."""
        customers_sql, orders_sql = ladder_sources_sql(
            accounts="""SELECT id, lower(trim(email)) AS email,
                               is_confirmed OR NOT COALESCE((SELECT enable_account_confirmation_by_email
                                                               FROM site_sitesettings WHERE site_id = %(lc_site)s),
                                                              true) AS confirmed
                          FROM account_user WHERE NOT is_staff""",
            orders="""SELECT o.user_id, lower(trim(o.user_email)) AS email, o.created_at AS placed_at, o.currency,
                             o.total_gross_amount AS total, COALESCE(ti.refunded, 0) + COALESCE(pt.refunded, 0)
                             AS refunded, o.status, o.charge_status, ch.slug AS channel, o.voucher_code
                        FROM order_order o
                        JOIN channel_channel ch ON ch.id = o.channel_id
                        LEFT JOIN (SELECT order_id, sum(refunded_value) AS refunded FROM payment_transactionitem
                                    GROUP BY order_id) ti ON ti.order_id = o.id
                        LEFT JOIN (SELECT p.order_id, sum(t.amount) AS refunded FROM payment_payment p
                                     JOIN payment_transaction t ON t.payment_id = p.id
                                    WHERE t.kind = 'refund' AND t.is_success GROUP BY p.order_id) pt
                          ON pt.order_id = o.id""",
            checkouts="""SELECT c.user_id, lower(trim(c.email)) AS email, count(l.id) AS lines
                           FROM checkout_checkout c LEFT JOIN checkout_checkoutline l ON l.checkout_id = c.token
                          GROUP BY c.token""",
            pick="max", subset=customers is not None,
        )
        params = {"lc_site": settings.SITE_ID}
        if customers is not None:
            params["lc_customers"] = sorted({c.email for c in customers})
        return LadderSources(customers_sql, orders_sql, params)

    # ------------------------------------------------------------------ projection

    def write_projection(self, projections: Sequence[Projection]) -> None:
        write_projection(projections)

    def write_projection_sql(self, cursor, rows_sql: str, params) -> None:
        write_projection_sql(cursor, rows_sql, params)

    # ------------------------------------------------------------------ vouchers and messages

    def issue_voucher(self, request: VoucherRequest) -> IssuedVoucher:
        from saleor.channel.models import Channel
        from saleor.discount import DiscountValueType, VoucherType
        from saleor.discount.models import Voucher, VoucherChannelListing, VoucherCode

        channel = Channel.objects.get(slug=request.channel)
        value_type = DiscountValueType.PERCENTAGE if request.discount_type == "percentage" else DiscountValueType.FIXED
        if value_type == DiscountValueType.PERCENTAGE and not (0 < request.value <= 100):
            raise ValueError(f"a percentage voucher needs a value from 0 to 100, got {request.value}")
        if value_type == DiscountValueType.FIXED and request.currency and request.currency != channel.currency_code:
            raise ValueError(f"channel {channel.slug} sells in {channel.currency_code}, not {request.currency}")
        code = new_voucher_code()
        owner = voucher_owner_metadata(request.customer, request.shareable)
        with transaction.atomic():
            # A referral code: anyone but its owner, once each (Saleor counts the use per
            # customer); a personal voucher: its owner, once.
            voucher = Voucher.objects.create(
                name=request.name[:255],
                type=VoucherType.ENTIRE_ORDER,
                discount_value_type=value_type,
                single_use=not request.shareable,
                usage_limit=None if request.shareable else 1,
                apply_once_per_customer=request.shareable,
                end_date=request.valid_until,
                private_metadata=owner,
            )
            VoucherCode.objects.create(voucher=voucher, code=code)
            VoucherChannelListing.objects.create(
                voucher=voucher, channel=channel, discount_value=request.value, currency=channel.currency_code
            )
        return IssuedVoucher(code=code, voucher_id=str(voucher.pk), channel=channel.slug, valid_until=request.valid_until)

    def deliver_message(self, message: Message) -> DeliveryReceipt:
        """A notify event ``lifecycle_<action>`` for apps subscribed to NOTIFY_USER."""
        from saleor.plugins.manager import get_plugins_manager

        event = f"lifecycle_{message.action}"
        payload = notify_payload(message)
        manager = get_plugins_manager(allow_replica=False)
        manager.notify(event, payload_func=lambda: payload, channel_slug=message.channel)
        return DeliveryReceipt("notify", event)

    def forget_customer(self, emails: Sequence[str], voucher_ids: Sequence[str]) -> None:
        """The vouchers issued to a deleted customer expire now and lose their e-mail
        (in their metadata and their name).

        Expired, because a personal voucher of nobody would be anyone's: a guest owner's
        voucher is bound by the e-mail alone. The account id stays in the private
        metadata (a number of a deleted account, nothing readable). Older vouchers kept
        the owner in public metadata; both places are cleaned. Found by id (the ledger
        names them): Saleor has no index on a voucher's metadata.
        """
        ids = numeric_ids(voucher_ids)
        if not ids:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE discount_voucher
                      SET metadata = metadata - %(key)s,
                          private_metadata = private_metadata - %(key)s - %(referrer)s,
                          end_date = LEAST(COALESCE(end_date, now()), now()), name = %(name)s
                    WHERE id = ANY(%(ids)s::int[])""",
                {"key": VOUCHER_OWNER_KEY, "referrer": REFERRER_KEY, "ids": ids, "name": FORGOTTEN_VOUCHER_NAME},
            )

    def order_voucher_codes(self, order_ids: Sequence[str]) -> dict[str, str]:
        """`Order.voucher_code`, the code the checkout redeemed (orders keyed by UUID)."""
        from saleor.order.models import Order

        ids = order_ids_by_uuid(order_ids)
        rows = Order.objects.filter(pk__in=list(ids)).exclude(voucher_code__isnull=True).exclude(voucher_code="")
        return {ids[str(pk)]: code for pk, code in rows.values_list("pk", "voucher_code")}

    def order_shipping_addresses(self, order_ids: Sequence[str]) -> dict[str, str]:
        """The order's shipping address (Saleor copies it onto the order), as `address_key` spells it."""
        from saleor.order.models import Order

        ids = order_ids_by_uuid(order_ids)
        rows = Order.objects.filter(pk__in=list(ids), shipping_address__isnull=False).values_list(
            "pk", "shipping_address__street_address_1", "shipping_address__street_address_2",
            "shipping_address__postal_code", "shipping_address__city", "shipping_address__country")
        found = {ids[str(pk)]: address_key(*parts) for pk, *parts in rows}
        return {order_id: key for order_id, key in found.items() if key}

    def account_order_emails(self, user_id: int) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(ACCOUNT_ORDER_EMAILS_SQL.format(**_TABLES), {"id": user_id})
            return [email for (email,) in cursor.fetchall()]

    def plugin_url(self, path: str) -> str:
        """Saleor's public URL (``PUBLIC_URL``, else the site's domain) and the plugin's route."""
        from saleor.core.utils import build_absolute_uri

        return build_absolute_uri(f"/plugins/global/{PLUGIN_ID}/{path}")


def notify_payload(message: Message) -> dict:
    """The JSON payload of a ``lifecycle_<action>`` notify event (documented in README)."""
    from graphql_relay import to_global_id

    customer = message.customer
    return {
        "action": message.action,
        "recipient_email": customer.email,
        "user_id": to_global_id("User", customer.user_id) if customer.user_id else None,
        "channel_slug": message.channel,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "data": dict(message.payload),
    }


__all__ = ["SaleorHost", "notify_payload"]
