"""The SQL evaluator and the Python one (decide + reconstruct) agree on every customer:
stage, tier, rule, facts, next check, summary and the full dated timeline."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings

from tests.ladder.harness import assert_agree
from tests.rules.ladder_strategies import stores

pytestmark = pytest.mark.django_db

DIFFERENTIAL = settings(max_examples=100, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                               HealthCheck.data_too_large])


@DIFFERENTIAL
@given(stores())
def test_sql_and_python_agree(store):
    config, now, customers = store
    # A savepoint per example, rolled back: a failing statement must not abort the next
    # examples', and the temporary tables' locks go with it (kept, they fill the lock table).
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            assert_agree(cursor, customers, config, now)
        finally:
            transaction.set_rollback(True)
