"""What staff read about the whole store: counts, the funnel, the customer list's filter, recompute."""

from __future__ import annotations

import graphene

from .customer import CustomerLifecycle
from .values import LifecycleStage, LifecycleStageCode, LifecycleTier, LifecycleTierCode


# ---------------------------------------------------------------------- statistics


class LifecycleStageCount(graphene.ObjectType):
    stage = graphene.Field(LifecycleStage, required=True)
    count = graphene.Int(required=True)


class LifecycleTierCount(graphene.ObjectType):
    tier = graphene.Field(LifecycleTier, description="Null counts the customers below every tier.")
    count = graphene.Int(required=True)


class LifecycleStageMove(graphene.ObjectType):
    """Moves from one stage to another within a period."""

    from_stage = graphene.Field(LifecycleStage, description="Null for customers first seen in the period.")
    to_stage = graphene.Field(LifecycleStage, required=True)
    count = graphene.Int(required=True, description="Moves (a customer may make the same move twice).")
    customers = graphene.Int(required=True, description="Distinct customers who made this move.")
    rate = graphene.Float(
        description="`customers` divided by the customers who were in `fromStage` at some time in the period "
        "(at its start or by entering it); null when `fromStage` is null."
    )


class LifecycleFunnelStage(graphene.ObjectType):
    stage = graphene.Field(LifecycleStage, required=True)
    customers = graphene.Int(
        required=True,
        description="Customers in this stage at some time in the period (at its start or by entering it).",
    )
    entered = graphene.Int(required=True, description="Moves into this stage in the period.")
    left = graphene.Int(required=True, description="Moves out of this stage in the period.")


class LifecycleFunnel(graphene.ObjectType):
    """Stage moves in the half-open period [since, until), from the transition history."""

    since = graphene.DateTime(required=True)
    until = graphene.DateTime(required=True)
    moves = graphene.List(graphene.NonNull(LifecycleStageMove), required=True)
    stages = graphene.List(graphene.NonNull(LifecycleFunnelStage), required=True)


# ---------------------------------------------------------------------- inputs of the staff list


class LifecycleDateTimeRangeInput(graphene.InputObjectType):
    gte = graphene.DateTime(description="At or after (a time without zone is read as UTC).")
    lte = graphene.DateTime(description="At or before (a time without zone is read as UTC).")


class LifecycleCustomerFilterInput(graphene.InputObjectType):
    stages = graphene.List(graphene.NonNull(LifecycleStageCode), description="Any of these stages.")
    tiers = graphene.List(
        graphene.NonNull(LifecycleTierCode), description="Any of these tiers; CUSTOM: any tier that is not a default."
    )
    tier_keys = graphene.List(
        graphene.NonNull(graphene.String), description="Any of these tiers by their code in the settings, e.g. `vip`."
    )
    has_tier = graphene.Boolean(description="True: in some tier; false: below every tier.")
    has_account = graphene.Boolean(description="True: registered customers; false: guests.")
    stage_since = graphene.Field(LifecycleDateTimeRangeInput, description="When they entered their stage.")
    tier_since = graphene.Field(LifecycleDateTimeRangeInput, description="When they reached their tier.")
    first_order_at = graphene.Field(LifecycleDateTimeRangeInput)
    last_order_at = graphene.Field(LifecycleDateTimeRangeInput)


class LifecycleRecomputePayload(graphene.ObjectType):
    customer = graphene.Field(CustomerLifecycle, description="The profile after the recompute.")
    stage_changed = graphene.Boolean(required=True)
    tier_changed = graphene.Boolean(required=True)


class LifecycleMessagePreview(graphene.ObjectType):
    """An action's message as the owner's templates render it now; nothing was recorded."""

    subject = graphene.String(required=True)
    text = graphene.String(required=True, description="The plain-text part.")
    html = graphene.String(required=True, description="The HTML part; empty when the action has none.")
    language = graphene.String(required=True, description="The language of the templates used; empty: the default.")
    sent_to = graphene.String(required=True, description="The staff address the test message went to; empty: none.")
