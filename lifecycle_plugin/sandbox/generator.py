"""A synthetic sandbox store: accounts, guests, orders, lines and carts with realistic rhythms.

    summary = generate_store(customers=20_000, years=3, seed=42, now=now)

Reproducible: the same seed, size, years and `now` give the same store, row for
row (ids, e-mails, times, amounts). Fast: rows are planned in Python and streamed
into PostgreSQL with ``COPY`` in chunks while the next chunk is planned, with the
secondary indexes and foreign keys of the loaded tables dropped during the load
and rebuilt at the end (all in one transaction), so memory stays constant and a
million customers with ~5 orders each take a few minutes.

Who the customers are is personas.py; their rows, rows.py; this module loads them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from ..signals import accounts_removed_without_forgetting
from .models import Channel, Checkout, CheckoutLine, CustomerMetadata, Order, OrderLine, OutboxMessage, Voucher
from .personas import Planner
from .rows import GenerateSummary, Rows
from .store import DEFAULT_CHANNELS

# ---------------------------------------------------------------------------- loading

def _columns() -> dict[str, tuple[str, str]]:
    User = get_user_model()
    return {
        "user": (User._meta.db_table, "id, password, last_login, is_superuser, username, first_name, last_name, "
                                      "email, is_staff, is_active, date_joined"),
        "order": (Order._meta.db_table, "id, number, user_id, user_email, channel_id, currency, total_amount, "
                                        "status, charge_status, refunded_amount, created_at, fulfilled_at, "
                                        "updated_at"),
        "line": (OrderLine._meta.db_table, "id, order_id, product_name, sku, quantity, unit_price"),
        "checkout": (Checkout._meta.db_table, "token, user_id, email, channel_id, lines_count, created_at, updated_at, "
                                              "language_code"),
        "checkout_line": (CheckoutLine._meta.db_table, "checkout_id, product_name, variant_name, sku, quantity"),
    }


#: The tables the generator loads, in COPY order (a checkout's lines after the checkout).
TABLES = ("user", "order", "line", "checkout", "checkout_line")


class _BulkLoad:
    """Drop the secondary indexes and foreign keys of the loaded tables, rebuild them after.

    Runs inside the caller's transaction, so a failed load leaves the schema untouched.
    Primary keys stay (other tables' foreign keys point at them).
    """

    def __init__(self, cursor, tables: list[str]):
        self.cursor = cursor
        self.tables = tables
        self.constraints: list[tuple[str, str, str, str]] = []  # (table, name, type, definition)
        self.indexes: list[str] = []

    def __enter__(self):
        cur = self.cursor
        cur.execute(
            """SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)
               FROM pg_constraint c WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('f', 'u')
               ORDER BY c.contype DESC""",  # 'u' before 'f'
            [self.tables],
        )
        self.constraints = cur.fetchall()
        for table, name, _, _ in sorted(self.constraints, key=lambda c: c[2]):  # FKs first
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cur.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
               WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
            [self.tables],
        )
        found = cur.fetchall()
        self.indexes = [definition for _, definition in found]
        for name, _ in found:
            cur.execute(f"DROP INDEX {name}")
        return self

    def rebuild(self, progress: Callable[[str], None] | None = None):
        cur = self.cursor
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for definition in self.indexes:
            if progress:
                progress(definition)
            cur.execute(definition)
        for table, name, kind, definition in sorted(self.constraints, key=lambda c: c[2], reverse=True):  # 'u' first
            if progress:
                progress(f"{table} {name}")
            cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')

    def __exit__(self, *exc):
        return False


def _copy_writer(cursor, columns, work: queue.Queue, errors: list) -> None:
    """Background thread: COPY each rendered chunk while the main thread plans the next."""
    try:
        while True:
            item = work.get()
            if item is None:
                return
            for key in TABLES:
                text = item[key]
                if not text:
                    continue
                table, names = columns[key]
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    data = text.encode()
                    step = 1 << 20
                    for start in range(0, len(data), step):
                        copy.write(data[start:start + step])
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        errors.append(exc)
        while work.get() is not None:  # drain so the producer never blocks
            pass


def store_is_empty() -> bool:
    User = get_user_model()
    return not (Order.objects.exists() or Checkout.objects.exists() or User.objects.filter(is_staff=False).exists())


def reset_store(*, lifecycle: bool = True) -> None:
    """Empty the sandbox store: customers (non-staff accounts), orders, carts, vouchers, outbox,
    and (with `lifecycle`) the lifecycle engine's own tables."""
    User = get_user_model()
    from .. import models as lifecycle_models

    sandbox = [m._meta.db_table for m in (OrderLine, Order, CheckoutLine, Checkout, CustomerMetadata, Voucher,
                                          OutboxMessage)]
    engine_tables = [
        m._meta.db_table
        for m in (lifecycle_models.StageTransition, lifecycle_models.TierChange, lifecycle_models.ActionLedgerEntry,
                  lifecycle_models.ScheduledAction, lifecycle_models.HookFailure, lifecycle_models.CustomerProfile,
                  lifecycle_models.BackfillRun, lifecycle_models.DeletedCustomer, lifecycle_models.MarketingOptOut,
                  lifecycle_models.Referral, lifecycle_models.ReferralCode, lifecycle_models.LadderDigest,
                  lifecycle_models.StageCountChange, lifecycle_models.StageEntry)
    ] if lifecycle else []
    with transaction.atomic(), connection.cursor() as cursor:
        # TRUNCATE refuses tables with foreign-key checks still pending in this transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(f"TRUNCATE {', '.join(sandbox + engine_tables)} RESTART IDENTITY")
        if User.objects.filter(is_staff=True).exists():
            with accounts_removed_without_forgetting():
                User.objects.filter(is_staff=False).delete()
        else:
            user_table = User._meta.db_table
            cursor.execute(f"TRUNCATE {user_table} RESTART IDENTITY CASCADE")
        cursor.execute("ALTER SEQUENCE lifecycle_sandbox_order_number_seq RESTART")


def _reserve(cursor, table: str, column: str, count: int) -> int:
    """The first of `count` ids taken from the serial column's sequence (the block is then skipped)."""
    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
    sequence = cursor.fetchone()[0]
    return _reserve_sequence(cursor, sequence, count)


def _reserve_sequence(cursor, sequence: str, count: int) -> int:
    cursor.execute(f"SELECT nextval('{sequence}')")
    first = cursor.fetchone()[0]
    if count > 1:
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def generate_store(
    customers: int = 20_000,
    years: float = 3,
    seed: int = 42,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    chunk_size: int = 5_000,
    bulk: bool | None = None,
) -> GenerateSummary:
    """Fill the (empty) sandbox store with `customers` synthetic customers over `years` up to `now`.

    `progress(n)` is called with the number of customers written per chunk. `bulk`
    drops and rebuilds indexes around the load (default: for 5,000 customers or more).
    Raises RuntimeError when the store already has customers (reset it first).
    """
    started = time.perf_counter()
    if customers < 0:
        raise ValueError("customers must not be negative")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    if not store_is_empty():
        raise RuntimeError("the sandbox store already has customers; reset it first (lifecycle-sandbox reset)")
    bulk = customers >= 5_000 if bulk is None else bulk
    summary = GenerateSummary()
    columns = _columns()

    with transaction.atomic():
        channels = {}
        for slug, name, currency in DEFAULT_CHANNELS:
            channels[slug], _ = Channel.objects.get_or_create(
                slug=slug, defaults={"name": name, "currency_code": currency}
            )
        channel_ids = [channels[slug].pk for slug, _, _ in DEFAULT_CHANNELS]
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            # Ids come from the tables' own sequences, reserved in blocks as the load goes.
            user_table = columns["user"][0]
            first_user = _reserve(cursor, user_table, "id", 1)
            first_number = _reserve_sequence(cursor, "lifecycle_sandbox_order_number_seq", 1)
            first_line = _reserve(cursor, columns["line"][0], "id", 1)
            rows = Rows(seed, now, channel_ids, first_user, first_number, first_line)

            loader = _BulkLoad(cursor, [columns[k][0] for k in TABLES]) if bulk else None
            if loader:
                loader.__enter__()
            work: queue.Queue = queue.Queue(maxsize=2)
            errors: list[BaseException] = []
            # The writer uses its own cursor on the same connection; only it talks to
            # the server while the load runs.
            writer_cursor = connection.connection.cursor()
            writer = threading.Thread(target=_copy_writer, args=(writer_cursor, columns, work, errors), daemon=True)
            writer.start()
            planner = Planner(seed, years)
            try:
                for begin in range(0, customers, chunk_size):
                    planned = [planner.customer(i) for i in range(begin, min(begin + chunk_size, customers))]
                    rendered = rows.render(planned, summary)
                    if errors:
                        break
                    work.put(rendered)
                    if progress:
                        progress(len(planned))
            finally:
                work.put(None)
                writer.join()
            writer_cursor.close()
            if errors:
                raise errors[0]
            # Move the sequences past the ids used.
            for table, value in ((user_table, rows.next_user - 1), (columns["line"][0], rows.next_line - 1)):
                if value >= 1:
                    cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, value])
            if rows.next_number > first_number:
                cursor.execute("SELECT setval('lifecycle_sandbox_order_number_seq', %s)", [rows.next_number - 1])
            if loader:
                loader.rebuild()
            else:
                # Check the foreign keys now rather than at commit: a caller's enclosing
                # transaction (a test) may truncate these tables before it commits.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for table in (columns[k][0] for k in TABLES):
                cursor.execute(f"ANALYZE {table}")
    summary.seconds = time.perf_counter() - started
    return summary
