"""What the Saleor host tells the actions about customers: consent, names, languages and
the products of their orders (optional `Host` methods, one query per batch each)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from ..host import CustomerName, CustomerRef, OpenCheckout, OrderProduct
from ..host_support import checkouts_by_owner, consent_of, names_of, order_ids_by_uuid


def like_exact(email: str) -> str:
    """An ILIKE pattern that matches exactly this e-mail, in any letter case."""
    return email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SaleorCustomerDetails:
    """Mixed into `SaleorHost`; reads Saleor's accounts and orders, never writes but the opt-out."""

    def marketing_consent(self, customers: Sequence[CustomerRef], key: str) -> dict[CustomerRef, bool]:
        """Consent is the value under `key` in the account's private, else public, metadata."""
        ids = [c.user_id for c in customers if c.user_id]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, COALESCE(private_metadata ->> %s, metadata ->> %s) FROM account_user "
                "WHERE id = ANY(%s) AND NOT is_staff",
                [key, key, ids],
            )
            return consent_of(customers, dict(cursor.fetchall()))

    def record_opt_out(self, customer: CustomerRef, key: str, value: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE account_user SET private_metadata = COALESCE(private_metadata, '{}'::jsonb) "
                "|| jsonb_build_object(%s::text, %s::text), updated_at = now() WHERE id = %s AND NOT is_staff",
                [key, value, customer.user_id],
            )

    def customer_languages(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, str]:
        """An account's ``language_code``; a guest's, that of their latest order."""
        ids = [c.user_id for c in customers if c.user_id]
        guests = [c.email for c in customers if not c.user_id]
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, language_code FROM account_user WHERE id = ANY(%s) AND NOT is_staff", [ids])
            by_id = dict(cursor.fetchall())
            cursor.execute("SELECT DISTINCT ON (lower(user_email)) lower(user_email), language_code FROM order_order "
                           "WHERE lower(user_email) = ANY(%s) ORDER BY lower(user_email), created_at DESC", [guests])
            by_email = dict(cursor.fetchall())
        found = {c: by_id.get(c.user_id) if c.user_id else by_email.get(c.email) for c in customers}
        return {customer: language for customer, language in found.items() if language}

    def customer_names(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerName]:
        """First and last names of the accounts among `customers` (one query)."""
        refs = list(dict.fromkeys(customers))
        if not refs:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, lower(trim(email)), first_name, last_name FROM account_user "
                "WHERE NOT is_staff AND (id = ANY(%s) OR email ILIKE ANY(%s))",
                [sorted({r.user_id for r in refs if r.user_id}), [like_exact(r.email) for r in refs]],
            )
            return names_of(refs, cursor.fetchall())

    def order_products(self, order_ids: Sequence[str]) -> dict[str, list[OrderProduct]]:
        """The lines of each order (one query), with the product's global id for review links."""
        from graphql_relay import to_global_id

        spelled = order_ids_by_uuid(order_ids)  # canonical → the caller's spelling, used in the answer
        if not spelled:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT l.order_id::text, l.product_name, l.variant_name, l.quantity, l.product_sku, v.product_id
                  FROM order_orderline l LEFT JOIN product_productvariant v ON v.id = l.variant_id
                 WHERE l.order_id = ANY(%s::uuid[])
                 ORDER BY l.order_id, l.created_at, l.id
                """,
                [list(spelled)],
            )
            rows = cursor.fetchall()
        products: dict[str, list[OrderProduct]] = {}
        for order_id, name, variant, quantity, sku, product_id in rows:
            products.setdefault(spelled.get(order_id, order_id), []).append(
                OrderProduct(name=name, quantity=quantity, variant=variant or "",
                             product_id=to_global_id("Product", product_id) if product_id else "", sku=sku or "")
            )
        return products

    def customer_checkouts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, list[OpenCheckout]]:
        """Saleor's checkouts of the customers (owned as `read_facts` owns them) with their lines,
        the variant's product and name; `changed_at` is the checkout's ``last_change``. Two queries."""
        from graphql_relay import to_global_id

        refs = list(dict.fromkeys(customers))
        if not refs:
            return {}
        owners = self._owners(refs)
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT c.token::text, c.user_id, lower(trim(c.email)), c.created_at, c.last_change, c.language_code,
                       ch.slug, p.name, v.name, l.quantity, v.sku, p.id
                  FROM checkout_checkout c
                  JOIN channel_channel ch ON ch.id = c.channel_id
                  LEFT JOIN checkout_checkoutline l ON l.checkout_id = c.token
                  LEFT JOIN product_productvariant v ON v.id = l.variant_id
                  LEFT JOIN product_product p ON p.id = v.product_id
                 WHERE c.user_id = ANY(%s) OR c.email ILIKE ANY(%s)
                 ORDER BY c.token, l.created_at, l.id
                """,
                [owners.user_ids, [like_exact(e) for e in owners.emails]],
            )
            rows = cursor.fetchall()
        heads: dict[str, tuple] = {}
        lines: dict[str, list[OrderProduct]] = {}
        for token, user_id, email, created, changed, language, channel, product, variant, quantity, sku, pid in rows:
            heads.setdefault(token, (user_id, email or "", created, changed, language or "", channel))
            if quantity is not None:
                lines.setdefault(token, []).append(OrderProduct(
                    name=product or variant or "", quantity=quantity, variant=variant or "", sku=sku or "",
                    product_id=to_global_id("Product", pid) if pid else ""))
        return checkouts_by_owner(owners, (
            OpenCheckout(token, created, changed, tuple(lines.get(token, ())), email, user_id,
                         language.lower().replace("_", "-"), channel)
            for token, (user_id, email, created, changed, language, channel) in heads.items()))
