"""The daily prediction run on the sandbox store: figures on the profiles checked against
the pure models called on arrays built by plain SQL over the store's orders."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from django.core.management import call_command
from django.db import connection

from lifecycle_plugin import hookimpl
from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.engine.predictions import NO_ORDERS, run_predictions
from lifecycle_plugin.graphql.execution import execute_graphql
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import CustomerProfile, PredictionFit
from lifecycle_plugin.sandbox.generator import generate_store
from lifecycle_plugin.sandbox.models import CustomerMetadata

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from lifecycle_plugin.predict.store import predict_store  # noqa: E402

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
#: The guard's threshold in these tests (the generated store of 600 customers has more
#: repeat buyers than the default 200, but the tests should not depend on how many).
THRESHOLD = 50

#: Every counted order of every profile, straight from the sandbox tables: placed (not
#: draft, unconfirmed, cancelled or expired) and not fully refunded, matched to the
#: profile by account or by e-mail, amount net of refunds, day of its UTC date.
ORDERS_SQL = """
    SELECT p.id, (o.created_at AT TIME ZONE 'UTC')::date - DATE '0001-01-01' + 1,
           (o.total_amount - o.refunded_amount)::float8, o.currency
    FROM lifecycle_sandbox_order o
    LEFT JOIN auth_user u ON u.id = o.user_id
    JOIN lifecycle_plugin_customerprofile p ON p.email = lower(trim(coalesce(u.email, o.user_email)))
    WHERE o.status NOT IN ('draft', 'unconfirmed', 'canceled', 'expired')
      AND NOT (o.total_amount > 0 AND o.refunded_amount >= o.total_amount)
      AND o.created_at <= %s
"""


@pytest.fixture
def generated(store, engine):
    generate_store(customers=600, years=2, seed=5, now=NOW)
    backfill(engine)
    return engine


def independent_prediction(threshold: int = THRESHOLD):
    with connection.cursor() as cursor:
        cursor.execute(ORDERS_SQL, [NOW])
        rows = cursor.fetchall()
    customer, day, amount, currency = (np.array(column) for column in zip(*rows))
    return predict_store(customer, day, amount, currency, as_of_day=NOW.date().toordinal(),
                         min_repeat_buyers=threshold)


def test_stored_figures_are_the_models_on_the_stores_counted_orders(generated):
    report = run_predictions(generated, repeat_buyers_needed=THRESHOLD)
    expected = independent_prediction()

    assert report.reason is None and expected.reason is None
    assert report.predicted == len(expected.customer) > 400
    stored = {row[0]: row[1:] for row in CustomerProfile.objects.filter(predicted_orders_365__isnull=False)
              .values_list("id", "predicted_orders_365", "probability_active", "predicted_spend", "predicted_at")}
    assert sorted(stored) == expected.customer.tolist()
    for position, profile_id in enumerate(expected.customer.tolist()):
        orders, active, spend, at = stored[profile_id]
        assert orders == pytest.approx(expected.expected_orders[position], rel=1e-9)
        assert active == pytest.approx(expected.probability_alive[position], rel=1e-9)
        assert at == NOW
        for code, per_currency in expected.spend.items():
            amount = per_currency.spend[position]
            if amount > 0:
                assert float(spend[code]) == pytest.approx(amount, abs=0.005)
            else:
                assert code not in spend

    purchases = PredictionFit.objects.get(model="bgnbd")
    model = expected.purchase_model
    assert purchases.parameters == pytest.approx({"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b})
    assert purchases.log_likelihood == pytest.approx(model.log_likelihood)
    assert (purchases.customers, purchases.repeat_buyers) == (model.customers, model.repeat_buyers)
    for fit in PredictionFit.objects.filter(model="gamma_gamma"):
        assert expected.spend[fit.currency].reason == (fit.reason or None)


def test_customers_without_counted_orders_get_the_reason(generated):
    run_predictions(generated, repeat_buyers_needed=THRESHOLD)
    without = CustomerProfile.objects.filter(orders_count=0)
    assert without.exists()
    assert set(without.values_list("predicted_orders_365", "prediction_reason")) == {(None, NO_ORDERS)}


def test_too_few_repeat_buyers_stores_nulls_and_the_reason(generated):
    run_predictions(generated, repeat_buyers_needed=THRESHOLD)  # figures first, then a refused fit
    later = NOW.replace(day=2)
    generated.clock = lambda: later

    repeat_buyers = independent_prediction(threshold=1).purchase_model.repeat_buyers

    report = run_predictions(generated, repeat_buyers_needed=repeat_buyers + 1)

    assert report.predicted == 0 and "bought more than once" in report.reason
    reasons = set(CustomerProfile.objects.filter(orders_count__gt=0).values_list(
        "predicted_orders_365", "probability_active", "predicted_spend", "prediction_reason", "predicted_at"))
    assert reasons == {(None, None, None, report.reason, later)}
    profile = CustomerProfile.objects.filter(orders_count__gt=0, user__isnull=False).first()
    projected = json.loads(CustomerMetadata.objects.get(user_id=profile.user_id).private_metadata["lifecycle.profile"])
    assert projected["prediction"] == {"expected_orders_365": None, "probability_active": None, "spend": None,
                                       "predicted_at": later.isoformat(), "reason": report.reason}
    refused = PredictionFit.objects.filter(fitted_at=later).get()
    assert refused.parameters == {} and refused.log_likelihood is None and refused.reason == report.reason
    assert refused.repeat_buyers == repeat_buyers


def test_the_projection_carries_the_prediction(generated):
    run_predictions(generated, repeat_buyers_needed=THRESHOLD)
    profile = CustomerProfile.objects.filter(predicted_orders_365__isnull=False, user__isnull=False).first()
    private = CustomerMetadata.objects.get(user_id=profile.user_id).private_metadata
    projected = json.loads(private["lifecycle.profile"])["prediction"]
    assert projected["expected_orders_365"] == profile.predicted_orders_365
    assert projected["probability_active"] == profile.probability_active
    assert projected["spend"] == profile.predicted_spend and projected["reason"] is None


def test_the_command_prints_the_parameters_or_the_reason(store, engine):
    from io import StringIO

    # The command runs on the wall clock: a store whose orders end today.
    generate_store(customers=600, years=2, seed=5)
    backfill(engine)

    out = StringIO()
    call_command("lifecycle_predict", "--min-repeat-buyers", str(THRESHOLD), stdout=out)
    assert "purchases (BG/NBD): r = " in out.getvalue() and "log-likelihood" in out.getvalue()
    out = StringIO()
    call_command("lifecycle_predict", "--min-repeat-buyers", "100000", stdout=out)
    assert "not fitted: " in out.getvalue() and "Predicted 0 customers. No predictions:" in out.getvalue()


# --------------------------------------------------------------------------- GraphQL

APP = Viewer.app(can_manage_users=True)

CUSTOMER_QUERY = """
query ($email: String) {
  customerLifecycle(email: $email) {
    prediction { expectedOrders365 probabilityActive predictedSpend { currency amount } predictedAt reason }
  }
}
"""

BY_STAGE_QUERY = """
{ lifecyclePredictionsByStage {
    stage { key } customers predicted expectedOrdersSum expectedOrdersMean probabilityActiveMean
    predictedSpend { currency sum mean }
} }
"""


def run_query(engine, query, viewer=APP, **variables):
    return execute_graphql({"query": query, "variables": variables}, viewer, engine_factory=lambda: engine)


def test_customer_lifecycle_shows_the_prediction_to_staff_only(generated):
    run_predictions(generated, repeat_buyers_needed=THRESHOLD)
    profile = CustomerProfile.objects.filter(predicted_orders_365__isnull=False, user__isnull=False).first()

    shown = run_query(generated, CUSTOMER_QUERY, email=profile.email)["data"]["customerLifecycle"]["prediction"]
    assert shown["expectedOrders365"] == profile.predicted_orders_365
    assert shown["probabilityActive"] == profile.probability_active
    assert {m["currency"]: m["amount"] for m in shown["predictedSpend"]} == {
        code: float(amount) for code, amount in profile.predicted_spend.items()}
    assert shown["reason"] is None and shown["predictedAt"].startswith("2026-06-01T12:00:00")

    nothing = CustomerProfile.objects.filter(orders_count=0).first()
    shown = run_query(generated, CUSTOMER_QUERY, email=nothing.email)["data"]["customerLifecycle"]["prediction"]
    assert shown == {"expectedOrders365": None, "probabilityActive": None, "predictedSpend": None,
                     "predictedAt": shown["predictedAt"], "reason": NO_ORDERS}

    own = run_query(generated, "{ myLifecycle { prediction { reason } } }",
                    Viewer.customer(profile.user_id, profile.email))
    assert own["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


def test_predictions_by_stage_are_the_profiles_summed_per_stage(generated):
    run_predictions(generated, repeat_buyers_needed=THRESHOLD)
    rows = run_query(generated, BY_STAGE_QUERY)["data"]["lifecyclePredictionsByStage"]
    by_stage = {row["stage"]["key"]: row for row in rows}
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT stage FROM lifecycle_plugin_customerprofile")
        stages = [stage for (stage,) in cursor.fetchall()]
        for stage in stages:
            cursor.execute("""
                SELECT count(*), count(*) FILTER (WHERE predicted_orders_365 IS NOT NULL),
                       sum(coalesce(predicted_orders_365, 0)),
                       sum(probability_active) / nullif(count(probability_active), 0),
                       sum(coalesce((predicted_spend ->> 'USD')::numeric, 0)),
                       sum(coalesce((predicted_spend ->> 'PLN')::numeric, 0))
                FROM lifecycle_plugin_customerprofile WHERE stage = %s""", [stage])
            customers, predicted, orders, active, usd, pln = cursor.fetchone()
            row = by_stage[stage]
            assert (row["customers"], row["predicted"]) == (customers, predicted)
            assert row["expectedOrdersSum"] == pytest.approx(orders)
            if predicted:
                assert row["expectedOrdersMean"] == pytest.approx(orders / predicted)
                assert row["probabilityActiveMean"] == pytest.approx(float(active))
            spend = {money["currency"]: money for money in row["predictedSpend"]}
            for code, total in (("USD", usd), ("PLN", pln)):
                if total:
                    assert spend[code]["sum"] == pytest.approx(float(total))
                    assert spend[code]["mean"] == pytest.approx(float(total) / predicted)
                else:
                    assert code not in spend
    assert sum(row["predicted"] for row in rows) == CustomerProfile.objects.exclude(predicted_orders_365=None).count()
    assert {money["currency"] for row in rows for money in row["predictedSpend"]} == {"USD", "PLN"}


def test_classify_hooks_see_the_prediction_in_the_facts(generated):
    run_predictions(generated, repeat_buyers_needed=THRESHOLD)
    profile = CustomerProfile.objects.filter(predicted_orders_365__isnull=False).first()
    seen = {}

    class Classifier:
        @hookimpl
        def lifecycle_classify(self, facts, decision):
            seen[facts.email] = facts.prediction

    engine = LifecycleEngine(generated.host, clock=generated.clock,
                             plugin_manager=make_plugin_manager(load_entry_points=False, extra=[Classifier()]))
    engine.process(CustomerRef(profile.email, profile.user_id), event="test")

    assert seen[profile.email] == {
        "expected_orders_365": profile.predicted_orders_365, "probability_active": profile.probability_active,
        "spend": profile.predicted_spend, "predicted_at": NOW.isoformat(), "reason": None,
    }


def test_without_scipy_every_profile_says_why(generated, monkeypatch):
    import lifecycle_plugin.engine.predictions as predictions

    run_predictions(generated, repeat_buyers_needed=THRESHOLD)
    missing = "scipy is not installed (install the predict extra: pip install 'saleor-lifecycle[predict]')"
    monkeypatch.setattr(predictions, "missing_reason", lambda: missing)
    monkeypatch.setattr(predictions, "read_counted_orders", None)  # nothing is read
    later = NOW.replace(day=2)
    generated.clock = lambda: later

    report = run_predictions(generated, repeat_buyers_needed=THRESHOLD)

    assert (report.reason, report.predicted) == (missing, 0)
    assert set(CustomerProfile.objects.values_list("predicted_orders_365", "prediction_reason", "predicted_at")) == {
        (None, missing, later)}
    assert PredictionFit.objects.get(fitted_at=later).reason == missing


def test_a_backfill_keeps_the_prediction_in_the_projection(generated, store):
    run_predictions(generated, repeat_buyers_needed=THRESHOLD)
    profile = CustomerProfile.objects.filter(predicted_orders_365__isnull=False, user__isnull=False,
                                             stage__in=["at_risk", "lapsed"]).first()
    # A new order the plugin did not hear of: the backfill moves them and rewrites the projection.
    store.place_order(profile.user_id, "45.00", at=NOW, notify=False)
    backfill(generated)

    profile.refresh_from_db()
    assert profile.stage not in ("at_risk", "lapsed") and profile.stage_since == NOW
    projected = json.loads(CustomerMetadata.objects.get(user_id=profile.user_id).private_metadata["lifecycle.profile"])
    assert projected["stage"] == profile.stage and projected["stage_since"] == NOW.isoformat()
    assert projected["prediction"] == {
        "expected_orders_365": profile.predicted_orders_365, "probability_active": profile.probability_active,
        "spend": profile.predicted_spend, "predicted_at": NOW.isoformat(), "reason": None}
    assert set(projected) == {"stage", "stage_since", "tier", "orders", "lifetime_spend", "window_spend",
                              "first_order_at", "last_order_at", "next_check_at", "prediction", "advocate"}


def test_a_first_backfill_writes_the_same_summary_shape(generated):
    # `generated` was backfilled on a fresh store: every profile new, written in SQL.
    for profile in CustomerProfile.objects.filter(user__isnull=False)[:50]:
        projected = json.loads(CustomerMetadata.objects.get(user_id=profile.user_id).private_metadata["lifecycle.profile"])
        assert set(projected) == {"stage", "stage_since", "tier", "orders", "lifetime_spend", "window_spend",
                                  "first_order_at", "last_order_at", "next_check_at", "prediction", "advocate"}
        assert projected["stage_since"] == profile.stage_since.isoformat() and projected["prediction"] is None
