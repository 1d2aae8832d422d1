"""The ladder digest table (`rules.digest`), part of the plugin's models (`models.py` imports it).

Spend sums are numeric(38, 3): order amounts have at most 3 decimals (Saleor's numeric(20, 3),
`OrderFact`), so a customer's sums are exact in it."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models



class LadderDigest(models.Model):
    """What the ladder needs of a customer at any `now` under any settings
    (`rules.digest`), written with the profile by every writer of it; read by the
    set-based what-if (`engine.sql_digest`). A profile without one (or with an older
    `version`) is filled by `lifecycle_digest` / the daily task."""

    profile = models.OneToOneField("lifecycle_plugin.CustomerProfile", primary_key=True, on_delete=models.CASCADE,
                                   related_name="ladder_digest")
    version = models.PositiveSmallIntegerField()
    has_account = models.BooleanField()
    open_cart_lines = models.IntegerField()
    moments = ArrayField(models.BigIntegerField())
    paid_moments = ArrayField(models.BigIntegerField())
    median_gap_us = models.BigIntegerField(null=True)
    paid_median_gap_us = models.BigIntegerField(null=True)
    spend_currencies = ArrayField(models.TextField())
    spend_starts = ArrayField(models.IntegerField())
    spend_moments = ArrayField(models.BigIntegerField())
    spend_from = ArrayField(models.DecimalField(max_digits=38, decimal_places=3))
    paid_spend_from = ArrayField(models.DecimalField(max_digits=38, decimal_places=3))
    #: When the digest last changed: a write of the same digest leaves the row (`digest_writes._upsert`).
    written_at = models.DateTimeField()
