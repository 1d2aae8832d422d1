"""The projection's guard in Saleor: customers can write their own public metadata, so a
spoofed `lifecycle.stage`, `lifecycle.tier` or `lifecycle.advocate` is put back
(`SaleorHost.write_projection` writes them)."""

from __future__ import annotations

import json

from django.db import connection

from ..host_support import ADVOCATE_KEY, STAGE_KEY, TIER_KEY
from ..rules.referral import advocate_of

_KEYS = (STAGE_KEY, TIER_KEY, ADVOCATE_KEY)


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
