"""What the sandbox host tells the actions about customers: consent, names and the
products of their orders (optional `Host` methods, one query per batch each)."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth import get_user_model

from ..host import CustomerName, CustomerRef, OpenCheckout, OrderProduct
from ..host_support import checkouts_by_owner, consent_of, names_of, order_ids_by_uuid
from .bulk_reads import bulk_cursor
from .models import Channel, Checkout, CheckoutLine, CustomerMetadata


class SandboxCustomerDetails:
    """Mixed into `SandboxHost` (which provides `_t`, the sandbox's table names)."""

    _t: dict[str, str]

    def marketing_consent(self, customers: Sequence[CustomerRef], key: str) -> dict[CustomerRef, bool]:
        """Consent is the value under `key` in the account's private, else public, metadata
        (CustomerMetadata), as the Saleor host reads it; one query for the batch."""
        ids = list({customer.user_id for customer in customers if customer.user_id})
        with bulk_cursor() as cursor:
            cursor.execute(
                f"""SELECT u.id, COALESCE(m.private_metadata ->> %s, m.metadata ->> %s)
                    FROM {self._t['user']} u JOIN {self._t['metadata']} m ON m.user_id = u.id
                    WHERE u.id = ANY(%b::bigint[]) AND NOT u.is_staff""",
                [key, key, ids],
            )
            return consent_of(customers, dict(cursor.fetchall()))

    def record_opt_out(self, customer: CustomerRef, key: str, value: str) -> None:
        user = get_user_model().objects.filter(pk=customer.user_id, is_staff=False).first()
        if user is not None:
            row, _ = CustomerMetadata.objects.get_or_create(user=user)
            row.private_metadata = {**row.private_metadata, key: value}
            row.save(update_fields=["private_metadata"])

    def customer_names(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerName]:
        """First and last names of the accounts among `customers` (one query)."""
        refs = list(dict.fromkeys(customers))
        if not refs:
            return {}
        with bulk_cursor() as cursor:
            cursor.execute(
                f"""SELECT id, lower(trim(email)), first_name, last_name FROM {self._t['user']}
                    WHERE NOT is_staff AND (id = ANY(%b::bigint[]) OR lower(trim(email)) = ANY(%b::text[]))""",
                [list({r.user_id for r in refs if r.user_id}), list({r.email for r in refs})],
            )
            return names_of(refs, cursor.fetchall())

    def order_products(self, order_ids: Sequence[str]) -> dict[str, list[OrderProduct]]:
        """The lines of each order (one query); unknown ids are left out."""
        spelled = order_ids_by_uuid(order_ids)  # canonical → the caller's spelling, used in the answer
        if not spelled:
            return {}
        with bulk_cursor() as cursor:
            cursor.execute(
                f"""SELECT order_id::text, product_name, quantity, sku FROM {self._t['line']}
                    WHERE order_id = ANY(%b::uuid[]) ORDER BY order_id, id""",
                [list(spelled)],
            )
            rows = cursor.fetchall()
        products: dict[str, list[OrderProduct]] = {}
        for order_id, name, quantity, sku in rows:
            products.setdefault(spelled.get(order_id, order_id), []).append(
                OrderProduct(name=name, quantity=quantity, sku=sku))
        return products

    def customer_checkouts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, list[OpenCheckout]]:
        """The customers' checkouts with their lines (two queries). As of a cutoff, checkouts
        made later are hidden, and one changed later shows as it was made (the store keeps
        no history of its lines, so they are today's)."""
        refs = list(dict.fromkeys(customers))
        if not refs:
            return {}
        owners = self._owners(refs)
        cutoff = self._cutoff()
        checkout, line, channel = Checkout._meta.db_table, CheckoutLine._meta.db_table, Channel._meta.db_table
        changed = "CASE WHEN c.updated_at <= %(cutoff)s THEN c.updated_at ELSE c.created_at END" if cutoff \
            else "c.updated_at"
        with bulk_cursor() as cursor:
            cursor.execute(
                f"""SELECT c.token::text, c.user_id, lower(trim(c.email)), c.created_at, {changed}, c.language_code,
                           ch.slug, l.product_name, l.variant_name, l.quantity, l.sku
                      FROM {checkout} c JOIN {channel} ch ON ch.id = c.channel_id
                      LEFT JOIN {line} l ON l.checkout_id = c.token
                     WHERE (c.user_id = ANY(%(ids)b::bigint[]) OR lower(trim(c.email)) = ANY(%(emails)b::text[]))
                       {"AND c.created_at <= %(cutoff)s" if cutoff else ""}
                     ORDER BY c.token, l.id""",
                {"ids": owners.user_ids, "emails": owners.emails, "cutoff": cutoff},
            )
            rows = cursor.fetchall()
        heads: dict[str, tuple] = {}
        lines: dict[str, list[OrderProduct]] = {}
        for token, user_id, email, created, changed_at, language, slug, name, variant, quantity, sku in rows:
            heads.setdefault(token, (user_id, email, created, changed_at, language or "", slug))
            if name is not None:
                lines.setdefault(token, []).append(OrderProduct(name, quantity, variant or "", "", sku or ""))
        return checkouts_by_owner(owners, (
            OpenCheckout(token, created, changed_at, tuple(lines.get(token, ())), email, user_id, language, slug)
            for token, (user_id, email, created, changed_at, language, slug) in heads.items()))
