"""The daily prediction run over customers and orders in Saleor's own tables, shown in
`customerLifecycle` through Saleor's route and in the `lifecycle.profile` projection.

The data guard's threshold is lowered with the setting LIFECYCLE_PREDICT_MIN_REPEAT_BUYERS
(docs/predictions.md): a test store of 150 customers has far fewer than 200 repeat buyers.
"""

from . import require_saleor

require_saleor()

import json  # noqa: E402
from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from django.utils import timezone  # noqa: E402

from lifecycle_plugin import tasks  # noqa: E402
from lifecycle_plugin.engine.backfill import backfill  # noqa: E402
from lifecycle_plugin.models import CustomerProfile, PredictionFit  # noqa: E402
from lifecycle_plugin.runtime import get_engine  # noqa: E402

from .test_graphql_route import post  # noqa: E402

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from lifecycle_plugin.predict.simulate import Population, simulate_orders  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lifecycle_plugin")]

PREDICTION = """
query ($email: String) {
  customerLifecycle(email: $email) {
    prediction { expectedOrders365 probabilityActive predictedSpend { currency amount } predictedAt reason }
  }
}"""


def test_a_prediction_run_over_saleors_orders_shows_in_customer_lifecycle(
    saleor_store, settings, staff_api_client, permission_manage_users
):
    settings.LIFECYCLE_PREDICT_MIN_REPEAT_BUYERS = 20
    now = timezone.now().replace(microsecond=0)
    drawn = simulate_orders(Population(r=0.8, alpha=12.0, a=0.6, b=3.0, p_spend=4.0, q=3.0, gamma=60.0), 150,
                            days=730, acquisition_days=365, seed=4, currencies=(("USD", 0.7), ("PLN", 0.3)))
    users = {}
    for customer, day, amount, currency in zip(drawn.customer, drawn.day, drawn.amount, drawn.currency):
        email = f"buyer{customer}@example.com"
        if email not in users:
            users[email] = saleor_store.account(email, joined=now - timedelta(days=800))
        saleor_store.order(email, user_id=users[email], placed_at=now - timedelta(days=730 - float(day)),
                           total=f"{max(amount, 1):.2f}", currency=str(currency))
    backfill(get_engine())

    report = tasks.predict()

    assert report["reason"] is None and report["predicted"] == len(users)
    assert PredictionFit.objects.get(model="bgnbd").repeat_buyers >= 20
    staff_api_client.user.user_permissions.add(permission_manage_users)
    profile = CustomerProfile.objects.exclude(predicted_orders_365=None).order_by("-predicted_orders_365").first()
    shown = post(staff_api_client, PREDICTION, {"email": profile.email})["data"]["customerLifecycle"]["prediction"]
    assert shown["expectedOrders365"] == pytest.approx(profile.predicted_orders_365) and shown["expectedOrders365"] > 0
    assert 0 < shown["probabilityActive"] <= 1 and shown["reason"] is None
    assert {m["currency"]: m["amount"] for m in shown["predictedSpend"]} == {
        code: float(amount) for code, amount in profile.predicted_spend.items()}
    projected = json.loads(saleor_store.private_metadata(profile.user_id)["lifecycle.profile"])["prediction"]
    assert projected["expected_orders_365"] == profile.predicted_orders_365
