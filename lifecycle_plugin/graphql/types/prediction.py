"""Predicted value: one customer's (on `CustomerLifecycle.prediction`) and per stage for staff."""

from __future__ import annotations

from typing import Any

import graphene

from ...models import CustomerProfile
from .values import LifecycleMoney, LifecycleStage, money_list


class LifecyclePrediction(graphene.ObjectType):
    """What the daily prediction run (BG/NBD purchases, Gamma-Gamma spend) expects of a
    customer; the figures are null and `reason` says why when there is no prediction."""

    expected_orders_365 = graphene.Float(description="Expected orders (order days) in the next 365 days.")
    probability_active = graphene.Float(description="Probability the customer is still an active buyer, 0 to 1.")
    predicted_spend = graphene.List(
        graphene.NonNull(LifecycleMoney),
        description="Predicted spend in the next 365 days, per currency the customer has bought in "
        "(a currency without a spend model is left out); null without a prediction.",
    )
    predicted_at = graphene.DateTime(required=True, description="When the run that wrote this ran.")
    reason = graphene.String(description="Why there are no figures; null when there are.")

    # The root is a CustomerProfile with `predicted_at` set.
    @staticmethod
    def resolve_expected_orders_365(profile: CustomerProfile, info: Any) -> float | None:
        return profile.predicted_orders_365

    @staticmethod
    def resolve_probability_active(profile: CustomerProfile, info: Any) -> float | None:
        return profile.probability_active

    @staticmethod
    def resolve_predicted_spend(profile: CustomerProfile, info: Any) -> list[LifecycleMoney] | None:
        return None if profile.predicted_spend is None else money_list(profile.predicted_spend)

    @staticmethod
    def resolve_predicted_at(profile: CustomerProfile, info: Any):
        return profile.predicted_at

    @staticmethod
    def resolve_reason(profile: CustomerProfile, info: Any) -> str | None:
        return profile.prediction_reason


class LifecyclePredictedSpend(graphene.ObjectType):
    currency = graphene.String(required=True)
    sum = graphene.Float(required=True, description="Predicted 365-day spend of the stage's customers.")
    mean = graphene.Float(
        required=True, description="`sum` divided by the stage's customers with a prediction (`predicted`)."
    )


class LifecycleStagePrediction(graphene.ObjectType):
    """The predictions of one stage's customers, now."""

    stage = graphene.Field(LifecycleStage, required=True)
    customers = graphene.Int(required=True, description="Customers in the stage.")
    predicted = graphene.Int(required=True, description="Of them, customers with a prediction.")
    expected_orders_sum = graphene.Float(required=True, description="Expected orders in the next 365 days, summed.")
    expected_orders_mean = graphene.Float(description="Per customer with a prediction; null when none has one.")
    probability_active_mean = graphene.Float(description="Per customer with a prediction; null when none has one.")
    predicted_spend = graphene.List(
        graphene.NonNull(LifecyclePredictedSpend), required=True,
        description="Per currency, never added across currencies.",
    )
