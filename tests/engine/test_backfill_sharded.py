"""The SQL backfill with its evaluator spread over several connections (`sql_ladder_shards`)
writes exactly what the one-connection run writes, leaves no table behind, and cleans up a
run that failed halfway or whose process died.

These tests commit (transaction=True): the shards' own connections see only committed rows.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from django.db import connection

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine import sql_ladder_shards
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.models import CustomerProfile
from lifecycle_plugin.sandbox.generator import generate_store
from lifecycle_plugin.sandbox.host import SandboxHost
from tests.contract.ladder_sources_contract import a_mixed_store
from tests.contract.test_sandbox_host import SandboxStoreAdapter
from tests.table_rows import table_rows

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)

#: Everything a backfill writes, as plain rows keyed by the customer (profile ids differ
#: between runs: the sequence moves on).
WRITTEN = {
    "profiles": """SELECT email, user_id, stage, stage_since, stage_rule, tier, tier_since, orders_count,
                          orders_by_currency, lifetime_spend, window_spend, first_order_at, last_order_at,
                          next_check_at FROM lifecycle_plugin_customerprofile""",
    "history": """SELECT p.email, t.from_stage, t.to_stage, t.occurred_at, t.reason, t.rule, t.facts
                  FROM lifecycle_plugin_stagetransition t JOIN lifecycle_plugin_customerprofile p
                    ON p.id = t.profile_id""",
    "tiers": """SELECT p.email, t.from_tier, t.to_tier, t.occurred_at, t.reason, t.window_spend
                FROM lifecycle_plugin_tierchange t JOIN lifecycle_plugin_customerprofile p ON p.id = t.profile_id""",
    "digests": """SELECT p.email, d.has_account, d.open_cart_lines, d.moments, d.paid_moments, d.median_gap_us,
                         d.paid_median_gap_us, d.spend_currencies, d.spend_starts, d.spend_moments,
                         d.spend_from::text, d.paid_spend_from::text
                  FROM lifecycle_plugin_ladderdigest d JOIN lifecycle_plugin_customerprofile p
                    ON p.id = d.profile_id""",
    "metadata": "SELECT user_id, metadata, private_metadata FROM lifecycle_sandbox_customermetadata",
    "stage_counts": "SELECT hour, stage, sum(delta) FROM lifecycle_plugin_stagecountchange GROUP BY 1, 2",
    "stage_entries": """SELECT p.email, e.path, e.entered_at, e.previous_entry_at, e.converted_at
                        FROM lifecycle_plugin_stageentry e JOIN lifecycle_plugin_customerprofile p
                          ON p.id = e.profile_id""",
}


def engine():
    pm = make_plugin_manager(builtins=[], load_entry_points=False)
    return LifecycleEngine(SandboxHost(), plugin_manager=pm, clock=lambda: NOW)


def written() -> dict[str, list]:
    return table_rows(WRITTEN)


def emptied() -> None:
    with connection.cursor() as cursor:
        cursor.execute("""TRUNCATE lifecycle_plugin_customerprofile, lifecycle_plugin_stagecountchange,
                                   lifecycle_plugin_stageentry, lifecycle_sandbox_customermetadata CASCADE""")


def scratch_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE 'lc\\_ladder\\_scratch\\_%%'")
        return [name for (name,) in cursor.fetchall()]


@pytest.fixture
def shard_runs(monkeypatch):
    """The sharded runs the backfill made: (shards, names of the later outputs) each."""
    runs = []
    create = sql_ladder_shards.ShardedLadder.create

    def spied(self, cursor, compiled, params):
        runs.append((self.shards, [name for name, _ in self.later]))
        return create(self, cursor, compiled, params)

    monkeypatch.setattr(sql_ladder_shards.ShardedLadder, "create", spied)
    return runs


@pytest.fixture
def a_store(db):
    generate_store(customers=400, years=2, seed=5, now=NOW)
    a_mixed_store(SandboxStoreAdapter())


@pytest.mark.parametrize("connections", [2, 3])
def test_sharded_backfill_writes_what_one_connection_writes(a_store, shard_runs, connections):
    one = backfill(engine(), connections=1)
    assert shard_runs == []
    expected = written()
    emptied()

    sharded = backfill(engine(), connections=connections)

    assert shard_runs == [(connections, ["digests"])]
    assert sharded.path == "sql" and sharded.created == one.created > 400
    assert sharded.stage_counts == one.stage_counts and sharded.tier_counts == one.tier_counts
    got = written()
    assert {name: len(rows) for name, rows in got.items()} == {name: len(rows) for name, rows in expected.items()}
    assert got == expected
    assert scratch_tables() == []


def test_a_shard_that_fails_leaves_nothing_written_and_no_table(a_store, monkeypatch):
    decide = sql_ladder_shards._decide_shard

    def second_shard_fails(cursor, run, shard, *args):
        if shard == 1:
            cursor.execute("SELECT 1 / 0")
        return decide(cursor, run, shard, *args)

    monkeypatch.setattr(sql_ladder_shards, "_decide_shard", second_shard_fails)
    with pytest.raises(Exception, match="division by zero"):
        backfill(engine(), connections=2)

    assert written()["profiles"] == [] and scratch_tables() == []


def test_tables_of_a_run_whose_process_died_are_dropped_by_the_next_run(a_store):
    with connection.cursor() as cursor:  # a pid no backend has (above the kernel's pid_max)
        cursor.execute("CREATE UNLOGGED TABLE lc_ladder_scratch_99999999_customers (cid integer)")
        cursor.execute("CREATE UNLOGGED TABLE lc_ladder_scratch_99999999_counted_0 (cid integer)")
        cursor.execute("SELECT pg_backend_pid()")
        alive = f"lc_ladder_scratch_{cursor.fetchone()[0]}_customers_kept"
        cursor.execute(f"CREATE UNLOGGED TABLE {alive} (cid integer)")  # a live backend's: kept

    backfill(engine(), connections=2)

    assert scratch_tables() == [alive]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {alive}")


def test_inside_a_transaction_the_backfill_keeps_to_one_connection(a_store, shard_runs):
    from django.db import transaction

    with transaction.atomic():
        SandboxStoreAdapter().order("uncommitted@example.com", placed_at=NOW)  # no other connection sees it
        report = backfill(engine(), connections=2)
        assert report.created > 400 and scratch_tables() == [] and shard_runs == []
        assert CustomerProfile.objects.get(email="uncommitted@example.com").stage == "new"


def test_a_failure_on_the_connection_making_the_digests_undoes_the_backfill(a_store, monkeypatch):
    make_later = sql_ladder_shards._make_later

    def digests_fail(cursor, run, name, select, binds):
        return make_later(cursor, run, name, f"SELECT 1 / 0 AS boom, x.* FROM ({select}) AS x", binds)

    monkeypatch.setattr(sql_ladder_shards, "_make_later", digests_fail)
    with pytest.raises(Exception, match="division by zero"):
        backfill(engine(), connections=2)

    assert written()["profiles"] == [] and scratch_tables() == []


def test_a_dry_run_makes_no_digest(a_store, shard_runs):
    report = backfill(engine(), connections=2, dry_run=True)

    assert shard_runs == [(2, [])]
    assert report.customers > 400 and written()["profiles"] == [] and scratch_tables() == []


def test_a_shard_connection_drops_its_views_before_it_closes(monkeypatch):
    """PostgreSQL drops a closed session's temporary views in the background, so a view left
    to that can still block `ShardedLadder.close` dropping the run's tables. Kept open here
    (close patched out), the helper's session shows whether it dropped its own."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE lc_test_run_table (x integer)")
    wrapper_class = type(connections[connection.alias])
    monkeypatch.setattr(wrapper_class, "close", lambda self: None)

    def make_a_view(cursor):
        cursor.execute("CREATE TEMP VIEW lc_ladder_test AS SELECT * FROM lc_test_run_table")

    with ThreadPoolExecutor(max_workers=1) as helper_thread:
        try:
            helper_thread.submit(sql_ladder_shards._on_own_connection, make_a_view).result()
            monkeypatch.undo()
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE lc_test_run_table")  # refused while the helper's view exists
        finally:
            monkeypatch.undo()
            helper_thread.submit(lambda: connections[connection.alias].close()).result()
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS lc_test_run_table CASCADE")
