"""The test sends' table (`actions/test_send.py`), part of the plugin's models (`models.py` imports it)."""

from __future__ import annotations

from django.db import models


class MessageTestSend(models.Model):
    """A staff member's test send, kept (`actions/test_send.py`): not a ledger entry, no results, no cap."""
    sent_by = models.CharField(max_length=254)  # the staff member's e-mail; "app" for an app token
    sent_by_user_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=64)
    customer_email = models.CharField(max_length=254, blank=True)  # whose data; empty: the sample's
    recipient = models.CharField(max_length=254)
    subject = models.TextField()
    status = models.CharField(max_length=16, default="sending")  # then sent, failed or uncertain
    channel = models.CharField(max_length=64, blank=True)  # and its reference: a Message-ID, a notify event, ...
    reference = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
