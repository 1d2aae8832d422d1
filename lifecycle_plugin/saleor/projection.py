"""The projection in Saleor's account metadata: writing it (`SaleorHost.write_projection`,
`write_projection_sql`), and its guard: customers can write their own public metadata, so a
spoofed `lifecycle.stage`, `lifecycle.tier` or `lifecycle.advocate` is put back."""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import connection
from django.utils import timezone

from ..host import Projection
from ..host_support import ADVOCATE_KEY, PROFILE_KEY, PROJECTION_ROWS_SQL, STAGE_KEY, TIER_KEY, projection_rows
from ..rules.referral import advocate_of

_KEYS = (STAGE_KEY, TIER_KEY, ADVOCATE_KEY)


def write_projection(projections: Sequence[Projection]) -> None:
    """`SaleorHost.write_projection`: one UPDATE of the accounts' metadata for the batch."""
    params = projection_rows(projections, timezone.now())
    if params is not None:
        with connection.cursor() as cursor:
            write_projection_sql(cursor, PROJECTION_ROWS_SQL, params)


def write_projection_sql(cursor, rows_sql: str, params) -> None:
    """`SaleorHost.write_projection_sql`: one UPDATE of the accounts' metadata.

    Saleor stamps updated_at when metadata changes, so apps that sync by it see the new
    stage. Stamped with the decision's time, not the write's (never moved back): the
    reconciliation reads updated_at as "changed since the last decision" and would
    otherwise queue every customer whose projection was just written."""
    cursor.execute(
        f"""
        UPDATE account_user AS u
           SET metadata = (COALESCE(u.metadata, '{{}}'::jsonb) - %(lc_advocate_key)s::text)
                          || jsonb_build_object(%(lc_stage_key)s::text, v.stage,
                                                %(lc_tier_key)s::text, COALESCE(v.tier, ''))
                          || CASE WHEN v.advocate THEN jsonb_build_object(%(lc_advocate_key)s::text, 'true')
                                  ELSE '{{}}'::jsonb END,
               private_metadata = COALESCE(u.private_metadata, '{{}}'::jsonb)
                                  || jsonb_build_object(%(lc_profile_key)s::text, v.profile::text),
               updated_at = GREATEST(u.updated_at, v.decided_at)
          FROM ({rows_sql}) AS v
         WHERE u.id = v.user_id
        """,
        {**params, "lc_stage_key": STAGE_KEY, "lc_tier_key": TIER_KEY, "lc_advocate_key": ADVOCATE_KEY,
         "lc_profile_key": PROFILE_KEY},
    )


def restore_projection(user) -> None:
    """Put the plugin's own stage, tier and advocate flag back into a user's public metadata.

    Called when metadata changes: customers may write their own public metadata,
    and nothing may trust a stage read back from it. One indexed read and, only
    when something differs, one atomic JSONB write.
    """
    from django.contrib.auth import get_user_model

    from ..models import CustomerProfile

    profile = CustomerProfile.objects.filter(user_id=user.pk).values("stage", "tier", "extra_facts").first()
    # Read through the model: Django has psycopg hand jsonb over as text, so a raw
    # cursor would give a string here, not a dict.
    metadata = get_user_model().objects.filter(pk=user.pk).values_list("metadata", flat=True).first() or {}
    wanted: dict[str, str] = {}
    if profile is not None:
        wanted = {STAGE_KEY: profile["stage"], TIER_KEY: profile["tier"] or ""}
        if advocate_of(profile["extra_facts"] or {}):
            wanted[ADVOCATE_KEY] = "true"
    unwanted = [key for key in _KEYS if key not in wanted and key in metadata]
    with connection.cursor() as cursor:
        if unwanted or any(metadata.get(k) != v for k, v in wanted.items()):
            cursor.execute(
                "UPDATE account_user SET metadata = (COALESCE(metadata, '{}'::jsonb) - %s::text[]) || %s::jsonb "
                "WHERE id = %s",
                [unwanted, json.dumps(wanted), user.pk],
            )
    # The instance Saleor holds must not carry the spoofed value into a later save
    # (nor into the mutation's answer); also when there is no profile to restore.
    if isinstance(getattr(user, "metadata", None), dict):
        for key in _KEYS:
            if key not in wanted:
                user.metadata.pop(key, None)
        user.metadata.update(wanted)
