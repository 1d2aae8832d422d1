"""GraphQL types of the lifecycle API (graphene 2).

Every type name starts with ``Lifecycle`` (or is ``CustomerLifecycle``) so that a
federation gateway composing this schema with Saleor's never meets two different
types of the same name; only the shared scalars (DateTime, JSON) and relay's
PageInfo, which are identical to Saleor's, are not prefixed.

Stages and tiers are shown the same way: an enum ``code`` with a value for each
code of the default ladder plus ``CUSTOM``, and the stored code as ``key``. The enum
is fixed when the schema is built, so it cannot list what a store adds at run time
(a plugin's ``advocate`` stage, a ``vip`` tier named in the Dashboard): those are
``CUSTOM`` with their own ``key``, and the exported schema stays the same for every
store. `lifecycleConfig.tiers` lists the tiers in force, lowest first.

The types live by what they serve: `values` (shared scalars, enums, money, stage and
tier), `customer` (a shopper's lifecycle), `prediction` (predicted value), `staff` (counts, funnel, the list's filter,
recompute), `config` (the settings in force) and `what_if`. Import them from here.
"""

from .config import (
    STAGE_THRESHOLDS,
    LifecycleConfiguration,
    LifecyclePlugin,
    LifecycleStageDefinition,
    LifecycleThreshold,
    LifecycleTierDefinition,
    setting_text,
)
from .customer import (
    CustomerLifecycle,
    LifecycleCustomerConnection,
    LifecycleCustomerStage,
    LifecycleCustomerTier,
    LifecycleStageTransition,
    LifecycleTierChange,
    LifecycleTierProgress,
)
from .prediction import LifecyclePredictedSpend, LifecyclePrediction, LifecycleStagePrediction
from .staff import (
    LifecycleCustomerFilterInput,
    LifecycleDateTimeRangeInput,
    LifecycleFunnel,
    LifecycleFunnelStage,
    LifecycleMessagePreview,
    LifecycleRecomputePayload,
    LifecycleStageCount,
    LifecycleStageMove,
    LifecycleTierCount,
)
from .values import (
    BUILTIN_STAGE_KEYS,
    CUSTOM_STAGE,
    CUSTOM_TIER,
    DEFAULT_TIER_KEYS,
    JSON,
    SALEOR_USER_TYPE,
    LifecycleCurrencyCount,
    LifecycleMoney,
    LifecycleStage,
    LifecycleStageCode,
    LifecycleTier,
    LifecycleTierCode,
    LifecycleTransitionReason,
    money_list,
    saleor_user_id,
    stage_code,
    staff_only,
    tier_code,
    tier_rank,
)
from .what_if import (
    LifecycleConfigInput,
    LifecycleMoneyInput,
    LifecycleTierInput,
    LifecycleWhatIf,
    LifecycleWhatIfMove,
    LifecycleWhatIfTierMove,
)

__all__ = [name for name in dir() if not name.startswith("_") and name not in {"config", "customer", "prediction", "staff", "values", "what_if"}]
