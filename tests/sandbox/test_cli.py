"""`lifecycle-sandbox` end to end on a small store, and the replay against a plain backfill."""

import json
import re
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import CustomerProfile, StageTransition
from lifecycle_plugin.rules import Stage, decide
from lifecycle_plugin.sandbox import cli
from lifecycle_plugin.sandbox.commands.serve import explorer_tokens
from lifecycle_plugin.sandbox.generator import generate_store
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import Order, OutboxMessage, Voucher
from lifecycle_plugin.sandbox.replay import SimulatedClock, replay_days

from .conftest import NOW
from .test_kpis import ORDERS_SQL as KPI_ORDERS_SQL

pytestmark = pytest.mark.django_db


# The demo commits as the real command does, so the actions' after-commit work runs.
@pytest.mark.django_db(transaction=True)
def test_demo_runs_end_to_end(capsys):
    code = cli.main(["--no-progress", "demo", "--customers", "400", "--live-days", "7",
                     "--now", NOW.isoformat(), "--seed", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Demo finished in" in out and "Database:" in out
    stage_table = out.split("Stages (")[1].split("Loyalty tiers")[0]
    for stage in Stage:
        assert f"  {stage.value} " in stage_table
    assert "(none)" in out.split("Loyalty tiers")[1] and "bronze" in out
    # the KPI table per stage: its total row against the store's counted orders of the last 365 days
    kpis = out.split("KPIs per stage over the last 365 days")[1].split("Money per stage")[0]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), count(DISTINCT id) FROM ({KPI_ORDERS_SQL}) o WHERE created_at >= %s",
                       [NOW - timedelta(days=365)])
        orders, buyers = cursor.fetchone()
    assert re.search(rf"^  all +{CustomerProfile.objects.count():,} +{buyers:,} +{orders:,} ", kpis, re.M), kpis
    assert re.search(r"^  loyal +[\d,]+ +[\d,]+ +[\d,]+ +\d+\.\d\d ", kpis, re.M)
    money = out.split("Money per stage and currency")[1].split("Customers to look at")[0]
    assert re.search(r"^  all +USD ", money, re.M) and re.search(r"^  all +PLN ", money, re.M)
    assert "Stage transitions" in out and "backfill" in out
    assert "decided in SQL: new profiles got their history dated from their orders" in out
    # the backfill dated the history before the replayed week from the orders
    assert StageTransition.objects.filter(occurred_at__lt=NOW - timedelta(days=30), reason="event").exists()
    assert CustomerProfile.objects.count() > 300
    # the last week was replayed live: events and time passing made transitions
    assert StageTransition.objects.filter(occurred_at__gt=NOW - timedelta(days=7)).exclude(reason="backfill").exists()
    # ... and the built-in actions, switched on for the demo, wrote to the outbox, which it prints
    sent = OutboxMessage.objects.count()
    assert sent > 0 and f"Outbox ({sent:,} messages, {Voucher.objects.count():,} vouchers issued)" in out
    outbox = out.split("Outbox (")[1]
    for action, count in Counter(OutboxMessage.objects.values_list("action", flat=True)).items():
        assert re.search(rf"^  {action} +{count:,} ", outbox, re.M), action
    latest = OutboxMessage.objects.order_by("-id").first()
    assert f"{latest.subject}" in outbox and f"to {latest.email}" in outbox
    # the figures explain themselves: who the backfill counted, what the columns mean, tier changes
    in_store = SandboxHost().count_customers()
    # Friends who used a referral code during the replayed days joined the store after the count.
    friends = Order.objects.filter(user_email__startswith="friend-").values("user_email").distinct().count()
    assert re.search(r"\(([\d,]+) of the store's ([\d,]+) customers had shown up 7 days ago", out)
    assert f"of the store's {in_store - friends:,} customers" in out and "first appear in the replayed days" in out
    assert CustomerProfile.objects.count() == in_store  # by the end, every one of them
    assert "reason   backfill: the first decision" in out and "Tier changes (" in out
    # ... and it prints customers to look at and a query, for GraphiQL and curl, that returns one of them
    try_it = out.split("Customers to look at")[1]
    assert "lifecycle-sandbox serve" in try_it
    [curl] = [line for line in try_it.splitlines() if line.strip().startswith("curl ")]
    body = curl.split(" -d '", 1)[1].removesuffix("'")
    assert f"  {json.loads(body)['query']}" in try_it.splitlines()
    staff = explorer_tokens()["staff (MANAGE_USERS)"]
    answer = Client().post("/graphql/", body, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {staff}").json()
    assert "errors" not in answer
    customer = answer["data"]["customerLifecycle"]
    assert customer["email"] in try_it and customer["userId"] in try_it
    assert customer["history"] and customer["stage"]["key"] in try_it
    # ... and what each action did: sent, held back, converted, as plain SQL over the ledger and orders says
    check_action_results_table(out, since=NOW - timedelta(days=7))


def test_the_other_commands(capsys):
    assert cli.main(["--no-progress", "generate", "--customers", "150", "--now", NOW.isoformat()]) == 0
    assert cli.main(["--no-progress", "generate", "--customers", "150"]) == 2  # not empty: needs --reset
    assert cli.main(["--no-progress", "backfill", "--now", NOW.isoformat(), "--chunk-size", "40"]) == 0
    assert cli.main(["--no-progress", "sweep", "--now", (NOW + timedelta(days=60)).isoformat()]) == 0
    assert cli.main(["--no-progress", "stats"]) == 0
    out = capsys.readouterr().out
    assert "Store" in out and "accounts:" in out and "profiles due" in out
    assert cli.main(["--no-progress", "reset", "--yes"]) == 0
    assert not CustomerProfile.objects.exists()


def test_replay_ends_where_a_backfill_at_the_same_moment_would(capsys):
    """Day by day with hidden future vs all at once: the same stages at the end."""
    generate_store(customers=500, years=2, seed=8, now=NOW)
    clock = SimulatedClock(NOW - timedelta(days=25))
    host = SandboxHost(as_of=clock)
    engine = LifecycleEngine(host, clock=clock, plugin_manager=make_plugin_manager(load_entry_points=False))
    backfill(engine)
    before = Counter(CustomerProfile.objects.values_list("stage", flat=True))
    reports = replay_days(engine, clock, NOW)
    assert len(reports) == 25 and sum(r.customers for r in reports) > 0
    after = dict(CustomerProfile.objects.values_list("email", "stage"))
    assert Counter(after.values()) != before

    everyone = [c for chunk in SandboxHost().customer_chunks(1000) for c in chunk]
    facts = SandboxHost().read_facts(everyone)
    expected = {
        customer.email: decide(f, engine.config, NOW).stage.value
        for customer, f in facts.items()
        if f.known
    }
    assert after == expected
    moves = set(StageTransition.objects.exclude(reason="backfill").values_list("reason", flat=True))
    assert {"event", "time"} <= moves


def test_serve_prints_working_tokens_for_graphiql(capsys, client):
    assert cli.main(["--no-progress", "generate", "--customers", "60", "--now", NOW.isoformat()]) == 0
    assert cli.main(["--no-progress", "backfill", "--now", NOW.isoformat()]) == 0
    tokens = explorer_tokens()
    staff_token = tokens["staff (MANAGE_USERS)"]
    (customer_token,) = [token for who, token in tokens.items() if who.startswith("customer ")]
    ask = '{"query": "{ lifecycleStageCounts { stage { code } count } }"}'
    staff = client.post("/graphql/", ask, content_type="application/json",
                        HTTP_AUTHORIZATION=f"Bearer {staff_token}").json()
    assert sum(row["count"] for row in staff["data"]["lifecycleStageCounts"]) == CustomerProfile.objects.count()
    mine = client.post("/graphql/", '{"query": "{ myLifecycle { stage { code } } }"}',
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {customer_token}").json()
    assert mine["data"]["myLifecycle"]["stage"]["code"]
    assert client.get("/graphql/", HTTP_ACCEPT="text/html").status_code == 200  # GraphiQL


def check_action_results_table(out, since):
    """The demo's per-action table against plain SQL over the ledger and the sandbox's orders."""
    from django.db import connection

    table = out.split("Action results (")[1].split("Customers to look at")[0]
    messages = """FROM lifecycle_plugin_actionledgerentry m JOIN lifecycle_plugin_customerprofile p ON p.id = m.profile_id
                  WHERE m.action = %(a)s AND m.status = 'done' AND m.result ? 'sent_at' AND m.completed_at >= %(since)s"""
    attributed = f"""SELECT DISTINCT o.id, o.currency, o.total_amount - o.refunded_amount AS net, p.email
        {messages.replace("WHERE", "JOIN lifecycle_sandbox_order o ON lower(trim(o.user_email)) = p.email WHERE")}
        AND o.status NOT IN ('draft', 'unconfirmed', 'canceled', 'expired') AND o.refunded_amount < o.total_amount
        AND o.created_at > m.completed_at AND o.created_at <= COALESCE(
            (SELECT (v.result->>'valid_until')::timestamptz FROM lifecycle_plugin_actionledgerentry v
              WHERE v.dedupe_key = m.payload->>'voucher_entry' AND m.result->>'voucher_code' IS NOT NULL),
            m.completed_at + interval '7 days')"""
    with connection.cursor() as cursor:
        cursor.execute("""SELECT DISTINCT action FROM lifecycle_plugin_actionledgerentry
                          WHERE action NOT LIKE 'event:%%' AND NOT payload ? 'for_action'""")
        actions = [a for (a,) in cursor.fetchall()]
        assert actions
        total_sent = 0
        for action in actions:
            cursor.execute(f"SELECT count(*), count(DISTINCT m.profile_id) {messages}", {"a": action, "since": since})
            sent, customers = cursor.fetchone()
            cursor.execute(f"SELECT count(DISTINCT email) FROM ({attributed}) x", {"a": action, "since": since})
            converted = cursor.fetchone()[0]
            cursor.execute(f"SELECT currency, sum(net) FROM ({attributed}) x GROUP BY currency ORDER BY currency",
                           {"a": action, "since": since})
            revenue = "; ".join(f"{currency} {amount:,.2f}" for currency, amount in cursor.fetchall()) or "-"
            row = re.search(rf"^  {action} +{sent:,} +{customers:,} +[\d,]+ +[\d,-]+ +(?:[\d,]+ +){{6}} *[\d,]+ "
                            rf"+{converted:,} "
                            rf"+\S+ +(.*)$", table, re.M)
            assert row, (action, sent, converted, table)
            assert row.group(1) == revenue, action
            total_sent += sent
            cursor.execute("""SELECT count(DISTINCT profile_id) FROM lifecycle_plugin_actionledgerentry
                              WHERE action = %(a)s AND status = 'skipped' AND result->>'reason' = 'held out'
                                AND completed_at >= %(since)s""", {"a": action, "since": since})
            held_out = cursor.fetchone()[0]
            if sent or held_out:  # the lift table: sent to, converted, rate, held out, ...
                assert re.search(rf"^  {action} +{customers:,} +{converted:,} +\S+ +{held_out:,} +[\d,]+ ", table,
                                 re.M), (action, customers, held_out, table)
    # the demo's small holdout is switched on, and said so
    assert "holdout_percent = 10" in table and "By ISO week" in table
    # every message of the demo went to the outbox (the notify channel), in the replayed week
    assert total_sent == OutboxMessage.objects.count()
