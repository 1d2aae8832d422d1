"""The staff field `lifecycleRecomputeStatus`: the progress of the recompute a settings change queued."""

from __future__ import annotations

import graphene

from ..engine.recompute import status


class LifecycleRecomputeStatus(graphene.ObjectType):
    """The open settings recompute, or the last one (`engine/recompute.py`)."""

    state = graphene.String(required=True, description="queued, running, done or failed (resumed by the next "
                                                        "request or the periodic task).")
    scope = graphene.String(required=True, description="tiers (customers with a tier or spend in the tier "
                                                        "window), buyers (customers with counted orders) or all.")
    changed = graphene.List(graphene.NonNull(graphene.String), required=True,
                            description="The settings whose change asked for it.")
    done = graphene.Int(required=True, description="Profiles recomputed (committed).")
    total = graphene.Int(required=True, description="Profiles in scope.")
    moved = graphene.Int(required=True, description="Profiles whose stage or tier changed.")
    eta_seconds = graphene.Float(description="Seconds left at the rate so far; null before the first chunk.")
    requested_at = graphene.DateTime(required=True)
    started_at = graphene.DateTime()
    finished_at = graphene.DateTime()
    last_error = graphene.String(description="Why the last attempt stopped, if it failed.")
    evaluator = graphene.String(description="`sql` (each chunk sorted in the database from the ladder digests; "
                                            "the event path decides only the customers that can move) or "
                                            "`python` (the event path decides every customer); null until a "
                                            "worker starts.")
    evaluator_reason = graphene.String(description="Why not SQL (a change of the tier window or of paid-only, "
                                                   "a third-party decision hook); null when SQL sorts.")


FIELD = graphene.Field(
    LifecycleRecomputeStatus,
    description="MANAGE_USERS. Progress of the recompute that saving changed thresholds queued: done/total "
    "profiles and an ETA. Null when no settings change has asked for one.",
)


def resolve(root, info):
    info.context.require_manage_users()
    found = status()
    if found is None:
        return None
    return LifecycleRecomputeStatus(
        state=found.state, scope=found.scope, changed=list(found.changed), done=found.done, total=found.total,
        moved=found.moved, eta_seconds=found.eta_seconds, requested_at=found.requested_at,
        started_at=found.started_at, finished_at=found.finished_at, last_error=found.last_error or None,
        evaluator=found.evaluator or None, evaluator_reason=found.evaluator_reason or None,
    )
