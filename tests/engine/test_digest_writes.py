"""The event path writes a profile's ladder digest only when it differs from the stored one.

An event that changes nothing the digest holds (a checkout update without new lines, an
order event delivered twice) leaves the row as it was: same row version (`ctid`, `xmin`), same
`written_at`. An event that counts a new order rewrites it, and what it writes is the
order history read back with plain SQL from the store's own rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.digest_writes import DIGEST_TABLE, write_digests
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import CustomerProfile
from lifecycle_plugin.rules.digest import DIGEST_VERSION, digest_of
from lifecycle_plugin.sandbox.host import SandboxHost
from tests.contract.test_sandbox_host import SandboxStoreAdapter

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def engine(clock):
    clock.now = NOW
    pm = make_plugin_manager(builtins=[], load_entry_points=False)
    return LifecycleEngine(SandboxHost(), plugin_manager=pm, clock=lambda: clock.now)


def stored(email: str) -> tuple:
    """The digest row's version (where it is and which transaction wrote it: an update
    makes a new one), `written_at`, moments and digest version, read in SQL."""
    with connection.cursor() as cursor:
        cursor.execute(f"""SELECT d.ctid::text || '/' || d.xmin::text, d.written_at, d.moments, d.version FROM {DIGEST_TABLE} d
                           JOIN lifecycle_plugin_customerprofile p ON p.id = d.profile_id WHERE p.email = %s""",
                       [email])
        return cursor.fetchone()


def order_moments(email: str) -> list[int]:
    """The moments of the customer's orders (microseconds since the epoch; every order of
    these tests is placed and counts), from the store's rows."""
    with connection.cursor() as cursor:
        cursor.execute("""SELECT (extract(epoch FROM created_at) * 1000000)::bigint FROM lifecycle_sandbox_order
                          WHERE lower(user_email) = %s ORDER BY created_at""", [email])
        return [us for (us,) in cursor.fetchall()]


def test_an_event_that_changes_nothing_leaves_the_digest_row_and_a_new_order_rewrites_it(engine, clock):
    store = SandboxStoreAdapter()
    ann, bob = "ann@example.com", "bob@example.com"
    ann_id, bob_id = store.account(ann), store.account(bob)
    for email, user_id in ((ann, ann_id), (bob, bob_id)):
        store.order(email, user_id=user_id, placed_at=NOW - timedelta(days=40), total="30.00")
        store.order(email, user_id=user_id, placed_at=NOW - timedelta(days=10), total="45.50", currency="PLN")
    refs = [CustomerRef(ann, ann_id), CustomerRef(bob, bob_id)]
    engine.process_many([(ref, "order_created") for ref in refs])
    first = {email: stored(email) for email in (ann, bob)}
    assert first[ann][2] == order_moments(ann) and len(first[ann][2]) == 2

    # The same events again, and a checkout update: one batch, nothing the digests hold moved.
    clock.now = NOW + timedelta(hours=1)
    engine.process_many([(refs[0], "order_updated"), (refs[1], "checkout_updated")])
    assert {email: stored(email) for email in (ann, bob)} == first
    assert CustomerProfile.objects.get(email=ann).version == 2  # the profile itself was written

    # Bob buys again: in one batch with Ann's repeated event, only Bob's row is rewritten.
    clock.now = NOW + timedelta(hours=2)
    store.order(bob, user_id=bob_id, placed_at=clock.now - timedelta(minutes=1), total="12.00")
    engine.process_many([(refs[0], "order_updated"), (refs[1], "order_created")])
    assert stored(ann) == first[ann]
    xmin, written_at, moments, version = stored(bob)
    assert xmin != first[bob][0] and written_at > first[bob][1] and version == DIGEST_VERSION
    assert moments == order_moments(bob) and len(moments) == 3

    # A cart with lines changes the digest's pre-purchase facts: rewritten too.
    store.checkout(ann, user_id=ann_id, lines=2)
    engine.process(refs[0], event="checkout_updated")
    assert stored(ann)[0] != first[ann][0]


def test_a_digest_of_another_version_is_rewritten_even_when_its_arrays_are_the_same(engine):
    store = SandboxStoreAdapter()
    ann = "ann@example.com"
    ann_id = store.account(ann)
    store.order(ann, user_id=ann_id, placed_at=NOW - timedelta(days=3))
    engine.process(CustomerRef(ann, ann_id), event="order_created")
    profile = CustomerProfile.objects.get(email=ann)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {DIGEST_TABLE} SET version = %s WHERE profile_id = %s", [DIGEST_VERSION + 1, profile.pk])
    before = stored(ann)

    facts = SandboxHost().read_facts([CustomerRef(ann, ann_id)])[CustomerRef(ann, ann_id)]
    write_digests([(profile.pk, digest_of(facts))], NOW)
    after = stored(ann)
    assert after[3] == DIGEST_VERSION and after[0] != before[0] and after[2] == before[2]


def test_the_batch_binding_reads_back_as_written_for_every_shape_of_digest():
    """Empty digests, several currencies (whatever characters a host's codes hold), ties,
    unpaid orders, and None medians: each row reads back field by field."""
    from dataclasses import asdict
    from decimal import Decimal

    from lifecycle_plugin.rules import CustomerFacts, OrderFact
    from lifecycle_plugin.rules.digest import LadderDigest

    day = datetime(2026, 1, 1, tzinfo=timezone.utc)
    facts = [CustomerFacts(email="a@example.com"),
             CustomerFacts(email="b@example.com", has_account=True, open_cart_lines=3, orders=(
                 OrderFact("1", day, "USD", Decimal("10.5")), OrderFact("2", day, "USD", Decimal("4"), paid=False),
                 OrderFact("3", day + timedelta(days=9), "PLN", Decimal("99.125")),
                 OrderFact("4", day + timedelta(days=30), "USD", Decimal("7"), refunded=Decimal("2"))))]
    odd = LadderDigest(True, 0, (5,), (), None, None, ('A"B', "C\\D", "E,F", "{G} H"), (1, 3, 5, 7, 9),
                       (5, 2**63 - 1, 5, 2**63 - 1, 5, 2**63 - 1, 5, 2**63 - 1),
                       (Decimal("1.5"), 0, Decimal("2"), 0, Decimal("3.125"), 0, Decimal("4"), 0),
                       (Decimal("1.5"), 0, Decimal("0"), 0, Decimal("0"), 0, Decimal("4"), 0))
    digests = [(1, digest_of(facts[0])), (2, digest_of(facts[1])), (3, odd)]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE lc_test_digest_binding (LIKE {DIGEST_TABLE} INCLUDING ALL)")
        write_digests(digests, NOW, table="lc_test_digest_binding")
        cursor.execute("SELECT * FROM lc_test_digest_binding ORDER BY profile_id")
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    assert [row["profile_id"] for row in rows] == [1, 2, 3]
    for row, (_, digest) in zip(rows, digests):
        expected = asdict(digest)
        assert {name: tuple(row[name]) if isinstance(row[name], list) else row[name] for name in expected} == expected
        assert row["version"] == DIGEST_VERSION and row["written_at"] == NOW
    assert rows[1]["spend_currencies"] == ["PLN", "USD"] and rows[1]["moments"][0] == rows[1]["moments"][1]
