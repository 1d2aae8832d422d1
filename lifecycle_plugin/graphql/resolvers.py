"""What the queries and the mutation do: reads from the plugin's own tables.

Nothing here reads a stage or tier from Saleor metadata: the plugin's tables are
the source of truth, the metadata only a projection customers can overwrite.
Every resolver costs a constant number of SQL queries, whatever the page size.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import graphene
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from graphql_relay import from_global_id

from ..actions.preview import PreviewError, preview_message
from ..host import CustomerRef, normalise_email
from ..engine.what_if import DECISION_HOOKS, what_if as run_what_if
from ..hooks import has_third_party_implementations
from ..models import CustomerProfile
from ..rules import ConfigError, LifecycleConfig
from ..rules.config import TierEdit, merge_tiers, parse_tiers
from ..runtime import allow_writer
from .errors import INVALID_CONFIG, NOT_FOUND, PAGE_TOO_LARGE, LifecycleError, bad_input
from .statistics import aware, stage_counts, tier_counts
from .types import (
    BUILTIN_STAGE_KEYS,
    CUSTOM_STAGE,
    CUSTOM_TIER,
    DEFAULT_TIER_KEYS,
    SALEOR_USER_TYPE,
    LifecycleCustomerConnection,
    LifecycleMessagePreview,
    LifecycleRecomputePayload,
    LifecycleWhatIf,
    LifecycleWhatIfMove,
    LifecycleWhatIfTierMove,
)

#: The most customers one page may hold (`first` / `last`).
MAX_PAGE_SIZE = 100
#: The page size when neither `first` nor `last` is given.
DEFAULT_PAGE_SIZE = 20
CURSOR_PREFIX = "LifecycleCustomer:"
#: A primary key inside an ID or a cursor: ASCII digits that fit a bigint. Not
#: ``str.isdigit``, which also accepts "²" (that int() then refuses) and other
#: scripts' digits.
_PK = re.compile(r"[0-9]{1,18}")


def parse_pk(text: str) -> int | None:
    """The primary key `text` spells, or None."""
    return int(text) if _PK.fullmatch(text) else None


# ---------------------------------------------------------------------- finding customers


def decode_user_id(global_id: str, argument: str = "userId") -> int:
    """The account pk from Saleor's global ID ("User:<pk>" in base64)."""
    try:
        type_name, pk = from_global_id(global_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        type_name, pk = "", ""
    number = parse_pk(pk) if type_name == SALEOR_USER_TYPE else None
    if number is None:
        raise bad_input(f"{argument} must be a Saleor User ID (base64 of 'User:<pk>'), got {global_id!r}.")
    return number


def own_profile(user_id: int) -> CustomerProfile | None:
    """The signed-in customer's profile: the one linked to their account.

    A guest profile with the same e-mail is not theirs until the engine links it
    (it does on the account's own event): an e-mail address alone proves nothing.
    """
    return CustomerProfile.objects.filter(user_id=user_id).first()


def find_profile(user_id: str | None, email: str | None) -> CustomerProfile:
    """A profile by Saleor user ID or by e-mail (exactly one of them); NOT_FOUND if none."""
    if (user_id is None) == (email is None):
        raise bad_input("Give exactly one of userId and email.")
    if user_id is not None:
        pk = decode_user_id(user_id)
        profile = CustomerProfile.objects.filter(user_id=pk).first()
        asked = f"user {user_id}"
    else:
        profile = CustomerProfile.objects.filter(email=normalise_email(email)).first()
        asked = f"e-mail {email}"
    if profile is None:
        raise LifecycleError(NOT_FOUND, f"No lifecycle profile for {asked}.")
    return profile


def profiles_of_users(pks: list[int]) -> dict[int, CustomerProfile]:
    """Profiles of many accounts in one query (for federation's _entities)."""
    return {profile.user_id: profile for profile in CustomerProfile.objects.filter(user_id__in=pks)}


# ---------------------------------------------------------------------- the customer list


def _range(field: str, bounds: dict | None) -> Q:
    condition = Q()
    if not bounds:
        return condition
    if bounds.get("gte") is not None:
        condition &= Q(**{f"{field}__gte": aware(bounds["gte"])})
    if bounds.get("lte") is not None:
        condition &= Q(**{f"{field}__lte": aware(bounds["lte"])})
    return condition


def filter_profiles(filter_input: dict | None) -> QuerySet:
    queryset = CustomerProfile.objects.all()
    if not filter_input:
        return queryset
    stages = filter_input.get("stages")
    if stages is not None:
        builtin = [code for code in stages if code != CUSTOM_STAGE]
        condition = Q(stage__in=builtin)
        if CUSTOM_STAGE in stages:
            condition |= ~Q(stage__in=BUILTIN_STAGE_KEYS)
        queryset = queryset.filter(condition)
    tiers = filter_input.get("tiers")
    if tiers is not None:
        condition = Q(tier__in=[code for code in tiers if code != CUSTOM_TIER])
        if CUSTOM_TIER in tiers:
            condition |= Q(tier__isnull=False) & ~Q(tier__in=DEFAULT_TIER_KEYS)
        queryset = queryset.filter(condition)
    if filter_input.get("tier_keys") is not None:
        queryset = queryset.filter(tier__in=filter_input["tier_keys"])
    if filter_input.get("has_tier") is not None:
        queryset = queryset.filter(tier__isnull=not filter_input["has_tier"])
    if filter_input.get("has_account") is not None:
        queryset = queryset.filter(user_id__isnull=not filter_input["has_account"])
    for field in ("stage_since", "tier_since", "first_order_at", "last_order_at"):
        queryset = queryset.filter(_range(field, filter_input.get(field)))
    return queryset


def encode_cursor(profile_id: int) -> str:
    return base64.b64encode(f"{CURSOR_PREFIX}{profile_id}".encode()).decode()


def decode_cursor(cursor: str, argument: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeError):
        text = ""
    profile_id = parse_pk(text[len(CURSOR_PREFIX) :]) if text.startswith(CURSOR_PREFIX) else None
    if profile_id is None:
        raise bad_input(f"{argument} is not a cursor of lifecycleCustomers.")
    return profile_id


def page_size(first: int | None, last: int | None) -> int:
    if first is not None and last is not None:
        raise bad_input("Give first or last, not both.")
    size = first if first is not None else last
    if size is None:
        return DEFAULT_PAGE_SIZE
    name = "first" if first is not None else "last"
    if size < 0:
        raise bad_input(f"{name} must not be negative.")
    if size > MAX_PAGE_SIZE:
        raise LifecycleError(
            PAGE_TOO_LARGE, f"{name} may be at most {MAX_PAGE_SIZE}, got {size}.", {"maxPageSize": MAX_PAGE_SIZE}
        )
    return size


def customers_page(
    filter_input: dict | None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> LifecycleCustomerConnection:
    """Keyset pagination on the profile id: a page costs the same on page 1 and page 10,000."""
    size = page_size(first, last)
    after_id = decode_cursor(after, "after") if after else None
    before_id = decode_cursor(before, "before") if before else None
    matching = filter_profiles(filter_input)

    window = matching
    if after_id is not None:
        window = window.filter(id__gt=after_id)
    if before_id is not None:
        window = window.filter(id__lt=before_id)
    backwards = last is not None
    # One row more than asked tells whether there is another page in that direction.
    ordered = window.order_by("-id" if backwards else "id")
    rows = list(ordered[: size + 1]) if size else []
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()

    if backwards:
        has_previous = more
        has_next = before_id is not None and matching.filter(id__gte=before_id).exists()
    else:
        has_next = more
        has_previous = after_id is not None and matching.filter(id__lte=after_id).exists()

    edge_type = LifecycleCustomerConnection.Edge
    edges = [edge_type(node=profile, cursor=encode_cursor(profile.pk)) for profile in rows]
    page = LifecycleCustomerConnection(
        edges=edges,
        page_info=graphene.relay.PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
    page.matching = matching  # for totalCount, counted only when asked for
    return page


# ---------------------------------------------------------------------- what-if

#: GraphQL argument names of the config fields, for error messages the caller can map back.
CONFIG_INPUT_NAMES = {
    "at_risk_days": "atRiskDays",
    "lapsed_days": "lapsedDays",
    "loyal_min_orders": "loyalMinOrders",
    "loyal_window_days": "loyalWindowDays",
    "personal_gap_min_orders": "personalGapMinOrders",
    "personal_gap_multiplier": "personalGapMultiplier",
    "personal_gap_floor_days": "personalGapFloorDays",
    "count_only_paid": "countOnlyPaid",
    "tier_window_days": "tierWindowDays",
    "tiers": "tiers",
}


def invalid_candidate(errors: dict[str, str]) -> LifecycleError:
    fields = {CONFIG_INPUT_NAMES.get(name, name): message for name, message in errors.items()}
    listing = "; ".join(f"{name}: {message}" for name, message in fields.items())
    return LifecycleError(INVALID_CONFIG, f"The candidate thresholds are invalid: {listing}", {"fields": fields})


def _decimal(value: float) -> Decimal:
    # repr of a float is its shortest round-trip spelling: 0.1 stays 0.1, not 0.1000000000000000055...
    return Decimal(repr(value))


def candidate_config(changes: dict, in_force: LifecycleConfig) -> LifecycleConfig:
    """The config in force with the given fields replaced, validated like the Dashboard's.

    `tiers` names tiers to change by code (`rules.config.merge_tiers`: the others are kept);
    `tiersText` gives the whole table as the `tiers` setting's text. Not both."""
    values: dict[str, Any] = {}
    for name in CONFIG_INPUT_NAMES:
        if changes.get(name) is None or name == "tiers":
            continue
        value = changes[name]
        if name == "personal_gap_multiplier":
            value = _decimal(value)
        values[name] = value
    if changes.get("tiers") is not None and changes.get("tiers_text") is not None:
        raise invalid_candidate({"tiers": "give tiers (the tiers to change) or tiersText (the whole table), not both"})
    try:
        if changes.get("tiers") is not None:
            values["tiers"] = merge_tiers(in_force.tiers, _tier_edits(changes["tiers"]))
        elif changes.get("tiers_text") is not None:
            values["tiers"] = parse_tiers(changes["tiers_text"])
    except ValueError as exc:
        raise invalid_candidate({"tiers": str(exc)}) from exc
    config = dataclasses.replace(in_force, **values)
    try:
        return config.validate()
    except ConfigError as exc:
        raise invalid_candidate(exc.errors) from exc


def _tier_edits(tiers: list[dict]) -> list[TierEdit]:
    edits = []
    for tier in tiers:
        if tier.get("thresholds") is None:
            edits.append(TierEdit(tier["code"], None, bool(tier.get("remove"))))
            continue
        thresholds: dict[str, Decimal] = {}
        for threshold in tier["thresholds"]:
            currency = threshold["currency"].strip().upper()
            if currency in thresholds:
                raise ValueError(f"tier {tier['code']!r} lists {currency} twice")
            # Infinity or NaN (which JSON parsers accept) fail validate() with a clear message.
            thresholds[currency] = _decimal(threshold["amount"])
        edits.append(TierEdit(tier["code"], thresholds, bool(tier.get("remove"))))
    return edits


def what_if(
    host: Any, in_force: LifecycleConfig, candidate: LifecycleConfig, now: datetime, sample_limit: int | None,
    settings: Any = None, pm: Any = None,
) -> LifecycleWhatIf:
    """`engine.what_if.what_if`, as the GraphQL type: every stage and tier listed, zeros included.
    `pm`: the engine's plugin manager, whose third-party decision hooks keep the what-if on the Python path."""
    if sample_limit is not None and sample_limit < 1:
        raise bad_input("sampleLimit must be at least 1.")
    hooks = tuple(name for name in DECISION_HOOKS if pm is not None and has_third_party_implementations(pm, name))
    result = run_what_if(host, in_force, candidate, now, sample_limit, settings, hooks=hooks)
    return LifecycleWhatIf(
        evaluated_at=result.evaluated_at,
        customers_read=result.customers_read,
        customers_evaluated=result.customers_evaluated,
        complete=result.complete,
        config=result.config,
        stages=stage_counts(result.stages),
        tiers=tier_counts(result.tiers, candidate),
        current_stages=stage_counts(result.current_stages),
        current_tiers=tier_counts(result.current_tiers, in_force),
        stage_moves=[
            LifecycleWhatIfMove(from_stage=from_stage, to_stage=to_stage, count=count)
            for (from_stage, to_stage), count in sorted(result.stage_moves.items())
        ],
        tier_moves=[
            LifecycleWhatIfTierMove(from_tier=from_tier, to_tier=to_tier, count=count)
            for (from_tier, to_tier), count in sorted(result.tier_moves.items(), key=lambda item: str(item[0]))
        ],
        messages=result.messages,
        vouchers=result.vouchers,
        evaluator=result.evaluator,
        evaluator_reason=result.evaluator_reason,
    )


# ---------------------------------------------------------------------- recompute


def recompute(engine: Any, user_id: str | None, email: str | None) -> LifecycleRecomputePayload:
    """Re-read one customer's facts and decide again with the settings in force."""
    if (user_id is None) == (email is None):
        raise bad_input("Give exactly one of userId and email.")
    if user_id is not None:
        pk = decode_user_id(user_id)
        known = CustomerProfile.objects.filter(user_id=pk).values_list("email", flat=True).first()
        known = known or get_user_model().objects.filter(pk=pk).values_list("email", flat=True).first()
        if known is None:
            raise LifecycleError(NOT_FOUND, f"No customer with user ID {user_id}.")
        customer = CustomerRef.of(known, pk)
    else:
        customer = CustomerRef.of(email)
    with allow_writer():
        outcome = engine.process(customer, event="recompute", recompute=True, force_projection=True)
    if outcome is None:
        raise LifecycleError(NOT_FOUND, f"The store knows nothing about {customer.email}: no account, order or cart.")
    return LifecycleRecomputePayload(
        customer=CustomerProfile.objects.get(pk=outcome.profile_id),
        stage_changed=bool(outcome.stage_changes),
        tier_changed=bool(outcome.tier_changes),
    )


# ---------------------------------------------------------------------- message preview


def preview_customer(user_id: str | None, email: str | None) -> CustomerRef | None:
    """The customer whose data fills a previewed message: by account or e-mail; None: sample data."""
    if user_id is not None and email is not None:
        raise bad_input("Give at most one of userId and email.")
    if user_id is not None:
        pk = decode_user_id(user_id)
        known = CustomerProfile.objects.filter(user_id=pk).values_list("email", flat=True).first()
        if known is None:
            raise LifecycleError(NOT_FOUND, f"No customer with user ID {user_id}.")
        return CustomerRef.of(known, pk)
    return CustomerRef.of(email) if email is not None else None


def message_preview(engine: Any, action: str, user_id: str | None, email: str | None,
                    now: Any) -> LifecycleMessagePreview:
    """An action's message rendered for a customer or sample data (see `actions.preview`)."""
    try:
        rendered = preview_message(engine, action, preview_customer(user_id, email), now)
    except PreviewError as error:
        raise bad_input(str(error)) from None
    return LifecycleMessagePreview(subject=rendered.subject, text=rendered.text, html=rendered.html,
                                   language=rendered.language, sent_to="")
