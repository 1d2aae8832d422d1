"""The hooks' lazy savepoint: atomic semantics, paid only by implementations that query."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from lifecycle_plugin.hooks import call_isolated, lazy_atomic, make_plugin_manager
from lifecycle_plugin import hookimpl
from lifecycle_plugin.sandbox.models import Channel

pytestmark = pytest.mark.django_db


def test_code_that_sends_no_query_costs_no_savepoint():
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        with lazy_atomic():
            value = 1 + 1
    assert value == 2
    assert captured.captured_queries == []


def test_writes_are_kept_on_success_and_undone_on_an_exception():
    with transaction.atomic():
        with lazy_atomic():
            Channel.objects.create(slug="kept", name="Kept", currency_code="USD")
        with pytest.raises(RuntimeError):
            with lazy_atomic():
                Channel.objects.create(slug="undone", name="Undone", currency_code="USD")
                raise RuntimeError("a hook bug")
        # The transaction is still usable and holds exactly the kept write.
        assert set(Channel.objects.filter(slug__in=["kept", "undone"]).values_list("slug", flat=True)) == {"kept"}


def test_a_database_error_inside_is_rolled_back_to_the_savepoint():
    with transaction.atomic():
        Channel.objects.create(slug="first", name="First", currency_code="USD")
        with pytest.raises(Exception):
            with lazy_atomic():
                Channel.objects.create(slug="first", name="Duplicate", currency_code="USD")
        assert Channel.objects.filter(slug="first").count() == 1


def test_nested_guards_open_outer_first_and_undo_only_their_own_writes():
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        with lazy_atomic():
            with pytest.raises(RuntimeError):
                with lazy_atomic():
                    Channel.objects.create(slug="inner", name="Inner", currency_code="USD")
                    raise RuntimeError("inner")
            Channel.objects.create(slug="outer", name="Outer", currency_code="USD")
        slugs = set(Channel.objects.filter(slug__in=["inner", "outer"]).values_list("slug", flat=True))
    assert slugs == {"outer"}
    opened = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(opened) == 2
    released_or_rolled = [q["sql"] for q in captured.captured_queries
                          if q["sql"].startswith(("RELEASE", "ROLLBACK TO"))]
    # The inner savepoint (opened second) is rolled back before the outer one is released.
    assert released_or_rolled[0].startswith("ROLLBACK TO") and opened[1].split()[1] in released_or_rolled[0]
    assert released_or_rolled[-1].startswith("RELEASE") and opened[0].split()[1] in released_or_rolled[-1]


def test_hook_implementations_that_do_nothing_cost_no_round_trip():
    class Quiet:
        @staticmethod
        @hookimpl
        def lifecycle_daily_tick(context, today):
            return None

    pm = make_plugin_manager(builtins=[], load_entry_points=False, extra=[Quiet])
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        call_isolated(pm, "lifecycle_daily_tick", guard=lazy_atomic, context=None, today=None)
    assert captured.captured_queries == []
