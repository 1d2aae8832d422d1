"""The projection's guard in Saleor: customers can write their own public metadata, so a
spoofed `lifecycle.stage` or `lifecycle.tier` is put back (`SaleorHost.write_projection`
writes them)."""

from __future__ import annotations

import json

from django.db import connection

from ..host_support import STAGE_KEY, TIER_KEY


def restore_projection(user) -> None:
    """Put the plugin's own stage and tier back into a user's public metadata.

    Called when metadata changes: customers may write their own public metadata,
    and nothing may trust a stage read back from it. One indexed read and, only
    when something differs, one atomic JSONB write.
    """
    from django.contrib.auth import get_user_model

    from ..models import CustomerProfile

    profile = CustomerProfile.objects.filter(user_id=user.pk).values("stage", "tier").first()
    # Read through the model: Django has psycopg hand jsonb over as text, so a raw
    # cursor would give a string here, not a dict.
    metadata = get_user_model().objects.filter(pk=user.pk).values_list("metadata", flat=True).first() or {}
    with connection.cursor() as cursor:
        if profile is None:
            if STAGE_KEY in metadata or TIER_KEY in metadata:
                cursor.execute(
                    "UPDATE account_user SET metadata = metadata - %s - %s WHERE id = %s",
                    [STAGE_KEY, TIER_KEY, user.pk],
                )
        else:
            wanted = {STAGE_KEY: profile["stage"], TIER_KEY: profile["tier"] or ""}
            if any(metadata.get(k) != v for k, v in wanted.items()):
                cursor.execute(
                    "UPDATE account_user SET metadata = COALESCE(metadata, '{}'::jsonb) || %s::jsonb WHERE id = %s",
                    [json.dumps(wanted), user.pk],
                )
    # The instance Saleor holds must not carry the spoofed value into a later save
    # (nor into the mutation's answer); also when there is no profile to restore.
    if isinstance(getattr(user, "metadata", None), dict):
        if profile is None:
            user.metadata.pop(STAGE_KEY, None)
            user.metadata.pop(TIER_KEY, None)
        else:
            user.metadata.update({STAGE_KEY: profile["stage"], TIER_KEY: profile["tier"] or ""})
