"""Where one KPI or retention query reads its figures: the ladder digests (`kpi_digests`) when
they hold every figure of the scope exactly, else the host's counted orders (`kpi_orders`).
Both give the same per-customer relations, so `kpis` and `retention` state each figure once."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction

from ..rules.config import LifecycleConfig
from ..rules.digest import epoch_us
from . import kpi_digests
from .kpi_orders import COHORTS_SQL, FIGURES_SQL, Scope, check_scope_exists, kpi_tables


#: A KPI query reads every customer once: let it use the server's parallel workers (the
#: sandbox host turns them off for its session's short reads), sort and hash a million
#: customers' groups and latest moves in memory, not in files (the server's default
#: work_mem is 4 MB), and skip JIT compilation, which costs more than it saves here.
_SETTINGS = "SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather TO DEFAULT; SET LOCAL work_mem = '64MB'"


@dataclass(frozen=True)
class KpiSource:
    cursor: object
    reads: str  # "digests" or "orders"
    #: lc_since, lc_until (timestamps), lc_since_us, lc_until_us (µs since the epoch), lc_currency
    params: dict
    figures_sql: str  # the ``figures`` relation (`kpi_digests` describes it)
    cohorts_sql: str  # the ``cohorts`` relation


@contextmanager
def kpi_source(host, config: LifecycleConfig, scope: Scope, from_digests: bool = True):
    """Yield the `KpiSource` of `scope`, inside a transaction: the digests when
    `kpi_digests.why_not_from_digests` has nothing against them, every profile has one, and
    `from_digests`; else the host's orders. `ScopeError` for a channel or currency no order
    has, whichever is read."""
    params = {"lc_since": scope.since, "lc_until": scope.until, "lc_since_us": epoch_us(scope.since),
              "lc_until_us": epoch_us(scope.until), "lc_currency": scope.currency}
    if from_digests and kpi_digests.why_not_from_digests(config, scope) is None:
        with transaction.atomic(), connection.cursor() as cursor:
            if kpi_digests.digests_complete(cursor):
                check_scope_exists(cursor, host.ladder_sources(), scope)
                cursor.execute(_SETTINGS)
                yield KpiSource(cursor, "digests", params, kpi_digests.figures_sql(scope), kpi_digests.COHORTS_SQL)
                return
    with kpi_tables(host, config, scope) as cursor:
        cursor.execute(_SETTINGS)
        yield KpiSource(cursor, "orders", params, FIGURES_SQL, COHORTS_SQL)
