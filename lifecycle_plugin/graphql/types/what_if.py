"""The what-if: candidate thresholds in, the stage and tier distribution they would produce out."""

from __future__ import annotations

import graphene

from .config import LifecycleConfiguration
from .staff import LifecycleStageCount, LifecycleTierCount
from .values import LifecycleStage


class LifecycleMoneyInput(graphene.InputObjectType):
    currency = graphene.String(required=True, description="ISO 4217 code, e.g. USD.")
    amount = graphene.Float(required=True)


class LifecycleTierInput(graphene.InputObjectType):
    """A tier to change, matched by code: new thresholds for a tier in force (all of them: a
    currency left out is dropped from it), a new tier, or `remove`."""

    code = graphene.String(required=True, description="Lower-case letters, digits and underscores, e.g. `gold`.")
    thresholds = graphene.List(
        graphene.NonNull(LifecycleMoneyInput),
        description="The tier's thresholds, one per currency (required unless `remove`).",
    )
    remove = graphene.Boolean(default_value=False, description="Remove this tier (it must be in force).")


class LifecycleConfigInput(graphene.InputObjectType):
    """Candidate thresholds. A field left out keeps the value in force."""

    at_risk_days = graphene.Int()
    lapsed_days = graphene.Int()
    loyal_min_orders = graphene.Int()
    loyal_window_days = graphene.Int()
    personal_gap_min_orders = graphene.Int()
    personal_gap_multiplier = graphene.Float()
    personal_gap_floor_days = graphene.Int()
    count_only_paid = graphene.Boolean()
    tier_window_days = graphene.Int()
    tiers = graphene.List(
        graphene.NonNull(LifecycleTierInput),
        description="Tiers to change, by code; the tiers in force that are not named are kept. A named tier in "
        "force gets the thresholds given and keeps its place; a new code is added before the first tier that "
        "asks more in a currency they share (else last); `remove: true` removes one. The resulting table must "
        "still be valid (thresholds rising from tier to tier in each currency, ISO 4217 codes).",
    )
    tiers_text = graphene.String(
        description="Instead of `tiers`: the whole tier table as the `tiers` setting's text, one tier per line, "
        "lowest first (`bronze: USD 100, EUR 100`); an empty text: no tiers.",
    )


class LifecycleWhatIfMove(graphene.ObjectType):
    from_stage = graphene.Field(LifecycleStage, required=True, description="The stage under the thresholds in force.")
    to_stage = graphene.Field(LifecycleStage, required=True, description="The stage under the candidate thresholds.")
    count = graphene.Int(required=True)


class LifecycleWhatIfTierMove(graphene.ObjectType):
    from_tier = graphene.String(description="The tier under the thresholds in force (null: none).")
    to_tier = graphene.String(description="The tier under the candidate thresholds (null: none).")
    count = graphene.Int(required=True)


class LifecycleWhatIf(graphene.ObjectType):
    """The stage and tier distribution candidate thresholds would produce. Nothing is written."""

    evaluated_at = graphene.DateTime(required=True, description="The clock the rules were run for.")
    customers_read = graphene.Int(required=True, description="Customers read from the store.")
    customers_evaluated = graphene.Int(
        required=True, description="Customers with an account, an order or a cart (the others have no stage)."
    )
    complete = graphene.Boolean(required=True, description="False when `sampleLimit` stopped the run early.")
    config = graphene.Field(LifecycleConfiguration, required=True, description="The candidate thresholds in full.")
    stages = graphene.List(graphene.NonNull(LifecycleStageCount), required=True)
    tiers = graphene.List(graphene.NonNull(LifecycleTierCount), required=True)
    current_stages = graphene.List(
        graphene.NonNull(LifecycleStageCount),
        required=True,
        description="The same customers decided now under the thresholds in force (built-in rules only), not read "
        "from their stored profiles: the moves are then the candidate's alone (a time move not yet swept is in "
        "neither).",
    )
    current_tiers = graphene.List(graphene.NonNull(LifecycleTierCount), required=True)
    stage_moves = graphene.List(
        graphene.NonNull(LifecycleWhatIfMove), required=True, description="Customers whose stage would change."
    )
    tier_moves = graphene.List(
        graphene.NonNull(LifecycleWhatIfTierMove), required=True, description="Customers whose tier would change."
    )
    messages = graphene.Int(
        required=True,
        description="Messages the moves would send with the actions in force: one per customer entering a stage "
        "of the repeat-purchase or win-back-reminder stages, one per tier upgrade (each action only when "
        "switched on). An upper bound: consent, quiet hours, the frequency cap and earlier deliveries are "
        "not looked at.",
    )
    vouchers = graphene.Int(
        required=True,
        description="Vouchers those messages would carry: every repeat-purchase one; win-back and tier-upgrade "
        "ones when their voucher setting is on.",
    )
    evaluator = graphene.String(
        required=True,
        description="`sql` (every profile decided in the database from its ladder digest, in one scan) or "
        "`python` (the built-in rules over each customer's facts).",
    )
    evaluator_reason = graphene.String(
        required=True,
        description="Why not SQL (a third-party decision hook, `sampleLimit`, profiles without a digest yet, "
        "...); empty when SQL ran.",
    )
