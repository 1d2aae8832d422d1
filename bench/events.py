"""Event benchmark: sustained order events per second in one worker process, and 200
concurrent events for one customer.

    .venv/bin/python bench/events.py --seed 1                # on the 100,000-customer store
    .venv/bin/python bench/events.py --seed 1 --customers 1000000

The store (generated from the seed, backfilled as of its `now` if it is not
already) is copied to a scratch database `<base>_<customers>_events` (CREATE
DATABASE ... TEMPLATE) for each run, so the kept store is never changed.

- throughput: `--events` accounts with a profile, picked at random from the seed,
  each get one new paid order (placed a minute after `now`, inserted and committed
  beforehand, not timed). Then one process handles the `order_created` event of
  each, one after the other, as a Celery worker would: `engine.process()` in its
  own transaction (lock, facts, decision, profile, transition, tier change,
  metadata projection, the once-only `order_counted` ledger row and the hooks,
  with the built-in actions as configured by default), committed. Median of
  `--repeats` runs over distinct customers (the first `--warmup` events of the
  first run are not timed).
- reference: the same number of bare per-event transactions (the customer lock, the
  profile row read FOR UPDATE and written back, committed), what any design that
  commits each event on its own pays at least.
- concurrency: one customer; `--threads` threads (each with its own database
  connection) start together and each places and then processes
  `200 / threads` orders for that customer. Afterwards the profile must count 200
  more orders, its version must have moved once per event, and the ledger must
  hold one `order_counted` row per new order: anything else is a lost update.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "events.py"

INSERT_ORDERS = """
    INSERT INTO lifecycle_sandbox_order (id, number, user_id, user_email, channel_id, currency, total_amount,
                                         status, charge_status, refunded_amount, created_at, fulfilled_at)
    SELECT gen_random_uuid(), nextval('lifecycle_sandbox_order_number_seq'), u.id, u.email, ch.id,
           ch.currency_code, 40 + (u.id %% 60), 'unfulfilled', 'full', 0, %(at)s, NULL
    FROM unnest(%(ids)s::bigint[]) AS x(id) JOIN auth_user u ON u.id = x.id
    CROSS JOIN (SELECT id, currency_code FROM lifecycle_sandbox_channel WHERE slug = 'default-channel') AS ch
"""


def child_prepare(now: str) -> None:
    common.ensure_backfilled(now)
    common.answer(ok=True)


def _pick(seed: int, count: int, exclude=()) -> list:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT user_id, email FROM lifecycle_plugin_customerprofile WHERE user_id IS NOT NULL "
            "ORDER BY md5(id::text || %s) LIMIT %s",
            [str(seed), count + len(exclude)],
        )
        rows = [row for row in cursor.fetchall() if row[0] not in exclude]
    return rows[:count]


def _place_orders(user_ids, at) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(INSERT_ORDERS, {"ids": list(user_ids), "at": at})


def child_events(now: str, seed: str, events: str, repeats: str, warmup: str, threads: str, concurrent: str) -> None:
    from django.db import connection

    from lifecycle_plugin.host import CustomerRef
    from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile, StageTransition

    moment = common.parse_now(now)
    placed_at = moment + timedelta(minutes=1)
    clock = {"now": moment + timedelta(minutes=2)}
    engine = common.make_engine(moment)
    engine.clock = lambda: clock["now"]

    # ---- throughput
    count, runs = int(events), int(repeats)
    picked = _pick(int(seed), int(warmup) + count * runs)
    _place_orders([user_id for user_id, _ in picked], placed_at)
    customers = [CustomerRef(email, user_id) for user_id, email in picked]
    for customer in customers[: int(warmup)]:
        engine.process(customer, event="order_created")
    rates = []
    for run in range(runs):
        batch = customers[int(warmup) + run * count: int(warmup) + (run + 1) * count]
        started = time.perf_counter()
        for customer in batch:
            engine.process(customer, event="order_created")
        seconds = time.perf_counter() - started
        rates.append(len(batch) / seconds)
    counted = ActionLedgerEntry.objects.filter(action="event:order_counted").count()
    moved = StageTransition.objects.filter(reason__in=["event", "win_back"]).count()

    # ---- the floor of a per-event transaction: the lock, one row read FOR UPDATE and
    # written back, committed; nothing else. What any design that commits each event
    # on its own pays at least, on this machine.
    from django.db import transaction

    minimal = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, email FROM lifecycle_plugin_customerprofile ORDER BY id LIMIT %s", [count])
        rows = cursor.fetchall()
    started = time.perf_counter()
    for profile_id, email in rows:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"lifecycle:{email}"])
            cursor.execute("SELECT version FROM lifecycle_plugin_customerprofile WHERE id = %s FOR UPDATE",
                           [profile_id])
            cursor.execute("UPDATE lifecycle_plugin_customerprofile SET version = version WHERE id = %s",
                           [profile_id])
    minimal.append(len(rows) / (time.perf_counter() - started))

    # ---- concurrency: one customer, `concurrent` events from `threads` threads at once
    (user_id, email), = _pick(int(seed) + 1, 1, exclude={u for u, _ in picked})
    customer = CustomerRef(email, user_id)
    before = CustomerProfile.objects.get(user_id=user_id)
    ledger_before = ActionLedgerEntry.objects.filter(profile=before, action="event:order_counted").count()
    per_thread = int(concurrent) // int(threads)
    barrier = threading.Barrier(int(threads))
    errors: list[BaseException] = []
    from lifecycle_plugin.sandbox.store import SandboxStore

    def work() -> None:
        try:
            store = SandboxStore(engine=None)
            barrier.wait()
            for _ in range(per_thread):
                store.place_order(user_id, Decimal("25.00"), at=placed_at, notify=False)
                engine.process(customer, event="order_created")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(int(threads))]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    concurrent_seconds = time.perf_counter() - started
    after = CustomerProfile.objects.get(user_id=user_id)
    ledger_after = ActionLedgerEntry.objects.filter(profile=after, action="event:order_counted").count()
    events_done = per_thread * int(threads)
    lost = {
        "orders_count": before.orders_count + events_done - after.orders_count,
        "version": before.version + events_done - after.version,
        "ledger_order_counted": ledger_before + events_done - ledger_after,
    }
    common.answer(rates=rates, minimal_rates=minimal, events=count, counted_ledger_rows=counted, event_transitions=moved,
                  concurrent_events=events_done, threads=int(threads), concurrent_seconds=concurrent_seconds,
                  lost=lost, errors=[repr(e) for e in errors])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--customers", type=int, default=100_000, help="Store size (default 100,000).")
    parser.add_argument("--events", type=int, default=2000, help="Events per timed run (default 2000).")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=200)
    args = parser.parse_args()

    url = common.prepare_store(SCRIPT, args, args.customers)
    common.log(f"{args.customers:,}: making sure the store is backfilled")
    common.run_child(SCRIPT, url, "prepare", args.now)
    scratch = f"{url}_events"
    common.ensure_database(scratch, template=url, fresh=True)
    common.log(f"events on a copy ({scratch.rsplit('/', 1)[-1]})")
    result = common.run_child(SCRIPT, scratch, "events", args.now, str(args.seed), str(args.events),
                              str(args.repeats), str(args.warmup), str(args.threads), str(args.concurrent))
    rate = common.median(result["rates"])
    common.emit(figure="events_per_second", customers=args.customers, events=args.events, repeats=args.repeats,
                median=round(rate, 1), runs=[round(r, 1) for r in result["rates"]],
                per_event_ms=round(1000 / rate, 3), order_counted_ledger_rows=result["counted_ledger_rows"],
                target=">= 1000 per worker process", holds=rate >= 1000)
    common.emit(figure="minimal_transaction_per_second", customers=args.customers, transactions=args.events,
                median=round(common.median(result["minimal_rates"]), 1),
                what="lock + SELECT FOR UPDATE + UPDATE + COMMIT per event, nothing else (a reference, no target)")
    lost = sum(abs(v) for v in result["lost"].values())
    common.emit(figure="concurrent_same_customer", customers=args.customers, events=result["concurrent_events"],
                threads=result["threads"], seconds=round(result["concurrent_seconds"], 3), lost=result["lost"],
                errors=result["errors"], target="no lost update", holds=lost == 0 and not result["errors"])


if __name__ == "__main__":
    if not common.child_main({"prepare": child_prepare, "events": child_events}):
        main()
