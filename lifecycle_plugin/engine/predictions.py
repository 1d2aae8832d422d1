"""The daily prediction run: fit the models on the store's counted orders, score every
customer, store the figures on the profiles.

    report = run_predictions(engine)

1. `read_counted_orders` reads every profile's counted orders into lean arrays from the
   ladder digests (`prediction_orders_digest`: the orders the profiles were decided
   from, without the host's orders SELECT, whose ownership rules dominated the run at a
   million customers); the readers over the host's SQL (`prediction_orders_sql`) and
   facts (`prediction_orders`) give the same arrays and remain for what a digest cannot
   settle;
2. `predict.store.predict_store` fits the purchase model (BG/NBD) over all of them and
   the spend model (Gamma-Gamma) per currency, behind the data guard;
3. the figures go into a temporary table with one binary COPY, then onto the profiles
   with one ``UPDATE … FROM`` it per `WRITE_CHUNK` profiles, which returns the accounts
   among them for their `lifecycle.profile` projection in the same transaction;
   and every fit (or refusal, with its reason) is kept as a `PredictionFit` row.

A profile without a prediction has null figures and `prediction_reason` says why: the
store-wide reason (scipy missing, too few repeat buyers, no convergence), or that the
customer has no counted order yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction

from ..host import CustomerRef, Projection
from ..models import CustomerProfile, PredictionFit
from ..predict import MIN_REPEAT_BUYERS, missing_reason
from ..predict.store import predict_store
from ..rules.referral import advocate_of
from .bulk import bulk_cursor, use_c_loaders
from .plans import prediction_summary, profile_summary
from .prediction_orders import OrderArrays, order_day
from .prediction_orders_digest import read_counted_orders_from_digests

logger = logging.getLogger(__name__)

#: Why a customer with no counted order has no prediction.
NO_ORDERS = "No counted order yet: nothing to predict from."
#: Profiles written per UPDATE statement (and per projection write), each a transaction
#: holding its rows' locks. 20,000 measured no faster at 100,000 customers (the
#: projection's Python work per account is the same either way) and took 59 MB more.
WRITE_CHUNK = 5000


def min_repeat_buyers() -> int:
    """The data guard's threshold: `MIN_REPEAT_BUYERS` (200), or the Django setting
    ``LIFECYCLE_PREDICT_MIN_REPEAT_BUYERS`` (tests and demos lower it; below about 200
    the fitted parameters are mostly noise)."""
    return int(getattr(settings, "LIFECYCLE_PREDICT_MIN_REPEAT_BUYERS", MIN_REPEAT_BUYERS))


@dataclass
class PredictionReport:
    fitted_at: datetime
    customers: int = 0  # profiles with a counted order
    repeat_buyers: int = 0
    predicted: int = 0  # profiles given figures
    reason: str | None = None  # why nobody was given figures
    fits: list[PredictionFit] = field(default_factory=list)


def read_counted_orders(engine, chunk_size: int = 2000) -> OrderArrays:
    """Every profiled customer's counted orders placed up to now, from the ladder digests
    (profiles without one are given one first)."""
    return read_counted_orders_from_digests(engine, chunk_size)


def run_predictions(engine, *, chunk_size: int = 2000, repeat_buyers_needed: int | None = None,
                    project: bool = True) -> PredictionReport:
    """Fit, score and store; see the module's docstring. Returns what was fitted."""
    now = engine.clock()
    unavailable = missing_reason()
    if unavailable:
        # Without numpy and scipy nothing is read: every profile just says why.
        report = PredictionReport(fitted_at=now, reason=unavailable)
        report.fits = [PredictionFit(fitted_at=now, model=PredictionFit.MODEL_PURCHASES, reason=unavailable)]
        PredictionFit.objects.bulk_create(report.fits)
        _write_reasons(engine, now, unavailable, project)
        logger.warning("lifecycle: no predictions: %s", unavailable)
        return report
    needed = min_repeat_buyers() if repeat_buyers_needed is None else repeat_buyers_needed
    orders = read_counted_orders(engine, chunk_size)
    report = PredictionReport(fitted_at=now, customers=orders.customers, repeat_buyers=orders.repeat_buyers)
    prediction = predict_store(orders.profile, orders.day, orders.amount, orders.currency,
                               as_of_day=order_day(now), currency_names=orders.currencies,
                               min_repeat_buyers=needed)
    del orders
    report.reason = prediction.reason
    report.fits = _fit_rows(prediction, report)
    with transaction.atomic():
        PredictionFit.objects.bulk_create(report.fits)
    if prediction.purchase_model is not None:
        report.predicted = _write_figures(engine, prediction, now, project)
    _write_reasons(engine, now, prediction.reason or NO_ORDERS, project)
    logger.info("lifecycle: predicted %s of %s customers%s", report.predicted, report.customers,
                f" ({report.reason})" if report.reason else "")
    return report


def _fit_rows(prediction, report: PredictionReport) -> list[PredictionFit]:
    model = prediction.purchase_model
    rows = [PredictionFit(
        fitted_at=report.fitted_at, model=PredictionFit.MODEL_PURCHASES,
        parameters={"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b} if model else {},
        log_likelihood=model.log_likelihood if model else None,
        customers=model.customers if model else report.customers,
        repeat_buyers=model.repeat_buyers if model else report.repeat_buyers,
        reason=prediction.reason or "",
    )]
    for code, spend in sorted(prediction.spend.items()):
        fitted = spend.model
        rows.append(PredictionFit(
            fitted_at=report.fitted_at, model=PredictionFit.MODEL_SPEND, currency=code,
            parameters={"p": fitted.p, "q": fitted.q, "gamma": fitted.gamma} if fitted else {},
            log_likelihood=fitted.log_likelihood if fitted else None,
            repeat_buyers=fitted.repeat_buyers if fitted else 0,
            reason=spend.reason or "",
        ))
    return rows


#: The run's figures, one row per predicted profile, loaded with one binary COPY.
_FIGURES_TABLE = "lc_predict_figures"
#: COPY's binary header: signature, flags, header extension length.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_COPY_TRAILER = b"\xff\xff"
#: Figures packed per COPY block (bounded memory at a million profiles).
COPY_CHUNK = 100_000


def _figures_sql(currencies: list[str], project: bool) -> str:
    """One statement per id range: the figures from the temporary table onto the profiles
    and, for the projection, the updated accounts' columns back (the UPDATE holds their
    row locks until the projection is written in the same transaction). The range is
    stated on both tables, or the planner scans every profile for each range. Each currency's
    spend is rounded to cents here (numeric `round`, half away from zero), and a
    currency without a positive, finite spend is left out of the JSON."""
    spend = "'{}'::jsonb"
    if currencies:
        values = ", ".join(f"f.s{index}" for index in range(len(currencies)))
        spend = (f"COALESCE((SELECT jsonb_object_agg(c.code, round(c.amount::numeric, 2)::text) "
                 f"FROM unnest(%(codes)s::text[], ARRAY[{values}]) AS c(code, amount) "
                 f"WHERE c.amount > 0 AND c.amount < 'Infinity'::float8), '{{}}'::jsonb)")
    returning = ("RETURNING " + ", ".join(f"p.{name}" for name in _PROJECTED_COLUMNS)) if project else ""
    update = f"""
        UPDATE {CustomerProfile._meta.db_table} AS p SET
            predicted_orders_365 = f.expected, probability_active = f.active, predicted_spend = {spend},
            predicted_at = %(at)s, prediction_reason = NULL
        FROM {_FIGURES_TABLE} f
        WHERE p.id = f.id AND f.id BETWEEN %(first)s AND %(last)s AND p.id BETWEEN %(first)s AND %(last)s
        {returning}"""
    if not project:
        return update
    return f"WITH updated AS ({update}) SELECT * FROM updated WHERE user_id IS NOT NULL"


def _load_figures(cursor, prediction, currencies: list[str]) -> None:
    """The figures into a temporary table with one binary COPY, packed by numpy: each row
    is fixed-width (a field count, then a length and a big-endian value per column), so
    no Python object per profile is made."""
    import numpy as np

    spends = [prediction.spend[code].spend for code in currencies]
    columns = ", ".join(["id bigint", "expected float8", "active float8"]
                        + [f"s{index} float8" for index in range(len(currencies))])
    cursor.execute(f"DROP TABLE IF EXISTS {_FIGURES_TABLE}")
    cursor.execute(f"CREATE TEMP TABLE {_FIGURES_TABLE} ({columns})")
    values = [("id", ">i8"), ("expected", ">f8"), ("active", ">f8")] + [(f"s{i}", ">f8") for i in range(len(spends))]
    packed = np.dtype([("fields", ">i2")] + [field for name, kind in values
                                             for field in ((f"{name}_length", ">i4"), (name, kind))])
    total = len(prediction.customer)
    with cursor.copy(f"COPY {_FIGURES_TABLE} FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(_COPY_HEADER)
        for start in range(0, total, COPY_CHUNK):
            rows = slice(start, start + COPY_CHUNK)
            block = np.empty(len(prediction.customer[rows]), dtype=packed)
            block["fields"] = len(values)
            for name, _ in values:
                block[f"{name}_length"] = 8
            block["id"] = prediction.customer[rows]
            block["expected"] = prediction.expected_orders[rows]
            block["active"] = prediction.probability_alive[rows]
            for index, amounts in enumerate(spends):
                block[f"s{index}"] = amounts[rows]
            copy.write(block.tobytes())
            del block
        copy.write(_COPY_TRAILER)
    cursor.execute(f"CREATE INDEX ON {_FIGURES_TABLE} (id)")
    cursor.execute(f"ANALYZE {_FIGURES_TABLE}")


def _write_figures(engine, prediction, now: datetime, project: bool) -> int:
    """The figures loaded once (`_load_figures`), then one UPDATE per `WRITE_CHUNK`
    profiles, each in its own transaction with its accounts' projection."""
    from django.db import connection

    ids = prediction.customer
    currencies = [code for code, spend in sorted(prediction.spend.items()) if spend.spend is not None]
    statement = _figures_sql(currencies, project)
    with connection.cursor() as cursor:
        _load_figures(cursor, prediction, currencies)
    try:
        for start in range(0, len(ids), WRITE_CHUNK):
            first, last = int(ids[start]), int(ids[min(start + WRITE_CHUNK, len(ids)) - 1])
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                use_c_loaders(cursor)
                cursor.execute(statement, {"at": now, "codes": currencies, "first": first, "last": last})
                if project:
                    _project_rows(engine, cursor.fetchall())
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_FIGURES_TABLE}")
    return len(ids)


_REASONS_SQL = f"""
    WITH stale AS (
        SELECT id, predicted_orders_365 IS NOT NULL AS had_figures FROM {CustomerProfile._meta.db_table}
        WHERE (predicted_at IS NULL OR predicted_at < %(at)s)
          AND NOT (predicted_orders_365 IS NULL AND prediction_reason IS NOT DISTINCT FROM %(reason)s)
    )
    UPDATE {CustomerProfile._meta.db_table} AS p SET
        predicted_orders_365 = NULL, probability_active = NULL, predicted_spend = NULL,
        predicted_at = %(at)s, prediction_reason = %(reason)s
    FROM stale WHERE p.id = stale.id
    RETURNING p.id, stale.had_figures AND p.user_id IS NOT NULL
"""


def _write_reasons(engine, now: datetime, reason: str, project: bool) -> None:
    """Every profile this run gave no figures: null figures and the reason. A profile
    that already says so is left alone, so a store without scipy does not rewrite
    every row every day. An account that loses its figures has its projection
    rewritten, so `lifecycle.profile` does not keep yesterday's."""
    from django.db import connection

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_REASONS_SQL, {"at": now, "reason": reason})
            lost = [profile_id for profile_id, had_figures in cursor.fetchall() if had_figures]
        if project:
            for start in range(0, len(lost), WRITE_CHUNK):
                _project(engine, lost[start:start + WRITE_CHUNK])


_PROJECTED_COLUMNS = (
    "email", "user_id", "stage", "stage_since", "tier", "orders_count", "lifetime_spend", "window_spend",
    "first_order_at", "last_order_at", "next_check_at", "decided_at", "extra_facts",
    "predicted_orders_365", "probability_active", "predicted_spend", "predicted_at", "prediction_reason",
)
_PROJECTED_SQL = f"""
    SELECT {", ".join(_PROJECTED_COLUMNS)}
    FROM {CustomerProfile._meta.db_table}
    WHERE id = ANY(%b::bigint[]) AND user_id IS NOT NULL
    FOR UPDATE
"""


def _project(engine, profile_ids) -> None:
    """Rewrite the accounts' `lifecycle.profile`. The rows are locked first, so a decision
    committing meanwhile is either seen here or writes its projection after this one."""
    with bulk_cursor(len(profile_ids)) as cursor:
        use_c_loaders(cursor)
        cursor.execute(_PROJECTED_SQL, [list(profile_ids)])
        _project_rows(engine, cursor.fetchall())


def _project_rows(engine, rows) -> None:
    """The projections of `rows` (`_PROJECTED_COLUMNS`, accounts only)."""
    projections = [
        Projection(customer=CustomerRef(email, user_id), stage=stage, tier=tier, decided_at=decided_at,
                   profile=profile_summary(
                       stage=stage, stage_since=since, tier=tier, orders=orders, lifetime_spend=lifetime,
                       window_spend=window, first_order_at=first_at, last_order_at=last_at, next_check_at=next_at,
                       prediction=prediction_summary(expected, active, spend, predicted_at, reason),
                       advocate=advocate_of(extra)),
                   advocate=advocate_of(extra))
        for (email, user_id, stage, since, tier, orders, lifetime, window, first_at, last_at, next_at, decided_at,
             extra, expected, active, spend, predicted_at, reason) in rows
    ]
    if projections:
        engine.host.write_projection(projections)


def describe_fit(fit: PredictionFit) -> str:
    """One line for the owner: the model, its parameters and log-likelihood, or why not fitted."""
    name = "purchases (BG/NBD)" if fit.model == PredictionFit.MODEL_PURCHASES else f"spend in {fit.currency} (Gamma-Gamma)"
    if not fit.parameters:
        return f"{name}: not fitted: {fit.reason}"
    parameters = ", ".join(f"{key} = {value:.4g}" for key, value in fit.parameters.items())
    return f"{name}: {parameters}; log-likelihood {fit.log_likelihood:.2f}; {fit.repeat_buyers} repeat buyers"
