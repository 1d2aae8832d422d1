"""Event benchmark: sustained order events per second in one worker process, and 200
concurrent events for one customer.

    .venv/bin/python bench/events.py --seed 1                # on the 100,000-customer store
    .venv/bin/python bench/events.py --seed 1 --customers 1000000

The store (generated from the seed, backfilled as of its `now` if it is not
already) is copied to a scratch database `<base>_<customers>_events` (CREATE
DATABASE ... TEMPLATE) for each run, so the kept store is never changed.

- throughput: `--events` accounts with a profile, picked at random from the seed,
  each get one new paid order (placed a minute after `now`, inserted and committed
  beforehand, not timed). Each order's `order_created` event is queued in the event
  inbox with its own statement, as Saleor's hook does (timed apart: the
  `event_queue_statement_ms` figure). Then one process drains the backlog as the
  `drain_events` task does on a worker: `inbox.drain()`, batches of 500 events, each
  batch one transaction through `engine.process_many` (locks, facts, decisions,
  profiles, transitions, tier changes, metadata projection, the once-only
  `order_counted` ledger rows and the hooks, with the built-in actions as configured
  by default). Median of `--repeats` runs over distinct customers, after a warm-up of
  `--warmup` events.
- sustained: two other processes queue `--rate` events a second between them for
  `--seconds` (`achieved_per_second` says what they managed) while this one drains them as a worker would (a drain, and a 10 ms pause when the inbox
  was empty). The worker keeps up when every event is processed, no batch is full
  (a full batch means a backlog was building) and the inbox is empty within a
  second of the producer's last event.
- reference: the same number of bare per-event transactions (the customer lock, the
  profile row read FOR UPDATE and written back, committed), what any design that
  commits each event on its own pays at least.
- concurrency: one customer; `--threads` threads (each with its own database
  connection) start together and each places `200 / threads` orders for that
  customer and queues each order's event, while two more threads drain the inbox
  with small batches. Afterwards the profile must count 200 more orders, its version
  must have moved, and the ledger must hold one `order_counted` row per new order:
  anything else is a lost update.
"""

from __future__ import annotations

import argparse
import json
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


def _queue_each(customers) -> float:
    """Queue one event per customer, each with its own statement as Saleor's hook does; the seconds taken."""
    from lifecycle_plugin.engine import inbox

    started = time.perf_counter()
    for customer in customers:
        inbox.queue_events([(customer.email, customer.user_id, "order_created")])
    return time.perf_counter() - started


def child_produce(path: str, rate: str, seconds: str) -> None:
    """Queue the events of the customers listed in `path` at `rate` per second, as a web process would."""
    from lifecycle_plugin.engine import inbox

    with open(path) as file:
        customers = json.load(file)
    interval = 1 / float(rate)
    started = time.perf_counter()
    queued = 0
    for index, (email, user_id) in enumerate(customers[: int(float(rate) * float(seconds))]):
        due = started + index * interval
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        inbox.queue_events([(email, user_id, "order_created")])
        queued += 1
    common.answer(queued=queued, seconds=time.perf_counter() - started)


def _sustained(engine, customers, rate: float, seconds: float) -> dict:
    """A producer process queues `rate` events a second for `seconds`; this process drains as a worker."""
    import subprocess
    import tempfile

    from django.db import connection

    from lifecycle_plugin.engine import inbox

    # Two producers, each offering half the rate on its own connection, as two web processes
    # would: one connection committing an INSERT at a time falls short of 1,000 a second
    # when it shares two cores with the worker and the database.
    total = int(rate * seconds)
    producers, files = [], []
    for half in (customers[0:total:2], customers[1:total:2]):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump([[c.email, c.user_id] for c in half], file)
        files.append(file.name)
        command = [sys.executable, os.path.abspath(__file__), "--child", "produce", file.name, str(rate / 2),
                   str(seconds)]
        producers.append(subprocess.Popen(command, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                                          stdout=subprocess.PIPE, cwd=common.ROOT))
    processed = batches = largest = 0
    producer_done = None
    started = time.perf_counter()
    while True:
        if producer_done is None and all(producer.poll() is not None for producer in producers):
            producer_done = time.perf_counter()
        report = inbox.drain(engine)
        processed += report.events
        batches += report.batches
        if report.batches:
            largest = max(largest, report.events if report.batches == 1 else inbox.BATCH_SIZE)
        if not report.events and producer_done is not None:
            break
        if not report.events:
            time.sleep(0.01)  # what a worker does between drains: wait for the next task
    emptied = time.perf_counter()
    produced = [json.loads(producer.stdout.read().decode().strip().splitlines()[-1]) for producer in producers]
    for name in files:
        os.unlink(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_pendingevent")
        left = cursor.fetchone()[0]
    return {"offered_rate": rate, "seconds": seconds, "queued": sum(p["queued"] for p in produced),
            "producer_seconds": max(p["seconds"] for p in produced), "processed": processed, "left": left,
            "wall_seconds": emptied - started, "lag_seconds": emptied - producer_done, "batches": batches,
            "largest_batch": largest}


def child_events(now: str, seed: str, events: str, repeats: str, warmup: str, threads: str, concurrent: str,
                 rate: str, seconds: str) -> None:
    from django.db import connection

    from lifecycle_plugin.engine import inbox
    from lifecycle_plugin.host import CustomerRef
    from lifecycle_plugin.models import ActionLedgerEntry, CustomerProfile, StageTransition

    moment = common.parse_now(now)
    placed_at = moment + timedelta(minutes=1)
    clock = {"now": moment + timedelta(minutes=2)}
    engine = common.make_engine(moment)
    engine.clock = lambda: clock["now"]

    # ---- throughput: a backlog of events, drained by one process
    count, runs, sustained_count = int(events), int(repeats), int(float(rate) * float(seconds))
    picked = _pick(int(seed), int(warmup) + count * runs + sustained_count)
    _place_orders([user_id for user_id, _ in picked], placed_at)
    customers = [CustomerRef(email, user_id) for user_id, email in picked]
    _queue_each(customers[: int(warmup)])
    inbox.drain(engine)
    rates, queue_seconds, batches = [], [], []
    for run in range(runs):
        batch = customers[int(warmup) + run * count: int(warmup) + (run + 1) * count]
        queue_seconds.append(_queue_each(batch))
        started = time.perf_counter()
        report = inbox.drain(engine)
        seconds_taken = time.perf_counter() - started
        if report.events != len(batch) or report.failed:
            raise SystemExit(f"the drain took {report.events} of {len(batch)} events ({report.failed} failed)")
        rates.append(len(batch) / seconds_taken)
        batches.append(report.batches)
    counted = ActionLedgerEntry.objects.filter(action="event:order_counted").count()

    # ---- sustained: events arrive at `rate` a second from another process while this one drains
    sustained = _sustained(engine, customers[int(warmup) + count * runs:], float(rate), float(seconds))

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

    # ---- concurrency: one customer; `threads` threads place an order and queue its event,
    # `concurrent` in all, while two more threads drain the inbox
    (user_id, email), = _pick(int(seed) + 1, 1, exclude={u for u, _ in picked})
    before = CustomerProfile.objects.get(user_id=user_id)
    ledger_before = ActionLedgerEntry.objects.filter(profile=before, action="event:order_counted").count()
    per_thread = int(concurrent) // int(threads)
    barrier = threading.Barrier(int(threads) + 2)
    producing = threading.Event()
    producing.set()
    errors: list[BaseException] = []
    from lifecycle_plugin.sandbox.store import SandboxStore

    def produce() -> None:
        try:
            store = SandboxStore(engine=None)
            barrier.wait()
            for _ in range(per_thread):
                store.place_order(user_id, Decimal("25.00"), at=placed_at, notify=False)
                inbox.queue_events([(email, user_id, "order_created")])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def consume() -> None:
        try:
            barrier.wait()
            while producing.is_set():
                inbox.drain(engine, batch_size=20)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    producers = [threading.Thread(target=produce) for _ in range(int(threads))]
    consumers = [threading.Thread(target=consume) for _ in range(2)]
    started = time.perf_counter()
    for worker in producers + consumers:
        worker.start()
    for worker in producers:
        worker.join()
    producing.clear()
    for worker in consumers:
        worker.join()
    inbox.drain(engine)
    concurrent_seconds = time.perf_counter() - started
    after = CustomerProfile.objects.get(user_id=user_id)
    ledger_after = ActionLedgerEntry.objects.filter(profile=after, action="event:order_counted").count()
    events_done = per_thread * int(threads)
    lost = {
        "orders_count": before.orders_count + events_done - after.orders_count,
        "ledger_order_counted": ledger_before + events_done - ledger_after,
        "version_moved": after.version > before.version,
    }
    moved = StageTransition.objects.filter(reason__in=["event", "win_back"]).count()
    common.answer(rates=rates, queue_seconds=queue_seconds, batches=batches, minimal_rates=minimal, events=count,
                  counted_ledger_rows=counted, event_transitions=moved, sustained=sustained,
                  concurrent_events=events_done, threads=int(threads), concurrent_seconds=concurrent_seconds,
                  lost=lost, errors=[repr(e) for e in errors])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--customers", type=int, default=100_000, help="Store size (default 100,000).")
    parser.add_argument("--events", type=int, default=5000, help="Events per timed run (default 5000).")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rate", type=float, default=1000, help="Sustained run: events per second offered (1000).")
    parser.add_argument("--seconds", type=float, default=10, help="Sustained run: how long (default 10 s).")
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
                              str(args.repeats), str(args.warmup), str(args.threads), str(args.concurrent),
                              str(args.rate), str(args.seconds))
    rate = common.median(result["rates"])
    common.emit(figure="events_per_second", customers=args.customers, events=args.events, repeats=args.repeats,
                median=round(rate, 1), runs=[round(r, 1) for r in result["rates"]],
                per_event_ms=round(1000 / rate, 3), batches_per_run=result["batches"],
                order_counted_ledger_rows=result["counted_ledger_rows"],
                what="one worker process draining a backlog of order events (inbox -> process_many, 500 a batch)",
                target=">= 1000 per worker process", holds=rate >= 1000)
    sustained = result["sustained"]
    kept_up = (sustained["left"] == 0 and sustained["processed"] == sustained["queued"]
               and sustained["largest_batch"] < 500 and sustained["lag_seconds"] < 1)
    common.emit(figure="events_sustained", customers=args.customers, offered_per_second=sustained["offered_rate"],
                seconds=sustained["seconds"], queued=sustained["queued"],
                producer_seconds=round(sustained["producer_seconds"], 2),
                achieved_per_second=round(sustained["queued"] / sustained["producer_seconds"], 1),
                processed=sustained["processed"],
                left_in_inbox=sustained["left"], batches=sustained["batches"],
                largest_batch=sustained["largest_batch"], lag_after_last_event_s=round(sustained["lag_seconds"], 3),
                what="another process queues events at the offered rate while one worker drains; it keeps up when "
                     "every event is processed, no batch is full (no backlog builds) and the inbox is empty within "
                     "a second of the last event",
                holds=kept_up)
    common.emit(figure="event_queue_statement_ms", customers=args.customers,
                median=round(1000 * common.median(result["queue_seconds"]) / args.events, 3),
                what="what a Saleor hook pays per event: one INSERT into the inbox (autocommit), no target")
    common.emit(figure="minimal_transaction_per_second", customers=args.customers, transactions=args.events,
                median=round(common.median(result["minimal_rates"]), 1),
                what="lock + SELECT FOR UPDATE + UPDATE + COMMIT per event, nothing else (a reference, no target)")
    lost = result["lost"]
    common.emit(figure="concurrent_same_customer", customers=args.customers, events=result["concurrent_events"],
                threads=result["threads"], drainers=2, seconds=round(result["concurrent_seconds"], 3), lost=lost,
                errors=result["errors"], target="no lost update",
                holds=lost["orders_count"] == 0 and lost["ledger_order_counted"] == 0 and lost["version_moved"]
                and not result["errors"])


if __name__ == "__main__":
    if not common.child_main({"prepare": child_prepare, "events": child_events, "produce": child_produce}):
        main()
