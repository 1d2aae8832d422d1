"""What the Dashboard pages need beyond the staff API: the settings form, the ledger, stage x tier.

- `lifecycleSettings` (MANAGE_USERS): every setting with its label, help, kind, bounds and
  the value in force, so the settings page builds its form from the declarations;
- `lifecycleSettingsUpdate` (MANAGE_PLUGINS): validates the whole set exactly as the
  plugin's settings form does (`conf.load_settings`) and saves nothing unless every field
  passes; each bad field gets its message;
- `lifecycleLedger` (MANAGE_USERS): delivered actions (the ledger) and actions due later
  (the scheduled ones), filtered by action, state and customer, newest first;
- `lifecycleStageTierCounts` (MANAGE_USERS): customers per stage and tier, now.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import graphene
from django.db import transaction

from .. import conf
from ..host import normalise_email
from ..models import ActionLedgerEntry, ScheduledAction
from ..rules import ConfigError
from ..tasks import settings_saved
from .errors import bad_input
from .types import LifecycleStage, LifecycleTier

#: The most ledger rows one page may hold.
MAX_LEDGER_PAGE = 200
LEDGER_KINDS = ("ledger", "scheduled")


class LifecycleSetting(graphene.ObjectType):
    """One plugin setting as the plugin's settings form declares it."""

    name = graphene.String(required=True)
    label = graphene.String(required=True)
    help_text = graphene.String(required=True)
    kind = graphene.String(required=True, description="String, Multiline, Boolean, Secret, Integer, Decimal, "
                                                       "Choice or Template.")
    value = graphene.String(required=True, description="The value in force, as text (a Secret's is never shown).")
    default = graphene.String(required=True)
    choices = graphene.List(graphene.NonNull(graphene.String), required=True)
    minimum = graphene.String()
    maximum = graphene.String()


class LifecycleSettingValueInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    value = graphene.String(required=True, description="As text; empty: the default.")


class LifecycleFieldError(graphene.ObjectType):
    field = graphene.String(required=True, description="The setting's name.")
    message = graphene.String(required=True, description="What is allowed, opening with the field's label.")


class LifecycleSettingsUpdatePayload(graphene.ObjectType):
    saved = graphene.Boolean(required=True, description="False: nothing was saved (see `errors`).")
    errors = graphene.List(graphene.NonNull(LifecycleFieldError), required=True)
    settings = graphene.List(graphene.NonNull(LifecycleSetting), required=True,
                             description="The settings in force after the request.")


class LifecycleLedgerEntry(graphene.ObjectType):
    kind = graphene.String(required=True, description="ledger: a delivery (sent or being sent); scheduled: due later.")
    action = graphene.String(required=True)
    status = graphene.String(required=True, description="pending, done, failed, skipped, cancelled, sending, uncertain.")
    email = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)
    updated_at = graphene.DateTime(required=True)
    completed_at = graphene.DateTime()
    due_at = graphene.DateTime(description="Scheduled actions: when it runs.")
    attempts = graphene.Int(required=True)
    last_error = graphene.String(required=True)


class LifecycleLedgerFilterInput(graphene.InputObjectType):
    kind = graphene.String(description="ledger or scheduled; both when left out.")
    action = graphene.String()
    status = graphene.String()
    email = graphene.String(description="The customer's e-mail (case does not matter).")


class LifecycleLedgerPage(graphene.ObjectType):
    total_count = graphene.Int(required=True, description="Rows matching the filter, on every page.")
    entries = graphene.List(graphene.NonNull(LifecycleLedgerEntry), required=True)
    actions = graphene.List(graphene.NonNull(graphene.String), required=True,
                            description="Every action name in the ledger and the schedule (for a filter).")


class LifecycleStageTierCount(graphene.ObjectType):
    stage = graphene.Field(LifecycleStage, required=True)
    tier = graphene.Field(LifecycleTier, description="Null: below every tier.")
    count = graphene.Int(required=True)


# ---------------------------------------------------------------------- resolvers


def settings_in_force(raw: dict[str, Any]) -> list[LifecycleSetting]:
    result = []
    for setting in conf.all_settings():
        value = raw.get(setting.name)
        value = setting.default if value in (None, "") else conf.normalise_dashboard_values({"v": value})["v"]
        result.append(LifecycleSetting(
            name=setting.name, label=setting.label, help_text=setting.help_text, kind=setting.type,
            value="" if setting.type == conf.SECRET else str(value), default=setting.default,
            choices=list(setting.choices),
            minimum=None if setting.minimum is None else str(setting.minimum),
            maximum=None if setting.maximum is None else str(setting.maximum)))
    return result


def update_settings(host: Any, current: dict[str, Any], values: list[dict]) -> LifecycleSettingsUpdatePayload:
    """Validate the changed values over the saved ones; save all of them, or nothing."""
    known = {s.name: s for s in conf.all_settings()}
    errors = [LifecycleFieldError(field=item["name"], message=f"{item['name']}: there is no such setting.")
              for item in values if item["name"] not in known]
    changes = {item["name"]: item["value"] for item in values if item["name"] in known}
    # A Secret left empty on the form keeps the saved secret (the form never shows it).
    changes = {name: value for name, value in changes.items() if not (known[name].type == conf.SECRET and value == "")}
    merged = {name: value for name, value in {**current, **changes}.items() if name in known}
    try:
        conf.check_before_saving(merged)  # as the Dashboard's own form: refuses what the SQL ladder cannot decide
    except ConfigError as exc:
        errors += [LifecycleFieldError(field=name, message=message)
                   for name, message in conf.dashboard_messages(exc).items()]
    if errors:
        return LifecycleSettingsUpdatePayload(saved=False, errors=errors, settings=settings_in_force(current))
    save = getattr(host, "save_plugin_settings", None)
    if save is None:
        raise bad_input("This server keeps the plugin's settings elsewhere; change them there.")
    texts = {name: str(conf.normalise_dashboard_values({"v": value})["v"]) for name, value in merged.items()}
    with transaction.atomic():
        save(texts)
        # Changed thresholds recompute the customers they affect, as a Dashboard save does.
        settings_saved(current, texts)
    return LifecycleSettingsUpdatePayload(saved=True, errors=[], settings=settings_in_force(texts))


def ledger_page(filter: dict | None, first: int, offset: int) -> LifecycleLedgerPage:
    filter = filter or {}
    if not 1 <= first <= MAX_LEDGER_PAGE:
        raise bad_input(f"first must be between 1 and {MAX_LEDGER_PAGE}.", argument="first")
    if offset < 0:
        raise bad_input("offset must be 0 or more.", argument="offset")
    kind = filter.get("kind")
    if kind is not None and kind not in LEDGER_KINDS:
        raise bad_input("kind must be ledger or scheduled.", argument="filter.kind")
    querysets = []
    for name, model in (("ledger", ActionLedgerEntry), ("scheduled", ScheduledAction)):
        if kind not in (None, name):
            continue
        rows = model.objects.all()
        if filter.get("action"):
            rows = rows.filter(action=filter["action"])
        if filter.get("status"):
            rows = rows.filter(status=filter["status"])
        if filter.get("email"):
            rows = rows.filter(profile__email=normalise_email(filter["email"]))
        querysets.append((name, rows))
    total = sum(rows.count() for _, rows in querysets)
    # Newest first over both tables: each table's first offset+first rows are enough to merge.
    merged = []
    for name, rows in querysets:
        fields = ["action", "status", "profile__email", "created_at", "updated_at", "attempts", "last_error", "id"]
        fields += ["completed_at"] if name == "ledger" else ["due_at"]
        for row in rows.order_by("-created_at", "-id").values(*fields)[: offset + first]:
            merged.append(LifecycleLedgerEntry(
                kind=name, action=row["action"], status=row["status"], email=row["profile__email"],
                created_at=row["created_at"], updated_at=row["updated_at"], completed_at=row.get("completed_at"),
                due_at=row.get("due_at"), attempts=row["attempts"], last_error=row["last_error"]))
    merged.sort(key=lambda entry: (entry.created_at, entry.kind), reverse=True)
    actions = sorted(set(ActionLedgerEntry.objects.values_list("action", flat=True).distinct())
                     | set(ScheduledAction.objects.values_list("action", flat=True).distinct()))
    return LifecycleLedgerPage(total_count=total, entries=merged[offset: offset + first], actions=actions)


def stage_tier_counts(pairs: Counter) -> list[LifecycleStageTierCount]:
    """`pairs`: the request's count of customers per (stage, tier) (`LifecycleContext.stage_tier_pairs`)."""
    return [LifecycleStageTierCount(stage=stage, tier=tier, count=count)
            for (stage, tier), count in sorted(pairs.items(), key=lambda item: (item[0][0], item[0][1] or ""))]


class DashboardQuery(graphene.ObjectType):
    lifecycle_settings = graphene.Field(
        graphene.List(graphene.NonNull(LifecycleSetting)),
        description="MANAGE_USERS. Every plugin setting with the value in force (the settings page's form).")
    lifecycle_ledger = graphene.Field(
        LifecycleLedgerPage, filter=LifecycleLedgerFilterInput(),
        first=graphene.Int(default_value=50, description=f"At most {MAX_LEDGER_PAGE}."),
        offset=graphene.Int(default_value=0),
        description="MANAGE_USERS. Delivered and scheduled actions, newest first.")
    lifecycle_stage_tier_counts = graphene.Field(
        graphene.List(graphene.NonNull(LifecycleStageTierCount)),
        description="MANAGE_USERS. Customers per stage and tier now (only the pairs that have customers).")

    @staticmethod
    def resolve_lifecycle_settings(root: Any, info: Any) -> Any:
        from ..runtime import owner_settings

        info.context.require_manage_users()
        return settings_in_force(dict(owner_settings(info.context.host)))

    @staticmethod
    def resolve_lifecycle_ledger(root: Any, info: Any, filter: dict | None = None, first: int = 50,
                                 offset: int = 0) -> Any:
        info.context.require_manage_users()
        return ledger_page(filter, first, offset)

    @staticmethod
    def resolve_lifecycle_stage_tier_counts(root: Any, info: Any) -> Any:
        info.context.require_manage_users()
        return stage_tier_counts(info.context.stage_tier_pairs)


class LifecycleSettingsUpdate(graphene.Mutation):
    """MANAGE_PLUGINS. Change plugin settings; validated as the plugin's settings form does, all or nothing."""

    class Arguments:
        values = graphene.List(graphene.NonNull(LifecycleSettingValueInput), required=True)

    Output = LifecycleSettingsUpdatePayload

    @staticmethod
    def mutate(root: Any, info: Any, values: list[dict]) -> Any:
        from ..runtime import owner_settings

        context = info.context
        context.require_manage_plugins()
        return update_settings(context.host, dict(owner_settings(context.host)), values)
