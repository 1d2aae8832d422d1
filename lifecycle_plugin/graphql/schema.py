"""The lifecycle schema: the customer API, the staff and app API, and federation.

Customer API (a customer's own access token):
    myLifecycle

Staff and app API (MANAGE_USERS):
    customerLifecycle, lifecycleCustomers, lifecycleStageCounts, lifecycleTierCounts,
    lifecycleFunnel, lifecyclePredictionsByStage, lifecycleKpis, lifecycleRetention, lifecycleStages, lifecycleConfig,
    lifecycleWhatIf, lifecycleRecomputeStatus, lifecycleActionResults, lifecycleStageFlow, mutation lifecycleRecompute,
    lifecycleMessagePreview
    Dashboard pages (dashboard.py): lifecycleSettings, lifecycleLedger, lifecycleStageTierCounts;
    mutation lifecycleSettingsUpdate (MANAGE_PLUGINS)
    Messages page (messages.py): lifecycleOutbox, lifecycleTestSends; mutation lifecycleMessageTestSend
    (MANAGE_PLUGINS)

Anyone: lifecycleViewer (who is calling and what they may do; the Dashboard pages show it)

Federation (Saleor's User entity extended with `lifecycle`):
    _entities, _service
"""

from __future__ import annotations

from typing import Any

import graphene

from ..actions.test_send import TestSendRefused
from ..rules import Stage
from . import action_results, kpis, predictions, recompute, resolvers, stage_flow, statistics
from .dashboard import DashboardQuery, LifecycleSettingsUpdate
from .federation import FederationQuery
from .errors import bad_input
from .messages import LifecycleMessageTestSend, MessagesQuery, send_test
from .referrals import LifecycleReferrals, referral_metrics
from .types import (
    CustomerLifecycle,
    LifecycleConfigInput,
    LifecycleConfiguration,
    LifecycleCustomerConnection,
    LifecycleCustomerFilterInput,
    LifecycleFunnel,
    LifecycleMessagePreview,
    LifecycleRecomputePayload,
    LifecycleStageCount,
    LifecycleStageDefinition,
    LifecycleStagePrediction,
    LifecycleTierCount,
    LifecycleWhatIf,
)
from .types.kpi import LifecycleKpiGrouping, LifecycleKpis, LifecycleRetention

USER_ID_DESCRIPTION = "Saleor's global ID of the account (base64 of 'User:<pk>')."


class LifecycleViewer(graphene.ObjectType):
    """The caller of this request as the server authenticated them."""

    kind = graphene.String(required=True, description="customer, staff, app or anonymous.")
    email = graphene.String(description="The account's e-mail (customers and staff).")
    can_manage_users = graphene.Boolean(
        required=True, description="Holds MANAGE_USERS: may read every customer's lifecycle."
    )
    can_manage_plugins = graphene.Boolean(
        required=True, description="Holds MANAGE_PLUGINS: may change the plugin's settings."
    )


class LifecycleQuery(graphene.ObjectType):
    lifecycle_viewer = graphene.Field(
        LifecycleViewer,
        required=True,
        description="Who is calling and what they may do, as the server authenticated the request. "
        "Anyone may ask; without credentials the kind is anonymous.",
    )
    my_lifecycle = graphene.Field(
        CustomerLifecycle,
        description="The signed-in customer's own lifecycle; null when the engine has not seen them yet. "
        "Needs a customer's (or staff member's own) access token.",
    )
    customer_lifecycle = graphene.Field(
        CustomerLifecycle,
        user_id=graphene.ID(description=USER_ID_DESCRIPTION),
        email=graphene.String(description="The customer's e-mail (case does not matter); guests too."),
        description="MANAGE_USERS. One customer's lifecycle by user ID or e-mail (give exactly one).",
    )
    lifecycle_customers = graphene.Field(
        LifecycleCustomerConnection,
        filter=LifecycleCustomerFilterInput(),
        first=graphene.Int(
            description=f"At most {resolvers.MAX_PAGE_SIZE}; {resolvers.DEFAULT_PAGE_SIZE} if "
            "neither first nor last is given."
        ),
        after=graphene.String(),
        last=graphene.Int(description=f"At most {resolvers.MAX_PAGE_SIZE}."),
        before=graphene.String(),
        description="MANAGE_USERS. Customers, filtered by stage, tier and dates, oldest profile first.",
    )
    lifecycle_stage_counts = graphene.Field(
        graphene.List(graphene.NonNull(LifecycleStageCount)),
        at=graphene.DateTime(description="A past moment: counts from the transition history. Default: now."),
        description="MANAGE_USERS. Customers per stage; every built-in stage is listed, zeros included.",
    )
    lifecycle_tier_counts = graphene.Field(
        graphene.List(graphene.NonNull(LifecycleTierCount)),
        description="MANAGE_USERS. Customers per loyalty tier now; `tier: null` counts those below every tier.",
    )
    lifecycle_funnel = graphene.Field(
        LifecycleFunnel,
        since=graphene.DateTime(required=True, description="Start of the period (included)."),
        until=graphene.DateTime(required=True, description="End of the period (excluded)."),
        description="MANAGE_USERS. How many customers moved from each stage to each other in a period, and the rate.",
    )
    lifecycle_referrals = graphene.Field(
        LifecycleReferrals,
        since=graphene.DateTime(required=True, description="Start of the period (included)."),
        until=graphene.DateTime(required=True, description="End of the period (excluded)."),
        description="MANAGE_USERS. Referrals in a period by outcome, refusals by reason, and the advocates now.",
    )
    lifecycle_predictions_by_stage = graphene.Field(
        graphene.List(graphene.NonNull(LifecycleStagePrediction)),
        description="MANAGE_USERS. The daily prediction run's figures summed and averaged per stage, now; "
        "every built-in stage is listed, zeros included.",
    )
    lifecycle_kpis = graphene.Field(
        LifecycleKpis,
        group_by=LifecycleKpiGrouping(required=True),
        since=graphene.DateTime(required=True, description="Start of the period (included); no zone: UTC."),
        until=graphene.DateTime(required=True, description="End of the period (excluded); at most 10 years "
                                                            "after since."),
        channel=graphene.String(description="Only orders of this channel (its slug). Default: every channel."),
        currency=graphene.String(description="Only orders in this currency (ISO 4217). Default: every currency."),
        first=graphene.Int(description=f"With groupBy COHORT: only the oldest cohorts, at most {kpis.MAX_COHORTS:,}."),
        last=graphene.Int(description=f"With groupBy COHORT: only the newest cohorts, at most {kpis.MAX_COHORTS:,}."),
        description="MANAGE_USERS. The owner's KPIs (customers, orders, revenue, AOV, frequency, CLV, repeat "
        "rate, churn) per current stage, tier or first-order month over a period, each amount per currency "
        "(docs/metrics.md has every formula).",
    )
    lifecycle_retention = graphene.Field(
        LifecycleRetention,
        since=graphene.DateTime(required=True, description="Cohorts whose month ends after this."),
        until=graphene.DateTime(required=True, description="Cohorts whose month starts before this; orders from "
                                                            "then on are not counted. At most 10 years after since."),
        channel=graphene.String(description="Count only this channel's orders (its slug) in the months."),
        currency=graphene.String(description="Count only orders in this currency in the months."),
        months=graphene.Int(default_value=12, description="Months after the cohort's own to show, 0 to 120."),
        first=graphene.Int(description=f"Only the oldest cohorts, at most {kpis.MAX_COHORTS:,}."),
        last=graphene.Int(description=f"Only the newest cohorts, at most {kpis.MAX_COHORTS:,}."),
        description="MANAGE_USERS. Retention by cohort (first-order month): the share of each cohort's customers "
        "who ordered in month 0, 1, 2, … after it, and the revenue per cohort customer by month and currency.",
    )
    lifecycle_stages = graphene.Field(
        graphene.List(graphene.NonNull(LifecycleStageDefinition)),
        description="MANAGE_USERS. The built-in stages with the thresholds in force.",
    )
    lifecycle_config = graphene.Field(
        LifecycleConfiguration, description="MANAGE_USERS. Every threshold in force, tiers included."
    )
    lifecycle_what_if = graphene.Field(
        LifecycleWhatIf,
        config=LifecycleConfigInput(required=True),
        sample_limit=graphene.Int(
            description="Evaluate at most this many customers (the first by e-mail). Default: all of them."
        ),
        description="MANAGE_USERS. The stage and tier distribution that candidate thresholds would produce "
        "over the store's current facts. Writes nothing.",
    )

    lifecycle_recompute_status = recompute.FIELD
    resolve_lifecycle_recompute_status = staticmethod(recompute.resolve)
    lifecycle_action_results = action_results.FIELD
    resolve_lifecycle_action_results = staticmethod(action_results.resolve)
    lifecycle_stage_flow = stage_flow.FIELD
    resolve_lifecycle_stage_flow = staticmethod(stage_flow.resolve)

    @staticmethod
    def resolve_lifecycle_viewer(root: Any, info: Any) -> Any:
        return info.context.viewer

    @staticmethod
    def resolve_my_lifecycle(root: Any, info: Any) -> Any:
        viewer = info.context.require_account()
        return resolvers.own_profile(viewer.user_id)

    @staticmethod
    def resolve_customer_lifecycle(root: Any, info: Any, user_id: str | None = None, email: str | None = None) -> Any:
        info.context.require_manage_users()
        return resolvers.find_profile(user_id, email)

    @staticmethod
    def resolve_lifecycle_customers(root: Any, info: Any, filter: dict | None = None, **page: Any) -> Any:
        info.context.require_manage_users()
        return resolvers.customers_page(filter, **page)

    @staticmethod
    def resolve_lifecycle_referrals(root: Any, info: Any, since: Any, until: Any) -> Any:
        info.context.require_manage_users()
        scope = kpis.checked_scope(since, until)
        return referral_metrics(scope.since, scope.until)

    @staticmethod
    def resolve_lifecycle_stage_counts(root: Any, info: Any, at: Any = None) -> Any:
        info.context.require_manage_users()
        if at is None:
            return statistics.stage_counts_now(info.context.stage_tier_pairs)
        return statistics.stage_counts_at(at)

    @staticmethod
    def resolve_lifecycle_tier_counts(root: Any, info: Any) -> Any:
        info.context.require_manage_users()
        return statistics.current_tier_counts(info.context.config, info.context.stage_tier_pairs)

    @staticmethod
    def resolve_lifecycle_funnel(root: Any, info: Any, since: Any, until: Any) -> Any:
        info.context.require_manage_users()
        return statistics.funnel(since, until)

    @staticmethod
    def resolve_lifecycle_predictions_by_stage(root: Any, info: Any) -> Any:
        info.context.require_manage_users()
        return predictions.predictions_by_stage()

    @staticmethod
    def resolve_lifecycle_kpis(root: Any, info: Any, **arguments: Any) -> Any:
        info.context.require_manage_users()
        return kpis.lifecycle_kpis(info.context, **arguments)

    @staticmethod
    def resolve_lifecycle_retention(root: Any, info: Any, **arguments: Any) -> Any:
        info.context.require_manage_users()
        return kpis.lifecycle_retention(info.context, **arguments)

    @staticmethod
    def resolve_lifecycle_stages(root: Any, info: Any) -> list[Stage]:
        info.context.require_manage_users()
        return list(Stage)

    @staticmethod
    def resolve_lifecycle_config(root: Any, info: Any) -> Any:
        info.context.require_manage_users()
        return info.context.config

    @staticmethod
    def resolve_lifecycle_what_if(root: Any, info: Any, config: dict, sample_limit: int | None = None) -> Any:
        context = info.context
        context.require_manage_users()
        in_force = context.config
        candidate = resolvers.candidate_config(config, in_force)
        return resolvers.what_if(context.host, in_force, candidate, context.now(), sample_limit, context.settings,
                                 pm=context.engine.pm)


class Query(LifecycleQuery, DashboardQuery, MessagesQuery, FederationQuery, graphene.ObjectType):
    pass


class LifecycleRecompute(graphene.Mutation):
    """MANAGE_USERS. Re-read one customer's facts and decide their stage and tier again now.

    Saving changed thresholds recomputes the customers they affect by itself
    (`lifecycleRecomputeStatus` shows its progress).
    """

    class Arguments:
        user_id = graphene.ID(description=USER_ID_DESCRIPTION)
        email = graphene.String(description="The customer's e-mail; guests too.")

    Output = LifecycleRecomputePayload

    @staticmethod
    def mutate(root: Any, info: Any, user_id: str | None = None, email: str | None = None) -> Any:
        context = info.context
        context.require_manage_users()
        return resolvers.recompute(context.engine, user_id, email)


class LifecycleMessagePreviewMutation(graphene.Mutation):
    """MANAGE_USERS. Render a built-in action's message with the owner's templates, for a customer
    (userId or email) or sample data, and return it.

    Nothing is recorded (no ledger entry, no voucher: the voucher is a sample) and consent is
    not checked; the unsubscribe link is a sample that does nothing. MANAGE_USERS, like every
    staff field, because the message shows the customer's name, stage and last order.
    """

    class Arguments:
        action = graphene.String(required=True, description="repeat_purchase, tier_upgrade, review_request, "
                                                            "winback_reminder, welcome, welcome_nurture or "
                                                            "abandoned_checkout.")
        user_id = graphene.ID(description=USER_ID_DESCRIPTION)
        email = graphene.String(description="The customer's e-mail; guests too. Neither: sample data.")
        send_to = graphene.String(description="Deprecated: use lifecycleMessageTestSend, which reports a bad "
                                              "address as a field error. Also sends it to this address as that "
                                              "mutation does (MANAGE_PLUGINS, kept, rate-limited).")

    Output = LifecycleMessagePreview

    @staticmethod
    def mutate(root: Any, info: Any, action: str, user_id: str | None = None, email: str | None = None,
               send_to: str | None = None) -> Any:
        context = info.context
        context.require_manage_users()
        preview = resolvers.message_preview(context.engine, action, user_id, email, context.now())
        if send_to:
            try:
                preview.sent_to = send_test(context, action, user_id, email, send_to).recipient
            except TestSendRefused as refused:
                raise bad_input(str(refused), argument=refused.field) from None
        return preview


class Mutation(graphene.ObjectType):
    lifecycle_recompute = LifecycleRecompute.Field()
    lifecycle_message_preview = LifecycleMessagePreviewMutation.Field(name="lifecycleMessagePreview")
    lifecycle_message_test_send = LifecycleMessageTestSend.Field()
    lifecycle_settings_update = LifecycleSettingsUpdate.Field()


schema = graphene.Schema(query=Query, mutation=Mutation)
