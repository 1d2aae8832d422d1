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
3. the figures go onto the profiles with one ``UPDATE … FROM unnest(…)`` per chunk,
   each profile that has an account gets its `lifecycle.profile` projection rewritten,
   and every fit (or refusal, with its reason) is kept as a `PredictionFit` row.

A profile without a prediction has null figures and `prediction_reason` says why: the
store-wide reason (scipy missing, too few repeat buyers, no convergence), or that the
customer has no counted order yet.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.json import JsonbLoader

from ..host import CustomerRef, Projection

from ..models import CustomerProfile, PredictionFit
from ..predict import MIN_REPEAT_BUYERS, missing_reason
from ..predict.store import predict_store
from ..rules.referral import advocate_of
from .bulk import bulk_cursor
from .plans import prediction_summary, profile_summary
from .prediction_orders import OrderArrays, order_day
from .prediction_orders_digest import read_counted_orders_from_digests

logger = logging.getLogger(__name__)

#: Why a customer with no counted order has no prediction.
NO_ORDERS = "No counted order yet: nothing to predict from."
#: Profiles written per UPDATE statement (and per projection write).
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


_FIGURES_SQL = f"""
    UPDATE {CustomerProfile._meta.db_table} AS p SET
        predicted_orders_365 = v.expected, probability_active = v.active,
        predicted_spend = v.spend::jsonb, predicted_at = %(at)b, prediction_reason = NULL
    FROM unnest(%(id)b::bigint[], %(expected)b::float8[], %(active)b::float8[], %(spend)b::text[])
         AS v(id, expected, active, spend)
    WHERE p.id = v.id
"""


def _write_figures(engine, prediction, now: datetime, project: bool) -> int:
    """One UPDATE per `WRITE_CHUNK` profiles, each in its own transaction."""
    import json

    ids = prediction.customer
    spends = [(code, spend.spend) for code, spend in sorted(prediction.spend.items()) if spend.spend is not None]
    for start in range(0, len(ids), WRITE_CHUNK):
        rows = slice(start, start + WRITE_CHUNK)
        chunk_ids = ids[rows].tolist()
        spend_texts = []
        for offset in range(len(chunk_ids)):
            position = start + offset
            spend_texts.append(json.dumps({
                code: f"{amounts[position]:.2f}" for code, amounts in spends
                if amounts[position] > 0 and math.isfinite(amounts[position])
            }))
        with transaction.atomic():
            with bulk_cursor(len(chunk_ids)) as cursor:
                cursor.execute(_FIGURES_SQL, {
                    "at": now, "id": chunk_ids, "expected": prediction.expected_orders[rows].tolist(),
                    "active": prediction.probability_alive[rows].tolist(), "spend": spend_texts,
                })
            if project:
                _project(engine, chunk_ids)
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


_PROJECTED_SQL = f"""
    SELECT email, user_id, stage, stage_since, tier, orders_count, lifetime_spend, window_spend,
           first_order_at, last_order_at, next_check_at, decided_at, extra_facts,
           predicted_orders_365, probability_active, predicted_spend, predicted_at, prediction_reason
    FROM {CustomerProfile._meta.db_table}
    WHERE id = ANY(%b::bigint[]) AND user_id IS NOT NULL
    FOR UPDATE
"""


def _project(engine, profile_ids) -> None:
    """Rewrite the accounts' `lifecycle.profile`. The rows are locked first, so a decision
    committing meanwhile is either seen here or writes its projection after this one.
    Read in SQL with psycopg's C loaders, not as model instances: most of the run's
    writing time at 100,000 customers was building those."""
    with bulk_cursor(len(profile_ids)) as cursor:
        cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.adapters.register_loader("jsonb", JsonbLoader)
        cursor.execute(_PROJECTED_SQL, [list(profile_ids)])
        rows = cursor.fetchall()
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
